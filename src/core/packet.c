/*
 * packet.c - see packet.h.
 */
#include "core/packet.h"

#include <event2/buffer.h>
#include <stdlib.h>

void packet_free(packet_t *p)
{
    if (!p) return;
    if (p->raw) evbuffer_free(p->raw);
    free(p->decoded);
    free(p->records);
    free(p->seqs);
    free(p);
}
