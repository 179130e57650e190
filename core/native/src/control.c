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

/* Fields are escaped like plan values: % TAB newline become %25 %09 %0A. */
static size_t put_field(char *out, size_t pos, size_t cap, const char *s)
{
    for (; *s; s++) {
        const char *rep = *s == '%' ? "%25" : *s == '\t' ? "%09" : *s == '\n' ? "%0A" : NULL;
        size_t n = rep ? 3 : 1;
        if (pos + n + 8 > cap) /* keep room for the remaining TABs and the newline */
            break;
        memcpy(out + pos, rep ? rep : s, n);
        pos += n;
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

static void forward(int sig)
{
    kill(g.child, sig);
    if (g.grace_armed || (sig != SIGTERM && sig != SIGHUP && sig != SIGINT))
        return;
    /* Why a grace timer: a PID 1 without a handler ignores SIGTERM, even from the parent namespace. */
    g.grace_armed = true;
    struct itimerspec t = { .it_value = { g.grace_ms / 1000, (g.grace_ms % 1000) * 1000000 } };
    if (g.grace_ms == 0 || timerfd_settime(g.tfd, 0, &t, NULL) < 0)
        kill(g.child, SIGKILL);
}

static _Noreturn void finish(int status)
{
    int code = status_code(status);
    send_line("EXIT %d", code);
    _exit(code);
}

_Noreturn void supervise(void)
{
    int sfd = signalfd(-1, &g.sigs, SFD_CLOEXEC | SFD_NONBLOCK);
    g.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
    if (sfd < 0 || g.tfd < 0) {
        send_error(125, "supervise", sfd < 0 ? "signalfd" : "timerfd_create", "", errno_name(errno), "");
        abort_run(125);
    }
    for (int sig = 1; sig < NSIG; sig++)
        if (sigismember(&g.queued, sig) == 1)
            forward(sig);
    for (;;) {
        struct pollfd p[3] = { { g.ctl, POLLIN, 0 }, { sfd, POLLIN, 0 }, { g.tfd, POLLIN, 0 } };
        if (poll(p, 3, -1) < 0)
            continue; /* EINTR */
        struct signalfd_siginfo si;
        while (p[1].revents && read(sfd, &si, sizeof si) == sizeof si) {
            int status;
            pid_t pid;
            if (si.ssi_signo == SIGCHLD) {
                while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
                    if (pid == g.child)
                        finish(status);
            } else if (si.ssi_code != SI_KERNEL || g.new_session) {
                /* Why skip SI_KERNEL: the terminal sent it to its foreground group, C included; unless C
                 * left that group with setsid (new-session): then only we got it. */
                kill(g.child, (int)si.ssi_signo);
            }
        }
        uint64_t expirations;
        if (p[2].revents && read(g.tfd, &expirations, sizeof expirations) > 0)
            kill(g.child, SIGKILL);
        if (p[0].revents) {
            ssize_t n = ctl_fill();
            char msg[128];
            while (ctl_line(msg, sizeof msg))
                if (signal_number(msg)) /* anything else is ignored while C runs */
                    forward(signal_number(msg));
            if (n <= 0) /* the controller died: nobody would supervise C */
                abort_run(128 + SIGKILL);
        }
    }
}
