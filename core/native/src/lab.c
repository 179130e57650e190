/*
 * lab.c: `sandbox-init lab-up FILE`, the host part of a network lab (docs/labs.md). Java validated the
 * lab, compiled one plan per node (each node's net namespace = `join: {path: <lab rt>/netns/<node>}`)
 * and wrote FILE (0600, tab-separated lines, `# sandbox-lab 1` first):
 *
 *   lab NAME | runtime PATH | node N | link A IFA B IFB MTU | addr N IF CIDR | route N TO VIA |
 *   sysctl N NAME VALUE | bridge N NAME | enslave N PORT BRIDGE | up SANDBOX ARGV...
 * (a bridge lives in the lab's hidden switch namespace, node `_switch`, which has no sandbox)
 *
 * Order: the lab's record <base>/NAME (runtime_dir_create: born locked, journal, state.json) ->
 * one network namespace per node: a fork unshare(CLONE_NEWNET)s and bind-mounts its /proc/self/ns/net
 * on <rt>/netns/N (journaled `netns-unmount` before the mount exists) -> the veths, each end created
 * directly in its node's namespace (no host end) -> per node, a fork setns(2)s into it and brings lo
 * and the links up, adds addresses, routes and writes the net.* sysctls (/proc/sys/net is the
 * namespace of the writer: proc(5), "/proc/sys/net") -> every node `run --detach` (each joins its
 * namespace; all links exist before any target starts) -> a holder process keeps the lab's lock and is
 * the record's target: `sandbox down LAB` SIGTERMs it, it downs the nodes, exits, and down's journal
 * teardown unmounts the namespaces and removes the record. Any failure: the started nodes are downed,
 * the journal undone, exit 125.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "host.h"

#define MAX_LINES 1024
#define MAX_FIELDS 64

struct line { int n; char *f[MAX_FIELDS]; };

static struct line lines[MAX_LINES];
static int nlines;
static const char *lab, *runtime;
static char rtdir[PATH_MAX];

static const char *errno_text(int err)
{
    const char *n = strerrorname_np(err);
    return n ? n : "EIO";
}

static long long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static int parse(const char *file)
{
    FILE *f = fopen(file, "re");
    if (!f) {
        fprintf(stderr, "sandbox: lab: open %s: %s\n", file, errno_text(errno));
        return -1;
    }
    char *buf = NULL;
    size_t cap = 0;
    ssize_t got;
    bool first = true;
    while ((got = getline(&buf, &cap, f)) > 0) {
        if (buf[got - 1] == '\n')
            buf[--got] = '\0';
        if (first) {
            first = false;
            if (strcmp(buf, "# sandbox-lab 1") != 0) {
                fprintf(stderr, "sandbox: lab: %s is not a lab file of version 1\n", file);
                goto bad;
            }
            continue;
        }
        if (!*buf || *buf == '#')
            continue;
        if (nlines == MAX_LINES) {
            fprintf(stderr, "sandbox: lab: %s has more than %d lines\n", file, MAX_LINES);
            goto bad;
        }
        struct line *l = &lines[nlines++];
        char *save = NULL, *s = strdup(buf);
        for (char *t = strtok_r(s, "\t", &save); t && l->n < MAX_FIELDS; t = strtok_r(NULL, "\t", &save))
            l->f[l->n++] = t;
        if (strcmp(l->f[0], "lab") == 0 && l->n == 2)
            lab = l->f[1];
        else if (strcmp(l->f[0], "runtime") == 0 && l->n == 2)
            runtime = l->f[1];
    }
    free(buf);
    fclose(f);
    if (!lab || !runtime || strchr(lab, '/') || *lab == '.') {
        fprintf(stderr, "sandbox: lab: %s names no lab or no runtime\n", file);
        return -1;
    }
    return 0;
bad:
    free(buf);
    fclose(f);
    return -1;
}

static bool is(const struct line *l, const char *kind, int fields) { return strcmp(l->f[0], kind) == 0 && l->n >= fields; }

static int wait_status(pid_t pid)
{
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return 125;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* sandbox-init down NAME... of every node started so far (upto: count of `up` lines) */
static void down_nodes(int upto)
{
    char *argv[MAX_LINES + 4];
    int a = 0;
    argv[a++] = (char *)runtime;
    argv[a++] = "down";
    int seen = 0;
    for (int i = 0; i < nlines && seen < upto; i++)
        if (is(&lines[i], "up", 3)) {
            argv[a++] = lines[i].f[1];
            seen++;
        }
    argv[a] = NULL;
    if (seen == 0)
        return;
    pid_t pid = fork();
    if (pid == 0) {
        execv(runtime, argv);
        _exit(127);
    }
    if (pid > 0)
        wait_status(pid);
}

