/*
 * detach.c: `sandbox-init run --detach` (`sandbox up -d`). The monitor M splits in two right after
 * the plan is parsed: the parent half P, the process the caller started, waits on a pipe; the other
 * half goes on as the monitor, in a session of its own (setsid(2)), stdin /dev/null. P prints the
 * sandbox's name and exits 0 once the target was exec'd (H's STARTED, or an EXIT without an ERROR
 * before it), or exits 125 when the monitor ended before that: the monitor printed the one-line error
 * to the caller's stderr and tore everything down first (P sees EOF only once the monitor is gone).
 *
 * The target's stdout and stderr (H's fds 1 and 2) are a pipe the monitor pumps into <rt>/log: at
 * most LOG_MAX bytes, then the file is renamed to log.1 (replacing an older one) and a new log begins.
 * Once the target started, the monitor's own fds 1 and 2 are the log file too (its lines, e.g. the
 * SIGKILL of a stop, go there), so nothing of the caller's stdio is held: `name=$(sandbox up -d s)`
 * returns at once.
 */
#include "runtime.h"

#define LOG_MAX (10L << 20) /* 10 MiB, then one rotation to log.1 (docs/architecture.md) */

static struct {
    bool on;
    const char *name;
    int notify;       /* write end of P's pipe; -1 once P was told */
    int dirfd;        /* the runtime dir (O_PATH) */
    int log_r, log_w; /* the target's output pipe */
    int log_fd;       /* <rt>/log, O_APPEND */
    long long log_size;
    bool started;
} d = { .notify = -1, .dirfd = -1, .log_r = -1, .log_w = -1, .log_fd = -1 };

bool detach_enabled(void)
{
    return d.on;
}

bool detach_running(void)
{
    return d.on && d.started;
}

int detach_log_fd(void)
{
    return d.log_r;
}

/* P: waits for one byte ('S': the target runs) or EOF (the monitor ended: setup failed). */
static _Noreturn void parent_half(int rd, pid_t monitor, const char *name)
{
    /* Why unblock: M blocked them for forwarding; a Ctrl-C must end this wait (the sandbox goes on
     * detached; `sandbox down` stops it). */
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_UNBLOCK, &all, NULL);
    char c = 0;
    ssize_t n;
    do
        n = read(rd, &c, 1);
    while (n < 0 && errno == EINTR);
    if (n == 1 && c == 'S') {
        printf("%s\n", name);
        fflush(stdout);
        _exit(0);
    }
    /* the monitor is gone (EOF): its error line is printed; its status is ours (125, or 126/127 when
     * the target could not be executed) */
    int status = 0;
    while (waitpid(monitor, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
        _exit(WEXITSTATUS(status));
    /* killed (kill -9, the OOM killer) or ended without a word: it printed nothing, so say it here;
     * what it created is in its journal (strsignal(3) names the signal) */
    if (WIFSIGNALED(status))
        fprintf(stderr, "sandbox: up -d %s: the monitor (pid %d) was killed by signal %d (%s) before the target started; "
                "'sandbox gc' removes what it left\n", name, (int)monitor, WTERMSIG(status), strsignal(WTERMSIG(status)));
    else
        fprintf(stderr, "sandbox: up -d %s: the monitor (pid %d) ended before the target started; "
                "'sandbox gc' removes what it left\n", name, (int)monitor);
    _exit(125);
}

void detach_fork(const char *name)
{
    int p[2];
    d.on = true;
    d.name = name;
    if (pipe2(p, O_CLOEXEC) < 0) {
        fprintf(stderr, "sandbox: detach: pipe2: %s\n", errno_name(errno));
        exit(125);
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "sandbox: detach: fork: %s\n", errno_name(errno));
        exit(125);
    }
    if (pid > 0) {
        close(p[1]);
        parent_half(p[0], pid, name);
    }
    close(p[0]);
    d.notify = p[1];
    /* Why a session of its own: the caller's terminal (its hangup, its Ctrl-C) is no longer ours;
     * setsid(2) can't fail in a child that is not a group leader. */
    setsid();
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
        dup2(null, 0);
        close(null);
    }
}

