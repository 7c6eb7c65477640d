/*
 * crc32c.c - see crc32c.h. ISA-L's crc32_iscsi works on the raw register
 * (no pre/post inversion), so the standard CRC-32C is ~crc32_iscsi(d, n, ~crc).
 */
#include "store/crc32c.h"

#include <isa-l/crc.h>
#include <limits.h>

uint32_t crc32c_update(uint32_t crc, const void *data, size_t len)
{
    const unsigned char *p = data;
    uint32_t c = ~crc;
    while (len > 0) {
        int n = len > (size_t)INT_MAX ? INT_MAX : (int)len;
        c = crc32_iscsi((unsigned char *)p, n, c);
        p += n;
        len -= (size_t)n;
    }
    return ~c;
}