/* The plans of nodes never started (a started node's monitor consumed its own). */
static void unlink_plans(void)
{
    for (int i = 0; i < nlines; i++)
        for (int k = 3; is(&lines[i], "up", 3) && k + 1 < lines[i].n; k++)
            if (strcmp(lines[i].f[k], "--plan") == 0)
                unlink(lines[i].f[k + 1]);
}

static void ns_path(const char *node, char *out, size_t len)
{
    if (snprintf(out, len, "%s/netns/%s", rtdir, node) >= (int)len)
        out[0] = '\0'; /* Java bounds node names; an empty path fails at open */
}

/* A network namespace for `node`, kept by a bind mount of its nsfs file (what `ip netns add` does). */
static int make_netns(int jfd, const char *node)
{
    char path[PATH_MAX];
    struct host_error e;
    ns_path(node, path, sizeof path);
    if (journal_add(jfd, "netns-unmount", "path", path, &e) != 0) {
        char l[2048];
        host_error_line(&e, l, sizeof l);
        fprintf(stderr, "sandbox: lab %s: %s\n", lab, l);
        return -1;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        fprintf(stderr, "sandbox: lab %s: node %s: open %s: %s\n", lab, node, path, errno_text(errno));
        return -1;
    }
    close(fd);
    pid_t pid = fork();
    if (pid == 0) {
        if (unshare(CLONE_NEWNET) != 0) {
            fprintf(stderr, "sandbox: lab %s: node %s: unshare CLONE_NEWNET: %s (labs need root)\n", lab, node, errno_text(errno));
            _exit(1);
        }
        if (mount("/proc/self/ns/net", path, NULL, MS_BIND, NULL) != 0) {
            fprintf(stderr, "sandbox: lab %s: node %s: mount --bind /proc/self/ns/net %s: %s\n", lab, node, path, errno_text(errno));
            _exit(1);
        }
        _exit(0);
    }
    if (pid < 0 || wait_status(pid) != 0) {
        if (pid < 0)
            fprintf(stderr, "sandbox: lab %s: fork: %s\n", lab, errno_text(errno));
        return -1;
    }
    return 0;
}

