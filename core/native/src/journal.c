/*
 * journal.c: what outlives a crash. The undo journal of a runtime dir and its teardown (reverse
 * replay, then the dir itself), cgroup removal, the kill of a process tree, state.json, the start time
 * of a pid, the runtime base dir, `sandbox-init gc`, and the crash points of the tests.
 * Used by the monitor M (monitor.c, host.c) and by `sandbox-init gc`. Nothing here prints except
 * gc_main and the `report` stream given to journal_teardown. The formats are described in
 * docs/architecture.md ("Runtime dir and lock", "The undo journal", "state.json", "sandbox gc").
 *
 * Why a journal in a file and not an in-memory undo list: whoever finds a dead sandbox (its monitor was
 * killed, even by SIGKILL) must be able to finish its teardown. Every record is appended with one
 * write(2) BEFORE the resource it undoes exists, so a record may name something that was never created;
 * each undo is idempotent (ENOENT/ENODEV/ESRCH mean "done").
 *
 * Why no fsync(2): the journal protects against the *process* dying. Once write(2) returned, the bytes
 * are in the page cache, which every later reader sees and which outlives the writer (write(2): "a
 * successful return from write() does not make any guarantee that data has been committed to disk" -
 * but it is visible to read(2) at once, POSIX's read-after-write). fsync would only add durability
 * across a power loss or kernel crash, and nothing a record names (a cgroup, a veth, a process, a
 * mount, a network namespace) survives one. So the journal starts with the boot it was written in
 * ("# boot <boot_id>", random(4)'s /proc/sys/kernel/random/boot_id); a replay in another boot undoes
 * nothing that names a kernel object (a pid of then is someone else's now) and just removes the dir.
 * docs/architecture.md, "The undo journal". Each fsync cost ~0.4-1.2 ms on this VM's ext4 /run.
 */
#include "runtime.h"
#include "host.h"

#include <dirent.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <linux/magic.h>

#ifndef __NR_pidfd_open
#define __NR_pidfd_open 434
#endif
#ifndef __NR_pidfd_send_signal
#define __NR_pidfd_send_signal 424
#endif

#define KILL_BOUND_MS 5000   /* how long cgroup_remove and kill-tree wait for processes to die */
#define RMDIR_BOUND_MS 2000  /* rmdir of a cgroup whose last task is still exiting: EBUSY for a moment */
#define GC_AGE_S 60          /* gc removes .plan-* and .NAME.new-* leftovers older than this */
#define JOURNAL_MAX (1 << 20)
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1) /* linux/fs.h */
#endif

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* The path an fd refers to, for messages ("?" when /proc can't tell). */
static void fd_path(int fd, char *out, size_t len)
{
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, out, len - 1);
    if (n < 0)
        n = snprintf(out, len, "?");
    out[n] = '\0';
}

static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads a whole (small) file below dirfd, never following a symlink; NUL-terminated, *len without the NUL.
 * NULL with errno set (EFBIG beyond `max`). Also verbs.c's reader of state.json and plan. */
char *read_file_at(int dirfd, const char *name, size_t max, size_t *len)
{
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n + 1 == cap) {
            if (cap > max) {
                free(buf);
                close(fd);
                errno = EFBIG;
                return NULL;
            }
            char *bigger = realloc(buf, cap * 2);
            if (!bigger)
                break;
            buf = bigger;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int err = errno;
            free(buf);
            close(fd);
            errno = err;
            return NULL;
        }
        if (r == 0) {
            buf[n] = '\0';
            close(fd);
            *len = n;
            return buf;
        }
        n += (size_t)r;
    }
    free(buf);
    close(fd);
    errno = ENOMEM;
    return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Crash points (tests only)                                                                   */

/* Why a copy read once: the child later replaces its environment (clearenv(3) before execve), and the
 * name must not cost a getenv per point. A namespace's init (C as PID 1) can't kill itself: the kernel
 * drops a signal without a handler that an init gets from inside its namespace (pid_namespaces(7)), so
 * it exits with 137 (128 + SIGKILL) instead, which ends its namespace just the same. */
void crash_point(const char *name)
{
    static char at[64];
    static bool read_env;
    if (!read_env) {
        const char *v = getenv("SANDBOX_CRASH_AT");
        if (v && strlen(v) < sizeof at)
            strcpy(at, v);
        read_env = true;
    }
    if (!name || !at[0] || strcmp(at, name) != 0)
        return;
    raise(SIGKILL);
    _exit(128 + SIGKILL);
}

/* ------------------------------------------------------------------------------------------ */
/* Processes                                                                                   */

struct pstat {
    pid_t pid, ppid;
    char state;
    unsigned long long start;
};

/* /proc/<pid>/stat: field 2 (comm) is in parentheses and may itself contain ") ", so the fields are
 * counted from the LAST ')' (proc(5)): field 3 state, 4 ppid, 22 starttime (clock ticks after boot). */
static bool read_pstat(int procfd, pid_t pid, struct pstat *out)
{
    char name[32], buf[1024];
    snprintf(name, sizeof name, "%d/stat", (int)pid);
    int fd = openat(procfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p)
        return false;
    p++;
    *out = (struct pstat){ .pid = pid };
    for (int field = 3; field <= 22; field++) {
        while (*p == ' ')
            p++;
        if (!*p)
            return false;
        if (field == 3)
            out->state = *p;
        else if (field == 4)
            out->ppid = (pid_t)strtol(p, NULL, 10);
        else if (field == 22)
            out->start = strtoull(p, NULL, 10);
        p += strcspn(p, " ");
    }
    return true;
}

unsigned long long proc_start_time(pid_t pid)
{
    if (pid <= 0)
        return 0;
    int procfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (procfd < 0)
        return 0;
    struct pstat st;
    bool ok = read_pstat(procfd, pid, &st);
    close(procfd);
    return ok && st.state != 'Z' && st.state != 'X' ? st.start : 0;
}

/* SIGKILL to pid, only if it still has that start time: a pidfd pins the process, so the check and the
 * signal are about the same one even if the pid is reused meanwhile (pidfd_open(2)). */
static int kill_exact(int procfd, pid_t pid, unsigned long long start)
{
    int pfd = (int)syscall(__NR_pidfd_open, pid, 0);
    if (pfd < 0 && errno != ENOSYS)
        return errno == ESRCH ? 0 : -1;
    struct pstat st;
    if (!read_pstat(procfd, pid, &st) || st.start != start) {
        if (pfd >= 0)
            close(pfd);
        return 0;
    }
    int rc = pfd >= 0 ? (int)syscall(__NR_pidfd_send_signal, pfd, SIGKILL, NULL, 0) : kill(pid, SIGKILL);
    int err = errno;
    if (pfd >= 0)
        close(pfd);
    errno = err;
    return rc < 0 && errno != ESRCH ? -1 : 0;
}

