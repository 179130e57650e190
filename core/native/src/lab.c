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
 * namespace; all links exist before any target starts), journaled before it exists (`sandbox-down`
 * of its record, `kill-tree` of its starting `run`) -> a holder process keeps the lab's lock and is
 * the record's target. `sandbox down LAB` (verbs.c) downs the nodes and SIGTERMs the holder, which
 * just exits; down's journal teardown then downs whatever node is left, unmounts the namespaces and
 * removes the record. Any failure: the journal undone (which downs the started nodes), exit 125.
 * A copy of FILE stays in the record as `lab` (for `down NODE` and `inspect`).
 * Rootless (a `userns` line): one user namespace for every node, no mounts; see "Rootless labs" at the end.
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
#include <sys/prctl.h>
#include <sys/socket.h>
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
                        path, errno_text(e), e == ENOENT ? "no such sysctl in a network namespace"
                        : e == EACCES || e == EPERM ? "not writable from the lab's user namespace: a host-wide sysctl, or one only root may write"
                                                    : "the value was refused");
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

/* ---- lifecycle (lab-ops): every node is in the lab's journal before it exists ---- */

static void lab_error(const struct host_error *e)
{
    char text[2048];
    host_error_line(e, text, sizeof text);
    fprintf(stderr, "sandbox: lab %s: %s\n", lab, text);
}

/* The fork of one node's `run --detach`, journaled before it exists: `sandbox-down path=<base>/<node's
 * name> lab=LAB` (its record, whatever becomes of us: verbs.c lab_node_down), then, while the fork
 * waits on a pipe before its exec, `kill-tree` of the fork (the node's monitor, helper and target
 * descend from it until the start is over): a lab-up killed while a node starts leaves nothing a
 * teardown can't find. Its stdout (the node's name) goes to `out` (/dev/null: start_nodes prints the
 * names). Returns the fork's pid, or -1 (said why; no fork is left running). */
static pid_t start_node(int jfd, const char *base, const struct line *l, int out)
{
    char path[PATH_MAX];
    struct host_error e;
    if (snprintf(path, sizeof path, "%s/%s", base, l->f[1]) >= (int)sizeof path) {
        fprintf(stderr, "sandbox: lab %s: node %s: its runtime dir's path is too long\n", lab, l->f[1]);
        return -1;
    }
    const char *keys[] = { "path", "lab" }, *vals[] = { path, lab };
    if (journal_add_kv(jfd, "sandbox-down", 2, keys, vals, &e) != 0) {
        lab_error(&e);
        return -1;
    }
    crash_point("lab-node-journaled");
    char *argv[MAX_FIELDS + 1];
    for (int i = 2; i < l->n; i++)
        argv[i - 2] = l->f[i];
    argv[l->n - 2] = NULL;
    int gate[2];
    if (pipe2(gate, O_CLOEXEC) != 0) {
        fprintf(stderr, "sandbox: lab %s: pipe2: %s\n", lab, errno_text(errno));
        return -1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        char go;
        close(gate[1]);
        /* EOF: lab-up died before it journaled us; nothing may start then */
        if (read(gate[0], &go, 1) != 1)
            _exit(125);
        if (out >= 0)
            dup2(out, 1);
        execv(argv[0], argv);
        fprintf(stderr, "sandbox: lab %s: execv %s: %s\n", lab, argv[0], errno_text(errno));
        _exit(125);
    }
    close(gate[0]);
    if (pid < 0) {
        fprintf(stderr, "sandbox: lab %s: fork: %s\n", lab, errno_text(errno));
        close(gate[1]);
        return -1;
    }
    if (journal_add_kill_tree(jfd, pid, proc_start_time(pid), &e) != 0) {
        lab_error(&e);
        close(gate[1]); /* the fork reads EOF and ends */
        wait_status(pid);
        return -1;
    }
    bool released = write(gate[1], "g", 1) == 1;
    close(gate[1]);
    if (!released) { /* cannot happen: the fork holds the read end until it reads */
        fprintf(stderr, "sandbox: lab %s: node %s: write to its start: %s\n", lab, l->f[1], errno_text(errno));
        wait_status(pid);
        return -1;
    }
    crash_point("lab-node-starting");
    return pid;
}

/* ---- lab-net perf part (issue 12, bench/lab): every node started at once ------------------------ */