static int open_ns(const char *node)
{
    char path[PATH_MAX];
    ns_path(node, path, sizeof path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        fprintf(stderr, "sandbox: lab %s: node %s: open %s: %s\n", lab, node, path, errno_text(errno));
    return fd;
}

static int link_veth(const struct line *l)
{
    int a = open_ns(l->f[1]), b = open_ns(l->f[3]);
    int rc = -1;
    if (a >= 0 && b >= 0) {
        char why[512];
        int err = lab_veth(a, l->f[2], b, l->f[4], l->n > 5 ? atoll(l->f[5]) : 0, why, sizeof why);
        if (err)
            fprintf(stderr, "sandbox: lab %s: link %s:%s -- %s:%s: RTM_NEWLINK: %s (%s)\n", lab, l->f[1], l->f[2], l->f[3], l->f[4],
                    errno_text(err), why);
        else
            rc = 0;
    }
    if (a >= 0)
        close(a);
    if (b >= 0)
        close(b);
    return rc;
}

/* In a fork inside the node's namespace: lo and the links up, addresses, routes, sysctls. */
static int configure_inside(const char *node)
{
    char why[1024];
    int err = lab_here_link("lo", NULL, why, sizeof why);
    if (err) {
        fprintf(stderr, "sandbox: lab %s: node %s: lo: %s (%s)\n", lab, node, errno_text(err), why);
        return -1;
    }
    for (int i = 0; i < nlines; i++) { /* the switch namespace's bridges (lines `bridge NODE NAME`) */
        const struct line *l = &lines[i];
        if (is(l, "bridge", 3) && strcmp(l->f[1], node) == 0 && (err = lab_here_bridge(l->f[2], why, sizeof why))) {
            fprintf(stderr, "sandbox: lab %s: bridge %s: %s (%s)\n", lab, l->f[2], errno_text(err), why);
            return -1;
        }
    }
    for (int i = 0; i < nlines; i++) {
        const struct line *l = &lines[i];
        if (is(l, "addr", 4) && strcmp(l->f[1], node) == 0 && (err = lab_here_link(l->f[2], l->f[3], why, sizeof why))) {
            fprintf(stderr, "sandbox: lab %s: node %s: add address %s to %s: %s (%s)\n", lab, node, l->f[3], l->f[2], errno_text(err), why);
            return -1;
        }
    }
    for (int i = 0; i < nlines; i++) {
        const struct line *l = &lines[i];
        if (!is(l, "link", 5))
            continue;
        for (int end = 0; end < 2; end++)
            if (strcmp(l->f[1 + 2 * end], node) == 0 && (err = lab_here_link(l->f[2 + 2 * end], NULL, why, sizeof why))) {
                fprintf(stderr, "sandbox: lab %s: node %s: %s (%s)\n", lab, node, errno_text(err), why);
                return -1;
            }
    }
    for (int i = 0; i < nlines; i++) { /* `enslave NODE PORT BRIDGE` */
        const struct line *l = &lines[i];
        if (is(l, "enslave", 4) && strcmp(l->f[1], node) == 0 && (err = lab_here_enslave(l->f[2], l->f[3], why, sizeof why))) {
            fprintf(stderr, "sandbox: lab %s: bridge %s: %s (%s)\n", lab, l->f[3], errno_text(err), why);
            return -1;
        }
    }
    for (int i = 0; i < nlines; i++) {
        const struct line *l = &lines[i];
        if (is(l, "sysctl", 4) && strcmp(l->f[1], node) == 0) {
            /* Java checked the name (net.[a-z0-9_.-]+, no ".."); /proc/sys/net/... is this netns's own */
            char path[PATH_MAX];
            snprintf(path, sizeof path, "/proc/sys/%s", l->f[2]);
            for (char *c = path + strlen("/proc/sys/"); *c; c++)
                if (*c == '.')
                    *c = '/';
            int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
            size_t len = strlen(l->f[3]);
            if (fd < 0 || write(fd, l->f[3], len) != (ssize_t)len) {
                int e = errno;
                fprintf(stderr, "sandbox: lab %s: node %s: sysctl %s: %s %s: %s (%s)\n", lab, node, l->f[2], fd < 0 ? "open" : "write",
                        path, errno_text(e), e == ENOENT ? "no such sysctl in a network namespace" : "the value was refused");
                if (fd >= 0)
                    close(fd);
                return -1;
            }
            close(fd);
        }
    }
    for (int i = 0; i < nlines; i++) {
        const struct line *l = &lines[i];
        if (is(l, "route", 4) && strcmp(l->f[1], node) == 0 && (err = lab_here_route(l->f[2], l->f[3], why, sizeof why))) {
            fprintf(stderr, "sandbox: lab %s: node %s: add route: %s (%s)\n", lab, node, errno_text(err), why);
            return -1;
        }
    }
    return 0;
}

static int configure(const char *node)
{
    int fd = open_ns(node);
    if (fd < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        /* setns(2) in a fork: the caller stays in the host's namespace whatever happens */
        if (setns(fd, CLONE_NEWNET) != 0) {
            fprintf(stderr, "sandbox: lab %s: node %s: setns CLONE_NEWNET: %s\n", lab, node, errno_text(errno));
            _exit(1);
        }
        _exit(configure_inside(node) == 0 ? 0 : 1);
    }
    close(fd);
    return pid > 0 && wait_status(pid) == 0 ? 0 : -1;
}

/* ---- lab-net perf part (issue 12, bench/lab): every node started at once ------------------------ */

/* Forks `run --detach` of every node, then waits for all of them: a node's start is mostly waiting
 * (its monitor, helper and child hand over step by step), so 20 of them overlap well on 2 cores.
 * Each one's stdout (its name) goes to /dev/null: the names are printed here, in the lab's order, once
 * all started; stderr (an error line) is the caller's. *started = every node forked (a failed `run
 * --detach` left nothing, a down of its name is harmless). Every link, address, route and sysctl exists
 * before the first fork, so no target starts before the lab is wired. */
static int start_nodes(int *started)
{
    pid_t pids[MAX_LINES];
    int n = 0, failed = 0;
    int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    fflush(NULL);
    for (int i = 0; i < nlines; i++) {
        const struct line *l = &lines[i];
        if (!is(l, "up", 3))
            continue;
        char *argv[MAX_FIELDS + 1];
        for (int k = 2; k < l->n; k++)
            argv[k - 2] = l->f[k];
        argv[l->n - 2] = NULL;
        pid_t pid = fork();
        if (pid == 0) {
            if (null >= 0)
                dup2(null, 1);
            execv(argv[0], argv);
            fprintf(stderr, "sandbox: lab %s: execv %s: %s\n", lab, argv[0], errno_text(errno));
            _exit(125);
        }
        if (pid < 0) {
            fprintf(stderr, "sandbox: lab %s: fork: %s\n", lab, errno_text(errno));
            failed++;
            break;
        }
        pids[n++] = pid;
    }
    *started = n;
    if (null >= 0)
        close(null);
    int k = 0;
    for (int i = 0; i < nlines; i++) {
        if (!is(&lines[i], "up", 3) || k >= n)
            continue;
        if (wait_status(pids[k++]) != 0) {
            fprintf(stderr, "sandbox: lab %s: node %s did not start; tearing the lab down\n", lab, lines[i].f[1]);
            failed++;
        }
    }
    if (failed)
        return -1;
    for (int i = 0; i < nlines; i++)
        if (is(&lines[i], "up", 3))
            printf("%s\n", lines[i].f[1]);
    return 0;
}

/* The holder: keeps the lab's lock; SIGTERM (from `sandbox down LAB`) downs every node, then exits. */
static void hold(int upto)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_BLOCK, &set, NULL);
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
        /* nobody may wait for EOF on the caller's pipes because of us (the nodes' monitors do the same) */
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
    }
    int sig;
    sigwait(&set, &sig);
    down_nodes(upto);
    _exit(0);
}

