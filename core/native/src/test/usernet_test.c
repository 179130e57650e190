/*
 * usernet_test.c: usernet.c against the real kernel and the real pasta (skipped without /usr/bin/pasta
 * or a /dev/net/tun the caller can open: as root in mvn test; rootless by hand, with the device 0666). Only loopback and a network namespace this test creates take part: the
 * child's eth0 gets 10.0.2.100/24, the test's listeners are on the host's 127.0.0.1 (reached from inside
 * through 10.0.2.2 with host-loopback=1, and into the namespace through a forwarded port).
 * host_fail, journal_add_kill_tree and proc_start_time are stand-ins here (host.c and journal.c are the
 * monitor's); the journal stand-in checks that pasta has not been exec'd when its record is written.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include "../host.h"

static int failures;
#define CHECK(cond, ...)                                                        \
    do {                                                                        \
        if (!(cond)) {                                                          \
            failures++;                                                         \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                \
            fprintf(stderr, __VA_ARGS__);                                       \
            fputc('\n', stderr);                                                \
        }                                                                       \
    } while (0)

/* ---- stand-ins ---- */

int host_fail(struct host_error *e, const char *step, const char *sys, const char *path, int err, const char *hint_fmt, ...)
{
    memset(e, 0, sizeof *e);
    snprintf(e->step, sizeof e->step, "%s", step ? step : "");
    snprintf(e->sys, sizeof e->sys, "%s", sys ? sys : "");
    snprintf(e->path, sizeof e->path, "%s", path ? path : "");
    if (err)
        snprintf(e->err, sizeof e->err, "%s", err == ENOENT ? "ENOENT" : err == ETIMEDOUT ? "ETIMEDOUT" : "errno");
    if (hint_fmt) {
        va_list ap;
        va_start(ap, hint_fmt);
        vsnprintf(e->hint, sizeof e->hint, hint_fmt, ap);
        va_end(ap);
    }
    return -1;
}

static pid_t journaled_pid;
static unsigned long long journaled_start;
static char journaled_cmdline[256];

int journal_add_kill_tree(int fd, pid_t pid, unsigned long long start, struct host_error *e)
{
    (void)fd;
    (void)e;
    journaled_pid = pid;
    journaled_start = start;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
    int f = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = f >= 0 ? read(f, journaled_cmdline, sizeof journaled_cmdline - 1) : -1;
    journaled_cmdline[n > 0 ? n : 0] = '\0';
    if (f >= 0)
        close(f);
    return 0;
}

unsigned long long proc_start_time(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int f = open(path, O_RDONLY | O_CLOEXEC);
    if (f < 0)
        return 0;
    ssize_t n = read(f, buf, sizeof buf - 1);
    close(f);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    for (int field = 2; p && field < 22; field++)
        p = strchr(p + 1, ' ');
    return p ? strtoull(p + 1, NULL, 10) : 0;
}

/* ---- helpers ---- */

static struct step make_step(struct kv *kv, int n)
{
    static struct op op = { 0 };
    op.name = "user-net";
    struct step s = { .line = 1, .op = &op, .kv = kv, .nkv = n };
    return s;
}

static int listen_on(const char *ip, int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)*port) };
    inet_pton(AF_INET, ip, &a.sin_addr);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 4) < 0) {
        close(fd);
        return -1;
    }
    socklen_t len = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &len);
    *port = ntohs(a.sin_port);
    return fd;
}

/* connect to ip:port, read up to len-1 bytes; 0 on success */
static int fetch(const char *ip, int port, char *out, size_t len)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    inet_pton(AF_INET, ip, &a.sin_addr);
    struct timeval tv = { .tv_sec = 3 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        close(fd);
        return -1;
    }
    ssize_t n = read(fd, out, len - 1);
    close(fd);
    if (n <= 0)
        return -1;
    out[n] = '\0';
    return 0;
}

/* The sandbox stand-in: a process in a new network namespace that waits for commands on a pipe.
 * 'a': report eth0's IPv4 address; 'g': fetch 10.0.2.2:<port> (host loopback through the gateway);
 * 'l': listen on 0.0.0.0:8000 inside and answer one connection with "inside". */
struct sandbox { pid_t pid; int cmd; int res; };