/* Forks `run --detach` of every node (each journaled before its fork: start_node), then waits for all
 * of them: a node's start is mostly waiting (its monitor, helper and child hand over step by step), so
 * 20 of them overlap well on 2 cores. Each one's stdout (its name) goes to /dev/null: the names are
 * printed here, in the lab's order, once all started; stderr (an error line) is the caller's. Every
 * link, address, route and sysctl exists before the first fork, so no target starts before the lab is
 * wired. On a failure every fork already made is still waited for (its start runs to its end), then
 * the caller's teardown downs whatever started: the journal names each node. */
static int start_nodes(int jfd, const char *base)
{
    static pid_t pids[MAX_LINES];
    static int of[MAX_LINES];
    int n = 0, failed = 0;
    int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    for (int i = 0; i < nlines; i++) {
        if (!is(&lines[i], "up", 3))
            continue;
        pid_t pid = start_node(jfd, base, &lines[i], null);
        if (pid < 0) {
            failed++;
            break;
        }
        of[n] = i;
        pids[n++] = pid;
    }
    if (null >= 0)
        close(null);
    for (int k = 0; k < n; k++) {
        if (wait_status(pids[k]) != 0) {
            fprintf(stderr, "sandbox: lab %s: node %s did not start; tearing the lab down\n", lab, lines[of[k]].f[1]);
            failed++;
        } else {
            crash_point("lab-node-started");
        }
    }
    if (failed)
        return -1;
    for (int i = 0; i < nlines; i++)
        if (is(&lines[i], "up", 3))
            printf("%s\n", lines[i].f[1]);
    return 0;
}

