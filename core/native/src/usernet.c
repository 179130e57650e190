/*
 * usernet.c: stage connect, op user-net (M): a user-mode network for the sandbox's network namespace
 * through pasta (Debian package passt), started after CLONED while C waits, killed at teardown
 * through its journal record. docs/spec.md ("net.mode") says what the user gets; docs/security.md
 * what it exposes. The step (net plugin, UserNet.java):
 *
 *   connect  user-net  tool=/usr/bin/pasta ifname=eth0 address=10.0.2.100/24 gateway=10.0.2.2
 *                      host-loopback=0|1 [port=tcp|udp:HOST_IP:PUBLISHED:TARGET]...
 *
 * pasta's argv (pasta(1) of passt 0.0~git20230309, Debian bookworm) and why each option:
 *   --foreground        no daemon: it stays our child, so we know its pid and can kill and reap it
 *   --quiet             no informational messages
 *   --config-net        pasta sets the tap interface's address and routes itself (no DHCP client inside)
 *   --ns-ifname, --address, --netmask, --gateway   the fixed layout of the step (slirp4netns's)
 *   --tcp-ports/--udp-ports SPEC or none           exactly the published ports; default would be "auto"
 *                       for pasta (every port bound inside, on every host address)
 *   --tcp-ns none --udp-ns none                    never the host's loopback ports inside (default "auto")
 *   --no-map-gw         unless host-loopback=1: the gateway address is not translated to the host's
 *                       loopback
 *   --pid /proc/self/fd/3    pasta writes its pid there once the namespace is configured: our readiness
 *                       signal (a pipe: EOF without a pid means it failed)
 *   --log-file /proc/self/fd/4   a memfd: pasta's own error line for our message, no syslog noise
 *                       (its stderr is another memfd: option errors come before the log is open)
 *   --netns /proc/self/fd/5, and --userns /proc/self/fd/6 (rootless: the sandbox's user namespace
 *                       owns the network namespace) or, for root, --runas 0:0 (pasta would switch to
 *                       nobody, who can't open /dev/net/tun; it drops its capabilities itself).
 *                       Why fds that M opened and not the paths /proc/<C>/ns/net and ns/user: pasta drops capabilities
 *                       before it opens the namespaces, and opening another process's ns file is a
 *                       ptrace access check (proc(5), ptrace(2) "Ptrace access mode checking"): root's
 *                       pasta, with fewer capabilities than C, is refused (EACCES); its own
 *                       /proc/self/fd is always allowed. Rootless, M can open them because C is
 *                       dumpable until released (op_clone's connect window; non-dumpable, they would
 *                       need CAP_SYS_PTRACE in the host's user namespace).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "host.h"

#define STEP "connect user-net"
#define READY_MS 5000 /* pasta takes ~20 ms here; bounded so a stuck one can't hold the sandbox */
#define PID_FD 3
#define LOG_FD 4
#define NETNS_FD 5
#define USERNS_FD 6

/* The first value of key, NULL when the step has none. */
static const char *arg(const struct step *s, const char *key)
{
    for (int i = 0; i < s->nkv; i++)
        if (strcmp(s->kv[i].key, key) == 0)
            return s->kv[i].val;
    return NULL;
}

static bool is_port(const char *v)
{
    if (!*v || strlen(v) > 5)
        return false;
    for (const char *c = v; *c; c++)
        if (*c < '0' || *c > '9')
            return false;
    long n = strtol(v, NULL, 10);
    return n >= 1 && n <= 65535;
}

/* "tcp:127.0.0.1:8080:80" -> "127.0.0.1/8080:80" (pasta's -t/-u spec), *udp set. The host address may
 * hold ':' (IPv6): protocol up to the first ':', target after the last, published before it. */
static bool port_spec(const char *wire, char *out, size_t len, bool *udp)
{
    const char *first = strchr(wire, ':');
    const char *last = strrchr(wire, ':');
    if (!first || last == first)
        return false;
    const char *middle = last - 1;
    while (middle > first && *middle != ':')
        middle--;
    if (middle == first || middle - first < 2)
        return false;
    size_t plen = (size_t)(first - wire);
    if (plen == 3 && strncmp(wire, "tcp", 3) == 0)
        *udp = false;
    else if (plen == 3 && strncmp(wire, "udp", 3) == 0)
        *udp = true;
    else
        return false;
    char published[8], target[8];
    size_t publen = (size_t)(last - middle - 1);
    if (publen >= sizeof published || strlen(last + 1) >= sizeof target)
        return false;
    memcpy(published, middle + 1, publen);
    published[publen] = '\0';
    snprintf(target, sizeof target, "%s", last + 1);
    if (!is_port(published) || !is_port(target))
        return false;
    for (const char *c = first + 1; c < middle; c++) /* an address: hex digits, '.', ':' only */
        if (!strchr("0123456789abcdefABCDEF.:", *c))
            return false;
    int n = snprintf(out, len, "%.*s/%s:%s", (int)(middle - first - 1), first + 1, published, target);
    return n > 0 && (size_t)n < len;
}

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Why pasta failed, from what it wrote: its log's last "ERROR:" line (without the timestamp), else the
 * last line of its stderr (option errors come before the log file is open) that is not its complaint
 * about a missing syslog; "" when there is nothing. */