static int cmp_pid(const void *a, const void *b)
{
    pid_t x = ((const struct pstat *)a)->pid, y = ((const struct pstat *)b)->pid;
    return (x > y) - (x < y);
}

/* Every process of the host: pid, ppid, state, start time. */
static struct pstat *all_processes(int procfd, size_t *n)
{
    int dfd = dup(procfd);
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (!d) {
        if (dfd >= 0)
            close(dfd);
        return NULL;
    }
    size_t cap = 256;
    struct pstat *ps = malloc(cap * sizeof *ps);
    *n = 0;
    for (struct dirent *ent; ps && (ent = readdir(d)) != NULL;) {
        char *end;
        long pid = strtol(ent->d_name, &end, 10);
        if (*end || pid <= 0)
            continue;
        if (*n == cap) {
            struct pstat *bigger = realloc(ps, cap * 2 * sizeof *ps);
            if (!bigger) {
                free(ps);
                ps = NULL;
                break;
            }
            ps = bigger;
            cap *= 2;
        }
        if (read_pstat(procfd, (pid_t)pid, &ps[*n]))
            (*n)++;
    }
    closedir(d);
    return ps;
}

/* kill-tree pid=P start=T: if P still is the process that started at T, SIGKILL its descendants (and
 * P itself unless it is us: the monitor undoing its own journal) until none is left, within 5 s.
 * Descendants are found through the ppid links of /proc/<pid>/stat (/proc/P/task/T/children needs
 * CONFIG_PROC_CHILDREN). The monitor is a child subreaper (PR_SET_CHILD_SUBREAPER, prctl(2)), so a
 * process whose parent we killed is reparented to it and still found on the next round. */
static int kill_tree(pid_t root, unsigned long long start, struct host_error *e)
{
    int procfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (procfd < 0)
        return host_fail(e, "supervise kill-tree", "open", "/proc", errno, NULL);
    struct pstat top;
    if (!read_pstat(procfd, root, &top) || top.start != start || top.state == 'Z' || top.state == 'X') {
        close(procfd);
        return 0; /* gone, or the pid is someone else's now: done */
    }
    long long deadline = now_ms() + KILL_BOUND_MS;
    bool self = root == getpid();
    for (;;) {
        size_t n = 0;
        struct pstat *ps = all_processes(procfd, &n);
        if (!ps) {
            close(procfd);
            return host_fail(e, "supervise kill-tree", "read", "/proc", errno ? errno : ENOMEM, NULL);
        }
        /* mark the descendants: a pass per generation (a parent may be listed after its child) */
        qsort(ps, n, sizeof *ps, cmp_pid);
        char *in = calloc(n ? n : 1, 1);
        ssize_t *parent = calloc(n ? n : 1, sizeof *parent);
        if (!in || !parent) {
            free(in);
            free(parent);
            free(ps);
            close(procfd);
            return host_fail(e, "supervise kill-tree", "malloc", "", ENOMEM, NULL);
        }
        for (size_t i = 0; i < n; i++) {
            struct pstat key = { .pid = ps[i].ppid }, *found = bsearch(&key, ps, n, sizeof *ps, cmp_pid);
            parent[i] = found ? found - ps : -1;
        }
        /* a child of `root` only while root still is that process (a reaped root's pid may be reused) */
        struct pstat key = { .pid = root }, *r = bsearch(&key, ps, n, sizeof *ps, cmp_pid);
        bool root_is_it = r && r->start == start;
        for (bool grew = true; grew;) {
            grew = false;
            for (size_t i = 0; i < n; i++) {
                if (!in[i] && ps[i].pid != root && ((root_is_it && ps[i].ppid == root) || (parent[i] >= 0 && in[parent[i]])))
                    in[i] = grew = true;
            }
        }
        free(parent);
        char left[256] = "";
        size_t alive = 0, used = 0;
        for (size_t i = 0; i < n; i++) {
            bool target = in[i] || (!self && ps[i].pid == root && ps[i].start == start);
            if (!target || ps[i].state == 'Z' || ps[i].state == 'X')
                continue; /* a zombie holds nothing; its parent reaps it */
            alive++;
            if (used < sizeof left - 16)
                used += (size_t)snprintf(left + used, sizeof left - used, "%s%d", used ? ", " : "", (int)ps[i].pid);
            kill_exact(procfd, ps[i].pid, ps[i].start);
        }
        free(in);
        free(ps);
        if (alive == 0)
            break;
        if (now_ms() > deadline) {
            char path[32];
            snprintf(path, sizeof path, "/proc/%d", (int)root);
            close(procfd);
            return host_fail(e, "supervise kill-tree", "kill", path, EBUSY, "processes [%s] did not die", left);
        }
        sleep_ms(10);
    }
    close(procfd);
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* cgroups                                                                                     */

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif
#ifndef CGROUP_SUPER_MAGIC
#define CGROUP_SUPER_MAGIC 0x27e0eb
#endif

struct pids {
    pid_t *v;
    size_t n, cap;
};

static void pids_add(struct pids *p, pid_t pid)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        pid_t *v = realloc(p->v, cap * sizeof *v);
        if (!v)
            return; /* the next round sees it again */
        p->v = v;
        p->cap = cap;
    }
    p->v[p->n++] = pid;
}

/* The pids in cgroup.procs of `path` and of every cgroup below it. */
static void subtree_procs(const char *path, struct pids *out, int depth)
{
    char file[PATH_MAX];
    size_t len;
    int dfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0)
        return;
    char *procs = read_file_at(dfd, "cgroup.procs", 1 << 24, &len);
    for (char *p = procs; p && *p;) {
        char *end;
        long pid = strtol(p, &end, 10);
        if (end == p)
            break;
        if (pid > 0)
            pids_add(out, (pid_t)pid);
        p = end + strspn(end, "\n");
    }
    free(procs);
    DIR *d = depth < 64 ? fdopendir(dfd) : NULL;
    if (!d) {
        close(dfd);
        return;
    }
    for (struct dirent *ent; (ent = readdir(d)) != NULL;) {
        if (ent->d_type != DT_DIR || strcmp(ent->d_name, ".") == 0 || strcmp(ent->d_name, "..") == 0)
            continue;
        if (snprintf(file, sizeof file, "%s/%s", path, ent->d_name) < (int)sizeof file)
            subtree_procs(file, out, depth + 1);
    }
    closedir(d);
}

/* rmdir of `path` after every cgroup below it (a target with cgroup delegation inside its cgroup
 * namespace may have created some: rmdir(2) of a cgroup with children fails with EBUSY). */
