/*
 * netlink_test.c: veth_setup and veth_delete (netlink.c) against the real kernel. Needs root (veths
 * in the host's network namespace): skipped with a message otherwise.
 *
 * The sandboxes are children that unshare(CLONE_NEWNET) and wait on a pipe (PR_SET_PDEATHSIG: they
 * die with the test, and their namespaces with them). Only 198.18.51.0/24 and fd00:198:18:51::/64,
 * only links named nlt*, traffic only between the host and these namespaces. Everything created is
 * deleted at the end, also when a check failed.
 *
 * The monitor's host.c is not linked: the few functions netlink.c needs from host.c, plan.c and
 * journal.c are stubbed below (host_fail, host_error_line, host_step_label, get, parse_number,
 * crash_point).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../host.h"

/* ---- stubs of the monitor's files ---- */

int host_fail(struct host_error *e, const char *step, const char *sys, const char *path, int err, const char *fmt, ...)
{
    memset(e, 0, sizeof *e);
    snprintf(e->step, sizeof e->step, "%s", step ? step : "");
    snprintf(e->sys, sizeof e->sys, "%s", sys ? sys : "");
    snprintf(e->path, sizeof e->path, "%s", path ? path : "");
    if (err)
        snprintf(e->err, sizeof e->err, "%s", strerrorname_np(err));
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->hint, sizeof e->hint, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* HostStepException.format */
void host_error_line(const struct host_error *e, char *out, size_t len)
{
    char call[4200];
    snprintf(call, sizeof call, "%s%s%s", e->sys, *e->sys && *e->path ? " " : "", e->path);
    if (!*call && !*e->err) {
        snprintf(out, len, "%s: %s", e->step, *e->hint ? e->hint : "failed");
        return;
    }
    int n = snprintf(out, len, "%s: %s%s%s", e->step, call, *call && *e->err ? ": " : "", e->err);
    if (*e->hint && n >= 0 && (size_t)n < len)
        snprintf(out + n, len - (size_t)n, " (%s)", e->hint);
}

void host_step_label(const struct step *s, char *out, size_t len)
{
    (void)s;
    snprintf(out, len, "connect veth");
}

const char *get(const struct step *s, const char *key)
{
    for (int i = 0; i < s->nkv; i++)
        if (strcmp(s->kv[i].key, key) == 0)
            return s->kv[i].val;
    return NULL;
}

bool parse_number(const char *v, int base, long long min, long long max, long long *out)
{
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, base);
    if (!*v || *end || errno || n < min || n > max)
        return false;
    *out = n;
    return true;
}

static char crashes[256];   /* the crash points reached, comma-separated */
void crash_point(const char *name)
{
    size_t n = strlen(crashes);
    snprintf(crashes + n, sizeof crashes - n, "%s%s", n ? "," : "", name);
}

/* ---- checks ---- */

static int failures, checks;