/* The record's copy of the lab file (0600): `down NODE` finds the node's links there, `inspect` its peers. */
static int save_lab_file(int dirfd, const char *text, size_t len)
{
    int fd = openat(dirfd, "lab", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    bool ok = fd >= 0 && write(fd, text, len) == (ssize_t)len;
    int err = errno;
    if (fd >= 0)
        close(fd);
    if (!ok)
        fprintf(stderr, "sandbox: lab %s: write %s/lab: %s\n", lab, rtdir, errno_text(err ? err : EIO));
    return ok ? 0 : -1;
}

/* In a fork that entered the node's netns: RTM_DELLINK of each of the node's lab links (the lab file's
 * `link` lines that name it). Returns the count of failures, said on `report`. */
static int delete_node_links(char *text, const char *labname, const char *node, FILE *report)
{
    int bad = 0;
    for (char *save = NULL, *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        char *f[6] = { 0 }, *s2 = NULL;
        int n = 0;
        for (char *t = strtok_r(l, "\t", &s2); t && n < 6; t = strtok_r(NULL, "\t", &s2))
            f[n++] = t;
        if (n < 5 || strcmp(f[0], "link") != 0)
            continue;
        for (int end = 0; end < 2; end++) {
            if (strcmp(f[1 + 2 * end], node) != 0)
                continue;
            char why[512];
            int err = lab_here_delete(f[2 + 2 * end], why, sizeof why);
            if (err) {
                fprintf(report, "sandbox: cleanup: lab %s node %s: RTM_DELLINK %s: %s (%s)\n", labname, node, f[2 + 2 * end],
                        errno_text(err), why);
                bad++;
            }
        }
    }
    return bad;
}

/* A rootless lab's <rt>/userns or <rt>/netns/<node>: a symbolic link to /proc/<pid>/fd/<n> of the lab's
 * holder (see "Rootless labs" below). Opened only when it names `holder` before and after the open and
 * the holder's start time is still `start` after it (state.json's): a pid names another process only
 * once the holder was reaped, so a holder alive after the open means the descriptor was its. -1 with
 * errno ESRCH when the holder is gone (its namespaces went with it, or go with the node). */
static int open_held(const char *path, pid_t holder, unsigned long long start)
{
    char want[64], got[64];
    snprintf(want, sizeof want, "/proc/%d/fd/", (int)holder);
    ssize_t n = readlink(path, got, sizeof got - 1);
    if (n < 0)
        return -1;
    got[n] = '\0';
    if (holder <= 0 || strncmp(got, want, strlen(want)) != 0 || proc_start_time(holder) != start) {
        errno = ESRCH;
        return -1;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    char again[64];
    n = readlink(path, again, sizeof again - 1);
    if (n >= 0)
        again[n] = '\0';
    if (n < 0 || strcmp(again, got) != 0 || proc_start_time(holder) != start) {
        close(fd);
        errno = ESRCH;
        return -1;
    }
    return fd;
}

/* `sandbox down NODE` (host.h): the node's interfaces deleted from inside its netns (a fork setns(2)s
 * there), so each veth's peer vanishes at once from the other node or the switch namespace (a veth
 * pair is deleted as one, veth(4)); then its netns unmounted. The lab file's lines are re-read here:
 * this runs in `down`, not in lab-up. A rootless lab (its file has a `userns` line) has no mounts: the
 * namespaces are the holder's descriptors, reached by <rt>/userns and <rt>/netns/<node> (open_held);
 * the fork enters the lab's user namespace first (setns(2) of a network namespace wants CAP_SYS_ADMIN
 * in its owning user namespace, which the caller has there as its owner, user_namespaces(7)), then the
 * node's netns; the link <rt>/netns/<node> is removed. The holder keeps the emptied namespace (only lo)
 * until the lab goes down. */
int lab_node_unlink(const char *base, const char *labname, const char *node, pid_t holder, unsigned long long holder_start, FILE *report)
{
    char dir[PATH_MAX], ns[PATH_MAX], user[PATH_MAX];
    if (snprintf(dir, sizeof dir, "%s/%s", base, labname) >= (int)sizeof dir
        || snprintf(ns, sizeof ns, "%s/netns/%s", dir, node) >= (int)sizeof ns
        || snprintf(user, sizeof user, "%s/userns", dir) >= (int)sizeof user)
        return 0;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0)
        return 0; /* the lab is gone: so is everything of it */
    size_t len = 0;
    char *text = read_file_at(dfd, "lab", 1 << 20, &len);
    close(dfd);
    bool rootless = text && (strncmp(text, "userns\t", 7) == 0 || strstr(text, "\nuserns\t") != NULL);
    int failures = 0;
    int userfd = -1, nsfd = -1;
    if (rootless && text) {
        userfd = open_held(user, holder, holder_start);
        nsfd = userfd >= 0 ? open_held(ns, holder, holder_start) : -1;
        if (nsfd < 0 && errno != ESRCH && errno != ENOENT) {
            fprintf(report, "sandbox: cleanup: lab %s node %s: open %s: %s\n", labname, node, userfd < 0 ? user : ns, errno_text(errno));
            failures++;
        }
    } else {
        nsfd = open(ns, O_RDONLY | O_CLOEXEC);
    }
    if (text && nsfd >= 0) {
        fflush(report);
        pid_t pid = fork();
        if (pid == 0) {
            /* setns(2) in a fork: the caller stays in the host's namespaces */
            if (userfd >= 0 && setns(userfd, CLONE_NEWUSER) != 0) {
                fprintf(report, "sandbox: cleanup: lab %s node %s: setns CLONE_NEWUSER %s: %s\n", labname, node, user, errno_text(errno));
                _exit(1);
            }
            if (setns(nsfd, CLONE_NEWNET) != 0) {
                fprintf(report, "sandbox: cleanup: lab %s node %s: setns CLONE_NEWNET %s: %s\n", labname, node, ns, errno_text(errno));
                _exit(1);
            }
            int bad = delete_node_links(text, labname, node, report);
            fflush(report);
            _exit(bad ? 1 : 0);
        }
        if (pid < 0 || wait_status(pid) != 0)
            failures++;
    }
    if (nsfd >= 0)
        close(nsfd);
    if (userfd >= 0)
        close(userfd);
    free(text);
    if (rootless) {
        if (unlink(ns) != 0 && errno != ENOENT) {
            fprintf(report, "sandbox: cleanup: lab %s node %s: unlink %s: %s\n", labname, node, ns, errno_text(errno));
            failures++;
        }
        return failures;
    }
    struct host_error e;
    if (lab_netns_unmount(ns, &e) != 0) {
        char line[2048];
        host_error_line(&e, line, sizeof line);
        fprintf(report, "sandbox: cleanup: %s\n", line);
        failures++;
    }
    return failures;
}

/* The holder: keeps the lab's lock and is the record's pid. It waits for lab-up's word on `gate` (the
 * record says running: EOF means lab-up died before, and so does the holder: a dead lab, finished by
 * gc); then until SIGTERM (from `sandbox down LAB`, which downs the nodes itself) and exits. */
static void hold(int gate)
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
    char go;
    if (read(gate, &go, 1) != 1)
        _exit(0);
    close(gate);
    int sig;
    sigwait(&set, &sig);
    _exit(0);
}