static int rmdir_tree(const char *path, long long deadline, struct host_error *e, int depth)
{
    char child[PATH_MAX];
    int dfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0)
        return errno == ENOENT ? 0 : host_fail(e, "supervise cgroup-remove", "open", path, errno, NULL);
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return host_fail(e, "supervise cgroup-remove", "opendir", path, errno, NULL);
    }
    int rc = 0;
    for (struct dirent *ent; rc == 0 && (ent = readdir(d)) != NULL;) {
        if (ent->d_type != DT_DIR || strcmp(ent->d_name, ".") == 0 || strcmp(ent->d_name, "..") == 0)
            continue;
        if (snprintf(child, sizeof child, "%s/%s", path, ent->d_name) >= (int)sizeof child)
            rc = host_fail(e, "supervise cgroup-remove", "rmdir", path, ENAMETOOLONG, NULL);
        else if (depth >= 64)
            rc = host_fail(e, "supervise cgroup-remove", "rmdir", child, ELOOP, "cgroups nested deeper than 64");
        else
            rc = rmdir_tree(child, deadline, e, depth + 1);
    }
    closedir(d);
    if (rc < 0)
        return rc;
    /* a cgroup whose last task is still exiting refuses rmdir with EBUSY for a moment */
    while (rmdir(path) < 0) {
        if (errno == ENOENT)
            return 0;
        if (errno != EBUSY || now_ms() > deadline)
            return host_fail(e, "supervise cgroup-remove", "rmdir", path, errno, NULL);
        sleep_ms(10);
    }
    return 0;
}