#define CHECK(cond, ...)                                                                         \
    do {                                                                                         \
        checks++;                                                                                \
        if (!(cond)) {                                                                           \
            failures++;                                                                          \
            fprintf(stderr, "netlink-test:%d: FAILED %s: ", __LINE__, #cond);                    \
            fprintf(stderr, __VA_ARGS__);                                                        \
            fputc('\n', stderr);                                                                 \
        }                                                                                        \
    } while (0)

#define NAMES "nlt0h", "nlt1h", "nlt2h", "nlt3h", "nlt4h", "nlt5h", "nlt6h", "nlt7h", "nlt9h"

static struct step mkstep(struct kv *kv, int n) { return (struct step){ .line = 1, .kv = kv, .nkv = n }; }

static int setup(struct kv *kv, int n, pid_t child, char *line, size_t len)
{
    struct step s = mkstep(kv, n);
    struct host_error e;
    memset(&e, 0, sizeof e);
    crashes[0] = '\0';
    int rc = veth_setup(&s, child, NULL, &e);
    line[0] = '\0';
    if (rc)
        host_error_line(&e, line, len);
    return rc;
}

static bool host_has(const char *name)
{
    char path[64];
    snprintf(path, sizeof path, "/sys/class/net/%s", name);
    return access(path, F_OK) == 0;
}

static long sys_value(const char *name, const char *file)
{
    char path[128], buf[64] = "";
    snprintf(path, sizeof path, "/sys/class/net/%s/%s", name, file);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    if (!fgets(buf, sizeof buf, f))
        buf[0] = '\0';
    fclose(f);
    return strtol(buf, NULL, 0);
}

/* /proc/<pid>/net/dev lists the interfaces of that process's network namespace. */
static bool netns_has(pid_t pid, const char *name)
{
    char path[64], line[512];
    snprintf(path, sizeof path, "/proc/%d/net/dev", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    bool found = false;
    size_t n = strlen(name);
    while (!found && fgets(line, sizeof line, f)) {
        const char *p = line + strspn(line, " ");
        found = strncmp(p, name, n) == 0 && p[n] == ':';
    }
    fclose(f);
    return found;
}

static bool host_address(const char *ifname, int family, const char *text)
{
    unsigned char want[16];
    inet_pton(family, text, want);
    struct ifaddrs *all;
    if (getifaddrs(&all))
        return false;
    bool found = false;
    for (struct ifaddrs *a = all; a && !found; a = a->ifa_next) {
        if (!a->ifa_addr || a->ifa_addr->sa_family != family || strcmp(a->ifa_name, ifname) != 0)
            continue;
        const void *have = family == AF_INET ? (void *)&((struct sockaddr_in *)a->ifa_addr)->sin_addr
                                             : (void *)&((struct sockaddr_in6 *)a->ifa_addr)->sin6_addr;
        found = memcmp(have, want, family == AF_INET ? 4 : 16) == 0;
    }
    freeifaddrs(all);
    return found;
}

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static bool wait_readable(int fd, int ms)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    return poll(&p, 1, ms) == 1;
}

/* ---- the sandboxes: children in their own network namespace ---- */

struct sandbox { pid_t pid; int go; int result; };

/* Inside the main sandbox, once released: what veth_setup did, seen from within, then one TCP
 * exchange with the host. Writes "ok" or "fail: why" to `out` before accepting. */
static void inside_main(int go, int out)
{
    char c, why[256] = "";
    if (read(go, &c, 1) != 1)
        _exit(1);
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "nlt0");
    if (ioctl(s, SIOCGIFMTU, &ifr) || ifr.ifr_mtu != 1400)
        snprintf(why, sizeof why, "mtu %d, not 1400", ifr.ifr_mtu);
    static const unsigned char mac[6] = { 0x02, 0x42, 0xc6, 0x12, 0x33, 0x02 };
    if (!*why && (ioctl(s, SIOCGIFHWADDR, &ifr) || memcmp(ifr.ifr_hwaddr.sa_data, mac, 6) != 0))
        snprintf(why, sizeof why, "the MAC is not 02:42:c6:12:33:02");
    if (!*why && (ioctl(s, SIOCGIFFLAGS, &ifr) || !(ifr.ifr_flags & IFF_UP)))
        snprintf(why, sizeof why, "nlt0 is not up");
    close(s);
    /* /proc/net/route and if_inet6 show the reader's network namespace */
    char line[512];
    bool route = false, v6 = false;
    FILE *f = fopen("/proc/net/route", "r");
    while (f && fgets(line, sizeof line, f)) {
        char dev[32];
        unsigned dst, gw;
        if (sscanf(line, "%31s %x %x", dev, &dst, &gw) == 3 && strcmp(dev, "nlt0") == 0 && dst == 0)
            route = gw == inet_addr("198.18.51.1");
    }
    if (f)
        fclose(f);
    f = fopen("/proc/net/if_inet6", "r");
    while (f && fgets(line, sizeof line, f))
        v6 |= strncmp(line, "fd000198001800510000000000000002", 32) == 0 && strstr(line, "nlt0");
    if (f)
        fclose(f);
    if (!*why && !route)
        snprintf(why, sizeof why, "no default route via 198.18.51.1 on nlt0");
    if (!*why && !v6)
        snprintf(why, sizeof why, "no fd00:198:18:51::2 on nlt0");
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(7051) };
    inet_pton(AF_INET, "198.18.51.2", &a.sin_addr);
    if (!*why && (bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 1)))
        snprintf(why, sizeof why, "listen on 198.18.51.2:7051: %s", strerror(errno));
    dprintf(out, "%s%s\n", *why ? "fail: " : "ok", why);
    if (*why || !wait_readable(l, 10000))
        _exit(1);
    int c2 = accept(l, NULL, NULL);
    if (c2 < 0 || write(c2, "hi\n", 3) != 3)
        _exit(1);
    close(c2);
    close(l);
    while (read(go, &c, 1) > 0)   /* keep the namespace until the test ends */
        ;
    _exit(0);
}

