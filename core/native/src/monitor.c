/*
 * monitor.c: `sandbox-init run --plan FILE [--consume] [--grace-ms N] [--trace]`, the monitor M.
 * M executes the host stages of a canonical plan (prepare, identity, connect, supervise) and forks the
 * helper H (no exec: H runs helper_main() with g.ctl = its end of a socketpair), playing the
 * controller's part of PROTOCOL.md ("Message pairs") over that socketpair. It prints what the Java
 * controller printed: one line per failure ("sandbox: <step>: <sys> <path>: <ERRNO> (<hint>)"), H's and
 * C's ERROR messages (HelperError.describe), the stop lines (StopReport), and with --trace the `-v`
 * step lines "sandbox: <stage> <op> <ms> ms  <summary>" (the summary is the plan's comment line before
 * the step). Every host resource is journaled before it exists (journal.c); at the end M replays the
 * journal (teardown) and exits with H's status, or 125 when setup failed.
 */
#include "runtime.h"

#include <libgen.h>
#include <termios.h>

static struct {
    const char *self;          /* argv[0]: the binary, named in messages about H */
    const char *plan_path;
    bool verbose;
    struct plan plan;
    char *rtdir;               /* the runtime-dir step's path */
    const char *name;
    int dirfd, lockfd, jfd;
    bool rt_created;
    pid_t helper;
    pid_t pasta;               /* the user-mode network stack of a connect user-net step (usernet.c), 0 = none */
    int sock;                  /* M's end of the socketpair */
    int sfd;                   /* signalfd: TERM HUP INT QUIT are passed to H as SIGNAL n */
    bool helper_reaped;
    int helper_status;
    const struct step *traced; /* the last step H or C reported done (TRACE) */
    struct sandbox_state st;
    char cgroup[PATH_MAX];
    const struct step *placed; /* the cgroup-place step whose cgroup H was forked into (clone3), NULL = none */
    struct { char buf[65536]; size_t len; } rb;
    int pty;                   /* exec -t: the pty master C sent with SCM_RIGHTS (PTY message), -1 without */
    pid_t proxy;               /* the process that copies between the caller's terminal and the pty */
    bool raw;                  /* the caller's terminal was put in raw mode: restored from `termios` at the end */
    struct termios termios;
} m = { .dirfd = -1, .lockfd = -1, .jfd = -1, .sock = -1, .sfd = -1, .pty = -1 };

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    char line[16384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "sandbox: %s\n", line);
    fflush(stderr);
}

static void say_error(const struct host_error *e)
{
    char line[8192];
    host_error_line(e, line, sizeof line);
    say("%s", line);
}

static long long realtime_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000 + (double)ts.tv_nsec / 1e6;
}

/* For people: a byte that is not part of valid UTF-8 as \xff (RawText.display). */
static void display(const char *s, char *out, size_t len)
{
    size_t pos = 0;
    while (s && *s && pos + 5 < len) {
        size_t n = utf8_len(s);
        if (n == 0) {
            pos += (size_t)snprintf(out + pos, len - pos, "\\x%02x", (unsigned char)*s);
            s++;
            continue;
        }
        memcpy(out + pos, s, n);
        pos += n;
        s += n;
    }
    out[pos] = '\0';
}

/* The -v line of a step: "%-9s %-16s %6.2f ms  %s" (or "  started" for exec). */
static void step_line(const struct step *s, double ms, bool started, bool cached)
{
    char summary[4096], took[32];
    display(s->summary, summary, sizeof summary);
    if (started)
        snprintf(took, sizeof took, "  started");
    else
        snprintf(took, sizeof took, "%6.2f ms%s", ms, cached ? " (cached)" : "");
    say("%-9s %-16s %s  %s", stage_names[s->stage], s->op->name, took, summary);
}

static void save_state(const char *status, pid_t ns_pid)
{
    struct host_error e;
    m.st.status = status;
    if (m.dirfd >= 0)
        state_write(m.dirfd, &m.st, ns_pid, &e); /* the state is for later commands; the run does not depend on it */
}

/* ------------------------------------------------------------------------------------------ */
/* Teardown and exit                                                                          */

static void reap_helper(void)
{
    if (m.helper <= 0 || m.helper_reaped)
        return;
    int status;
    while (waitpid(m.helper, &status, 0) < 0) {
        if (errno != EINTR) {
            status = 125 << 8;
            break;
        }
    }
    m.helper_reaped = true;
    m.helper_status = status;
}

static bool helper_dead(void)
{
    if (m.helper <= 0 || m.helper_reaped)
        return m.helper_reaped;
    int status;
    if (waitpid(m.helper, &status, WNOHANG) == m.helper) {
        m.helper_reaped = true;
        m.helper_status = status;
    }
    return m.helper_reaped;
}

/* A detached sandbox whose target ran: its record (state.json, log, plan) stays until `down`/`gc` or
 * the next `up` of the name; the host resources go (journal_undo), the lock goes with us. A status
 * above 128 is taken as "killed by signal status-128" (a shell's convention; the init reports its
 * target's death so too). */