int cgroup_remove(const char *path, struct host_error *e)
{
    const char *step = "supervise cgroup-remove";
    struct stat st, up;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : host_fail(e, step, "lstat", path, errno, NULL);
    struct statfs fs;
    if (!S_ISDIR(st.st_mode) || statfs(path, &fs) < 0 ||
        (fs.f_type != CGROUP2_SUPER_MAGIC && fs.f_type != CGROUP_SUPER_MAGIC))
        return host_fail(e, step, "statfs", path, EINVAL, "not a cgroup directory; refusing to kill or remove anything there");
    /* Never the root of a hierarchy: its cgroup.procs holds every process of the host not in a child. */
    char parent[PATH_MAX];
    if (snprintf(parent, sizeof parent, "%s/..", path) >= (int)sizeof parent || stat(parent, &up) < 0 || up.st_dev != st.st_dev)
        return host_fail(e, step, "stat", path, EINVAL, "the root of a cgroup hierarchy; refusing to kill or remove anything there");

    long long deadline = now_ms() + KILL_BOUND_MS;
    char kill_file[PATH_MAX];
    snprintf(kill_file, sizeof kill_file, "%s/cgroup.kill", path);
    for (;;) {
        struct pids left = { 0 };
        subtree_procs(path, &left, 0);
        if (left.n == 0) {
            free(left.v);
            break;
        }
        /* cgroup v2 (Linux 5.14+): one write kills every process of the cgroup and its descendants,
         * forks in progress included, so nothing can outrun it; v1 has no such file: one by one
         * (cgroups(7), "cgroup.kill") */
        bool all = false;
        int kfd = open(kill_file, O_WRONLY | O_CLOEXEC);
        if (kfd >= 0) {
            all = write(kfd, "1", 1) == 1;
            close(kfd);
        }
        for (size_t i = 0; !all && i < left.n; i++)
            kill(left.v[i], SIGKILL);
        if (now_ms() > deadline) {
            char list[256] = "";
            size_t used = 0;
            for (size_t i = 0; i < left.n && used < sizeof list - 16; i++)
                used += (size_t)snprintf(list + used, sizeof list - used, "%s%d", i ? ", " : "", (int)left.v[i]);
            free(left.v);
            char procs[PATH_MAX + 16];
            snprintf(procs, sizeof procs, "%s/cgroup.procs", path);
            return host_fail(e, step, "kill", procs, EBUSY, "processes [%s] did not die", list);
        }
        free(left.v);
        sleep_ms(10);
    }
    if (rmdir_tree(path, now_ms() + RMDIR_BOUND_MS, e, 0) < 0)
        return -1;
    /* the shared parent of every sandbox's cgroup: gone with its last sandbox; EBUSY or ENOTEMPTY when
     * another sandbox is in there (leave it) */
    const char *slash = strrchr(path, '/');
    if (slash && strcmp(slash + 1, "sandbox") != 0) {
        size_t plen = (size_t)(slash - path);
        if (plen >= 8 && plen < sizeof parent && strncmp(slash - 8, "/sandbox", 8) == 0) {
            memcpy(parent, path, plen);
            parent[plen] = '\0';
            rmdir(parent);
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* The journal                                                                                 */

/* Values are escaped as plan values are (PlanFile.escape): %25 %09 %0A, so a record is one line and
 * its fields split at TABs. Everything else is written as it is (paths are bytes). */
static size_t escaped_len(const char *v)
{
    size_t n = 0;
    for (; *v; v++)
        n += *v == '%' || *v == '\t' || *v == '\n' ? 3 : 1;
    return n;
}

static char *escape_into(char *w, const char *v)
{
    for (; *v; v++) {
        if (*v == '%' || *v == '\t' || *v == '\n')
            w += sprintf(w, "%%%02X", (unsigned char)*v);
        else
            *w++ = *v;
    }
    return w;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static bool unescape(char *s)
{
    char *w = s;
    for (char *r = s; *r;) {
        if (*r != '%') {
            *w++ = *r++;
            continue;
        }
        int hi = hexval(r[1]), lo = hi < 0 ? -1 : hexval(r[2]);
        int byte = lo < 0 ? -1 : hi << 4 | lo;
        if (byte != '%' && byte != '\t' && byte != '\n')
            return false;
        *w++ = (char)byte;
        r += 3;
    }
    *w = '\0';
    return true;
}

static bool plain_word(const char *s, bool allow_eq)
{
    if (!s || !*s)
        return false;
    for (; *s; s++)
        if (*s == '\t' || *s == '\n' || *s == '%' || (!allow_eq && *s == '='))
            return false;
    return true;
}

/* /proc/sys/kernel/random/boot_id (random(4)): a UUID, new at every boot; "unknown" when unreadable
 * (then every journal counts as this boot's, as before the boot line existed) */
static const char *boot_id(void)
{
    static char id[40];
    if (id[0])
        return id;
    snprintf(id, sizeof id, "unknown");
    int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        char buf[64];
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n > 0) {
            buf[n] = '\0';
            buf[strcspn(buf, "\n")] = '\0';
            size_t l = strlen(buf);
            if (l > 0 && l < sizeof id)
                memcpy(id, buf, l + 1);
        }
    }
    return id;
}

/* One record: op TAB key=value [TAB key=value]..., appended with one write(2) (no fsync: above). A crash
 * in the middle leaves a last line without its newline: the replay ignores it (the resource it would
 * undo is created only after this returns). */
static int journal_record(int fd, const char *op, int n, const char *const keys[], const char *const vals[],
                          struct host_error *e)
{
    char path[PATH_MAX];
    size_t len = strlen(op) + 2;
    bool ok = plain_word(op, false);
    for (int i = 0; i < n; i++) {
        ok = ok && plain_word(keys[i], false) && vals[i];
        len += strlen(keys[i]) + 2 + (vals[i] ? escaped_len(vals[i]) : 0);
    }
    if (!ok)
        return host_fail(e, "journal", "write", "journal", EINVAL, "a record's op and keys must be words without TAB, newline, %% or =");
    char *line = malloc(len + 1), *w = line;
    if (!line)
        return host_fail(e, "journal", "malloc", "", ENOMEM, NULL);
    w += sprintf(w, "%s", op);
    for (int i = 0; i < n; i++) {
        w += sprintf(w, "\t%s=", keys[i]);
        w = escape_into(w, vals[i]);
    }
    *w++ = '\n';
    int rc = 0;
    if (write_all(fd, line, (size_t)(w - line)) < 0) {
        int err = errno;
        fd_path(fd, path, sizeof path);
        rc = host_fail(e, "journal", "write", path, err, NULL);
    }
    free(line);
    return rc;
}

int journal_add(int fd, const char *op, const char *key, const char *value, struct host_error *e)
{
    const char *keys[] = { key }, *vals[] = { value };
    return journal_record(fd, op, 1, keys, vals, e);
}

int journal_add_kv(int fd, const char *op, int n, const char *const keys[], const char *const vals[], struct host_error *e)
{
    return journal_record(fd, op, n, keys, vals, e);
}

int journal_add_kill_tree(int fd, pid_t pid, unsigned long long start, struct host_error *e)
{
    char p[24], t[24];
    snprintf(p, sizeof p, "%d", (int)pid);
    snprintf(t, sizeof t, "%llu", start);
    const char *keys[] = { "pid", "start" }, *vals[] = { p, t };
    return journal_record(fd, "kill-tree", 2, keys, vals, e);
}

int journal_forget(int fd, off_t at, struct host_error *e)
{
    char path[PATH_MAX];
    if (ftruncate(fd, at) == 0)
        return 0;
    int err = errno;
    fd_path(fd, path, sizeof path);
    return host_fail(e, "journal", "ftruncate", path, err, NULL);
}

int journal_open(int dirfd, int *fd, struct host_error *e)
{
    char path[PATH_MAX], dir[PATH_MAX];
    fd_path(dirfd, dir, sizeof dir);
    if (snprintf(path, sizeof path, "%s/journal", dir) >= (int)sizeof path)
        strcpy(path, "journal");
    *fd = openat(dirfd, "journal", O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (*fd < 0)
        return host_fail(e, "prepare journal", "open", path, errno, NULL);
    /* the boot it belongs to (a comment line: readers before it skip it); no fsync (above) */
    char line[64];
    int n = snprintf(line, sizeof line, "# boot %s\n", boot_id());
    if (write_all(*fd, line, (size_t)n) < 0) {
        int err = errno;
        close(*fd);
        *fd = -1;
        return host_fail(e, "prepare journal", "write", path, err, NULL);
    }
    return 0;
}

struct record {
    int line;
    char *op;
    int nkv;
    struct kv kv[4];
};

static const char *record_get(const struct record *r, const char *key)
{
    for (int i = 0; i < r->nkv; i++)
        if (strcmp(r->kv[i].key, key) == 0)
            return r->kv[i].val;
    return NULL;
}

/* Splits the journal's text (modified in place) into records. A last line without '\n' is a torn
 * append: ignored. Returns the number of records, or -1 with the bad line in *badline. */
static int parse_journal(char *text, size_t len, struct record **out, int *badline, bool *other_boot)
{
    /* "# boot ID" first: written in another boot when ID is not this one's (journal_open) */
    *other_boot = false;
    if (len > 7 && memcmp(text, "# boot ", 7) == 0) {
        const char *id = text + 7, *nl = memchr(id, '\n', len - 7);
        const char *now = boot_id();
        *other_boot = nl && strcmp(now, "unknown") != 0 && ((size_t)(nl - id) != strlen(now) || memcmp(id, now, strlen(now)) != 0);
    }
    int cap = 16, n = 0, lineno = 0;
    struct record *rs = malloc((size_t)cap * sizeof *rs);
    if (!rs)
        return *badline = 0, -1;
    for (char *p = text; p < text + len;) {
        char *nl = memchr(p, '\n', (size_t)(text + len - p));
        lineno++;
        if (!nl)
            break; /* torn */
        *nl = '\0';
        char *line = p;
        p = nl + 1;
        if (!*line || *line == '#')
            continue;
        if (n == cap) {
            struct record *bigger = realloc(rs, (size_t)cap * 2 * sizeof *rs);
            if (!bigger)
                goto bad;
            rs = bigger;
            cap *= 2;
        }
        struct record *r = &rs[n];
        *r = (struct record){ .line = lineno, .op = strsep(&line, "\t") };
        for (char *field; (field = strsep(&line, "\t")) != NULL;) {
            char *eq = strchr(field, '=');
            if (!eq || eq == field || r->nkv == 4)
                goto bad;
            *eq = '\0';
            if (!unescape(eq + 1))
                goto bad;
            r->kv[r->nkv++] = (struct kv){ field, eq + 1 };
        }
        n++;
    }
    *out = rs;
    return n;
bad:
    free(rs);
    *badline = lineno;
    return -1;
}

static bool parse_ull(const char *v, unsigned long long max, unsigned long long *out)
{
    if (!v || !*v || *v == '-' || *v == '+')
        return false;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (*end || errno || x > max)
        return false;
    *out = x;
    return true;
}

/* verbs.c's (undo op sandbox-down); weak, so that the unit tests link journal.c without verbs.c */
int lab_node_down(const char *path, const char *lab, struct host_error *e) __attribute__((weak));

/* One undo step. 0 when the resource is gone (also when it never existed). */
/* undo op netns-unmount (lab.c): the bind mount of a lab node's network namespace */
int lab_netns_unmount(const char *path, struct host_error *e)
{
    if (umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW) != 0 && errno != EINVAL && errno != ENOENT)
        return host_fail(e, "lab netns-unmount", "umount2", path, errno, "the node's network namespace stays mounted");
    if (unlink(path) != 0 && errno != ENOENT)
        return host_fail(e, "lab netns-unmount", "unlink", path, errno, NULL);
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = '\0';
        rmdir(dir); /* the last one removes netns/ (ENOTEMPTY before) */
    }
    return 0;
}

static int undo(const struct record *r, const char *journal, struct host_error *e)
{
    if (strcmp(r->op, "cgroup-remove") == 0) {
        const char *path = record_get(r, "path");
        if (path && *path == '/')
            return cgroup_remove(path, e);
    } else if (strcmp(r->op, "veth-delete") == 0) {
        const char *name = record_get(r, "name");
        if (name && *name)
            return veth_delete(name, e);
    } else if (strcmp(r->op, "netns-unmount") == 0) {
        const char *path = record_get(r, "path");
        if (path && *path == '/') {
            /* <rt>/netns/NODE of the lab whose journal this is: a dead lab finished by the next `up` of its
             * name was renamed to .NAME.stale-* first (host.c finish_dead), so the mount is below the
             * journal's own dir now, not at the recorded path */
            const char *slash = strrchr(path, '/'), *jslash = strrchr(journal, '/');
            char here[PATH_MAX];
            if (slash && jslash && slash - path >= 6 && strncmp(slash - 6, "/netns", 6) == 0
                && snprintf(here, sizeof here, "%.*s/netns%s", (int)(jslash - journal), journal, slash) < (int)sizeof here)
                return lab_netns_unmount(here, e);
            return lab_netns_unmount(path, e);
        }
    } else if (strcmp(r->op, "sandbox-down") == 0) {
        const char *path = record_get(r, "path"), *lab = record_get(r, "lab");
        if (path && *path == '/' && lab && *lab) {
            if (!lab_node_down) /* a unit test's build without verbs.c */
                return host_fail(e, "lab sandbox-down", "down", path, ENOSYS, "this build has no verbs.c");
            return lab_node_down(path, lab, e);
        }
    } else if (strcmp(r->op, "kill-tree") == 0) {
        unsigned long long pid, start;
        if (parse_ull(record_get(r, "pid"), INT_MAX, &pid) && pid > 0 && parse_ull(record_get(r, "start"), ULLONG_MAX, &start))
            return kill_tree((pid_t)pid, start, e);
    } else {
        return host_fail(e, "journal", "read", journal, EINVAL,
                         "line %d: unknown undo op '%s' (written by a newer sandbox-init?); the runtime dir is kept", r->line, r->op);
    }
    return host_fail(e, "journal", "read", journal, EINVAL, "line %d: %s without its keys; the runtime dir is kept", r->line, r->op);
}

static void report_line(FILE *report, const struct host_error *e)
{
    if (!report)
        return;
    char line[sizeof e->step + sizeof e->sys + sizeof e->path + sizeof e->err + sizeof e->hint + 16];
    host_error_line(e, line, sizeof line);
    fprintf(report, "sandbox: cleanup: %s\n", line);
    fflush(report);
}

/* Removes the entry `name` of dirfd (path: for messages) and, when it is a directory, everything in
 * it first. Never follows a symbolic link (O_NOFOLLOW, AT_SYMLINK_NOFOLLOW: a link is removed, not
 * its target) and never goes below a mount point: a directory on another mount than its parent (the
 * statx(2) mount id; st_dev for a kernel before 5.8) is reported and kept. Returns the number of
 * failures; each one is reported. */
static int remove_entry(int dirfd, const char *name, const char *path, unsigned long long parent_mnt, dev_t parent_dev,
                        FILE *report, struct host_error *first, int depth)
{
    struct host_error e;
    struct statx sx;
    if (statx(dirfd, name, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, STATX_TYPE | STATX_MNT_ID, &sx) < 0) {
        if (errno == ENOENT)
            return 0;
        host_fail(&e, "runtime-dir", "statx", path, errno, NULL);
        goto failed;
    }
    if (!S_ISDIR(sx.stx_mode)) {
        if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT) {
            host_fail(&e, "runtime-dir", "unlink", path, errno, NULL);
            goto failed;
        }
        return 0;
    }
    dev_t dev = makedev(sx.stx_dev_major, sx.stx_dev_minor);
    bool other_mount = (sx.stx_mask & STATX_MNT_ID) && parent_mnt ? sx.stx_mnt_id != parent_mnt : dev != parent_dev;
    if (other_mount) {
        host_fail(&e, "runtime-dir", "rmdir", path, EBUSY,
                  "something is still mounted there; not removing anything below it (unmount it: umount -R %s, then run sandbox gc)", path);
        goto failed;
    }
    if (depth > 64) {
        host_fail(&e, "runtime-dir", "rmdir", path, ELOOP, "directories nested deeper than 64");
        goto failed;
    }
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (errno == ENOENT) {
            if (fd >= 0)
                close(fd);
            return 0;
        }
        host_fail(&e, "runtime-dir", "open", path, errno, NULL);
        if (fd >= 0)
            close(fd);
        goto failed;
    }
    int failures = 0;
    unsigned long long mnt = (sx.stx_mask & STATX_MNT_ID) ? sx.stx_mnt_id : 0;
    for (struct dirent *ent; (ent = readdir(d)) != NULL;) {
        if (strcmp(ent->d_name, ".") == 0 || strcmp(ent->d_name, "..") == 0)
            continue;
        char sub[PATH_MAX];
        snprintf(sub, sizeof sub, "%s/%s", path, ent->d_name);
        failures += remove_entry(fd, ent->d_name, sub, mnt, dev, report, first, depth + 1);
    }
    closedir(d);
    if (failures)
        return failures;
    if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT) {
        host_fail(&e, "runtime-dir", "rmdir", path, errno, NULL);
        goto failed;
    }
    return 0;