static void copy_cut(char *out, size_t len, const char *in) /* a line may be longer than out: cut it */
{
    size_t n = strnlen(in, len - 1);
    memcpy(out, in, n);
    out[n] = '\0';
}

static void last_error(int logfd, int errfd, char *out, size_t len)
{
    out[0] = '\0';
    char buf[8192];
    for (int pass = 0; pass < 2 && !out[0]; pass++) {
        ssize_t n = pread(pass == 0 ? logfd : errfd, buf, sizeof buf - 1, 0);
        if (n <= 0)
            continue;
        buf[n] = '\0';
        for (char *line = buf, *next; line && *line; line = next) {
            next = strchr(line, '\n');
            if (next)
                *next++ = '\0';
            char *err = strstr(line, "ERROR:");
            if (pass == 0 && err) {
                err += strlen("ERROR:");
                while (*err == ' ' || *err == '\t')
                    err++;
                copy_cut(out, len, err);
            } else if (pass == 1 && *line && strncmp(line, "Failed to send ", 15) != 0) {
                copy_cut(out, len, line);
            }
        }
    }
}

/* In the forked child, before execve: only our two fds, default signals, a session of its own. Never returns. */
static _Noreturn void exec_pasta(char **argv, int hold, int pidw, int logfd, int errfd, int netfd, int userfd)
{
    /* Why PDEATHSIG, best effort: if M dies, pasta should not keep the sandbox's network open. pasta
     * changes its credentials while it sandboxes itself, which clears the setting (prctl(2)), so the
     * kill-tree record is what counts: gc or the next `up` of the name kill pasta after a crash (pasta
     * holds the namespace through its fd and never quits by itself). */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    /* Why: M blocks and handles signals itself; a blocked mask and ignored dispositions survive
     * execve (signal(7)), and pasta must die of SIGTERM/SIGKILL like any process. */
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            signal(sig, SIG_DFL);
    setsid(); /* the terminal's ^C goes to the sandbox, not to its network */
    char go;
    ssize_t r;
    do
        r = read(hold, &go, 1); /* M journals our pid before we may run pasta */
    while (r < 0 && errno == EINTR);
    if (r != 1)
        _exit(125);
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(devnull, 1) < 0 || dup2(errfd, 2) < 0)
        _exit(125);
    /* ours may sit on 3..6 already: move them out of the way first; dup2 clears FD_CLOEXEC on the copies */
    int p = fcntl(pidw, F_DUPFD_CLOEXEC, 10), l = fcntl(logfd, F_DUPFD_CLOEXEC, 10);
    int nf = fcntl(netfd, F_DUPFD_CLOEXEC, 10), uf = userfd >= 0 ? fcntl(userfd, F_DUPFD_CLOEXEC, 10) : -1;
    if (p < 0 || l < 0 || nf < 0 || (userfd >= 0 && uf < 0) || dup2(p, PID_FD) < 0 || dup2(l, LOG_FD) < 0
        || dup2(nf, NETNS_FD) < 0 || (uf >= 0 && dup2(uf, USERNS_FD) < 0))
        _exit(125);
    /* every other fd of M (the control socket, the lock, the journal) stays behind: close_range(2) */
    int last = uf >= 0 ? USERNS_FD : NETNS_FD;
    if (syscall(SYS_close_range, last + 1, ~0U, 0) < 0)
        for (int fd = last + 1; fd < 1024; fd++)
            close(fd);
    execv(argv[0], argv);
    _exit(127);
}