static _Noreturn void finish_detached(int code)
{
    struct host_error e;
    m.st.finished_ms = realtime_ms();
    m.st.exit_status = code;
    save_state(code > 128 && code < 128 + 65 ? "killed" : "exited", 0);
    if (journal_undo(m.rtdir, stderr, &e) < 0)
        say("teardown: something is left (above); `sandbox down %s` or `sandbox gc` tries again", m.name);
    detach_drain();
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
    exit(code);
}

static void stop_proxy(void)
{
    if (m.proxy > 0) {
        /* the target is gone: what it wrote is in the pty's buffer; the proxy copies it out and ends on
         * EIO/HUP of the master (no slave left open), or is stopped after a short drain */
        for (int i = 0; i < 50 && waitpid(m.proxy, NULL, WNOHANG) == 0; i++)
            usleep(10000);
        if (kill(m.proxy, SIGKILL) == 0)
            waitpid(m.proxy, NULL, 0);
        m.proxy = 0;
    }
    if (m.raw) {
        tcsetattr(0, TCSADRAIN, &m.termios);
        m.raw = false;
    }
    if (m.pty >= 0) {
        close(m.pty);
        m.pty = -1;
    }
}

static _Noreturn void finish_run(int code)
{
    if (m.helper > 0 && !m.helper_reaped) {
        kill(m.helper, SIGKILL);
        reap_helper();
    }
    stop_proxy();
    usernet_stop(m.pasta); /* its kill-tree record then finds it gone */
    if (m.rt_created && detach_running())
        finish_detached(code);
    if (m.rt_created) {
        struct host_error e;
        m.st.finished_ms = realtime_ms();
        m.st.exit_status = code;
        save_state("exited", 0);
        if (journal_teardown(m.rtdir, stderr, &e) < 0) {
            say("teardown: something is left (above); the target's own status was %d", code);
            code = 125;
        }
    }
    /* orphans that came to us as subreaper and were killed by the teardown */
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
    exit(code);
}

static _Noreturn void setup_failed(const struct host_error *e)
{
    if (e)
        say_error(e);
    finish_run(125);
}

/* ------------------------------------------------------------------------------------------ */
/* The conversation with H                                                                    */

static void send_msg(const char *msg)
{
    char line[64];
    int n = snprintf(line, sizeof line, "%s\n", msg);
    /* MSG_NOSIGNAL: H may be gone; its EOF tells the rest */
    if (send(m.sock, line, (size_t)n, MSG_NOSIGNAL) < 0) {
    }
}

static void forward_signals(void)
{
    struct signalfd_siginfo si;
    while (m.sfd >= 0 && read(m.sfd, &si, sizeof si) == sizeof si) {
        int sig = (int)si.ssi_signo;
        if (sig == SIGCHLD) {
            /* as a child subreaper (no cgroup) the target's orphans become ours when they exit: reap
             * them as they go, keeping H's status for the end */
            int status;
            pid_t pid;
            while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
                if (pid == m.helper) {
                    m.helper_reaped = true;
                    m.helper_status = status;
                }
            continue;
        }
        /* Why every TERM/HUP/INT/QUIT, also the terminal's: only H can tell a terminal's signal from
         * a kill (si_code SI_KERNEL in H); it drops our copy of one it got itself (PROTOCOL.md,
         * "Signals"). Others (WINCH, USR1, CHLD ...) are M's own business: dropped. */
        if (sig == SIGTERM || sig == SIGHUP || sig == SIGINT || sig == SIGQUIT) {
            char msg[32];
            snprintf(msg, sizeof msg, "SIGNAL %d", sig);
            send_msg(msg);
        }
    }
}

static const struct step *step_at_line(int line)
{
    for (int i = 0; i < m.plan.nsteps; i++)
        if (m.plan.steps[i].line == line)
            return &m.plan.steps[i];
    return NULL;
}

/* TRACE <stage>:<line> <op> <N> us [cached] | TRACE <stage>:<line> exec started */
static void trace(const char *traced)
{
    /* " cached": a seccomp filter loaded from the cache (seccomp.c); shown after the duration */
    char line[1024];
    snprintf(line, sizeof line, "%s", traced);
    size_t len = strlen(line);
    bool cached = len > 7 && strcmp(line + len - 7, " cached") == 0;
    if (cached)
        line[len - 7] = '\0';
    const char *colon = strchr(line, ':');
    const struct step *s = colon ? step_at_line(atoi(colon + 1)) : NULL;
    if (!s) {
        if (m.verbose)
            say("%s", line + 6);
        return;
    }
    m.traced = s;
    if (!m.verbose)
        return;
    const char *us = strrchr(line, ' ');
    bool started = us && strcmp(us, " started") == 0;
    long long n = 0;
    if (!started) { /* "... <N> us": N is the second last field */
        char copy[256];
        snprintf(copy, sizeof copy, "%s", line);
        char *last = strrchr(copy, ' ');
        if (last) {
            *last = '\0';
            char *num = strrchr(copy, ' ');
            n = num ? atoll(num + 1) : 0;
        }
    }
    step_line(s, (double)n / 1000.0, started, cached);
}