failed:
    report_line(report, &e);
    if (first && !first->step[0])
        *first = e;
    return 1;
}

/* Removes the runtime dir `rtdir` itself: renamed away first (to .NAME.stale-PID-N next to it, as the
 * Java controller did), so a new `up` of the name can take the name at once and never finds a half
 * removed dir; then everything in it. */
static int remove_runtime_dir(const char *rtdir, FILE *report, struct host_error *first)
{
    char base[PATH_MAX], away[PATH_MAX + NAME_MAX + 2];
    const char *slash = strrchr(rtdir, '/');
    const char *name = slash ? slash + 1 : rtdir;
    size_t blen = slash ? (size_t)(slash - rtdir) : 0;
    if (blen >= sizeof base || !*name) {
        struct host_error e;
        host_fail(&e, "runtime-dir", "rename", rtdir, ENAMETOOLONG, NULL);
        report_line(report, &e);
        if (!first->step[0])
            *first = e;
        return 1;
    }
    memcpy(base, rtdir, blen);
    base[blen] = '\0';
    if (slash == rtdir)
        strcpy(base, "/");
    else if (!slash)
        strcpy(base, ".");
    int bfd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (bfd < 0) {
        struct host_error e;
        host_fail(&e, "runtime-dir", "open", base, errno, NULL);
        report_line(report, &e);
        if (!first->step[0])
            *first = e;
        return 1;
    }
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    char stale[NAME_MAX + 1];
    int n = snprintf(stale, sizeof stale, ".%s.stale-%d-%lld%09ld", name, (int)getpid(), (long long)ts.tv_sec, ts.tv_nsec);
    const char *victim = name;
    if (n < (int)sizeof stale && renameat(bfd, name, bfd, stale) == 0)
        victim = stale; /* else remove it in place */
    snprintf(away, sizeof away, "%s/%s", base, victim);
    struct statx sx;
    unsigned long long mnt = 0;
    dev_t dev = 0;
    if (statx(bfd, "", AT_EMPTY_PATH, STATX_MNT_ID, &sx) == 0) {
        mnt = (sx.stx_mask & STATX_MNT_ID) ? sx.stx_mnt_id : 0;
        dev = makedev(sx.stx_dev_major, sx.stx_dev_minor);
    }
    int failures = remove_entry(bfd, victim, away, mnt, dev, report, first, 0);
    close(bfd);
    return failures;
}