int usernet_start(const struct step *s, pid_t child, int journal_fd, pid_t *helper_pid, struct host_error *e)
{
    const char *tool = arg(s, "tool"), *ifname = arg(s, "ifname"), *address = arg(s, "address"),
               *gateway = arg(s, "gateway"), *loopback = arg(s, "host-loopback");
    if (!tool || !ifname || !address || !gateway || !loopback)
        return host_fail(e, STEP, NULL, NULL, 0, "the step lacks one of tool, ifname, address, gateway, host-loopback");
    if (tool[0] != '/')
        return host_fail(e, STEP, NULL, tool, 0, "tool=%s is not an absolute path", tool);
    if (access(tool, X_OK) < 0)
        return host_fail(e, STEP, "access", tool, errno, "install pasta: apt-get install passt");
    const char *slash = strchr(address, '/');
    if (!slash || slash == address || !is_port(slash + 1) || strtol(slash + 1, NULL, 10) > 32)
        return host_fail(e, STEP, NULL, NULL, 0, "address=%s is not an IPv4 address with a prefix length", address);

    int nports = 0;
    for (int i = 0; i < s->nkv; i++)
        nports += strcmp(s->kv[i].key, "port") == 0;
    /* argv: 32 fixed words at most, 2 per port, "none" pairs, NULL */
    size_t cap = 40 + 2 * (size_t)nports;
    char **argv = calloc(cap, sizeof *argv);
    char (*specs)[96] = calloc((size_t)nports + 1, sizeof *specs);
    if (!argv || !specs) {
        free(argv);
        free(specs);
        return host_fail(e, STEP, "malloc", NULL, ENOMEM, NULL);
    }
    char addr[64], mask[8], netns[32], userns[32], pidpath[32], logpath[32], nspath[64];
    snprintf(addr, sizeof addr, "%.*s", (int)(slash - address), address);
    snprintf(mask, sizeof mask, "%s", slash + 1);
    snprintf(netns, sizeof netns, "/proc/self/fd/%d", NETNS_FD);
    snprintf(userns, sizeof userns, "/proc/self/fd/%d", USERNS_FD);
    snprintf(pidpath, sizeof pidpath, "/proc/self/fd/%d", PID_FD);
    snprintf(logpath, sizeof logpath, "/proc/self/fd/%d", LOG_FD);
    size_t n = 0;
    const char *fixed[] = { tool, "--foreground", "--quiet", "--config-net", "--ns-ifname", ifname, "--address", addr,
                            "--netmask", mask, "--gateway", gateway };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        argv[n++] = (char *)fixed[i];
    int ntcp = 0, nudp = 0;
    for (int pass = 0; pass < 2; pass++) { /* tcp first, then udp */
        for (int i = 0, k = 0; i < s->nkv; i++) {
            if (strcmp(s->kv[i].key, "port") != 0)
                continue;
            bool udp;
            if (!port_spec(s->kv[i].val, specs[k], sizeof specs[k], &udp)) {
                free(argv);
                free(specs);
                return host_fail(e, STEP, NULL, NULL, 0, "port=%s is not protocol:host_ip:published:target", s->kv[i].val);
            }
            if (udp == (pass == 1)) {
                argv[n++] = udp ? "--udp-ports" : "--tcp-ports";
                argv[n++] = specs[k];
                udp ? nudp++ : ntcp++;
            }
            k++;
        }
        if ((pass == 0 ? ntcp : nudp) == 0) {
            argv[n++] = pass == 0 ? "--tcp-ports" : "--udp-ports";
            argv[n++] = "none";
        }
    }
    argv[n++] = "--tcp-ns";
    argv[n++] = "none";
    argv[n++] = "--udp-ns";
    argv[n++] = "none";
    if (strcmp(loopback, "1") != 0)
        argv[n++] = "--no-map-gw";
    argv[n++] = "--pid";
    argv[n++] = pidpath;
    argv[n++] = "--log-file";
    argv[n++] = logpath;
    argv[n++] = "--netns";
    argv[n++] = netns;
    if (geteuid() == 0) { /* the same test as `root` below */
        argv[n++] = "--runas";
        argv[n++] = "0:0";
    } else {
        argv[n++] = "--userns";
        argv[n++] = userns;
    }
    argv[n] = NULL;

    bool root = geteuid() == 0;
    int netfd = -1, userfd = -1;
    snprintf(nspath, sizeof nspath, "/proc/%d/ns/net", (int)child);
    netfd = open(nspath, O_RDONLY | O_CLOEXEC);
    if (netfd >= 0 && !root) {
        snprintf(nspath, sizeof nspath, "/proc/%d/ns/user", (int)child);
        userfd = open(nspath, O_RDONLY | O_CLOEXEC);
    }
    if (netfd < 0 || (!root && userfd < 0)) {
        int err = errno;
        if (netfd >= 0)
            close(netfd);
        free(argv);
        free(specs);
        return host_fail(e, STEP, "open", nspath, err, err == EACCES ? "the sandbox's child must be dumpable until"
                         " released to let pasta in (sandbox-init's connect window)" : NULL);
    }
    int ready[2] = { -1, -1 }, hold[2] = { -1, -1 };
    int logfd = memfd_create("pasta-log", MFD_CLOEXEC);
    int errfd = logfd >= 0 ? memfd_create("pasta-stderr", MFD_CLOEXEC) : -1;
    if (logfd < 0 || errfd < 0 || pipe2(ready, O_CLOEXEC) < 0 || pipe2(hold, O_CLOEXEC) < 0) {
        int err = errno;
        if (logfd >= 0)
            close(logfd);
        if (errfd >= 0)
            close(errfd);
        for (int i = 0; i < 2; i++) {
            if (ready[i] >= 0)
                close(ready[i]);
            if (hold[i] >= 0)
                close(hold[i]);
        }
        close(netfd);
        if (userfd >= 0)
            close(userfd);
        free(argv);
        free(specs);
        return host_fail(e, STEP, logfd < 0 ? "memfd_create" : "pipe2", NULL, err, NULL);
    }
    pid_t pid = fork();
    int fork_err = errno;
    if (pid == 0) {
        close(ready[0]);
        close(hold[1]);
        exec_pasta(argv, hold[0], ready[1], logfd, errfd, netfd, userfd);
    }
    close(netfd);
    if (userfd >= 0)
        close(userfd);
    free(argv);
    free(specs);
    close(ready[1]);
    close(hold[0]);
    int rc = 0;
    if (pid < 0) {
        rc = host_fail(e, STEP, "fork", tool, fork_err, NULL);
        goto out;
    }
    /* The journal record exists before pasta does anything (DESIGN: append + fsync before the resource). */
    unsigned long long start = proc_start_time(pid);
    if (journal_fd >= 0 && journal_add_kill_tree(journal_fd, pid, start, e) < 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        rc = -1;
        goto out;
    }
    char go = 1;
    if (write(hold[1], &go, 1) != 1) {
        /* it died already: the wait below reports it */
    }
    close(hold[1]);
    hold[1] = -1;

    /* Ready: pasta wrote its pid to the pipe. EOF without it: it exited (its log says why). */
    char buf[32];
    size_t got = 0;
    long long deadline = mono_ms() + READY_MS;
    for (;;) {
        long long left = deadline - mono_ms();
        if (left <= 0) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            rc = host_fail(e, STEP, "poll", pidpath, ETIMEDOUT,
                           "pasta did not finish setting up the sandbox's network within %d ms; killed it", READY_MS);
            goto out;
        }
        struct pollfd pfd = { .fd = ready[0], .events = POLLIN };
        int p = poll(&pfd, 1, (int)left);
        if (p < 0 && errno == EINTR)
            continue;
        if (p < 0) {
            int err = errno;
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            rc = host_fail(e, STEP, "poll", NULL, err, NULL);
            goto out;
        }
        if (p == 0)
            continue;
        ssize_t r = read(ready[0], buf + got, sizeof buf - 1 - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r > 0) {
            got += (size_t)r;
            buf[got] = '\0';
            if (strchr(buf, '\n') || got == sizeof buf - 1)
                break;
            continue;
        }
        /* EOF before a pid line: pasta is gone */
        int status = 0;
        waitpid(pid, &status, 0);
        char why[512];
        last_error(logfd, errfd, why, sizeof why);
        host_fail(e, STEP, "execve", tool, 0, "pasta could not connect the sandbox's network namespace%s%s",
                  why[0] ? ": " : "", why);
        if (WIFEXITED(status))
            snprintf(e->err, sizeof e->err, "exit %d", WEXITSTATUS(status));
        else if (WIFSIGNALED(status))
            snprintf(e->err, sizeof e->err, "signal %d", WTERMSIG(status));
        rc = -1;
        goto out;
    }
    /* pasta runs in the foreground: the pid it wrote is the one we forked (no daemon fork) */
    if (strtol(buf, NULL, 10) != (long)pid) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        rc = host_fail(e, STEP, NULL, tool, 0, "pasta reported pid %ld, not %d: it forked, so it can't be tracked",
                       strtol(buf, NULL, 10), (int)pid);
        goto out;
    }
    *helper_pid = pid;
out:
    close(ready[0]);
    if (hold[1] >= 0)
        close(hold[1]);
    close(logfd);
    close(errfd);
    return rc;
}

/* Stops a pasta usernet_start started (no-op for pid <= 0) and reaps it. The journal's kill-tree record does the same at teardown. */
void usernet_stop(pid_t pid)
{
    if (pid <= 0)
        return;
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
}