static int open_log(struct host_error *e)
{
    int fd = openat(d.dirfd, "log", O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return host_fail(e, "prepare log", "open", "log", errno, "the detached sandbox's output goes there");
    struct stat st;
    d.log_size = fstat(fd, &st) == 0 ? st.st_size : 0;
    return fd;
}

int detach_open_log(int dirfd, struct host_error *e)
{
    if (!d.on)
        return 0;
    d.dirfd = dirfd;
    d.log_fd = open_log(e);
    if (d.log_fd < 0)
        return -1;
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return host_fail(e, "prepare log", "pipe2", NULL, errno, NULL);
    d.log_r = p[0];
    d.log_w = p[1];
    /* M never blocks on the target's output: it reads what poll says is there */
    fcntl(d.log_r, F_SETFL, O_NONBLOCK);
    return 0;
}

/* H (forked by M, before anything of the sandbox exists): stdout and stderr are the log pipe, which
 * C and the target inherit; nothing of P's pipe. */
void detach_in_helper(void)
{
    if (!d.on)
        return;
    if (d.notify >= 0)
        close(d.notify);
    if (d.log_w >= 0) {
        /* (a caller that ran us with fd 1 or 2 closed may have got the pipe there) */
        if (d.log_w != 1)
            dup2(d.log_w, 1);
        if (d.log_w != 2)
            dup2(d.log_w, 2);
        if (d.log_w > 2)
            close(d.log_w);
    }
    if (d.log_r >= 0)
        close(d.log_r);
    if (d.log_fd >= 0)
        close(d.log_fd);
}

/* M after forking H: only H (and what it forks) writes the pipe, so M sees EOF when they are gone. */
void detach_after_helper(void)
{
    if (d.log_w >= 0)
        close(d.log_w);
    d.log_w = -1;
}

static void write_all_fd(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return; /* a full disk: the output is lost, the sandbox goes on */
        buf += n;
        len -= (size_t)n;
    }
}

/* log -> log.1 (replacing it), a new log; the monitor's own fds 1 and 2 follow once it detached. */
static void rotate(void)
{
    struct host_error e;
    if (renameat(d.dirfd, "log", d.dirfd, "log.1") < 0)
        return; /* keep appending: better a long log than a lost one */
    int fd = open_log(&e);
    if (fd < 0)
        return;
    if (d.started) {
        dup2(fd, 1);
        dup2(fd, 2);
    }
    close(d.log_fd);
    d.log_fd = fd;
    d.log_size = 0;
}

static void append(const char *buf, size_t len)
{
    while (len > 0) {
        if (d.log_size >= LOG_MAX)
            rotate();
        size_t room = d.log_size < LOG_MAX ? (size_t)(LOG_MAX - d.log_size) : len;
        size_t n = len < room ? len : room;
        write_all_fd(d.log_fd, buf, n);
        d.log_size += (long long)n;
        buf += n;
        len -= n;
    }
}

/* What the target wrote since the last call (the pipe is non-blocking). */
void detach_pump(void)
{
    static char buf[16384];
    for (int rounds = 0; d.log_r >= 0 && rounds < 64; rounds++) {
        ssize_t n = read(d.log_r, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return; /* EAGAIN: nothing more now */
        if (n == 0) {
            close(d.log_r); /* every writer is gone */
            d.log_r = -1;
            return;
        }
        append(buf, (size_t)n);
    }
}

/* At the end: whatever is still in the pipe (the teardown killed every writer). */
void detach_drain(void)
{
    for (int i = 0; d.log_r >= 0 && i < 1024; i++) {
        struct pollfd p = { d.log_r, POLLIN, 0 };
        if (poll(&p, 1, 0) <= 0)
            break;
        detach_pump();
    }
}

/* The target was exec'd: P prints the name and exits 0; from now on the monitor's own lines go to the
 * log (first, so that nothing of the caller's stdio is held once P is gone). */
void detach_started(void)
{
    if (!d.on || d.started)
        return;
    d.started = true;
    fflush(NULL);
    if (d.log_fd >= 0) {
        dup2(d.log_fd, 1);
        dup2(d.log_fd, 2);
    }
    if (d.notify >= 0) {
        char c = 'S';
        if (write(d.notify, &c, 1) < 0) {
            /* P is gone (killed): nobody waits for the answer */
        }
        close(d.notify);
        d.notify = -1;
    }
}