/* The reverse replay of journal_teardown; with `empty`, the journal is emptied once every record
 * was undone (a finished detached sandbox keeps its dir, but nothing of it may be undone twice: a
 * veth or cgroup name may belong to another sandbox by then). */
static int replay(const char *rtdir, FILE *report, struct host_error *e, bool empty, bool *gone);

int journal_undo(const char *rtdir, FILE *report, struct host_error *e)
{
    bool gone = false;
    return replay(rtdir, report, e, true, &gone);
}

int journal_teardown(const char *rtdir, FILE *report, struct host_error *e)
{
    struct host_error first = { 0 };
    bool gone = false;
    if (replay(rtdir, report, &first, false, &gone) < 0) {
        *e = first;
        return -1;
    }
    if (gone)
        return 0;
    crash_point("teardown-done");
    if (remove_runtime_dir(rtdir, report, &first) == 0)
        return 0;
    *e = first;
    return -1;
}

static int replay(const char *rtdir, FILE *report, struct host_error *e, bool empty, bool *gone)
{
    struct host_error first = { 0 }, one;
    char journal[PATH_MAX];
    snprintf(journal, sizeof journal, "%s/journal", rtdir);
    int dfd = open(rtdir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0) {
        if (errno == ENOENT)
            return *gone = true, 0;
        host_fail(e, "runtime-dir", "open", rtdir, errno, NULL);
        report_line(report, e);
        return -1;
    }
    size_t len = 0;
    char *text = read_file_at(dfd, "journal", JOURNAL_MAX, &len);
    if (!text && errno != ENOENT) {
        close(dfd);
        host_fail(e, "journal", "read", journal, errno, NULL);
        report_line(report, e);
        return -1;
    }
    int failures = 0;
    bool had_journal = text != NULL;
    if (text) {
        struct record *rs = NULL;
        int bad = 0;
        bool other_boot = false;
        int n = parse_journal(text, len, &rs, &bad, &other_boot);
        if (n < 0) {
            free(text);
            close(dfd);
            host_fail(e, "journal", "read", journal, EINVAL, "line %d is not <undo-op> TAB key=value...; the runtime dir is kept", bad);
            report_line(report, e);
            return -1;
        }
        /* reverse: what was created last goes first (a veth before the cgroup its process is in) */
        for (int i = n - 1; i >= 0; i--) {
            /* written before a reboot: the cgroups, links and processes it names died with that boot,
             * and a name or pid of then may be someone else's now; a mount point file is still removed */
            if (other_boot && strcmp(rs[i].op, "netns-unmount") != 0)
                continue;
            if (undo(&rs[i], journal, &one) < 0) {
                failures++;
                report_line(report, &one);
                if (!first.step[0])
                    first = one;
            }
            if (i == n - 1)
                crash_point("teardown-step");
        }
        free(rs);
        free(text);
    }
    if (failures == 0 && empty && had_journal) {
        /* every record is undone: an empty journal (the replay of an empty one is nothing) */
        int jfd = openat(dfd, "journal", O_WRONLY | O_TRUNC | O_NOFOLLOW | O_CLOEXEC);
        if (jfd < 0) {
            failures++;
            host_fail(&one, "journal", "truncate", journal, errno, NULL);
            report_line(report, &one);
            if (!first.step[0])
                first = one;
        }
        if (jfd >= 0)
            close(jfd);
    }
    close(dfd);
    if (failures == 0)
        return 0;
    *e = first;
    return -1;
}

/* ------------------------------------------------------------------------------------------ */
/* state.json                                                                                  */

/* A JSON string (RFC 8259): '"' and '\' escaped, control characters as \n \t... or \u00XX; a byte
 * that is not valid UTF-8 (a path is bytes) becomes U+FFFD, as Java's decoder would read it. */
static void json_string(FILE *f, const char *s)
{
    if (!s) {
        fputs("null", f);
        return;
    }
    fputc('"', f);
    while (*s) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            fprintf(f, "\\%c", c);
            s++;
        } else if (c < 0x20) {
            const char *short_form = c == '\n' ? "\\n" : c == '\t' ? "\\t" : c == '\r' ? "\\r" : c == '\b' ? "\\b" : c == '\f' ? "\\f" : NULL;
            if (short_form)
                fputs(short_form, f);
            else
                fprintf(f, "\\u%04x", c);
            s++;
        } else {
            size_t n = utf8_len(s);
            if (n == 0) {
                fputs("\\ufffd", f);
                s++;
            } else {
                fwrite(s, 1, n, f);
                s += n;
            }
        }
    }
    fputc('"', f);
}

static void json_opt_string(FILE *f, const char *s)
{
    json_string(f, s && *s ? s : NULL);
}

static void json_process(FILE *f, const char *key, pid_t pid, unsigned long long start, bool comma)
{
    if (pid > 0)
        fprintf(f, "  \"%s\": {\"pid\": %d, \"startTime\": %llu}%s\n", key, (int)pid, start, comma ? "," : "");
    else
        fprintf(f, "  \"%s\": null%s\n", key, comma ? "," : "");
}

static void json_ms(FILE *f, const char *key, long long ms)
{
    if (ms > 0)
        fprintf(f, "  \"%s\": %lld,\n", key, ms);
    else
        fprintf(f, "  \"%s\": null,\n", key);
}

/* The namespaces of the target, kept for later rewrites (status changes after the target is gone):
 * the monitor is the only writer of its state.json. */
static const char *const ns_types[] = { "cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts" };
#define NS_TYPES (sizeof ns_types / sizeof ns_types[0])
static unsigned long long ns_inodes[NS_TYPES];

/* /proc/<pid>/ns/<type> reads "<type>:[<inode>]" (namespaces(7)). A type the kernel lacks, or a link
 * we may not read (a non-dumpable process of a user namespace we don't own: ptrace access mode
 * checking, proc(5)), is left out. */
static void read_namespaces(pid_t pid)
{
    for (size_t i = 0; i < NS_TYPES; i++) {
        char link[64], target[128];
        snprintf(link, sizeof link, "/proc/%d/ns/%s", (int)pid, ns_types[i]);
        ssize_t n = readlink(link, target, sizeof target - 1);
        ns_inodes[i] = 0;
        if (n <= 0)
            continue;
        target[n] = '\0';
        char *open = strchr(target, '[');
        if (open)
            ns_inodes[i] = strtoull(open + 1, NULL, 10);
    }
}