int lab_main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "sandbox: usage: sandbox-init lab-up FILE\n");
        return 2;
    }
    if (parse(argv[2]) != 0)
        return 125;
    unlink(argv[2]); /* consumed: Java wrote it for this run only */
    char base[PATH_MAX];
    if (runtime_base(base, sizeof base) < 0) {
        fprintf(stderr, "sandbox: lab %s: no runtime directory (its path is too long)\n", lab);
        return 125;
    }
    if (snprintf(rtdir, sizeof rtdir, "%s/%s", base, lab) >= (int)sizeof rtdir) {
        fprintf(stderr, "sandbox: lab %s: the runtime directory's path is too long\n", lab);
        return 125;
    }
    int dirfd, lockfd, jfd;
    struct host_error e;
    char text[2048];
    if (runtime_dir_create(base, lab, &dirfd, &lockfd, &e) != 0) {
        host_error_line(&e, text, sizeof text);
        fprintf(stderr, "sandbox: %s\n", text);
        unlink_plans();
        return 125;
    }
    struct sandbox_state st = { .name = lab, .status = "creating", .spec = "", .spec_sha256 = "", .plan_sha256 = "",
                                .cgroup = "", .monitor_pid = getpid(), .monitor_start = proc_start_time(getpid()),
                                .created_ms = now_ms(), .exit_status = -1, .detached = true };
    int started = 0;
    if (journal_open(dirfd, &jfd, &e) != 0 || state_write(dirfd, &st, 0, &e) != 0) {
        host_error_line(&e, text, sizeof text);
        fprintf(stderr, "sandbox: lab %s: %s\n", lab, text);
        goto fail;
    }
    char nsdir[PATH_MAX];
    if (snprintf(nsdir, sizeof nsdir, "%s/netns", rtdir) >= (int)sizeof nsdir || mkdir(nsdir, 0700) != 0) {
        fprintf(stderr, "sandbox: lab %s: mkdir %s: %s\n", lab, nsdir, errno_text(errno));
        goto fail;
    }
    /* the nodes' plans move into the lab's record: whatever happens next, they go with it */
    for (int i = 0; i < nlines; i++) {
        struct line *l = &lines[i];
        for (int k = 3; is(l, "up", 3) && k + 1 < l->n; k++)
            if (strcmp(l->f[k], "--plan") == 0) {
                char moved[PATH_MAX];
                if (snprintf(moved, sizeof moved, "%s/plan-%s", rtdir, l->f[1]) >= (int)sizeof moved
                    || rename(l->f[k + 1], moved) != 0) {
                    fprintf(stderr, "sandbox: lab %s: rename %s into %s: %s\n", lab, l->f[k + 1], rtdir, errno_text(errno));
                    goto fail;
                }
                l->f[k + 1] = strdup(moved);
                break;
            }
    }
    for (int i = 0; i < nlines; i++)
        if (is(&lines[i], "node", 2) && make_netns(jfd, lines[i].f[1]) != 0)
            goto fail;
    crash_point("lab-netns-created");
    for (int i = 0; i < nlines; i++)
        if (is(&lines[i], "link", 5) && link_veth(&lines[i]) != 0)
            goto fail;
    for (int i = 0; i < nlines; i++)
        if (is(&lines[i], "node", 2) && configure(lines[i].f[1]) != 0)
            goto fail;
    crash_point("lab-linked");
    if (start_nodes(&started) != 0)
        goto fail;
    fflush(NULL);
    pid_t holder = fork();
    if (holder == 0) {
        setsid();
        hold(started);
    }
    if (holder < 0) {
        fprintf(stderr, "sandbox: lab %s: fork: %s\n", lab, errno_text(errno));
        goto fail;
    }
    st.status = "running";
    st.monitor_pid = st.target_pid = holder;
    st.monitor_start = st.target_start = proc_start_time(holder);
    st.started_ms = now_ms();
    if (state_write(dirfd, &st, 0, &e) != 0) {
        host_error_line(&e, text, sizeof text);
        fprintf(stderr, "sandbox: lab %s: %s\n", lab, text);
        kill(holder, SIGKILL);
        wait_status(holder);
        goto fail;
    }
    printf("%s\n", lab);
    return 0;
fail:
    down_nodes(started);
    unlink_plans();
    if (journal_teardown(rtdir, stderr, &e) != 0) {
        host_error_line(&e, text, sizeof text);
        fprintf(stderr, "sandbox: lab %s: teardown: %s\n", lab, text);
    }
    return 125;
}