/* The next message from H that is not a TRACE line, into out; false at EOF. Signals M gets meanwhile
 * are passed on as they come. */
static bool next_msg(char *out, size_t len)
{
    for (;;) {
        char *nl = memchr(m.rb.buf, '\n', m.rb.len);
        if (nl) {
            size_t n = (size_t)(nl - m.rb.buf);
            snprintf(out, len, "%.*s", (int)n, m.rb.buf);
            m.rb.len -= n + 1;
            memmove(m.rb.buf, nl + 1, m.rb.len);
            if (strncmp(out, "TRACE ", 6) == 0) {
                trace(out);
                continue;
            }
            return true;
        }
        if (m.rb.len == sizeof m.rb.buf)
            m.rb.len = 0; /* a line longer than the buffer: garbage */
        struct pollfd p[3] = { { m.sock, POLLIN, 0 }, { m.sfd, POLLIN, 0 }, { detach_log_fd(), POLLIN, 0 } };
        if (poll(p, 3, -1) < 0)
            continue;
        if (p[2].revents)
            detach_pump(); /* up -d: the target's output to <rt>/log */
        if (p[1].revents)
            forward_signals();
        if (p[0].revents) {
            /* recvmsg, not read: the PTY message of `exec -t` carries the pty master (SCM_RIGHTS); read()
             * would drop it (unix(7): ancillary data is discarded when not asked for) */
            union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } u;
            struct iovec iov = { m.rb.buf + m.rb.len, sizeof m.rb.buf - m.rb.len };
            struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf };
            ssize_t n = recvmsg(m.sock, &mh, MSG_CMSG_CLOEXEC);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                return false;
            for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len == CMSG_LEN(sizeof(int))) {
                    int fd;
                    memcpy(&fd, CMSG_DATA(c), sizeof fd);
                    if (m.pty >= 0)
                        close(m.pty); /* one pty per run */
                    m.pty = fd;
                }
            }
            m.rb.len += (size_t)n;
        }
    }
}

static bool is_msg(const char *line, const char *kind)
{
    size_t n = strlen(kind);
    return strncmp(line, kind, n) == 0 && (line[n] == '\0' || line[n] == ' ');
}

static void unescape(char *s)
{
    char *w = s;
    for (char *r = s; *r;) {
        if (r[0] == '%' && isxdigit((unsigned char)r[1]) && isxdigit((unsigned char)r[2])) {
            char hex[3] = { r[1], r[2], 0 };
            *w++ = (char)strtol(hex, NULL, 16);
            r += 3;
        } else {
            *w++ = *r++;
        }
    }
    *w = '\0';
}

/* HelperError.describe: ERROR <code> TAB <step> TAB <syscall> TAB <path> TAB <errno> TAB <hint>. */
static void describe_error(const char *line)
{
    char copy[16384];
    snprintf(copy, sizeof copy, "%s", strncmp(line, "ERROR ", 6) == 0 ? line + 6 : line);
    char *f[6];
    int n = 0;
    for (char *rest = copy, *t; n < 6 && (t = strsep(&rest, "\t")) != NULL;)
        f[n++] = t;
    if (n < 6) {
        say("%s", strncmp(line, "ERROR ", 6) == 0 ? line + 6 : line);
        return;
    }
    for (int i = 0; i < 6; i++)
        unescape(f[i]);
    struct host_error e;
    char path[8192];
    display(f[3], path, sizeof path);
    host_fail(&e, f[1][0] ? f[1] : "helper", f[2], path, 0, "%s", f[5]);
    snprintf(e.err, sizeof e.err, "%s", f[4]);
    say_error(&e);
}

/* StopReport.seconds: 600000 -> 600, 1500 -> 1.5, 803 -> 0.8 */
static void seconds(long long ms, char *out, size_t len)
{
    if (ms % 1000 == 0 || ms < 100) {
        snprintf(out, len, "%.3f", (double)ms / 1000.0);
        /* strip trailing zeros */
        char *end = out + strlen(out) - 1;
        while (end > out && *end == '0')
            *end-- = '\0';
        if (*end == '.')
            *end = '\0';
        return;
    }
    long long tenths = (ms + 50) / 100;
    if (tenths % 10 == 0)
        snprintf(out, len, "%lld", tenths / 10);
    else
        snprintf(out, len, "%lld.%lld", tenths / 10, tenths % 10);
}

static const char *signal_name(int sig, char *buf, size_t len)
{
    switch (sig) {
    case 1: return "SIGHUP";
    case 2: return "SIGINT";
    case 3: return "SIGQUIT";
    case 15: return "SIGTERM";
    default:
        snprintf(buf, len, "signal %d", sig);
        return buf;
    }
}