static bool rootless_lab(void);
static int rootless_build(void);
static int rootless_links(pid_t holder);

int lab_main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "sandbox: usage: sandbox-init lab-up FILE\n");
        return 2;
    }
    size_t textlen = 0;
    char *text = read_file_at(AT_FDCWD, argv[2], 1 << 20, &textlen);
    if (!text || parse(argv[2]) != 0) {
        if (!text)
            fprintf(stderr, "sandbox: lab: read %s: %s\n", argv[2], errno_text(errno));
        return 125;
    }
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
    if (runtime_dir_create(base, lab, &dirfd, &lockfd, &e) != 0) {
        char line[2048];
        host_error_line(&e, line, sizeof line);
        fprintf(stderr, "sandbox: %s\n", line);
        unlink_plans();
        return 125;
    }
    struct sandbox_state st = { .name = lab, .status = "creating", .spec = "", .spec_sha256 = "", .plan_sha256 = "",
                                .cgroup = "", .monitor_pid = getpid(), .monitor_start = proc_start_time(getpid()),
                                .created_ms = now_ms(), .exit_status = -1, .detached = true, .lab = lab };
    if (journal_open(dirfd, &jfd, &e) != 0 || state_write(dirfd, &st, 0, &e) != 0) {
        lab_error(&e);
        goto fail;
    }
    if (save_lab_file(dirfd, text, textlen) != 0)
        goto fail;
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
    if (rootless_lab()) { /* the namespaces inside the lab's user namespace, held by fds: see "Rootless labs" below */
        if (rootless_build() != 0)
            goto fail;
        goto linked;
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
linked:
    crash_point("lab-linked");
    if (start_nodes(jfd, base) != 0)
        goto fail;
    fflush(NULL);
    int gate[2];
    if (pipe2(gate, O_CLOEXEC) != 0) {
        fprintf(stderr, "sandbox: lab %s: pipe2: %s\n", lab, errno_text(errno));
        goto fail;
    }
    pid_t holder = fork();
    if (holder == 0) {
        close(gate[1]);
        setsid();
        hold(gate[0]);
    }
    close(gate[0]);
    if (holder < 0) {
        fprintf(stderr, "sandbox: lab %s: fork: %s\n", lab, errno_text(errno));
        close(gate[1]);
        goto fail;
    }
    crash_point("lab-holder-forked");
    if (rootless_lab() && rootless_links(holder) != 0) {
        close(gate[1]); /* the holder reads EOF and ends */
        wait_status(holder);
        goto fail;
    }
    st.status = "running";
    st.monitor_pid = st.target_pid = holder;
    st.monitor_start = st.target_start = proc_start_time(holder);
    st.started_ms = now_ms();
    if (state_write(dirfd, &st, 0, &e) != 0) {
        lab_error(&e);
        close(gate[1]); /* the holder reads EOF and ends */
        wait_status(holder);
        goto fail;
    }
    if (write(gate[1], "g", 1) != 1) {
        fprintf(stderr, "sandbox: lab %s: write to the holder: %s\n", lab, errno_text(errno));
        close(gate[1]);
        goto fail;
    }
    close(gate[1]);
    printf("%s\n", lab);
    return 0;
fail:
    unlink_plans();
    /* the journal names every node that may have started (sandbox-down): its teardown downs them */
    if (journal_teardown(rtdir, stderr, &e) != 0) {
        char line[2048];
        host_error_line(&e, line, sizeof line);
        fprintf(stderr, "sandbox: lab %s: teardown: %s\n", lab, line);
    }
    return 125;
}

