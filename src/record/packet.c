/*
 * packet.c - see packet.h.
 */
#include "record/packet.h"

#include <malloc.h>
#include <stdlib.h>

uint64_t packet_held_bytes(const packet_t *p, size_t count)
{
    size_t body = p->len;
    if (p->decoded) {
        size_t usable = malloc_usable_size(p->decoded);
        if (usable > body) body = usable;
    }
    return (uint64_t)sizeof *p + body + (uint64_t)count * (sizeof(scan_record_t) + sizeof(uint64_t));
}

void packet_free(packet_t *p)
{
    if (!p) return;
    free(p->decoded);
    free(p->records);
    free(p->seqs);
    free(p);
}
