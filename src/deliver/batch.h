/*
 * deliver/batch.h - the batch moved to route/batch.h (issue 9: route never
 * includes deliver; delivery takes sealed batches). This forwarding header
 * stays only until the last includers outside route/deliver switch over.
 */
#ifndef LOGDIST_DELIVER_BATCH_FWD_H
#define LOGDIST_DELIVER_BATCH_FWD_H
#include "route/batch.h"
#endif