/* ------------------------------------------------------------------------------------------ */
/* Rootless labs (docs/labs.md, "Rootless labs"). Java writes the line
 *   userns UIDMAP UIDVIA GIDMAP GIDVIA SETGROUPS   (maps as a plan's write-id-map: "in out count,...")
 * for a caller other than root; every node's plan then joins <rt>/userns and <rt>/netns/<node>.
 *
 * Why no nsfs bind mounts: the caller has no mount rights over the host's mount namespace. An open
 * file descriptor of a namespace keeps it alive as well as a mount does (namespaces(7), "The
 * namespaces lifetime"), so fds hold them: a child U unshares the user namespace, lab-up writes its
 * maps (directly, or by newuidmap/newgidmap as for a sandbox's), U creates every node's network
 * namespace in it (one unshare(CLONE_NEWNET) each), the veths and bridges, configures each namespace
 * from inside it, sends lab-up the fds of all of them (SCM_RIGHTS, unix(7)) and exits. lab-up keeps
 * them, the holder inherits them by fork(2); no other process holds them. When the holder exits
 * (down) or is killed, the namespaces go with the last node that uses them: nothing to undo.
 * Why U and not lab-up: a veth between two namespaces needs CAP_NET_ADMIN over both (rtnetlink), and
 * configuring one needs it over its owning user namespace; U has every capability there as the
 * creator of that user namespace (user_namespaces(7)). lab-up itself stays in the host's.
 *
 * Nodes join by path: <rt>/userns and <rt>/netns/<node> are symbolic links to /proc/<pid>/fd/<fd>
 * of lab-up while the nodes start, then of the holder (re-pointed by rename(2), atomic). Why no pid
 * reuse can misdirect a join: a pid names another process only after its process was reaped, and
 * lab-up is alive for every node's open (it waits for every `run --detach`, started all at once,
 * whose runtime opens the paths before it returns). Later users of the links (lab_node_unlink: `down
 * NODE`) check the holder's start time (state.json) after their open. Why lab-up is made dumpable again: /proc/<pid>/fd/N needs ptrace read access
 * (proc(5); ptrace(2), "Ptrace access mode checking"), which a non-dumpable process only grants to
 * CAP_SYS_PTRACE; a node's runtime is the caller's uid in the caller's user namespace and passes.
 * A process inside a node is in the lab's user namespace, a child of the caller's, and still fails
 * (commoncap: no CAP_SYS_PTRACE in the holder's user namespace), so the holder stays out of reach. */

static int held_userns = -1;
static int held_netns[MAX_LINES]; /* by index of the `node` line in lines[]; -1: none */

static const struct line *userns_line(void)
{
    for (int i = 0; i < nlines; i++)
        if (is(&lines[i], "userns", 6))
            return &lines[i];
    return NULL;
}

static bool rootless_lab(void) { return userns_line() != NULL; }

static const struct op *op_named(const char *name)
{
    for (size_t i = 0; i < nops; i++)
        if (strcmp(ops[i].name, name) == 0)
            return &ops[i];
    return NULL;
}

/* The maps of U's user namespace, as the monitor writes a sandbox's (host.c): setgroups first when
 * deny (an unprivileged gid_map write needs it, user_namespaces(7)), then uid_map, then gid_map. */
static int rootless_maps(pid_t pid)
{
    const struct line *u = userns_line();
    struct kv setgroups[] = { { "value", "deny" } };
    struct kv uid[] = { { "kind", "uid" }, { "map", u->f[1] }, { "via", u->f[2] } };
    struct kv gid[] = { { "kind", "gid" }, { "map", u->f[3] }, { "via", u->f[4] } };
    struct step sg = { .stage = ST_IDENTITY, .op = op_named("write-setgroups"), .kv = setgroups, .nkv = 1 };
    struct step su = { .stage = ST_IDENTITY, .op = op_named("write-id-map"), .kv = uid, .nkv = 3 };
    struct step sgid = { .stage = ST_IDENTITY, .op = op_named("write-id-map"), .kv = gid, .nkv = 3 };
    struct host_error e;
    char text[2048];
    if (!sg.op || !su.op) {
        fprintf(stderr, "sandbox: lab %s: internal: no write-id-map op\n", lab);
        return -1;
    }
    if ((strcmp(u->f[5], "deny") == 0 && host_write_setgroups(&sg, pid, &e) != 0) || host_write_id_map(&su, pid, &e) != 0
        || host_write_id_map(&sgid, pid, &e) != 0) {
        host_error_line(&e, text, sizeof text);
        fprintf(stderr, "sandbox: lab %s: user namespace: %s\n", lab, text);
        return -1;
    }
    return 0;
}