static void sandbox_main(int cmd, int res)
{
    char c;
    while (read(cmd, &c, 1) == 1) {
        char out[256] = "";
        if (c == 'a') {
            struct ifaddrs *ifs, *i;
            if (getifaddrs(&ifs) == 0) {
                for (i = ifs; i; i = i->ifa_next)
                    if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET && strcmp(i->ifa_name, "eth0") == 0)
                        inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, out, sizeof out);
                freeifaddrs(ifs);
            }
        } else if (c == 'g') {
            int port;
            if (read(cmd, &port, sizeof port) != sizeof port || fetch("10.0.2.2", port, out, sizeof out) < 0)
                snprintf(out, sizeof out, "error %s", strerror(errno));
        } else if (c == 'l') {
            int port = 8000;
            int fd = listen_on("0.0.0.0", &port);
            snprintf(out, sizeof out, fd < 0 ? "error" : "listening");
            if (write(res, out, strlen(out) + 1) < 0)
                _exit(1);
            if (fd >= 0) {
                int conn = accept(fd, NULL, NULL);
                if (conn >= 0) {
                    if (write(conn, "inside", 6) < 0) {
                    }
                    close(conn);
                }
                close(fd);
            }
            continue;
        }
        if (write(res, out, strlen(out) + 1) < 0)
            _exit(1);
    }
    _exit(0);
}

static struct sandbox sandbox_start(void)
{
    int cmd[2], res[2];
    if (pipe(cmd) < 0 || pipe(res) < 0)
        exit(2);
    pid_t pid = fork();
    if (pid == 0) {
        close(cmd[1]);
        close(res[0]);
        /* rootless: the network namespace must belong to a user namespace of ours (as the sandbox's does) */
        if (unshare(geteuid() == 0 ? CLONE_NEWNET : CLONE_NEWUSER | CLONE_NEWNET) < 0)
            _exit(3);
        sandbox_main(cmd[0], res[1]);
    }
    close(cmd[0]);
    close(res[1]);
    struct sandbox s = { pid, cmd[1], res[0] };
    usleep(50000); /* the unshare */
    return s;
}

static void ask(struct sandbox *sb, char c, const void *extra, size_t n, char *out, size_t len)
{
    if (write(sb->cmd, &c, 1) < 0 || (extra && write(sb->cmd, extra, n) < 0))
        exit(2);
    size_t got = 0;
    while (got < len - 1 && read(sb->res, out + got, 1) == 1 && out[got] != '\0')
        got++;
    out[got] = '\0';
}

static void sandbox_stop(struct sandbox *sb)
{
    close(sb->cmd);
    close(sb->res);
    kill(sb->pid, SIGKILL);
    waitpid(sb->pid, NULL, 0);
}

/* ---- tests ---- */

static void connects_forwards_and_maps_the_gateway_only_on_request(void)
{
    int hostport = 0;
    int host = listen_on("127.0.0.1", &hostport);
    int published = 0;
    int probe = listen_on("127.0.0.1", &published); /* a free port for the forward */
    close(probe);
    char wire[64];
    snprintf(wire, sizeof wire, "tcp:127.0.0.1:%d:8000", published);
    struct kv kv[] = { { "tool", "/usr/bin/pasta" }, { "ifname", "eth0" }, { "address", "10.0.2.100/24" },
                       { "gateway", "10.0.2.2" }, { "host-loopback", "1" }, { "port", wire } };
    struct step s = make_step(kv, 6);
    struct sandbox sb = sandbox_start();
    struct host_error e;
    pid_t pasta = 0;
    journaled_pid = 0;
    int rc = usernet_start(&s, sb.pid, 99, &pasta, &e);
    CHECK(rc == 0, "usernet_start: %s %s %s %s (%s)", e.step, e.sys, e.path, e.err, e.hint);
    if (rc == 0) {
        CHECK(journaled_pid == pasta && journaled_start == proc_start_time(pasta), "journaled %d, started %d", journaled_pid, pasta);
        CHECK(strstr(journaled_cmdline, "pasta") == NULL, "journaled before execve, not after: %s", journaled_cmdline);
        char out[256];
        ask(&sb, 'a', NULL, 0, out, sizeof out);
        CHECK(strcmp(out, "10.0.2.100") == 0, "eth0 inside: '%s'", out);

        /* inside -> 10.0.2.2:hostport = the host's 127.0.0.1:hostport */
        if (write(sb.cmd, "g", 1) < 0 || write(sb.cmd, &hostport, sizeof hostport) < 0)
            exit(2);
        int conn = accept(host, NULL, NULL);
        if (conn >= 0) {
            if (write(conn, "host", 4) < 0) {
            }
            close(conn);
        }
        size_t got = 0;
        while (got < sizeof out - 1 && read(sb.res, out + got, 1) == 1 && out[got] != '\0')
            got++;
        out[got] = '\0';
        CHECK(strcmp(out, "host") == 0, "10.0.2.2 with host-loopback=1: '%s'", out);

        /* host 127.0.0.1:published -> inside :8000 */
        ask(&sb, 'l', NULL, 0, out, sizeof out);
        CHECK(strcmp(out, "listening") == 0, "listen inside: %s", out);
        char got_fwd[64] = "";
        for (int i = 0; i < 50 && fetch("127.0.0.1", published, got_fwd, sizeof got_fwd) < 0; i++)
            usleep(50000);
        CHECK(strcmp(got_fwd, "inside") == 0, "through the forwarded port %d: '%s'", published, got_fwd);

        usernet_stop(pasta);
        CHECK(kill(pasta, 0) < 0 && errno == ESRCH, "pasta %d is gone after usernet_stop", pasta);
    }
    sandbox_stop(&sb);
    close(host);
}