/* The stage H was in and the step it is taken to have been running when it died. */
static void helper_died(enum stage stage, const struct step *at)
{
    const struct step *s = at;
    if (!s) {
        bool after = m.traced && m.traced->stage == stage;
        for (int i = 0; i < m.plan.nsteps; i++) {
            const struct step *c = &m.plan.steps[i];
            if (c->stage != stage)
                continue;
            if (after) {
                if (c == m.traced)
                    after = false;
                continue;
            }
            s = c;
            if (m.traced && m.traced->stage == stage)
                break; /* the first step after the last one reported done */
        }
    }
    int st = m.helper_status;
    char what[64];
    if (WIFSIGNALED(st))
        snprintf(what, sizeof what, "was killed by signal %d", WTERMSIG(st));
    else
        snprintf(what, sizeof what, "exited with %d", WIFEXITED(st) ? WEXITSTATUS(st) : 125);
    if (s)
        say("helper: %s %s during %s (step %s:%d %s)", m.self, what, stage_names[stage], stage_names[s->stage], s->line, s->op->name);
    else
        say("helper: %s %s during %s", m.self, what, stage_names[stage]);
}

/* H ended or said something else before the target could run: 125, one line. */
static _Noreturn void helper_setup_failed(const char *reply, enum stage stage)
{
    bool error = false;
    char line[sizeof m.rb.buf];
    if (reply && !is_msg(reply, "ERROR"))
        send_msg("ABORT"); /* an unexpected message: H would wait for GO forever */
    for (const char *l = reply; l; l = next_msg(line, sizeof line) ? line : NULL) {
        if (is_msg(l, "ERROR") && !error) {
            describe_error(l);
            error = true;
        }
    }
    reap_helper();
    if (!error) {
        if (reply)
            say("helper: %s sent '%s' where %s was expected", m.self, reply, stage == ST_ENTER ? "ENTERED" : "CLONED");
        else
            helper_died(stage, NULL);
    }
    finish_run(125);
}

/* A host step failed while H waits for GO: a helper that died meanwhile is what is reported. */
static _Noreturn void host_step_failed(const struct step *s, const struct host_error *e)
{
    usleep(1000); /* let a dying H's exit be seen (a write to its /proc files fails as it goes) */
    if (helper_dead() && WIFSIGNALED(m.helper_status)) {
        helper_died(s->stage, s);
    } else {
        say_error(e);
        send_msg("ABORT");
    }
    finish_run(125);
}

/* Controller.letNamespaceRootIn: after GO, H becomes uid 0 of its user namespace and C mounts the new
 * root below the runtime dir as that uid; when that is not the dir's owner (root maps 0 to 100000),
 * the 0700 dir would stop it (EACCES): 0711 lets it pass, nothing becomes listable or writable. */
static _Noreturn void root_in_failed(const struct host_error *e)
{
    usleep(1000); /* as host_step_failed: let a dying H's exit be seen */
    if (helper_dead() && WIFSIGNALED(m.helper_status)) {
        helper_died(ST_IDENTITY, NULL); /* its uid_map went with it: the identity stage is where it died */
        finish_run(125);
    }
    host_step_failed(&m.plan.steps[0], e);
}

