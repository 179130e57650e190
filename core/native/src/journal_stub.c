/*
 * journal_stub.c: TEMPORARY stand-in for journal.c (helper "journal" writes the real one against
 * host.h; the lead swaps it in and deletes this file). Simple but working: the undo journal,
 * teardown, cgroup_remove, state.json, proc_start_time, gc_main, crash_point.
 */
#include "runtime.h"

#include <dirent.h>
#include <sys/file.h>

void crash_point(const char *name)
{
    const char *at = getenv("SANDBOX_CRASH_AT");
    if (at && strcmp(at, name) == 0)
        raise(SIGKILL);
}

/* RuntimePaths.base: $SANDBOX_RUNTIME_DIR, else /run/sandbox for root, else $XDG_RUNTIME_DIR/sandbox
 * (when that is a writable dir), else /tmp/sandbox-<uid>. */
int runtime_base(char *out, size_t len)
{
    const char *override = getenv("SANDBOX_RUNTIME_DIR"), *xdg = getenv("XDG_RUNTIME_DIR");
    struct stat st;
    int n;
    if (override && *override)
        n = snprintf(out, len, "%s", override);
    else if (geteuid() == 0)
        n = snprintf(out, len, "/run/sandbox");
    else if (xdg && *xdg && stat(xdg, &st) == 0 && S_ISDIR(st.st_mode) && access(xdg, W_OK) == 0)
        n = snprintf(out, len, "%s/sandbox", xdg);
    else
        n = snprintf(out, len, "/tmp/sandbox-%u", (unsigned)geteuid());
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

int journal_add_kill_tree(int fd, pid_t pid, unsigned long long start, struct host_error *e)
{
    char key[32], val[32];
    snprintf(key, sizeof key, "pid=%d\tstart", (int)pid); /* the key is written as it is */
    snprintf(val, sizeof val, "%llu", start);
    return journal_add(fd, "kill-tree", key, val, e);
}

static void put_escaped(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '%')
            fputs("%25", f);
        else if (*s == '\t')
            fputs("%09", f);
        else if (*s == '\n')
            fputs("%0A", f);
        else
            fputc(*s, f);
    }
}

int journal_open(int dirfd, int *fd, struct host_error *e)
{
    *fd = openat(dirfd, "journal", O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
    if (*fd < 0)
        return host_fail(e, "prepare journal", "open", "journal", errno, NULL);
    return 0;
}

int journal_add(int fd, const char *op, const char *key, const char *value, struct host_error *e)
{
    char buf[8192];
    FILE *f = fmemopen(buf, sizeof buf, "w");
    if (!f)
        return host_fail(e, "journal", "fmemopen", NULL, errno, NULL);
    fprintf(f, "%s\t%s=", op, key);
    put_escaped(f, value);
    fputc('\n', f);
    long len = ftell(f);
    fclose(f);
    if (write(fd, buf, (size_t)len) != len || fsync(fd) < 0)
        return host_fail(e, "journal", "write", "journal", errno ? errno : EIO, NULL);
    return 0;
}

unsigned long long proc_start_time(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p)
        return 0;
    p += 2; /* field 3 */
    for (int field = 3; field < 22 && p; field++) {
        p = strchr(p, ' ');
        if (p)
            p++;
    }
    return p ? strtoull(p, NULL, 10) : 0;
}

static pid_t parent_of(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    return p && p[1] && p[2] ? (pid_t)strtol(p + 4, NULL, 10) : -1;
}

/* Kills every descendant of `root` (not root itself), repeatedly until none is left. */
static void kill_tree(pid_t root)
{
    for (int round = 0; round < 100; round++) {
        bool any = false;
        DIR *d = opendir("/proc");
        if (!d)
            return;
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            pid_t pid = (pid_t)atoi(de->d_name);
            if (pid <= 0 || pid == root)
                continue;
            for (pid_t p = parent_of(pid), hops = 0; p > 1 && hops < 64; p = parent_of(p), hops++) {
                if (p == root) {
                    kill(pid, SIGKILL);
                    any = true;
                    break;
                }
            }
        }
        closedir(d);
        while (root == getpid() && waitpid(-1, NULL, WNOHANG) > 0) {
        }
        if (!any)
            return;
        usleep(5000);
    }
}