/* One fd to lab-up with the index it belongs to (-1: the user namespace). */
static int send_fd(int sock, int index, int fd)
{
    char ctl[CMSG_SPACE(sizeof(int))];
    memset(ctl, 0, sizeof ctl);
    struct iovec iov = { &index, sizeof index };
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl };
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
    return sendmsg(sock, &m, MSG_NOSIGNAL) == (ssize_t)sizeof index ? 0 : -1;
}

static long sysctl_value(const char *path)
{
    char buf[32] = "";
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    if (fd >= 0)
        close(fd);
    return n > 0 ? strtol(buf, NULL, 10) : -1;
}

/* Which of the host's three switches refuses us the user namespace or the capabilities in it (as ns.c names them for a sandbox). */
static const char *userns_refused(void)
{
    if (sysctl_value("/proc/sys/user/max_user_namespaces") == 0)
        return "user namespaces are disabled: user.max_user_namespaces is 0; run the lab as root";
    if (sysctl_value("/proc/sys/kernel/unprivileged_userns_clone") == 0)
        return "unprivileged user namespaces are disabled: kernel.unprivileged_userns_clone is 0; run the lab as root";
    if (sysctl_value("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == 1)
        return "AppArmor restricts unprivileged user namespaces: kernel.apparmor_restrict_unprivileged_userns is 1 (allow "
               "sandbox-init 'userns,' in a profile, or run the lab as root)";
    return "a rootless lab needs a user namespace of its own and CAP_NET_ADMIN in it";
}

/* U: in the new user namespace once lab-up wrote its maps. Exits 0 when every fd was sent. */
static void rootless_child(int sock)
{
    if (unshare(CLONE_NEWUSER) != 0) {
        fprintf(stderr, "sandbox: lab %s: unshare CLONE_NEWUSER: %s (%s)\n", lab, errno_text(errno), userns_refused());
        _exit(1);
    }
    char go = 'u';
    if (write(sock, &go, 1) != 1 || read(sock, &go, 1) != 1 || go != 'g')
        _exit(1); /* lab-up failed to write the maps and said so */
    int own = open("/proc/self/ns/user", O_RDONLY | O_CLOEXEC);
    if (own < 0 || send_fd(sock, -1, own) != 0) {
        fprintf(stderr, "sandbox: lab %s: open /proc/self/ns/user: %s\n", lab, errno_text(errno));
        _exit(1);
    }
    int fd[MAX_LINES];
    for (int i = 0; i < nlines; i++) {
        fd[i] = -1;
        if (!is(&lines[i], "node", 2))
            continue;
        if (unshare(CLONE_NEWNET) != 0) {
            int err = errno;
            fprintf(stderr, "sandbox: lab %s: node %s: unshare CLONE_NEWNET: %s (%s)\n", lab, lines[i].f[1], errno_text(err),
                    err == EPERM ? userns_refused() : "no network namespace");
            _exit(1);
        }
        if ((fd[i] = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC)) < 0) {
            fprintf(stderr, "sandbox: lab %s: node %s: open /proc/self/ns/net: %s\n", lab, lines[i].f[1], errno_text(errno));
            _exit(1);
        }
    }
    for (int i = 0; i < nlines; i++) {
        const struct line *l = &lines[i];
        if (!is(l, "link", 5))
            continue;
        int a = -1, b = -1;
        for (int k = 0; k < nlines; k++)
            if (is(&lines[k], "node", 2)) {
                if (strcmp(lines[k].f[1], l->f[1]) == 0)
                    a = fd[k];
                if (strcmp(lines[k].f[1], l->f[3]) == 0)
                    b = fd[k];
            }
        char why[512];
        int err = a < 0 || b < 0 ? ENOENT : lab_veth(a, l->f[2], b, l->f[4], l->n > 5 ? atoll(l->f[5]) : 0, why, sizeof why);
        if (err) {
            fprintf(stderr, "sandbox: lab %s: link %s:%s -- %s:%s: RTM_NEWLINK: %s (%s)\n", lab, l->f[1], l->f[2], l->f[3], l->f[4],
                    errno_text(err), a < 0 || b < 0 ? "no such node" : why);
            _exit(1);
        }
    }
    for (int i = 0; i < nlines; i++) {
        if (fd[i] < 0)
            continue;
        /* U is disposable: it moves from namespace to namespace instead of a fork per node */
        if (setns(fd[i], CLONE_NEWNET) != 0) {
            fprintf(stderr, "sandbox: lab %s: node %s: setns CLONE_NEWNET: %s\n", lab, lines[i].f[1], errno_text(errno));
            _exit(1);
        }
        if (configure_inside(lines[i].f[1]) != 0)
            _exit(1);
        if (send_fd(sock, i, fd[i]) != 0) {
            fprintf(stderr, "sandbox: lab %s: sendmsg SCM_RIGHTS: %s\n", lab, errno_text(errno));
            _exit(1);
        }
    }
    _exit(0);
}

/* The lab's user namespace and its nodes' network namespaces, linked and configured, held by lab-up. */
static int rootless_build(void)
{
    for (int i = 0; i < MAX_LINES; i++)
        held_netns[i] = -1;
    /* see above: the nodes' runtimes open /proc/<lab-up or holder>/fd/N; U inherits it for its maps */
    if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) != 0) {
        fprintf(stderr, "sandbox: lab %s: prctl PR_SET_DUMPABLE: %s\n", lab, errno_text(errno));
        return -1;
    }
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
        fprintf(stderr, "sandbox: lab %s: socketpair: %s\n", lab, errno_text(errno));
        return -1;
    }
    fflush(NULL);
    pid_t u = fork();
    if (u < 0) {
        fprintf(stderr, "sandbox: lab %s: fork: %s\n", lab, errno_text(errno));
        close(sv[0]);
        close(sv[1]);
        return -1;
    }
    if (u == 0) {
        close(sv[0]);
        rootless_child(sv[1]);
    }
    close(sv[1]);
    int rc = -1;
    char c;
    if (read(sv[0], &c, 1) != 1 || c != 'u')
        goto out; /* U said why */
    if (rootless_maps(u) != 0)
        goto out;
    c = 'g';
    if (write(sv[0], &c, 1) != 1)
        goto out;
    for (;;) {
        int index;
        char ctl[CMSG_SPACE(sizeof(int))];
        struct iovec iov = { &index, sizeof index };
        struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl };
        ssize_t n = recvmsg(sv[0], &m, MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
        int fd = -1;
        if (cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS && cm->cmsg_len == CMSG_LEN(sizeof(int)))
            memcpy(&fd, CMSG_DATA(cm), sizeof fd);
        if (n != (ssize_t)sizeof index || fd < 0 || index < -1 || index >= nlines) {
            if (fd >= 0)
                close(fd);
            continue;
        }
        if (index < 0)
            held_userns = fd;
        else
            held_netns[index] = fd;
    }
    rc = 0;