static void let_namespace_root_in(pid_t helper)
{
    struct stat st;
    char map[64], buf[4096];
    snprintf(map, sizeof map, "/proc/%d/uid_map", (int)helper);
    int fd = open(map, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    int err = errno;
    if (fd >= 0)
        close(fd);
    if (n < 0 || fstat(m.dirfd, &st) < 0) {
        struct host_error e;
        host_fail(&e, "identity runtime-dir", "chmod", m.rtdir, n < 0 ? err : errno, "the sandbox's root must be able to reach %s/root", m.rtdir);
        root_in_failed(&e);
    }
    buf[n] = '\0';
    bool owner_is_root = false;
    for (char *save = NULL, *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        unsigned long in, out, count;
        if (sscanf(l, "%lu %lu %lu", &in, &out, &count) == 3 && in == 0 && out == st.st_uid)
            owner_is_root = true;
    }
    if (!owner_is_root && chmod(m.rtdir, 0711) < 0) {
        struct host_error e;
        host_fail(&e, "identity runtime-dir", "chmod", m.rtdir, errno, "the sandbox's root must be able to reach %s/root", m.rtdir);
        root_in_failed(&e);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* exec -t: the pty proxy                                                                      */

static void write_all_fd(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        buf += n;
        len -= (size_t)n;
    }
}

/* The proxy P, forked by M: bytes from our stdin to the pty master, from the master to our stdout,
 * the caller's window size onto the pty at the start and on every SIGWINCH (ioctl_tty(2) TIOCGWINSZ,
 * TIOCSWINSZ). The caller's terminal is in raw mode (cfmakeraw, termios(3)): Ctrl-C, Ctrl-Z, Ctrl-\
 * are bytes for the sandbox's pty, whose line discipline makes them signals there. M restores the
 * terminal when the run ends. */
static _Noreturn void proxy_main(void)
{
    close(m.sock);
    close(m.lockfd); /* M's lock must go with M */
    if (m.jfd >= 0)
        close(m.jfd);
    if (m.dirfd >= 0)
        close(m.dirfd);
    if (m.sfd >= 0)
        close(m.sfd);
    sigset_t winch;
    sigemptyset(&winch);
    sigaddset(&winch, SIGWINCH);
    int wfd = signalfd(-1, &winch, SFD_CLOEXEC | SFD_NONBLOCK);
    bool in_open = true;
    char buf[16384];
    for (bool resize = true;;) {
        if (resize) {
            struct winsize ws;
            if (ioctl(0, TIOCGWINSZ, &ws) == 0)
                ioctl(m.pty, TIOCSWINSZ, &ws);
            resize = false;
        }
        struct pollfd p[3] = { { m.pty, POLLIN, 0 }, { in_open ? 0 : -1, POLLIN, 0 }, { wfd, POLLIN, 0 } };
        if (poll(p, 3, -1) < 0) {
            if (errno == EINTR)
                continue;
            _exit(0);
        }
        if (p[2].revents) {
            struct signalfd_siginfo si;
            while (read(wfd, &si, sizeof si) == sizeof si) {
            }
            resize = true;
        }
        if (p[0].revents) {
            ssize_t n = read(m.pty, buf, sizeof buf);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                _exit(0); /* EIO: no slave is open any more (pty(7)) */
            write_all_fd(1, buf, (size_t)n);
        }
        if (in_open && p[1].revents) {
            ssize_t n = read(0, buf, sizeof buf);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                /* end of our input: the pty's EOF character (VEOF, ^D) ends a read of a canonical reader */
                struct termios t;
                char eof = tcgetattr(m.pty, &t) == 0 ? (char)t.c_cc[VEOF] : 4;
                write_all_fd(m.pty, &eof, 1);
                in_open = false;
                continue;
            }
            write_all_fd(m.pty, buf, (size_t)n);
        }
    }
}

static void start_proxy(void)
{
    if (m.pty < 0 || m.proxy > 0)
        return;
    if (isatty(0) && tcgetattr(0, &m.termios) == 0) {
        struct termios raw = m.termios;
        cfmakeraw(&raw);
        if (tcsetattr(0, TCSADRAIN, &raw) == 0)
            m.raw = true;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0)
        proxy_main();
    if (pid < 0) {
        say("exec -t: fork of the pty proxy: %s", errno_name(errno));
        return;
    }
    m.proxy = pid;
}

/* ------------------------------------------------------------------------------------------ */
/* Host steps                                                                                 */

/* resources.memory: after the target exited and before the teardown removes the cgroups, one line for each
 * memory cgroup the OOM killer killed in (docs/spec.md, "OOM kills"); the status stays H's. */
static void report_oom(void)
{
    for (int i = 0; i < m.plan.nsteps; i++) {
        const struct step *s = &m.plan.steps[i];
        const char *f = s->stage == ST_PREPARE && strcmp(s->op->name, "cgroup-set") == 0 ? get(s, "file") : NULL;
        if (!f || (strcmp(f, "memory.max") != 0 && strcmp(f, "memory.limit_in_bytes") != 0))
            continue;
        char line[256];
        if (cgroup_oom_report(get(s, "path"), line, sizeof line) > 0)
            say("%s", line);
    }
}

/* H, forked straight into the sandbox's cgroup when the plan places it in one on cgroup v2 (the first
 * identity cgroup-place step; clone3 CLONE_INTO_CGROUP, runtime.h), else by fork() and moved there by
 * the step. Why this is the same placement, only earlier: H is placed before it clones C either way
 * (the cgroup namespace's root, ns.c), the cgroup and its limits (prepare's cgroup-set) exist before
 * H does, and H does nothing before the step that the cgroup would see differently (it unshares the
 * user namespace and waits for GO). A refused clone3 (an older kernel, a v1 hierarchy) falls back. */
static pid_t fork_helper(void)
{
    const struct step *place = NULL;
    for (int i = 0; i < m.plan.nsteps && !place; i++)
        if (m.plan.steps[i].stage == ST_IDENTITY && strcmp(m.plan.steps[i].op->name, "cgroup-place") == 0)
            place = &m.plan.steps[i];
    if (place && get(place, "path")) {
        int cg = open(get(place, "path"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (cg >= 0) {
            pid_t pid = fork_into_cgroup(cg);
            close(cg); /* in both processes */
            if (pid > 0)
                m.placed = place;
            if (pid >= 0)
                return pid;
        }
    }
    return fork();
}

static void run_host_stage(enum stage stage, pid_t pid)
{
    for (int i = 0; i < m.plan.nsteps; i++) {
        const struct step *s = &m.plan.steps[i];
        if (s->stage != stage || strcmp(s->op->name, "runtime-dir") == 0)
            continue;
        struct host_error e;
        double t0 = mono_ms();
        int rc = 0;
        const char *op = s->op->name;
        if (strcmp(op, "check-path") == 0) {
            rc = host_check_path(s, &e);
        } else if (strcmp(op, "check-shared-mount") == 0) {
            rc = host_check_shared_mount(s, &e);
        } else if (strcmp(op, "cgroup-create") == 0) {
            off_t at = lseek(m.jfd, 0, SEEK_END);
            rc = journal_add(m.jfd, "cgroup-remove", "path", get(s, "path"), &e);
            crash_point("cgroup-journaled");
            if (rc == 0) {
                rc = host_cgroup_create(s, &e);
                /* its mkdir failed: nothing is ours there (EEXIST: another sandbox of this name, e.g. of
                 * another runtime base, runs in it); the teardown must not kill and remove it */
                struct host_error e2;
                if (rc < 0 && at >= 0 && journal_forget(m.jfd, at, &e2) < 0)
                    say_error(&e2);
            }
            if (rc == 0) {
                crash_point("cgroup-created");
                if (!m.cgroup[0]) {
                    snprintf(m.cgroup, sizeof m.cgroup, "%s", get(s, "path"));
                    m.st.cgroup = m.cgroup;
                }
            }
        } else if (strcmp(op, "cgroup-set") == 0) {
            rc = host_cgroup_set(s, &e); /* resources.c; nothing to journal: the values go with the cgroup */
        } else if (strcmp(op, "write-setgroups") == 0) {
            rc = host_write_setgroups(s, pid, &e);
            if (rc == 0)
                crash_point("setgroups-written");
        } else if (strcmp(op, "write-id-map") == 0) {
            rc = host_write_id_map(s, pid, &e);
            if (rc == 0)
                crash_point(strcmp(get(s, "kind"), "uid") == 0 ? "uid-map-written" : "gid-map-written");
        } else if (strcmp(op, "cgroup-place") == 0) {
            /* H was forked into it (fork_helper): nothing to move */
            rc = s == m.placed ? 0 : host_cgroup_place(s, pid, &e);
            if (rc == 0)
                crash_point("cgroup-placed");
        } else if (strcmp(op, "veth") == 0) {
            off_t at = lseek(m.jfd, 0, SEEK_END);
            rc = journal_add(m.jfd, "veth-delete", "name", get(s, "hostName"), &e);
            crash_point("veth-journaled");
            if (rc == 0) {
                bool left = false;
                rc = veth_setup(s, pid, &left, &e);
                /* nothing of ours is left (EEXIST, EADDRINUSE: the name is another sandbox's link) */
                struct host_error e2;
                if (rc < 0 && !left && at >= 0 && journal_forget(m.jfd, at, &e2) < 0)
                    say_error(&e2);
            }
            if (rc == 0) {
                crash_point("veth-created");
                crash_point("veth-configured");
            }
        } else if (strcmp(op, "user-net") == 0) {
            rc = usernet_start(s, pid, m.jfd, &m.pasta, &e); /* journals kill-tree pid=<pasta> start=T before its execve */
            if (rc == 0)
                crash_point("usernet-started");
        } else if (strcmp(op, "sysctl") == 0) {
            rc = netns_sysctl(s, pid, &e); /* netlink.c; nothing to journal: the value goes with the namespace */
        } else if (strcmp(op, "cgroup-remove") == 0) {
            continue; /* the undo of cgroup-create: journaled with it, done by the teardown */
        } else {
            char label[128];
            host_step_label(s, label, sizeof label);
            rc = host_fail(&e, label, NULL, NULL, 0, "this monitor does not implement op '%s'", op);
        }
        if (rc < 0) {
            if (stage == ST_PREPARE)
                setup_failed(&e);
            host_step_failed(s, &e);
        }
        if (m.verbose)
            step_line(s, mono_ms() - t0, false, false);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Start-up                                                                                   */

static char *read_plan(const char *path, size_t *len_out)
{
    struct host_error e;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        host_fail(&e, "plan", "open", path, errno, "the plan file can't be read");
        setup_failed(&e);
    }
    if (st.st_size > PLAN_MAX_SIZE) {
        host_fail(&e, "plan", NULL, path, 0, "the plan file is larger than 16 MiB");
        setup_failed(&e);
    }
    size_t size = (size_t)st.st_size, len = 0;
    char *text = malloc(size + 1);
    if (!text)
        exit(125);
    while (len < size) {
        ssize_t n = read(fd, text + len, size - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    text[len] = '\0';
    *len_out = len;
    return text;
}

int monitor_main(int argc, char **argv)
{
    bool consume = false, detach = false;
    m.self = argv[0];
    /* Why: the launcher exec'd us with every fd its caller had open; none of them is the sandbox's
     * business (the JVM's ProcessBuilder closed them all before, too). */
    sys_close_range(3, ~0U);
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--trace") == 0)
            m.verbose = true;
        else if (strcmp(argv[i], "--consume") == 0)
            consume = true;
        else if (strcmp(argv[i], "--detach") == 0)
            detach = true;
        else if (i + 1 >= argc)
            usage("missing value");
        else if (strcmp(argv[i], "--plan") == 0)
            m.plan_path = argv[++i];
        else if (strcmp(argv[i], "--grace-ms") == 0)
            g.grace_ms = parse_grace_ms(argv[++i]);
        else
            usage("unknown argument");
    }
    if (!m.plan_path)
        usage("run needs --plan FILE");
    g.trace = m.verbose;
    g.plan_path = m.plan_path;
    block_signals(); /* H inherits the mask; M reads its own through a signalfd once H runs */
    struct host_error e;
    if (reexec_sys) {
        host_fail(&e, "start", reexec_sys, "/proc/self/exe", reexec_err, "%s", reexec_hint());
        setup_failed(&e);
    }

    size_t len;
    char *text = read_plan(m.plan_path, &len);
    if (consume)
        unlink(m.plan_path); /* a handoff file: nobody needs it once read */
    char *copy = malloc(len + 1); /* the plan as written, for <rt>/plan (plan_parse decodes in place) */
    if (!copy)
        exit(125);
    memcpy(copy, text, len + 1);
    struct plan_error perr;
    if (plan_parse(text, len, &m.plan, &perr) != 0) {
        char step[32];
        snprintf(step, sizeof step, perr.line ? "plan:%d" : "plan", perr.line);
        host_fail(&e, step, NULL, m.plan_path, 0, "%s", perr.msg);
        setup_failed(&e);
    }
    const struct step *rt = m.plan.nsteps > 0 ? &m.plan.steps[0] : NULL;
    if (!m.plan.versioned) {
        host_fail(&e, "plan", NULL, m.plan_path, 0, "not a sandbox plan of version 1 (the first line must be '" PLAN_HEADER "')");
        setup_failed(&e);
    }
    if (!rt || strcmp(rt->op->name, "runtime-dir") != 0) {
        host_fail(&e, "plan", NULL, m.plan_path, 0, "the first step must be 'prepare runtime-dir'");
        setup_failed(&e);
    }
    crash_point("monitor-start");
    if (detach)
        detach_fork(get(rt, "name")); /* from here on this process is the detached monitor */

    /* the runtime dir: <base>/<name>, born locked */
    m.rtdir = strdup(get(rt, "path"));
    m.name = get(rt, "name");
    char *base_copy = strdup(m.rtdir), *name_copy = strdup(m.rtdir);
    if (!m.rtdir || !base_copy || !name_copy)
        exit(125);
    const char *base = dirname(base_copy);
    if (!*m.name || strchr(m.name, '/') || strcmp(basename(name_copy), m.name) != 0 || m.rtdir[0] != '/') {
        host_fail(&e, "prepare runtime-dir", NULL, m.rtdir, 0, "the runtime dir must be an absolute path ending in the sandbox's name '%s'", m.name);
        setup_failed(&e);
    }
    if (runtime_dir_create(base, m.name, &m.dirfd, &m.lockfd, &e) < 0)
        setup_failed(&e);
    m.rt_created = true;
    crash_point("runtime-dir-locked");
    int pfd = openat(m.dirfd, "plan", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (pfd >= 0) {
        if (write(pfd, copy, len) != (ssize_t)len) {
        } /* a copy for people and later commands; the run does not depend on it */
        close(pfd);
    }
    free(copy);
    if (journal_open(m.dirfd, &m.jfd, &e) < 0)
        setup_failed(&e);
    crash_point("journal-opened");
    m.st = (struct sandbox_state){ .name = m.name, .spec = get(rt, "spec") ? get(rt, "spec") : "",
                                   .spec_sha256 = get(rt, "spec-sha256") ? get(rt, "spec-sha256") : "", .plan_sha256 = "",
                                   .git_repo = get(rt, "git-repo"), .git_path = get(rt, "git-path"), .git_blob = get(rt, "git-blob"),
                                   .git_commit = get(rt, "git-commit"), .lab = get(rt, "lab"),
                                   .monitor_pid = getpid(), .monitor_start = proc_start_time(getpid()), .cgroup = "",
                                   .created_ms = realtime_ms(), .exit_status = -1, .detached = detach };
    save_state("creating", 0);

    /* Without a cgroup, the process tree is how teardown finds every process: orphans of the target
     * (`sh -c 'sleep 102 &'`) come to us as a child subreaper (prctl(2) PR_SET_CHILD_SUBREAPER) and
     * the journal's kill-tree kills them all. */
    bool cgroup = false;
    for (int i = 0; i < m.plan.nsteps; i++)
        cgroup |= strcmp(m.plan.steps[i].op->name, "cgroup-create") == 0;
    if (!cgroup) {
        prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        if (journal_add_kill_tree(m.jfd, getpid(), m.st.monitor_start, &e) < 0)
            setup_failed(&e);
    }

    run_host_stage(ST_PREPARE, 0);
    if (detach_open_log(m.dirfd, &e) < 0)
        setup_failed(&e);

    /* H: forked, not exec'd; the plan is parsed already */
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        host_fail(&e, "start helper", "socketpair", NULL, errno, NULL);
        setup_failed(&e);
    }
    fflush(NULL);
    m.helper = fork_helper();
    if (m.helper < 0) {
        host_fail(&e, "start helper", "fork", NULL, errno, NULL);
        setup_failed(&e);
    }
    if (m.helper == 0) {
        /* H must not hold the lock: when M dies, the lock must go with it (a dead sandbox is one whose
         * lock can be taken), whatever H is still doing */
        close(sv[0]);
        close(m.lockfd);
        close(m.jfd);
        close(m.dirfd);
        detach_in_helper();
        g.report_started = true;
        g.ctl = sv[1];
        g.steps = m.plan.steps;
        g.nsteps = m.plan.nsteps;
        g.newroot = m.plan.newroot;
        g.has_init = m.plan.init;
        /* a connect user-net step: C stays dumpable until released, so pasta (the caller's uid) can open
         * /proc/<C>/ns/net and ns/user (op_clone's connect window, usernet.c) */
        for (int i = 0; i < m.plan.nsteps; i++)
            g.connect_window |= m.plan.steps[i].stage == ST_CONNECT && strcmp(m.plan.steps[i].op->name, "user-net") == 0;
        /* a connect sysctl step, rootless: M opens /proc/<C>/ns/net and ns/user the same way (netns_sysctl) */
        for (int i = 0; i < m.plan.nsteps && geteuid() != 0; i++)
            g.connect_window |= m.plan.steps[i].stage == ST_CONNECT && strcmp(m.plan.steps[i].op->name, "sysctl") == 0;
        helper_main();
    }
    close(sv[1]);
    detach_after_helper();
    m.sock = sv[0];
    crash_point("helper-forked");
    sigset_t fwd = g.sigs;
    m.sfd = signalfd(-1, &fwd, SFD_CLOEXEC | SFD_NONBLOCK);
    m.st.helper_pid = m.helper;
    m.st.helper_start = proc_start_time(m.helper);

    char msg[sizeof m.rb.buf];
    bool got = next_msg(msg, sizeof msg);
    if (!got || !is_msg(msg, "ENTERED"))
        helper_setup_failed(got ? msg : NULL, ST_ENTER);
    pid_t hpid = (pid_t)atoi(msg + 8);
    crash_point("entered");
    run_host_stage(ST_IDENTITY, hpid);
    let_namespace_root_in(hpid);
    if (helper_dead()) { /* killed while we wrote its maps (they can be written into a zombie) */
        helper_died(ST_IDENTITY, NULL);
        finish_run(125);
    }
    send_msg("GO");

    got = next_msg(msg, sizeof msg);
    if (!got || !is_msg(msg, "CLONED"))
        helper_setup_failed(got ? msg : NULL, ST_CLONE);
    pid_t child = (pid_t)atoi(msg + 7);
    crash_point("cloned");
    /* the state `join: {sandbox: NAME}` reads */
    int fd = openat(m.dirfd, "pid", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
        dprintf(fd, "%d\n", (int)child);
        close(fd);
    }
    m.st.target_pid = child;
    m.st.target_start = proc_start_time(child);
    m.st.started_ms = realtime_ms();
    save_state("running", child);
    crash_point("state-running");
    run_host_stage(ST_CONNECT, child);
    if (helper_dead()) {
        helper_died(ST_CONNECT, NULL);
        finish_run(125);
    }
    send_msg("GO");
    crash_point("released");

    /* until EOF: ERROR, TIMEOUT, KILLED, EXIT */
    char error[sizeof m.rb.buf] = "";
    long long timeout_ms = -1;
    char killed[256] = "";
    char s1[32], s2[32], n1[32];
    while (next_msg(msg, sizeof msg)) {
        if (is_msg(msg, "ERROR"))
            snprintf(error, sizeof error, "%s", msg);
        else if (is_msg(msg, "TIMEOUT"))
            timeout_ms = atoll(msg + 8);
        else if (is_msg(msg, "KILLED")) {
            int sig;
            long long after;
            char why[32];
            if (sscanf(msg, "KILLED %d %lld %31s", &sig, &after, why) == 3) {
                bool interrupt = strcmp(why, "interrupt") == 0;
                seconds(after, s1, sizeof s1);
                seconds(g.grace_ms, s2, sizeof s2);
                if (interrupt)
                    snprintf(killed, sizeof killed, "sent SIGKILL on a second SIGINT, %s s after %s", s1, signal_name(sig, n1, sizeof n1));
                else
                    snprintf(killed, sizeof killed, "sent SIGKILL after %s s", s2);
                if (timeout_ms < 0) {
                    if (interrupt)
                        say("%s", killed);
                    else
                        say("the target did not stop within %s s of %s; sent SIGKILL", s2, signal_name(sig, n1, sizeof n1));
                }
            }
        } else if (is_msg(msg, "STARTED")) {
            if (!error[0])
                detach_started(); /* up -d returns: the target was exec'd */
        } else if (is_msg(msg, "EXIT")) {
            if (!error[0])
                detach_started(); /* it ran (and ended before H saw its exec) */
            crash_point("target-exited");
        } else if (is_msg(msg, "PTY")) {
            start_proxy();
        }
    }
    reap_helper();
    if (error[0])
        describe_error(error);
    if (timeout_ms >= 0) {
        seconds(timeout_ms, s1, sizeof s1);
        say("timed out after %s s; %s", s1, killed[0] ? killed : "the target stopped on SIGTERM");
    }
    report_oom();
    int st = m.helper_status;
    finish_run(WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 125);
}