static void inside_idle(int go, int out)
{
    (void)out;
    char c;
    while (read(go, &c, 1) > 0)
        ;
    _exit(0);
}

static struct sandbox spawn(void (*body)(int go, int out))
{
    struct sandbox sb = { .pid = -1, .go = -1, .result = -1 };
    int go[2], out[2];
    if (pipe2(go, O_CLOEXEC) || pipe2(out, O_CLOEXEC))
        return sb;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(1);
        close(go[1]);
        close(out[0]);
        char ok = unshare(CLONE_NEWNET) == 0 ? 'R' : 'F';
        if (write(out[1], &ok, 1) != 1 || ok != 'R')
            _exit(1);
        body(go[0], out[1]);
        _exit(0);
    }
    close(go[0]);
    close(out[1]);
    char ready = 0;
    if (pid < 0 || !wait_readable(out[0], 10000) || read(out[0], &ready, 1) != 1 || ready != 'R') {
        fprintf(stderr, "netlink-test: a child could not unshare(CLONE_NEWNET)\n");
        if (pid > 0) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
        }
        close(go[1]);
        close(out[0]);
        return sb;
    }
    sb.pid = pid;
    sb.go = go[1];
    sb.result = out[0];
    return sb;
}

static void end(struct sandbox *sb)
{
    if (sb->pid > 0) {
        kill(sb->pid, SIGKILL);
        waitpid(sb->pid, NULL, 0);
    }
    if (sb->go >= 0)
        close(sb->go);
    if (sb->result >= 0)
        close(sb->result);
    sb->pid = -1;
    sb->go = sb->result = -1;
}

static int del(const char *name, char *line, size_t len)
{
    struct host_error e;
    memset(&e, 0, sizeof e);
    int rc = veth_delete(name, &e);
    line[0] = '\0';
    if (rc)
        host_error_line(&e, line, len);
    return rc;
}

static void cleanup(struct sandbox *a, struct sandbox *b)
{
    static const char *const names[] = { NAMES };
    char line[4096];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        del(names[i], line, sizeof line);
    if (host_has("nlt8h"))
        (void)!system("ip link del nlt8h 2>/dev/null");
    end(a);
    end(b);
}

