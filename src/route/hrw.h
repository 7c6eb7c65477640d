/*
 * hrw.h - weighted rendezvous hashing (HRW) with bounded load, for key affinity (issue 13).
 *
 * For key k and member i with weight w_i > 0: score_i = -w_i / ln(h_i), where h_i in
 * (0,1) is derived from a 64-bit hash of (k, member id); the highest score wins. Since
 * -ln(h_i)/w_i is exponentially distributed with rate w_i, member i wins a share w_i/W
 * of the keys (W = sum of the eligible weights). Adding a member moves only the keys it
 * now wins (~w/(W+w) of them, all to it); removing or downing one moves only its own keys,
 * each to that key's next choice, and they come back when it returns.
 *
 * Bounded load (HAProxy's hash-balance-factor, "consistent hashing with bounded loads"):
 * hrw_pick_bounded walks the members in descending score and takes the first whose recent
 * load stays within `factor` times its weighted fair share, so a hot key spills over to
 * its next choices instead of overloading one member.
 *
 * Pure: no I/O, no clock, no global state; the hash is fixed (stable across processes,
 * restarts and machines). hrw_load_t is mutable state owned by one caller (not
 * thread-safe). Eligibility is w[i] > 0 (finite); a down member is given weight 0.
 */
#ifndef LOGDIST_ROUTE_HRW_H
#define LOGDIST_ROUTE_HRW_H

#include <stddef.h>
#include <stdint.h>

/* Stable across processes, restarts and machines (fixed seeds, no ASLR or time input,
 * bytes read little-endian whatever the host): 64-bit. data may be NULL when len is 0. */
uint64_t hrw_hash(const void *data, size_t len);

/* Combine a key hash and a member hash into h in (0,1) (never 0 or 1: within
 * [2^-53, 1 - 2^-53]) and return the score -weight / ln(h), > 0 for weight > 0.
 * A weight that is not a finite number > 0 scores -INFINITY (never chosen). */
double hrw_score(uint64_t key_hash, uint64_t member_hash, double weight);

/* Index of the eligible member (w[i] > 0) with the highest score for key_hash, -1 if none.
 * Ties broken by the lower member_hash (then the lower index). O(n), no allocation. */
int hrw_pick(uint64_t key_hash, const uint64_t *member_hash, const double *w, size_t n);

typedef struct hrw_load hrw_load_t;

#define HRW_MAX_MEMBERS 1024
#define HRW_LOAD_HALF_LIFE 4096

/* Load state for up to n_members_cap members (caller owns it: hrw_load_free). NULL on
 * ENOMEM or when n_members_cap is 0 or > HRW_MAX_MEMBERS. Allocates all its scratch here. */
hrw_load_t *hrw_load_new(size_t n_members_cap);
/* Free; NULL is accepted. */
void hrw_load_free(hrw_load_t *l);
/* Membership changed (a member added, removed, re-weighted or reordered): forget the
 * recent loads. */
void hrw_load_reset(hrw_load_t *l);

/* Pick for key_hash: members in descending score order, the first whose recent load + 1 is
 * <= factor * (recent total + 1) * w_i / W (W = sum of eligible weights) is chosen and
 * charged one unit. factor <= 1 (e.g. 0, or NaN) disables the bound (plain hrw_pick, still
 * charged). Recent = a count that is halved (rounding down, the total re-summed) every
 * HRW_LOAD_HALF_LIFE charges (deterministic, no clock), so the bound follows the current
 * mix of keys. If none qualifies (only possible when factor is barely > 1 and counts are
 * tiny) the top choice is taken. Returns the index or -1 when no member is eligible or n
 * exceeds the capacity given to hrw_load_new. No allocation (scratch lives in l). */
int hrw_pick_bounded(hrw_load_t *l, uint64_t key_hash, const uint64_t *member_hash, const double *w,
                     size_t n, double factor);

/* Recent load of member i and the recent total (0 when i is out of range), for metrics and
 * tests. */
uint64_t hrw_load_recent(const hrw_load_t *l, size_t i);
uint64_t hrw_load_total(const hrw_load_t *l);

#endif