out:
    close(sv[0]);
    if (rc != 0)
        kill(u, SIGKILL);
    if (wait_status(u) != 0)
        rc = -1;
    for (int i = 0; rc == 0 && i < nlines; i++)
        if (is(&lines[i], "node", 2) && held_netns[i] < 0)
            rc = -1; /* U exited 0 without sending everything: cannot happen, but never start a node without its namespace */
    if (rc == 0 && held_userns < 0)
        rc = -1;
    if (rc == 0) {
        crash_point("lab-netns-created");
        rc = rootless_links(getpid());
    }
    return rc;
}

/* <rt>/userns and <rt>/netns/<node> -> /proc/<pid>/fd/<fd>, each replaced atomically (a new link, rename). */
static int link_one(const char *path, pid_t pid, int fd)
{
    char target[64], tmp[PATH_MAX];
    snprintf(target, sizeof target, "/proc/%d/fd/%d", (int)pid, fd);
    if (snprintf(tmp, sizeof tmp, "%s.new", path) >= (int)sizeof tmp) {
        fprintf(stderr, "sandbox: lab %s: %s: the path is too long\n", lab, path);
        return -1;
    }
    unlink(tmp);
    if (symlink(target, tmp) != 0 || rename(tmp, path) != 0) {
        fprintf(stderr, "sandbox: lab %s: symlink %s -> %s: %s\n", lab, path, target, errno_text(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

static int rootless_links(pid_t pid)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/userns", rtdir) >= (int)sizeof path || link_one(path, pid, held_userns) != 0)
        return -1;
    for (int i = 0; i < nlines; i++) {
        if (!is(&lines[i], "node", 2))
            continue;
        ns_path(lines[i].f[1], path, sizeof path);
        if (link_one(path, pid, held_netns[i]) != 0)
            return -1;
    }
    return 0;
}
