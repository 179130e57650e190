/*
 * control.c: H's side of the control socket (core/native/PROTOCOL.md, "Message pairs"): sending
 * ENTERED/CLONED/EXIT/ERROR/TRACE lines, waiting for GO, and supervising C once it runs (signals
 * forwarded from the controller and from the terminal, the grace timer, the exit status).
 */
#include "runtime.h"

static void send_all(const char *buf, size_t len)
{
    while (len > 0) {
        /* MSG_NOSIGNAL: a dead controller must not kill us with SIGPIPE before we clean up */
        ssize_t n = send(g.ctl, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        buf += n;
        len -= (size_t)n;
    }
}

void send_line(const char *fmt, ...)
{
    char buf[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
    va_end(ap);
    if (n < 0 || n > (int)sizeof buf - 2)
        return;
    buf[n++] = '\n';
    send_all(buf, (size_t)n);
}

/* Fields are escaped like plan values: % TAB newline become %25 %09 %0A, a byte that is not UTF-8
 * (a path from an argument given as bytes) %XX. */
static size_t put_field(char *out, size_t pos, size_t cap, const char *s)
{
    while (*s) {
        char hex[4];
        size_t utf = utf8_len(s);
        const char *rep = *s == '%' ? "%25" : *s == '\t' ? "%09" : *s == '\n' ? "%0A" : NULL;
        if (!utf) {
            snprintf(hex, sizeof hex, "%%%02X", (unsigned char)*s);
            rep = hex;
        }
        size_t n = rep ? 3 : utf;
        if (pos + n + 8 > cap) /* keep room for the remaining TABs and the newline */
            break;
        memcpy(out + pos, rep ? rep : s, n);
        pos += n;
        s += rep ? 1 : utf;
    }
    return pos;
}

void send_error(int code, const char *step, const char *sys, const char *path, const char *err,
                const char *hint)
{
    char buf[8192];
    const char *fields[] = { step, sys, path, err, hint };
    size_t pos = (size_t)snprintf(buf, sizeof buf, "ERROR %d", code);
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        buf[pos++] = '\t';
        pos = put_field(buf, pos, sizeof buf, fields[i] ? fields[i] : "");
    }
    buf[pos++] = '\n';
    send_all(buf, pos);
}

int status_code(int status)
{
    return WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 125;
}

static struct { char buf[512]; size_t len; } rb;

/* Read once from the socket: >0 bytes, 0 EOF, <0 error. */
static ssize_t ctl_fill(void)
{
    ssize_t n;
    if (rb.len == sizeof rb.buf)
        rb.len = 0; /* a line longer than the buffer: garbage, drop it */
    do
        n = read(g.ctl, rb.buf + rb.len, sizeof rb.buf - rb.len);
    while (n < 0 && errno == EINTR);
    if (n > 0)
        rb.len += (size_t)n;
    return n;
}

static bool ctl_line(char *out, size_t size)
{
    char *nl = memchr(rb.buf, '\n', rb.len);
    if (!nl)
        return false;
    size_t len = (size_t)(nl - rb.buf);
    snprintf(out, size, "%.*s", (int)len, rb.buf);
    rb.len -= len + 1;
    memmove(rb.buf, nl + 1, rb.len);
    return true;
}

static int signal_number(const char *msg)
{
    char *end;
    if (strncmp(msg, "SIGNAL ", 7) != 0)
        return 0;
    errno = 0;
    long n = strtol(msg + 7, &end, 10);
    return isdigit((unsigned char)msg[7]) && *end == '\0' && !errno && n > 0 && n < NSIG ? (int)n : 0;
}

static _Noreturn void abort_run(int code)
{
    if (g.child > 0) {
        kill(g.child, SIGKILL);
        waitpid(g.child, NULL, 0);
    }
    _exit(code);
}

void wait_go(void)
{
    char msg[128];
    for (;;) {
        while (!ctl_line(msg, sizeof msg))
            if (ctl_fill() <= 0)
                abort_run(125); /* the controller died */
        int sig = signal_number(msg);
        if (strcmp(msg, "GO") == 0)
            return;
        if (strcmp(msg, "ABORT") == 0)
            abort_run(125);
        if (sig) {
            sigaddset(&g.queued, sig); /* delivered once C is released */
            continue;
        }
        send_error(125, "control", "", "", "", "unexpected message while waiting for GO");
        abort_run(125);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Supervision: who forwards what (PROTOCOL.md, "Signals")                                    */

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* How long a terminal signal waits for the controller's copy of it (the JVM is in the terminal's
 * foreground group too, got the same signal and sends it as SIGNAL n; normally within milliseconds). */
#define ECHO_WINDOW_MS 5000

/* Terminal signals we got (si_code SI_KERNEL) whose copy from the controller has not come yet. */
static struct { int pending; long long at; } tty[NSIG];

/* Signals taken before clone (take_early_signals): C did not exist when they came. */
#define MAX_EARLY 16
static struct { int sig; int code; } early[MAX_EARLY];
static int nearly;

static bool execd; /* every copy of the sync pipe's read end is closed: C (and the init's target) exec'd */

static bool is_stop_signal(int sig) { return sig == SIGTERM || sig == SIGHUP || sig == SIGINT; }

static void arm(int fd, long long ms)
{
    struct itimerspec t = { .it_value = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000 } };
    if (timerfd_settime(fd, 0, &t, NULL) < 0)
        kill(g.child, SIGKILL); /* no timer, no grace: never leave a stop unfinished */
}

/* Ends a stop with SIGKILL, reported once (a third Ctrl-C changes nothing). */
static void kill_target(const char *why)
{
    static bool killed;
    kill(g.child, SIGKILL);
    if (killed)
        return;
    killed = true;
    send_line("KILLED %d %lld %s", g.stop_sig, now_ms() - g.stop_at_ms, why);
    struct itimerspec off = { 0 };
    timerfd_settime(g.tfd, 0, &off, NULL);
}

/* TERM, HUP and INT start a stop: SIGKILL when C is still there grace_ms later. */
static void start_stop(int sig)
{
    if (g.grace_armed || !is_stop_signal(sig))
        return;
    /* Why a grace timer: a PID 1 without a handler ignores SIGTERM, even from the parent namespace. */
    g.grace_armed = true;
    g.stop_sig = sig;
    g.stop_at_ms = now_ms();
    if (g.grace_ms == 0) {
        kill_target("stop-timeout");
    } else {
        arm(g.tfd, g.grace_ms);
    }
}

/* Sends `sig` to C and starts a stop for TERM, HUP and INT. */
static void forward(int sig)
{
    kill(g.child, sig);
    start_stop(sig);
}

/* A SIGINT while a stop is in progress means "now" (a second Ctrl-C, as docker compose up does). */
static bool kill_now(int sig)
{
    if (sig != SIGINT || !g.grace_armed)
        return false;
    kill_target("interrupt");
    return true;
}

static bool bit(const char *line, const char *key, int sig, bool *out)
{
    size_t n = strlen(key);
    if (strncmp(line, key, n) != 0)
        return false;
    *out = (strtoull(line + n, NULL, 16) >> (sig - 1)) & 1;
    return true;
}

/* Did `pid` get the terminal's `sig` itself? We got it from the terminal, so our process group is the
 * terminal's foreground group, and the terminal sent it to every member of that group. `pid` got it
 * when it is in our group, unless it is PID 1 of a pid namespace with the default action for `sig`:
 * the kernel drops those (SIGNAL_UNKILLABLE). Before C's exec its dispositions are ours (blocked):
 * then judge by those it will have after exec (all default). The init's PID 1 loop (and C before it
 * forks the init's target) never execs and keeps blocking them, taking them with sigwaitinfo; its
 * SigBlk can't be trusted: while sigwaitinfo sleeps, the kernel takes the awaited signals out of the
 * blocked mask (do_sigtimedwait; the real mask is kept aside and still counts for delivery), so the
 * idle init would look like a PID 1 with the default action, and a forwarded copy would reach the
 * target on top of the one it got from the terminal. */
static bool got_it_itself(pid_t pid, int sig, bool *ignores)
{
    *ignores = false;
    pid_t pgrp = getpgid(pid);
    if (pgrp < 0)
        return true; /* gone: SIGCHLD follows, nothing to forward */
    if (pgrp != getpgrp())
        return false; /* another group (a new session, or the target's own job control) */
    char path[32], buf[4096];
    snprintf(path, sizeof path, "%d/status", (int)pid);
    int fd = openat(g.procfd, path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    if (fd >= 0)
        close(fd);
    if (n <= 0)
        return true; /* unreadable (hidepid): never risk a second delivery */
    buf[n] = '\0';
    bool init = false, blocked = false, ignored = false, caught = false;
    for (char *line = buf; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (strncmp(line, "NSpid:", 6) == 0) {
            size_t len = strcspn(line, "\n");
            char *last = line + len;
            while (last > line && isdigit((unsigned char)last[-1]))
                last--;
            init = strtol(last, NULL, 10) == 1;
        } else if (!bit(line, "SigBlk:", sig, &blocked) && !bit(line, "SigIgn:", sig, &ignored)) {
            bit(line, "SigCgt:", sig, &caught);
        }
    }
    if (g.has_init)
        blocked = sigismember(&g.sigs, sig) == 1; /* SigBlk lies while the init waits (see above) */
    else if (!execd)
        blocked = ignored = caught = false;
    *ignores = ignored && !caught;
    return !init || blocked || ignored || caught;
}

/* A signal H got itself. From the terminal (SI_KERNEL): forwarded only when C did not get it too;
 * anything else (kill of H's pid, or from before C existed) is forwarded. */
static void own_signal(int sig, int code, bool c_existed)
{
    if (code != SI_KERNEL) {
        if (!kill_now(sig))
            forward(sig);
        return;
    }
    tty[sig].pending++;
    tty[sig].at = now_ms();
    if (kill_now(sig))
        return;
    bool ignores;
    if (c_existed && got_it_itself(g.child, sig, &ignores)) {
        /* A target that ignores the terminal's signal (`trap "" INT`) can't be interrupted by it: the
         * Ctrl-C still starts a stop (SIGKILL after the stop timeout, at once on a second Ctrl-C), as
         * for a PID 1 that never gets it. A target that catches it (an interactive shell) decides. */
        if (ignores)
            start_stop(sig);
        return;
    }
    forward(sig);
}

/* SIGNAL n from the controller: dropped when it is the controller's copy of a terminal signal we got. */
static void controller_signal(int sig)
{
    if (tty[sig].pending > 0 && now_ms() - tty[sig].at < ECHO_WINDOW_MS) {
        tty[sig].pending--;
        return;
    }
    tty[sig].pending = 0;
    if (!kill_now(sig))
        forward(sig);
}

static _Noreturn void finish(int status)
{
    int code = g.timed_out ? 124 : status_code(status);
    send_line("EXIT %d", code);
    /* Why read what is left: a Unix socket closed with unread data (a SIGNAL the controller sent as C
     * died) gives the peer ECONNRESET rather than EOF. */
    char rest[512];
    while (recv(g.ctl, rest, sizeof rest, MSG_DONTWAIT) > 0) {
    }
    _exit(code);
}

/* Reads every pending signal: SIGCHLD reaps (and ends with C), the others go to own_signal. */
static void drain(int sfd)
{
    struct signalfd_siginfo si;
    while (read(sfd, &si, sizeof si) == sizeof si) {
        int status;
        pid_t pid;
        if (si.ssi_signo == SIGCHLD) {
            while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
                if (pid == g.child)
                    finish(status);
        } else {
            own_signal((int)si.ssi_signo, si.ssi_code, true);
        }
    }
}

/* Called by H right before clone: the signals that came so far reached H only (C is not born yet; a
 * child does not inherit pending signals). SIGCHLD is not taken (H has no child yet). */
void take_early_signals(void)
{
    sigset_t set = g.sigs;
    sigdelset(&set, SIGCHLD);
    struct timespec zero = { 0, 0 };
    siginfo_t si;
    int sig;
    while (nearly < MAX_EARLY && (sig = sigtimedwait(&set, &si, &zero)) > 0)
        early[nearly++] = (typeof(early[0])){ sig, si.si_code };
}

void op_timeout(const struct step *s)
{
    g.timeout_ms = number(s, "ms", 10, 1, 366LL * 86400 * 1000, 0);
}

_Noreturn void supervise(void)
{
    int sfd = signalfd(-1, &g.sigs, SFD_CLOEXEC | SFD_NONBLOCK);
    g.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
    g.timeout_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
    if (sfd < 0 || g.tfd < 0 || g.timeout_fd < 0) {
        send_error(125, "supervise", sfd < 0 ? "signalfd" : "timerfd_create", "", errno_name(errno), "");
        abort_run(125);
    }
    if (g.timeout_ms > 0)
        arm(g.timeout_fd, g.timeout_ms);
    /* In the order they came: before clone, since clone, then the controller's (its copies of
     * terminal signals pair with ours). */
    for (int i = 0; i < nearly; i++)
        own_signal(early[i].sig, early[i].code, false);
    drain(sfd);
    for (int sig = 1; sig < NSIG; sig++)
        if (sigismember(&g.queued, sig) == 1)
            controller_signal(sig);
    for (;;) {
        /* Why watch our end of the sync pipe: POLLERR once no read end is left, i.e. C (and the
         * init's target) exec'd: from then on /proc/<C>/status shows the target's own dispositions. */
        struct pollfd p[5] = { { g.ctl, POLLIN, 0 }, { sfd, POLLIN, 0 }, { g.tfd, POLLIN, 0 },
                               { g.timeout_fd, POLLIN, 0 }, { execd ? -1 : g.sync_wr, 0, 0 } };
        if (poll(p, 5, -1) < 0)
            continue; /* EINTR */
        if (p[4].revents) {
            execd = true;
            /* the monitor's `up -d` returns on it (an ERROR of C came before it on this socket) */
            if (g.report_started)
                send_line("STARTED");
        }
        if (p[1].revents)
            drain(sfd);
        uint64_t expirations;
        if (p[2].revents && read(g.tfd, &expirations, sizeof expirations) > 0)
            kill_target("stop-timeout");
        if (p[3].revents && read(g.timeout_fd, &expirations, sizeof expirations) > 0 && !g.grace_armed) {
            /* a stop already in progress (a signal came first) is left to finish as it began */
            g.timed_out = true;
            send_line("TIMEOUT %lld", g.timeout_ms);
            forward(SIGTERM);
        }
        if (p[0].revents) {
            ssize_t n = ctl_fill();
            char msg[128];
            drain(sfd); /* our own copy of a terminal signal is pending before the controller's can come */
            while (ctl_line(msg, sizeof msg))
                if (signal_number(msg)) /* anything else is ignored while C runs */
                    controller_signal(signal_number(msg));
            if (n <= 0) /* the controller died: nobody would supervise C */
                abort_run(128 + SIGKILL);
        }
    }
}