int state_write(int dirfd, const struct sandbox_state *st, pid_t ns_pid, struct host_error *e)
{
    char dir[PATH_MAX], path[PATH_MAX + 32];
    fd_path(dirfd, dir, sizeof dir);
    if (ns_pid > 0)
        read_namespaces(ns_pid);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return host_fail(e, "state", "open_memstream", "", errno, NULL);
    fputs("{\n  \"version\": 1,\n  \"name\": ", f);
    json_string(f, st->name ? st->name : "");
    fputs(",\n  \"status\": ", f);
    json_string(f, st->status ? st->status : "");
    fputs(",\n  \"spec\": ", f);
    json_opt_string(f, st->spec);
    fputs(",\n  \"specSha256\": ", f);
    json_opt_string(f, st->spec_sha256);
    /* what up knew of the spec's git origin; `sandbox inspect` resolves it to a commit (docs/git.md) */
    if (st->git_repo && *st->git_repo && st->git_path && *st->git_path && st->git_blob && *st->git_blob) {
        fputs(",\n  \"git\": {\"repository\": ", f);
        json_string(f, st->git_repo);
        fputs(", \"path\": ", f);
        json_string(f, st->git_path);
        fputs(", \"blob\": ", f);
        json_string(f, st->git_blob);
        fputs(", \"commit\": ", f);
        json_opt_string(f, st->git_commit);
        fputs("}", f);
    } else {
        fputs(",\n  \"git\": null", f);
    }
    fputs(",\n  \"planSha256\": ", f);
    json_opt_string(f, st->plan_sha256);
    fputs(",\n", f);
    json_process(f, "monitor", st->monitor_pid, st->monitor_start, true);
    json_process(f, "helper", st->helper_pid, st->helper_start, true);
    json_process(f, "target", st->target_pid, st->target_start, true);
    fputs("  \"cgroup\": ", f);
    json_opt_string(f, st->cgroup);
    fputs(",\n", f);
    json_ms(f, "createdMs", st->created_ms);
    json_ms(f, "startedMs", st->started_ms);
    json_ms(f, "finishedMs", st->finished_ms);
    if (st->exit_status >= 0)
        fprintf(f, "  \"exitStatus\": %d,\n", st->exit_status);
    else
        fputs("  \"exitStatus\": null,\n", f);
    fprintf(f, "  \"detached\": %s,\n  \"lab\": ", st->detached ? "true" : "false");
    json_opt_string(f, st->lab); /* a lab node's lab, the lab's own name in its record (docs/labs.md) */
    fputs(",\n  \"namespaces\": {", f);
    bool any = false;
    for (size_t i = 0; i < NS_TYPES; i++) {
        if (!ns_inodes[i])
            continue;
        fprintf(f, "%s\n    \"%s\": %llu", any ? "," : "", ns_types[i], ns_inodes[i]);
        any = true;
    }
    fputs(any ? "\n  }\n}\n" : "}\n}\n", f);
    if (fclose(f) != 0) {
        free(text);
        return host_fail(e, "state", "write", "", ENOMEM, NULL);
    }

    /* atomic: a reader sees the old file or the new one, never a part (rename(2)) */
    snprintf(path, sizeof path, "%s/.state.json.tmp", dir);
    int fd = openat(dirfd, ".state.json.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    int rc = 0;
    if (fd < 0) {
        rc = host_fail(e, "state", "open", path, errno, NULL);
    } else if (write_all(fd, text, len) < 0) { /* no fsync: the journal's reason, at the top */
        rc = host_fail(e, "state", "write", path, errno, NULL);
    }
    if (fd >= 0 && close(fd) < 0 && rc == 0)
        rc = host_fail(e, "state", "close", path, errno, NULL);
    free(text);
    /* Why an exchange and an unlink rather than a rename over the old file: ext4 (auto_da_alloc, ext4(5))
     * starts writeback of a file renamed over another one - disk I/O on every state change, which no
     * reader needs. The exchange is just as atomic for readers; the old file is then unlinked, never
     * rewritten. renameat2(2) RENAME_EXCHANGE: Linux 3.15+; the first write (no state.json yet), a file
     * system without it: rename. */
    if (rc == 0) {
        if (syscall(SYS_renameat2, dirfd, ".state.json.tmp", dirfd, "state.json", RENAME_EXCHANGE) == 0) {
            unlinkat(dirfd, ".state.json.tmp", 0);
        } else if (renameat(dirfd, ".state.json.tmp", dirfd, "state.json") < 0) {
            snprintf(path, sizeof path, "%s/state.json", dir);
            rc = host_fail(e, "state", "rename", path, errno, NULL);
        }
    }
    if (rc < 0) {
        unlinkat(dirfd, ".state.json.tmp", 0);
        return rc;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* The runtime base dir and gc                                                                 */

/* As RuntimePaths.base (Java) computes it, so gc looks where up put its dirs: $SANDBOX_RUNTIME_DIR
 * (any caller), else /run/sandbox for root, else $XDG_RUNTIME_DIR/sandbox when that is a directory
 * we may write, else /tmp/sandbox-<uid>. */
int runtime_base(char *out, size_t len)
{
    const char *override = getenv("SANDBOX_RUNTIME_DIR"), *xdg = getenv("XDG_RUNTIME_DIR");
    struct stat st;
    int n;
    if (override && *override)
        n = snprintf(out, len, "%s", override);
    else if (getuid() == 0)
        n = snprintf(out, len, "/run/sandbox");
    else if (xdg && *xdg && stat(xdg, &st) == 0 && S_ISDIR(st.st_mode) && access(xdg, W_OK) == 0)
        n = snprintf(out, len, "%s/sandbox", xdg);
    else
        n = snprintf(out, len, "/tmp/sandbox-%u", (unsigned)getuid());
    if (n < 0 || (size_t)n >= len) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Is the lock file `lock` below dirfd held by a live process? flock(2) locks of the monitor, and
 * fcntl(2) record locks of the Java controller of older versions (the two kinds don't see each other).
 * Returns the fd of the lock, now held by us, or -1: held (errno EAGAIN), missing (ENOENT), other. */
static int take_lock(int dirfd)
{
    int fd = openat(dirfd, "lock", O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -1;
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int err = errno == EWOULDBLOCK ? EAGAIN : errno;
        close(fd);
        errno = err;
        return -1;
    }
    struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
    if (fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK) {
        close(fd);
        errno = EAGAIN;
        return -1;
    }
    return fd;
}

/* The reprinted report of one sandbox's teardown: "sandbox: cleanup: X" becomes "sandbox: gc NAME: X". */
static void print_gc_failures(const char *name, char *lines)
{
    for (char *line; (line = strsep(&lines, "\n")) != NULL;) {
        if (!*line)
            continue;
        const char *prefix = "sandbox: cleanup: ";
        if (strncmp(line, prefix, strlen(prefix)) == 0)
            line += strlen(prefix);
        fprintf(stderr, "sandbox: gc %s: %s\n", name, line);
    }
}

/* One entry of the base dir that looks like a sandbox: finished when its lock can be taken. 0 when it
 * was removed or is running, 1 when something is left. */
static int gc_sandbox(int bfd, const char *base, const char *name)
{
    char rtdir[PATH_MAX];
    if (snprintf(rtdir, sizeof rtdir, "%s/%s", base, name) >= (int)sizeof rtdir)
        return 0;
    int dfd = openat(bfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0)
        return 0; /* gone meanwhile, or not a dir */
    struct stat dst, now;
    int lfd = fstat(dfd, &dst) == 0 && dst.st_uid == geteuid() ? take_lock(dfd) : (errno = EPERM, -1);
    if (lfd < 0 && errno != ENOENT) {
        int err = errno;
        close(dfd);
        if (err == EAGAIN || err == EPERM)
            return 0; /* running (or starting), or not ours: leave it */
        fprintf(stderr, "sandbox: gc %s: open %s/lock: %s\n", name, rtdir, errno_name(err));
        return 1;
    }
    /* Why compare: the name may have been replaced between our open and the lock (a dead dir finished
     * and a new sandbox of the name started); then it is not the dir we locked. */
    if (fstatat(bfd, name, &now, AT_SYMLINK_NOFOLLOW) < 0 || now.st_ino != dst.st_ino || now.st_dev != dst.st_dev) {
        if (lfd >= 0)
            close(lfd);
        close(dfd);
        return 0;
    }
    close(dfd);
    char *report_text = NULL;
    size_t report_len = 0;
    FILE *report = open_memstream(&report_text, &report_len);
    struct host_error e = { 0 };
    int rc = journal_teardown(rtdir, report ? report : stderr, &e);
    if (report)
        fclose(report);
    if (lfd >= 0)
        close(lfd);
    if (rc == 0) {
        printf("removed %s\n", name);
        fflush(stdout);
    } else if (report_text) {
        print_gc_failures(name, report_text);
    }
    free(report_text);
    return rc == 0 ? 0 : 1;
}

/* A leftover of a start or a teardown that never finished: .NAME.new-* (a runtime dir born with its
 * lock, not yet renamed into place), .NAME.stale-* (renamed away, being removed), .plan-* (a plan
 * handed from the launcher to the runtime). Removed when old enough and not locked. */
static int gc_leftover(int bfd, const char *base, const char *name)
{
    struct stat st;
    if (fstatat(bfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || st.st_uid != geteuid())
        return 0;
    bool old = time(NULL) - st.st_mtime > GC_AGE_S;
    bool plan = strncmp(name, ".plan-", 6) == 0;
    bool fresh = !plan && strstr(name + 1, ".new-") != NULL, stale = !plan && strstr(name + 1, ".stale-") != NULL;
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", base, name) >= (int)sizeof path)
        return 0;
    if (plan) {
        if (!S_ISREG(st.st_mode) || !old)
            return 0;
        if (unlinkat(bfd, name, 0) < 0 && errno != ENOENT) {
            fprintf(stderr, "sandbox: gc %s: unlink %s: %s\n", name, path, errno_name(errno));
            return 1;
        }
        return 0;
    }
    if (!S_ISDIR(st.st_mode) || (!fresh && !stale) || (fresh && !old))
        return 0;
    int dfd = openat(bfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0)
        return 0;
    int lfd = take_lock(dfd);
    int held = lfd < 0 && errno == EAGAIN;
    close(dfd);
    if (held)
        return 0;
    struct host_error first = { 0 };
    char *report_text = NULL;
    size_t report_len = 0;
    FILE *report = open_memstream(&report_text, &report_len);
    struct statx sx;
    unsigned long long mnt = 0;
    dev_t dev = 0;
    if (statx(bfd, "", AT_EMPTY_PATH, STATX_MNT_ID, &sx) == 0) {
        mnt = (sx.stx_mask & STATX_MNT_ID) ? sx.stx_mnt_id : 0;
        dev = makedev(sx.stx_dev_major, sx.stx_dev_minor);
    }
    int failures = remove_entry(bfd, name, path, mnt, dev, report, &first, 0);
    if (report)
        fclose(report);
    if (lfd >= 0)
        close(lfd);
    if (failures && report_text)
        print_gc_failures(name, report_text);
    free(report_text);
    return failures ? 1 : 0;
}

int gc_main(const char *base_arg)
{
    char base[PATH_MAX];
    if (base_arg) {
        if (snprintf(base, sizeof base, "%s", base_arg) >= (int)sizeof base) {
            fprintf(stderr, "sandbox: gc: %s: ENAMETOOLONG\n", base_arg);
            return 1;
        }
    } else if (runtime_base(base, sizeof base) < 0) {
        fprintf(stderr, "sandbox: gc: the runtime dir's path is too long (SANDBOX_RUNTIME_DIR, XDG_RUNTIME_DIR)\n");
        return 1;
    }
    int bfd = open(base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (bfd < 0) {
        if (errno == ENOENT)
            return 0; /* no sandbox ever ran here: nothing to do */
        fprintf(stderr, "sandbox: gc: open %s: %s%s\n", base, errno_name(errno),
                errno == ELOOP || errno == ENOTDIR ? " (it is a symbolic link or not a directory; refusing to act on it)" : "");
        return 1;
    }
    /* RuntimePaths.ensureTrusted's rules: a journal in a dir someone else could write could name any
     * cgroup or process of ours */
    struct stat st;
    if (fstat(bfd, &st) < 0 || st.st_uid != geteuid() || (st.st_mode & 022)) {
        fprintf(stderr, "sandbox: gc: %s is owned by uid %u with mode %04o; refusing to act on the journals of a directory "
                "that is not yours alone (it must be owned by uid %u and not writable by group or others)\n",
                base, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777), (unsigned)geteuid());
        close(bfd);
        return 1;
    }
    int dfd = dup(bfd);
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (!d) {
        fprintf(stderr, "sandbox: gc: opendir %s: %s\n", base, errno_name(errno));
        if (dfd >= 0)
            close(dfd);
        close(bfd);
        return 1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    for (struct dirent *ent; (ent = readdir(d)) != NULL;) {
        if (strcmp(ent->d_name, ".") == 0 || strcmp(ent->d_name, "..") == 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            char **bigger = realloc(names, cap * sizeof *names);
            if (!bigger)
                break;
            names = bigger;
        }
        if ((names[n] = strdup(ent->d_name)) != NULL)
            n++;
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof *names, cmp_names);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        rc |= names[i][0] == '.' ? gc_leftover(bfd, base, names[i]) : gc_sandbox(bfd, base, names[i]);
        free(names[i]);
    }
    free(names);
    close(bfd);
    return rc;
}