static void a_namespace_that_is_gone_is_an_open_error(void)
{
    pid_t gone = fork();
    if (gone == 0)
        _exit(0);
    waitpid(gone, NULL, 0);
    struct kv kv[] = { { "tool", "/usr/bin/pasta" }, { "ifname", "eth0" }, { "address", "10.0.2.100/24" },
                       { "gateway", "10.0.2.2" }, { "host-loopback", "0" } };
    struct step s = make_step(kv, 5);
    struct host_error e;
    pid_t pasta = 0;
    int rc = usernet_start(&s, gone, -1, &pasta, &e);
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/ns/net", (int)gone);
    CHECK(rc == -1, "a reaped pid's namespace can't be joined");
    CHECK(strcmp(e.step, "connect user-net") == 0 && strcmp(e.sys, "open") == 0 && strcmp(e.path, path) == 0
          && strcmp(e.err, "ENOENT") == 0, "step %s sys %s path %s err %s", e.step, e.sys, e.path, e.err);
    CHECK(pasta == 0, "no pid on failure");
}

static void pastas_own_refusal_is_reported_with_its_reason_and_status(void)
{
    struct kv kv[] = { { "tool", "/usr/bin/pasta" }, { "ifname", "eth0" }, { "address", "10.0.2.100/24" },
                       { "gateway", "not-an-address" }, { "host-loopback", "0" } };
    struct step s = make_step(kv, 5);
    struct sandbox sb = sandbox_start();
    struct host_error e;
    pid_t pasta = 0;
    int rc = usernet_start(&s, sb.pid, -1, &pasta, &e);
    CHECK(rc == -1, "a bad gateway is refused by pasta");
    CHECK(strcmp(e.sys, "execve") == 0 && strncmp(e.err, "exit ", 5) == 0, "sys %s err %s", e.sys, e.err);
    CHECK(strstr(e.hint, "pasta could not connect the sandbox's network namespace: ") != NULL && strlen(e.hint) > 60,
          "pasta's reason: '%s'", e.hint);
    CHECK(pasta == 0, "no pid on failure");
    sandbox_stop(&sb);
}

static void a_missing_tool_and_bad_ports_fail_before_anything_runs(void)
{
    struct kv kv[] = { { "tool", "/nonexistent/pasta" }, { "ifname", "eth0" }, { "address", "10.0.2.100/24" },
                       { "gateway", "10.0.2.2" }, { "host-loopback", "0" }, { "port", "tcp:127.0.0.1:8080:80" } };
    struct step s = make_step(kv, 6);
    struct host_error e;
    pid_t pasta = 0;
    CHECK(usernet_start(&s, getpid(), -1, &pasta, &e) == -1 && strcmp(e.err, "ENOENT") == 0 && strstr(e.hint, "passt"),
          "missing tool: %s %s", e.err, e.hint);
    const char *bad[] = { "sctp:127.0.0.1:8080:80", "tcp:127.0.0.1:0:80", "tcp:127.0.0.1:8080:70000", "tcp:8080:80",
                          "tcp:127.0.0.1;rm:8080:80", "tcp::8080:80" };
    kv[0].val = "/usr/bin/pasta";
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        kv[5].val = bad[i];
        CHECK(usernet_start(&s, getpid(), -1, &pasta, &e) == -1 && strstr(e.hint, "is not protocol:host_ip:published:target"),
              "bad port %s: %s", bad[i], e.hint);
    }
    kv[5].val = "udp:::1:5353:53"; /* IPv6 host address: parsed (the namespace part then fails on a bad pid) */
    kv[2].val = "10.0.2.100";
    CHECK(usernet_start(&s, getpid(), -1, &pasta, &e) == -1 && strstr(e.hint, "prefix length"), "address without prefix: %s", e.hint);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    a_missing_tool_and_bad_ports_fail_before_anything_runs();
    /* as root (mvn test in CI); by hand also as another user with /dev/net/tun 0666 (the rootless path) */
    if (access("/usr/bin/pasta", X_OK) < 0 || access("/dev/net/tun", R_OK | W_OK) < 0) {
        printf("usernet-test: kernel tests skipped (need /usr/bin/pasta and a usable /dev/net/tun)\n");
    } else {
        connects_forwards_and_maps_the_gateway_only_on_request();
        a_namespace_that_is_gone_is_an_open_error();
        pastas_own_refusal_is_reported_with_its_reason_and_status();
    }
    if (failures) {
        fprintf(stderr, "usernet-test: %d failure(s)\n", failures);
        return 1;
    }
    printf("usernet-test: ok\n");
    return 0;
}