static bool has_procs(const char *dir)
{
    char file[PATH_MAX + 16], buf[16];
    snprintf(file, sizeof file, "%s/cgroup.procs", dir);
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    return n > 0;
}

static void kill_procs(const char *dir)
{
    char file[PATH_MAX + 16];
    snprintf(file, sizeof file, "%s/cgroup.kill", dir);
    int fd = open(file, O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        bool ok = write(fd, "1", 1) == 1;
        close(fd);
        if (ok)
            return;
    }
    snprintf(file, sizeof file, "%s/cgroup.procs", dir);
    FILE *f = fopen(file, "re");
    if (!f)
        return;
    int pid;
    while (fscanf(f, "%d", &pid) == 1)
        kill(pid, SIGKILL);
    fclose(f);
}

/* depth first: the target may have made child cgroups */
static int cgroup_rmdir(const char *dir, struct host_error *e)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (de->d_type != DT_DIR || strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            char sub[PATH_MAX];
            snprintf(sub, sizeof sub, "%s/%s", dir, de->d_name);
            if (cgroup_rmdir(sub, e) < 0) {
                closedir(d);
                return -1;
            }
        }
        closedir(d);
    }
    for (int i = 0; i < 500; i++) {
        if (has_procs(dir))
            kill_procs(dir);
        if (rmdir(dir) == 0 || errno == ENOENT)
            return 0;
        if (errno != EBUSY)
            return host_fail(e, "supervise cgroup-remove", "rmdir", dir, errno, NULL);
        usleep(10000);
    }
    return host_fail(e, "supervise cgroup-remove", "rmdir", dir, EBUSY, "processes did not die");
}

int cgroup_remove(const char *path, struct host_error *e)
{
    struct stat st;
    if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
        return 0;
    if (cgroup_rmdir(path, e) < 0)
        return -1;
    char parent[PATH_MAX];
    snprintf(parent, sizeof parent, "%s", path);
    char *slash = strrchr(parent, '/');
    if (slash && strcmp(slash + 1, "") != 0) {
        *slash = '\0';
        const char *last = strrchr(parent, '/');
        if (last && strcmp(last + 1, "sandbox") == 0)
            rmdir(parent); /* another sandbox may still use it: EBUSY/ENOTEMPTY leave it */
    }
    return 0;
}

static void decode_value(char *s)
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

static const char *field(char *line, const char *key)
{
    size_t n = strlen(key);
    for (char *save = NULL, *t = strtok_r(line, "\t", &save); t; t = strtok_r(NULL, "\t", &save))
        if (strncmp(t, key, n) == 0 && t[n] == '=')
            return t + n + 1;
    return NULL;
}

int journal_teardown(const char *rtdir, FILE *report, struct host_error *e)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/journal", rtdir);
    FILE *f = fopen(path, "re");
    char **lines = NULL;
    size_t n = 0;
    if (f) {
        char *line = NULL;
        size_t cap = 0;
        ssize_t len;
        while ((len = getline(&line, &cap, f)) > 0) {
            if (line[len - 1] == '\n')
                line[len - 1] = '\0';
            char **more = realloc(lines, (n + 1) * sizeof *lines);
            if (!more)
                break;
            lines = more;
            lines[n++] = strdup(line);
        }
        free(line);
        fclose(f);
    }
    int rc = 0;
    bool first = true;
    for (size_t i = n; i-- > 0;) {
        char *l = lines[i], copy[8192];
        if (!l)
            continue;
        snprintf(copy, sizeof copy, "%s", l);
        char *tab = strchr(l, '\t');
        if (tab)
            *tab = '\0';
        struct host_error err;
        int r = 0;
        if (strcmp(l, "cgroup-remove") == 0) {
            char *v = (char *)field(copy, "path");
            if (v) {
                decode_value(v);
                r = cgroup_remove(v, &err);
            }
        } else if (strcmp(l, "veth-delete") == 0) {
            char *v = (char *)field(copy, "name");
            if (v) {
                decode_value(v);
                r = veth_delete(v, &err);
            }
        } else if (strcmp(l, "kill-tree") == 0) {
            char c2[8192];
            snprintf(c2, sizeof c2, "%s", copy);
            const char *p = field(copy, "pid"), *st = field(c2, "start");
            pid_t pid = p ? (pid_t)atoi(p) : 0;
            if (pid > 0 && st && proc_start_time(pid) == strtoull(st, NULL, 10))
                kill_tree(pid);
        }
        if (r < 0) {
            char msg[8192];
            host_error_line(&err, msg, sizeof msg);
            if (report)
                fprintf(report, "sandbox: cleanup: %s\n", msg);
            if (rc == 0)
                *e = err;
            rc = -1;
        }
        free(lines[i]);
        if (first)
            crash_point("teardown-step");
        first = false;
    }
    free(lines);
    crash_point("teardown-done");
    remove_tree(rtdir);
    return rc;
}

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

