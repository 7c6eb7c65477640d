/*
 * crc32c.h - CRC-32C (Castagnoli), the checksum of every on-disk entry.
 * Backed by Intel ISA-L's crc32_iscsi (Debian libisal), which uses the SSE4.2
 * CRC32 instruction / PCLMUL folding where the CPU has them.
 */
#ifndef LOGDIST_CRC32C_H
#define LOGDIST_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Extend `crc` (0 for a new checksum) over data[0..len). crc32c("123456789") == 0xE3069283. */
uint32_t crc32c_update(uint32_t crc, const void *data, size_t len);

#endif
