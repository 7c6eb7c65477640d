/*
 * netallow.h - which hosts analyzers (and their health URLs) may point at:
 * the --analyzer-allow list and the addresses denied by default.
 *
 * An analyzer URL is a place logdistd will POST every log record to, so an
 * admin token (or a tampered analyzers.db) must not be able to aim it at the
 * machine's cloud metadata service or other link-local services. Denied by
 * default, whatever the list says, unless the list names them narrowly:
 *   - link-local addresses: 169.254.0.0/16 (holds 169.254.169.254, the AWS,
 *     GCP, Azure, OpenStack... metadata address) and fe80::/10;
 *   - other metadata addresses: fd00:ec2::254 (AWS IPv6), 100.100.100.200
 *     (Alibaba);
 *   - IPv4-mapped (::ffff:0:0/96) and NAT64 (64:ff9b::/96) spellings of those;
 *   - metadata host names: metadata, metadata.google.internal, metadata.goog,
 *     instance-data, instance-data.ec2.internal (case-insensitive, a trailing
 *     dot ignored).
 * A denied host is allowed only by a list entry that names it exactly (the
 * name, the address) or a CIDR inside the denied range (e.g.
 * 169.254.10.0/24); a wide CIDR such as 0.0.0.0/0 does not open it.
 *
 * List syntax: comma-separated entries, each a host name ([A-Za-z0-9._-],
 * at most 253 characters, not all digits and dots), an IPv4 or IPv6 address,
 * or ADDRESS/BITS with BITS a decimal 0..32 (IPv4) or 0..128 (IPv6) without
 * sign or leading zero and no host bits set. Anything else - "10.0.0.0/",
 * "10.0.0.0/33", "10.0.0/8", "10.0.0.1/8", ",," - is a parse error.
 *
 * Names are not resolved here (that would block the event loop): a literal
 * address is checked as written (curl normalises 0xA9FEA9FE, 2852039166 and
 * such to dotted quads first), a name by its spelling.
 *
 * Pure functions, no state, any thread.
 */
#ifndef LOGDIST_NETALLOW_H
#define LOGDIST_NETALLOW_H

#include <stdbool.h>
#include <stddef.h>

/* Check the syntax of an --analyzer-allow list ("" is valid: no list).
 * Returns 0 or -EINVAL with the offending entry named in err. */
int netallow_check_list(const char *list, char *err, size_t errlen);

/* Is `host` (a URL host as libcurl returns it: a name, a dotted quad or a
 * bracketed IPv6 address) allowed by `list` ("" = any host not denied by
 * default)? true, or false with the reason in err. */
bool netallow_host_allowed(const char *list, const char *host, char *err, size_t errlen);

/* Is `host` one of the addresses or names denied by default? */
bool netallow_host_denied_by_default(const char *host);

/* Connect-time check of an address a name resolved to (DNS can answer a
 * link-local address for any name, and can change its answer after the URL
 * was checked). A default-denied address passes only when `list` opens it by
 * an address or CIDR entry (a name entry cannot: the resolved address is all
 * there is here). sa is a struct sockaddr_in or sockaddr_in6. */
struct sockaddr;
bool netallow_addr_allowed(const char *list, const struct sockaddr *sa);

/* The list that connect-time checks use (config_finish() sets it from
 * --analyzer-allow, before any thread starts; "" until then). The string is
 * copied (at most 1023 bytes). */
void netallow_set_process_list(const char *list);
const char *netallow_process_list(void);

#endif
