/*
 * notify.h - readiness notifications to the service manager (systemd's
 * sd_notify protocol, Type=notify in packaging/logdistd.service.in).
 *
 * Contract: every function sends one datagram to $NOTIFY_SOCKET and is a
 * no-op when that variable is unset (not started by systemd). Failures are
 * never fatal: they are logged at debug level and ignored. Call them
 * from the main thread only (the messages are ordered by the caller).
 *
 *   notify_ready()      READY=1 + STATUS: the WAL is replayed and every
 *                       listener is bound (end of start-up, or end of a reload)
 *   notify_reloading()  RELOADING=1: a SIGHUP reload starts (READY=1 follows)
 *   notify_stopping()   STOPPING=1: SIGTERM/SIGINT, the drain starts
 */
#ifndef LOGDIST_APP_NOTIFY_H
#define LOGDIST_APP_NOTIFY_H

/* status: a one-line human text for `systemctl status` (STATUS=), or NULL. */
void notify_ready(const char *status);
void notify_reloading(void);
void notify_stopping(void);

#endif
