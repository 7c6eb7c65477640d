/*
 * notify.c - sd_notify(3) wrappers (see notify.h). libsystemd's sd_notify
 * itself returns 0 without sending when $NOTIFY_SOCKET is unset, so nothing
 * here checks for systemd.
 */
#include <stdio.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "app/notify.h"
#include "common/log.h"

static void send_state(const char *state)
{
    int rc = sd_notify(0, state);
    if (rc < 0) log_debug("notify", "sd_notify(%s) failed: %s", state, strerror(-rc));
}

void notify_ready(const char *status)
{
    char msg[512];
    /* a status line is one line: cut at the first newline, bounded */
    int n = (int)strcspn(status ? status : "", "\n");
    if (n > 400) n = 400;
    if (status && n)
        snprintf(msg, sizeof msg, "READY=1\nSTATUS=%.*s", n, status);
    else
        snprintf(msg, sizeof msg, "READY=1");
    send_state(msg);
}

void notify_reloading(void)
{
    send_state("RELOADING=1\nSTATUS=reloading the configuration");
}

void notify_stopping(void)
{
    send_state("STOPPING=1\nSTATUS=draining");
}