int main(void)
{
    if (geteuid() != 0) {
        printf("netlink-test: skipped: veths in the host's network namespace need root\n");
        return 0;
    }
    /* two builds at once (a worktree and main) would share the names and 198.18.51.0/24: take turns */
    int lock = open("/tmp/sandbox-netlink-test.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    for (int i = 0; lock >= 0 && flock(lock, LOCK_EX | LOCK_NB) != 0; i++) {
        if (i == 0)
            printf("netlink-test: waiting for another run of this test (flock /tmp/sandbox-netlink-test.lock)\n");
        if (i == 1200) {
            fprintf(stderr, "netlink-test: another run held the lock for 120 s\n");
            return 1;
        }
        usleep(100000);
    }
    static const char *const names[] = { NAMES, "nlt8h" };
    /* a killed earlier run: its namespaces (and veths) go away asynchronously */
    for (int i = 0; i < 50; i++) {
        bool any = false;
        for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
            any |= host_has(names[k]);
        if (!any)
            break;
        usleep(100000);
    }
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (host_has(names[i])) {
            fprintf(stderr, "netlink-test: %s exists already (a leftover? delete it with 'ip link del %s')\n", names[i], names[i]);
            return 1;
        }
    struct sandbox a = spawn(inside_main), b = spawn(inside_idle);
    if (a.pid < 0 || b.pid < 0) {
        cleanup(&a, &b);
        return 1;
    }
    char line[4096], want[4096];

    /* the full link: addresses of both families, MTU, MAC, default route */
    struct kv full[] = { { "name", "nlt0" }, { "hostName", "nlt0h" }, { "address", "198.18.51.2/24" },
                         { "address", "fd00:198:18:51::2/64" }, { "hostAddress", "198.18.51.1/24" },
                         { "hostAddress", "fd00:198:18:51::1/64" }, { "gateway", "198.18.51.1" }, { "mtu", "1400" },
                         { "mac", "02:42:c6:12:33:02" } };
    double t0 = now_ms();
    int rc = setup(full, 9, a.pid, line, sizeof line);
    double took = now_ms() - t0;
    CHECK(rc == 0, "%s", line);
    CHECK(strcmp(crashes, "veth-created,veth-configured") == 0, "crash points: %s", crashes);
    CHECK(host_has("nlt0h"), "no host end");
    CHECK(sys_value("nlt0h", "mtu") == 1400, "host mtu %ld", sys_value("nlt0h", "mtu"));
    CHECK(sys_value("nlt0h", "flags") & 1, "the host end is not up");
    CHECK(host_address("nlt0h", AF_INET, "198.18.51.1"), "no 198.18.51.1 on nlt0h");
    CHECK(host_address("nlt0h", AF_INET6, "fd00:198:18:51::1"), "no fd00:198:18:51::1 on nlt0h");
    CHECK(!host_has("nlt0"), "the sandbox end is on the host");
    CHECK(netns_has(a.pid, "nlt0"), "no nlt0 in the sandbox");
    /* from inside, then TCP host -> sandbox over the link */
    char r[300] = "";
    ssize_t n = -1;
    if (write(a.go, "g", 1) == 1 && wait_readable(a.result, 10000))
        n = read(a.result, r, sizeof r - 1);
    r[n > 0 ? n : 0] = '\0';
    CHECK(strcmp(r, "ok\n") == 0, "inside: %s", r);
    if (strcmp(r, "ok\n") == 0) {
        int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(7051) };
        inet_pton(AF_INET, "198.18.51.2", &to.sin_addr);
        struct timeval tv = { .tv_sec = 10 };
        setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        char hi[8] = "";
        int c = connect(s, (struct sockaddr *)&to, sizeof to);
        CHECK(c == 0, "connect 198.18.51.2:7051: %s", strerror(errno));
        if (c == 0) {
            ssize_t k = read(s, hi, sizeof hi - 1);
            hi[k > 0 ? k : 0] = '\0';
        }
        CHECK(strcmp(hi, "hi\n") == 0, "TCP over the link read '%s'", hi);
        close(s);
    }

    /* EEXIST on the host: the existing nlt0h is untouched and nothing is created in b */
    struct kv dup_host[] = { { "name", "nlt9" }, { "hostName", "nlt0h" } };
    rc = setup(dup_host, 2, b.pid, line, sizeof line);
    CHECK(rc == -1 && strcmp(line, "connect veth: create veth nlt0h: EEXIST (an interface with that name already "
                                   "exists on the host)") == 0, "%s", line);
    CHECK(host_has("nlt0h") && netns_has(a.pid, "nlt0") && !netns_has(b.pid, "nlt9"), "EEXIST touched something");
    CHECK(crashes[0] == '\0', "crash points: %s", crashes);

    /* EEXIST inside: nlt0 exists in a */
    struct kv dup_inside[] = { { "name", "nlt0" }, { "hostName", "nlt2h" } };
    rc = setup(dup_inside, 2, a.pid, line, sizeof line);
    CHECK(rc == -1 && strcmp(line, "connect veth: create veth nlt2h: EEXIST (an interface named nlt0 already exists "
                                   "in the sandbox's network namespace)") == 0, "%s", line);
    CHECK(!host_has("nlt2h"), "nlt2h was left");

    /* a host address another host interface has: refused before anything exists */
    struct kv in_use[] = { { "name", "nlt3" }, { "hostName", "nlt3h" }, { "hostAddress", "198.18.51.1/24" } };
    rc = setup(in_use, 3, b.pid, line, sizeof line);
    CHECK(rc == -1 && strcmp(line, "connect veth: create veth nlt3h: EADDRINUSE (host address 198.18.51.1 is already in "
                                   "use on the host's interface nlt0h; choose another link network from 198.18.0.0/15)") == 0,
          "%s", line);
    CHECK(!host_has("nlt3h") && !netns_has(b.pid, "nlt3") && crashes[0] == '\0', "EADDRINUSE created something");

    /* a failure after the link exists: the host end (and with it the peer) is deleted */
    struct kv twice[] = { { "name", "nlt4" }, { "hostName", "nlt4h" }, { "address", "198.18.51.6/30" },
                          { "address", "198.18.51.6/30" }, { "hostAddress", "198.18.51.5/30" } };
    rc = setup(twice, 5, b.pid, line, sizeof line);
    CHECK(rc == -1 && strcmp(line, "connect veth: add address nlt4: EEXIST (198.18.51.6/30 in the sandbox: already "
                                   "assigned to this interface; is it listed twice?)") == 0, "%s", line);
    CHECK(strcmp(crashes, "veth-created") == 0, "crash points: %s", crashes);
    CHECK(!host_has("nlt4h") && !netns_has(b.pid, "nlt4"), "the failed link was left behind");

    /* the kernel's refusals, mapped to VethConfigurator's hints */
    struct kv big_mtu[] = { { "name", "nlt5" }, { "hostName", "nlt5h" }, { "mtu", "70000" } };
    rc = setup(big_mtu, 3, b.pid, line, sizeof line);
    CHECK(rc == -1 && strcmp(line, "connect veth: create veth nlt5h: EINVAL (invalid MTU 70000: a veth accepts 68..65535)") == 0,
          "%s", line);
    struct kv multicast[] = { { "name", "nlt5" }, { "hostName", "nlt5h" }, { "mac", "03:00:00:00:00:01" } };
    rc = setup(multicast, 3, b.pid, line, sizeof line);
    CHECK(rc == -1 && strcmp(line, "connect veth: create veth nlt5h: EADDRNOTAVAIL (MAC 03:00:00:00:00:01 is not a usable "
                                   "unicast address: the first octet must be even, the bytes not all zero)") == 0, "%s", line);
    /* a failure inside, after the host end is configured: a second default route */
    struct kv gw1[] = { { "name", "nlt5" }, { "hostName", "nlt5h" }, { "address", "198.18.51.14/30" },
                        { "hostAddress", "198.18.51.13/30" }, { "gateway", "198.18.51.13" } };
    struct kv gw2[] = { { "name", "nlt6" }, { "hostName", "nlt6h" }, { "address", "198.18.51.18/30" },
                        { "hostAddress", "198.18.51.17/30" }, { "gateway", "198.18.51.17" } };
    rc = setup(gw1, 5, b.pid, line, sizeof line);
    CHECK(rc == 0, "%s", line);
    rc = setup(gw2, 5, b.pid, line, sizeof line);
    CHECK(rc == -1 && strcmp(line, "connect veth: add default route nlt6: EEXIST (via 198.18.51.17: a default route of this "
                                   "family already exists; only one link may have a gateway)") == 0, "%s", line);
    CHECK(strcmp(crashes, "veth-created") == 0, "crash points: %s", crashes);
    CHECK(!host_has("nlt6h") && !netns_has(b.pid, "nlt6"), "the failed link was left behind");
    CHECK(host_has("nlt5h") && netns_has(b.pid, "nlt5"), "the first link is gone");
    CHECK(del("nlt5h", line, sizeof line) == 0, "%s", line);
    CHECK(!host_has("nlt5h") && !netns_has(b.pid, "nlt5"), "nlt5h was left");

    /* bad values: refused before the kernel is touched */
    struct kv off_link[] = { { "name", "nlt5" }, { "hostName", "nlt5h" }, { "address", "198.18.51.10/30" },
                             { "gateway", "198.18.51.1" } };
    rc = setup(off_link, 4, b.pid, line, sizeof line);
    CHECK(rc == -1 && strcmp(line, "connect veth: check link nlt5h: EINVAL (gateway 198.18.51.1 is not inside any of the "
                                   "addresses of nlt5 [198.18.51.10/30])") == 0, "%s", line);
    struct kv no_len[] = { { "name", "nlt5" }, { "hostName", "nlt5h" }, { "address", "198.18.51.10" } };
    rc = setup(no_len, 3, b.pid, line, sizeof line);
    CHECK(rc == -1 && strcmp(line, "connect veth: check link nlt5h: EINVAL (address '198.18.51.10' has no prefix length; "
                                   "write it as CIDR, e.g. 198.18.0.1/30)") == 0, "%s", line);
    struct kv long_name[] = { { "name", "eth0" }, { "hostName", "nlt5h-too-long-x" } };
    rc = setup(long_name, 2, b.pid, line, sizeof line);
    CHECK(rc == -1 && strcmp(line, "connect veth: check link nlt5h-too-long-x: EINVAL (hostName 'nlt5h-too-long-x' is "
                                   "longer than 15 bytes, the kernel's limit)") == 0, "%s", line);
    struct kv bad_mac[] = { { "name", "nlt5" }, { "hostName", "nlt5h" }, { "mac", "02:00:00:00:01" } };
    rc = setup(bad_mac, 3, b.pid, line, sizeof line);
    CHECK(rc == -1 && strcmp(line, "connect veth: check link nlt5h: EINVAL (mac '02:00:00:00:01' is not six hex pairs "
                                   "like 02:00:00:00:00:01)") == 0, "%s", line);
    struct kv neg_mtu[] = { { "name", "nlt5" }, { "hostName", "nlt5h" }, { "mtu", "-1" } };
    rc = setup(neg_mtu, 3, b.pid, line, sizeof line);
    CHECK(rc == -1 && strcmp(line, "connect veth: check link nlt5h: EINVAL (mtu -1 must be positive)") == 0, "%s", line);
    struct kv slash[] = { { "name", "eth/0" }, { "hostName", "nlt5h" } };
    rc = setup(slash, 2, b.pid, line, sizeof line);
    CHECK(rc == -1 && strcmp(line, "connect veth: check link eth/0: EINVAL (name 'eth/0' is not a valid interface name: "
                                   "no '/', ':' or spaces allowed)") == 0, "%s", line);
    CHECK(!host_has("nlt5h"), "nlt5h exists");

    /* the target's network namespace */
    struct kv plain[] = { { "name", "nlt6" }, { "hostName", "nlt6h" } };
    rc = setup(plain, 2, getpid(), line, sizeof line);
    snprintf(want, sizeof want, "connect veth: open network namespace of pid %d: EINVAL (process %d is still in the host's "
             "network namespace; links need one of its own, made with CLONE_NEWNET)", (int)getpid(), (int)getpid());
    CHECK(rc == -1 && strcmp(line, want) == 0, "%s", line);
    pid_t gone = fork();
    if (gone == 0)
        _exit(0);
    waitpid(gone, NULL, 0);
    rc = setup(plain, 2, gone, line, sizeof line);
    snprintf(want, sizeof want, "connect veth: open network namespace of pid %d: ENOENT (process %d does not exist; "
             "has it exited?)", (int)gone, (int)gone);
    CHECK(rc == -1 && strcmp(line, want) == 0, "%s", line);
    CHECK(!host_has("nlt6h"), "nlt6h exists");

    /* without CAP_NET_ADMIN (the rootless case): a child drops it and tries */
    int pp[2];
    if (pipe(pp) == 0) {
        pid_t p = fork();
        if (p == 0) {
            struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
            struct __user_cap_data_struct d[2];
            char out[4096] = "capset failed";
            if (syscall(SYS_capget, &h, d) == 0) {
                d[0].effective &= ~(1u << CAP_NET_ADMIN);
                if (syscall(SYS_capset, &h, d) == 0)
                    setup(plain, 2, b.pid, out, sizeof out);
            }
            (void)!write(pp[1], out, strlen(out));
            _exit(0);
        }
        close(pp[1]);
        char got[4096] = "";
        ssize_t k = wait_readable(pp[0], 10000) ? read(pp[0], got, sizeof got - 1) : -1;
        got[k > 0 ? k : 0] = '\0';
        close(pp[0]);
        waitpid(p, NULL, 0);
        CHECK(strcmp(got, "connect veth: create veth nlt6h: EPERM (needs CAP_NET_ADMIN on the host: rootless callers "
                          "can't create veth)") == 0, "%s", got);
        CHECK(!host_has("nlt6h"), "nlt6h exists");
    }

    /* veth_delete: missing is success; not a veth is refused; a veth whose peer is on the host is not ours */
    CHECK(del("nlt7h", line, sizeof line) == 0, "%s", line);
    CHECK(del("lo", line, sizeof line) == -1 && strcmp(line, "cleanup veth lo: RTM_DELLINK lo: EINVAL (lo is not a veth; "
                                                        "refusing to delete it)") == 0, "%s", line);
    CHECK(host_has("lo"), "lo!");
    if (system("ip link add nlt8h type veth peer name nlt8p 2>/dev/null") == 0) {
        CHECK(del("nlt8h", line, sizeof line) == 0, "%s", line);
        CHECK(host_has("nlt8h") && host_has("nlt8p"), "a veth pair of the host's was deleted");
        (void)!system("ip link del nlt8h 2>/dev/null");
    } else {
        printf("netlink-test: no `ip` command: the host-only veth case is not tested\n");
    }

    /* the timing of one veth_setup, as a plain link with one address per end (median of 9) */
    double times[9];
    int ok = 0;
    for (int i = 0; i < 9; i++) {
        struct kv one[] = { { "name", "nlt6" }, { "hostName", "nlt6h" }, { "address", "198.18.51.10/30" },
                            { "hostAddress", "198.18.51.9/30" }, { "gateway", "198.18.51.9" } };
        double t = now_ms();
        rc = setup(one, 5, b.pid, line, sizeof line);
        times[i] = now_ms() - t;
        CHECK(rc == 0, "%s", line);
        ok += rc == 0;
        CHECK(del("nlt6h", line, sizeof line) == 0, "%s", line);
    }
    for (int i = 1; i < 9; i++)
        for (int j = i; j > 0 && times[j] < times[j - 1]; j--) {
            double t = times[j];
            times[j] = times[j - 1];
            times[j - 1] = t;
        }
    if (ok == 9)
        printf("netlink-test: veth_setup took %.2f ms (the full link: 2 families, MTU, MAC, route); "
               "a link with one address per end and a route: median %.2f ms, min %.2f, max %.2f (9 runs)\n",
               took, times[4], times[0], times[8]);

    /* veth_delete of the real one: both ends go; again is success */
    CHECK(del("nlt0h", line, sizeof line) == 0, "%s", line);
    CHECK(!host_has("nlt0h") && !netns_has(a.pid, "nlt0"), "nlt0h or nlt0 is still there");
    CHECK(del("nlt0h", line, sizeof line) == 0, "%s", line);

    cleanup(&a, &b);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        CHECK(!host_has(names[i]), "%s is left on the host", names[i]);
    printf("netlink-test: %d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