int state_write(int dirfd, const struct sandbox_state *st, pid_t ns_pid, struct host_error *e)
{
    int fd = openat(dirfd, "state.json.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return host_fail(e, "state", "open", "state.json.tmp", errno, NULL);
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        return host_fail(e, "state", "fdopen", "state.json.tmp", errno, NULL);
    }
    fprintf(f, "{\n  \"version\": 1,\n  \"name\": ");
    json_str(f, st->name);
    fprintf(f, ",\n  \"status\": ");
    json_str(f, st->status);
    fprintf(f, ",\n  \"spec\": ");
    json_str(f, st->spec);
    fprintf(f, ",\n  \"specSha256\": ");
    json_str(f, st->spec_sha256);
    fprintf(f, ",\n  \"monitor\": {\"pid\": %d, \"start\": %llu},\n", (int)st->monitor_pid, st->monitor_start);
    fprintf(f, "  \"helper\": {\"pid\": %d, \"start\": %llu},\n", (int)st->helper_pid, st->helper_start);
    fprintf(f, "  \"target\": {\"pid\": %d, \"start\": %llu},\n  \"cgroup\": ", (int)st->target_pid, st->target_start);
    json_str(f, st->cgroup);
    fprintf(f, ",\n  \"created\": %lld,\n  \"started\": %lld,\n  \"finished\": %lld,\n  \"exitStatus\": %d,\n  \"detached\": %s",
            st->created_ms, st->started_ms, st->finished_ms, st->exit_status, st->detached ? "true" : "false");
    if (ns_pid > 0) {
        static const char *const types[] = { "cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts" };
        fprintf(f, ",\n  \"namespaces\": {");
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
            char p[64];
            struct stat s;
            snprintf(p, sizeof p, "/proc/%d/ns/%s", (int)ns_pid, types[i]);
            fprintf(f, "%s\"%s\": %llu", i ? ", " : "", types[i], stat(p, &s) == 0 ? (unsigned long long)s.st_ino : 0ULL);
        }
        fprintf(f, "}");
    }
    fprintf(f, "\n}\n");
    if (fclose(f) != 0)
        return host_fail(e, "state", "write", "state.json.tmp", errno, NULL);
    if (renameat(dirfd, "state.json.tmp", dirfd, "state.json") < 0)
        return host_fail(e, "state", "rename", "state.json", errno, NULL);
    return 0;
}

int gc_main(const char *base)
{
    DIR *d = opendir(base);
    if (!d)
        return 0;
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char dir[PATH_MAX], lock[PATH_MAX + 8];
        snprintf(dir, sizeof dir, "%s/%s", base, de->d_name);
        snprintf(lock, sizeof lock, "%s/lock", dir);
        int fd = open(lock, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0 || fcntl_locked(fd) || flock(fd, LOCK_EX | LOCK_NB) < 0) {
            if (fd >= 0)
                close(fd);
            continue;
        }
        struct host_error e;
        if (journal_teardown(dir, stderr, &e) == 0) {
            printf("removed %s\n", de->d_name);
        } else {
            char msg[8192];
            host_error_line(&e, msg, sizeof msg);
            fprintf(stderr, "sandbox: gc %s: %s\n", de->d_name, msg);
            rc = 1;
        }
        close(fd);
    }
    closedir(d);
    return rc;
}
