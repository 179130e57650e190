/*
 * host.c: the monitor's host steps of stages prepare and identity (host.h): the runtime dir and its
 * lock, the checks of paths and shared mounts, cgroup create/place, setgroups and the id maps of H
 * (directly, or through newuidmap/newgidmap). Nothing here prints: each step fills a host_error that
 * monitor.c prints as one line. The messages are those the Java controller printed (HostActions,
 * RuntimePaths, Controller.prepareRuntimeDir), so the tests and users see the same lines.
 */
#include "runtime.h"

#include <dirent.h>
#include <pwd.h>
#include <sys/file.h>

/* ------------------------------------------------------------------------------------------ */
/* Errors                                                                                     */

int host_fail(struct host_error *e, const char *step, const char *sys, const char *path, int err, const char *hint_fmt, ...)
{
    snprintf(e->step, sizeof e->step, "%s", step ? step : "");
    snprintf(e->sys, sizeof e->sys, "%s", sys ? sys : "");
    snprintf(e->path, sizeof e->path, "%s", path ? path : "");
    snprintf(e->err, sizeof e->err, "%s", err ? errno_name(err) : "");
    e->hint[0] = '\0';
    if (hint_fmt) {
        va_list ap;
        va_start(ap, hint_fmt);
        vsnprintf(e->hint, sizeof e->hint, hint_fmt, ap);
        va_end(ap);
    }
    return -1;
}

void host_error_line(const struct host_error *e, char *out, size_t len)
{
    char call[sizeof e->sys + sizeof e->path + 2];
    snprintf(call, sizeof call, "%s%s%s", e->sys, e->sys[0] && e->path[0] ? " " : "", e->path);
    if (!call[0] && !e->err[0]) {
        snprintf(out, len, "%s: %s", e->step, e->hint[0] ? e->hint : "failed");
        return;
    }
    snprintf(out, len, "%s: %s%s%s%s%s%s", e->step, call, e->err[0] && call[0] ? ": " : "", e->err, e->hint[0] ? " (" : "",
             e->hint, e->hint[0] ? ")" : "");
}

void host_step_label(const struct step *s, char *out, size_t len)
{
    snprintf(out, len, "%s %s", stage_names[s->stage], s->op->name);
}

/* ------------------------------------------------------------------------------------------ */
/* The runtime dir                                                                            */

static const char *user_name(uid_t uid, char *buf, size_t len)
{
    struct passwd *pw = getpwuid(uid);
    snprintf(buf, len, "%s", pw ? pw->pw_name : "?");
    if (!pw)
        snprintf(buf, len, "%u", (unsigned)uid);
    return buf;
}

static int mkdir_parents(const char *path, mode_t mode)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, mode) < 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return 0;
}

/* RuntimePaths.ensureTrusted: the base is created 0711 when missing (one mkdir: nobody can slip in
 * between) and must be a directory (not a symlink) of our euid that neither group nor others can
 * write (tmux's rule for its socket dir): else another user could plant a plan. */
static int ensure_trusted(const char *base, struct host_error *e)
{
    const char *step = "prepare runtime-dir";
    if (mkdir_parents(base, 0755) < 0 || (mkdir(base, 0711) < 0 && errno != EEXIST))
        return host_fail(e, step, "mkdir", base, errno,
                         "the runtime dir holds the sandbox's plan and control socket; set SANDBOX_RUNTIME_DIR or XDG_RUNTIME_DIR to a "
                         "directory you own");
    struct stat st;
    if (lstat(base, &st) < 0)
        return host_fail(e, step, "lstat", base, errno, NULL);
    uid_t me = geteuid();
    int mode = (int)(st.st_mode & 07777);
    char problem[256] = "", owner[64];
    user_name(st.st_uid, owner, sizeof owner);
    if (S_ISLNK(st.st_mode))
        snprintf(problem, sizeof problem, "is a symbolic link");
    else if (!S_ISDIR(st.st_mode))
        snprintf(problem, sizeof problem, "is not a directory");
    else if (st.st_uid != me)
        snprintf(problem, sizeof problem, "is owned by %s (uid %u), not by you (uid %u)", owner, (unsigned)st.st_uid, (unsigned)me);
    else if (mode & 0022)
        snprintf(problem, sizeof problem, "can be written by %s", (mode & 0020) ? "its group" : "others");
    if (!problem[0])
        return 0;
    char chmod_hint[PATH_MAX + 32] = "";
    if (st.st_uid == me)
        snprintf(chmod_hint, sizeof chmod_hint, " or chmod go-w %s,", base);
    return host_fail(e, step, NULL, NULL, 0,
                     "%s %s (owner %s, mode %04o); refusing to keep a sandbox's plan and control socket where another user could "
                     "change them. Fix: remove it (as its owner, or root: rm -rf %s) so sandbox creates it,%s or point "
                     "SANDBOX_RUNTIME_DIR (XDG_RUNTIME_DIR) to a directory only you can write",
                     base, problem, owner, mode, base, chmod_hint);
}

/* rm -rf of a dir we made (no symlinks followed: unlinkat removes a link, not its target). */
static void remove_tree_at(int parent, const char *name)
{
    int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) {
        DIR *d = fdopendir(fd);
        if (d) {
            struct dirent *de;
            while ((de = readdir(d)) != NULL) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                    continue;
                if (unlinkat(dirfd(d), de->d_name, 0) < 0 && (errno == EISDIR || errno == EPERM))
                    remove_tree_at(dirfd(d), de->d_name);
            }
            closedir(d);
        } else {
            close(fd);
        }
    }
    unlinkat(parent, name, AT_REMOVEDIR);
}

void remove_tree(const char *path)
{
    remove_tree_at(AT_FDCWD, path);
}

/* An fcntl (POSIX) lock on the lock file: the Java controller of earlier versions held the lock that
 * way (FileChannel.lock), and flock and fcntl locks don't see each other (flock(2)). Such a dir is
 * alive. */
bool fcntl_locked(int fd)
{
    struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
    return fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK;
}

/* A dir whose lock can be taken is dead: it is moved away while we hold its lock (no second starter
 * can take it for dead too), then finished from its journal. Returns 0 (look again), or -1: running. */
static int finish_dead(const char *base, const char *name, const char *dir, struct host_error *e)
{
    char lock[PATH_MAX + 8], away[PATH_MAX + 64];
    snprintf(lock, sizeof lock, "%s/lock", dir);
    int fd = open(lock, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    struct stat a, b;
    if (fd < 0) {
        if (errno != ENOENT)
            return host_fail(e, "prepare runtime-dir", "open", lock, errno, NULL);
        /* no lock file: being created or removed right now by someone who holds nothing we could
         * take, or left by an older version; take it for dead only when it is still there */
    } else if (fcntl_locked(fd) || flock(fd, LOCK_EX | LOCK_NB) < 0) {
        close(fd);
        return host_fail(e, "prepare runtime-dir", "lock", lock, EAGAIN,
                         "a sandbox named '%s' is running or starting; stop it or choose another name", name);
    } else if (fstat(fd, &a) < 0 || stat(lock, &b) < 0 || a.st_ino != b.st_ino || a.st_dev != b.st_dev) {
        close(fd); /* replaced meanwhile: look again */
        return 0;
    }
    snprintf(away, sizeof away, "%s/.%s.stale-%d-%lld", base, name, (int)getpid(), (long long)time(NULL));
    if (rename(dir, away) < 0) {
        if (fd >= 0)
            close(fd);
        return errno == ENOENT ? 0 : host_fail(e, "prepare runtime-dir", "rename", dir, errno, NULL);
    }
    struct host_error ignored;
    if (journal_teardown(away, stderr, &ignored) < 0)
        remove_tree(away);
    if (fd >= 0)
        close(fd);
    return 0;
}

int runtime_dir_create(const char *base, const char *name, int *dirfd_out, int *lockfd_out, struct host_error *e)
{
    char dir[PATH_MAX], fresh[PATH_MAX], lock[PATH_MAX + 8];
    if (ensure_trusted(base, e) < 0)
        return -1;
    if (snprintf(dir, sizeof dir, "%s/%s", base, name) >= (int)sizeof dir)
        return host_fail(e, "prepare runtime-dir", "mkdir", base, ENAMETOOLONG, NULL);
    for (int attempt = 0;; attempt++) {
        snprintf(fresh, sizeof fresh, "%s/.%s.new-XXXXXX", base, name);
        if (!mkdtemp(fresh)) /* 0700 */
            return host_fail(e, "prepare runtime-dir", "mkdir", fresh, errno, NULL);
        snprintf(lock, sizeof lock, "%s/lock", fresh);
        int lfd = open(lock, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
        /* a file nobody else knows yet: never contended; the kernel drops the lock when we die */
        if (lfd < 0 || flock(lfd, LOCK_EX) < 0) {
            int err = errno;
            if (lfd >= 0)
                close(lfd);
            remove_tree(fresh);
            return host_fail(e, "prepare runtime-dir", "lock", lock, err, NULL);
        }
        if (rename(fresh, dir) == 0) {
            int dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
            if (dfd < 0 || mkdirat(dfd, "root", 0700) < 0) {
                int err = errno;
                if (dfd >= 0)
                    close(dfd);
                close(lfd);
                remove_tree(dir);
                return host_fail(e, "prepare runtime-dir", dfd < 0 ? "open" : "mkdir", dir, err, NULL);
            }
            *dirfd_out = dfd;
            *lockfd_out = lfd;
            return 0;
        }
        int err = errno;
        close(lfd);
        remove_tree(fresh);
        /* rename(2) refuses a non-empty target (ENOTEMPTY/EEXIST): an existing dir is someone's, or dead */
        struct stat st;
        if ((err != ENOTEMPTY && err != EEXIST) || lstat(dir, &st) < 0 || attempt == 3)
            return host_fail(e, "prepare runtime-dir", "rename", dir, err, NULL);
        if (finish_dead(base, name, dir, e) < 0)
            return -1;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* prepare: checks and cgroups                                                                */

int host_check_path(const struct step *s, struct host_error *e)
{
    char label[128];
    host_step_label(s, label, sizeof label);
    const char *path = get(s, "path"), *kind = get(s, "kind");
    kind = kind ? kind : "exists";
    bool ns = strncmp(kind, "namespace:", 10) == 0;
    struct stat st;
    if (stat(path, &st) < 0)
        return host_fail(e, label, "stat", path, ENOENT, "%s",
                         ns ? "the process or namespace file to join does not exist (is it still running?)"
                            : "the source does not exist on the host; create it or fix the path in the spec");
    if (ns && strncmp(path, "/proc", 5) == 0 && (path[5] == '/' || !path[5])) {
        char link[256];
        ssize_t n = readlink(path, link, sizeof link - 1);
        if (n < 0)
            return host_fail(e, label, "readlink", path, errno, NULL);
        link[n] = '\0';
        const char *type = kind + 10;
        if (strncmp(link, type, strlen(type)) != 0 || link[strlen(type)] != ':')
            return host_fail(e, label, "readlink", path, EINVAL, "it is %s, not a %s namespace", link, type);
    }
    return 0;
}

/* mountinfo escapes space, tab, newline and backslash as \ooo (proc(5)) */
static void unescape_octal(char *s)
{
    char *w = s;
    for (char *r = s; *r;) {
        if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' && r[3] >= '0' && r[3] <= '7') {
            *w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
            r += 4;
        } else {
            *w++ = *r++;
        }
    }
    *w = '\0';
}

static bool path_under(const char *path, const char *mp)
{
    size_t n = strlen(mp);
    if (strcmp(mp, "/") == 0)
        return true;
    return strncmp(path, mp, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

static int components(const char *p)
{
    int n = 0;
    for (; *p; p++)
        n += *p == '/' && p[1] && p[1] != '/';
    return n;
}

int host_check_shared_mount(const struct step *s, struct host_error *e)
{
    char label[128], real[PATH_MAX];
    host_step_label(s, label, sizeof label);
    const char *path = get(s, "path");
    if (!realpath(path, real))
        return host_fail(e, label, "realpath", path, errno, "the bind source must exist");
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f)
        return host_fail(e, label, "open", "/proc/self/mountinfo", errno, NULL);
    char *line = NULL, best[PATH_MAX] = "";
    size_t cap = 0;
    bool found = false, shared = false;
    int best_depth = -1;
    /* the mount that contains the path: the deepest mount point above it, the last one of equal depth
     * (mounted on top); its optional fields say "shared:N" when it is in a peer group */
    while (getline(&line, &cap, f) > 0) {
        char *save = NULL, *field[6];
        int n = 0;
        for (char *t = strtok_r(line, " \n", &save); t; t = n < 6 ? strtok_r(NULL, " \n", &save) : NULL)
            field[n++] = t;
        if (n < 6)
            continue;
        char *mp = field[4];
        unescape_octal(mp);
        int depth = components(mp);
        if (!path_under(real, mp) || depth < best_depth)
            continue;
        best_depth = depth;
        found = true;
        snprintf(best, sizeof best, "%s", mp);
        shared = false;
        /* fields: id, parent, major:minor, root, mount point, options, optional fields..., "-" (proc(5)) */
        for (char *t = strtok_r(NULL, " \n", &save); t; t = strtok_r(NULL, " \n", &save)) {
            if (strcmp(t, "-") == 0)
                break;
            if (strncmp(t, "shared:", 7) == 0)
                shared = true;
        }
    }
    free(line);
    fclose(f);
    if (found && shared)
        return 0;
    const char *where = found ? best : "?";
    return host_fail(e, label, "check propagation of", real, EINVAL,
                     "shared propagation needs a source on a shared mount, but %s is not shared; make it shared on the host with "
                     "'mount --make-shared %s' (or bind it onto itself first), or use rslave", where, where);
}

static bool cgroup_has_procs(const char *dir)
{
    char file[PATH_MAX + 16], buf[64];
    snprintf(file, sizeof file, "%s/cgroup.procs", dir);
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    return n > 0;
}

int host_cgroup_create(const struct step *s, struct host_error *e)
{
    char label[128];
    host_step_label(s, label, sizeof label);
    const char *dir = get(s, "path");
    int rc = -1;
    /* another sandbox's teardown removes the shared `sandbox` parent when it is empty: when that
     * happens between the two mkdirs (ENOENT), make it again */
    for (int attempt = 0; attempt < 10 && rc < 0; attempt++) {
        rc = mkdir_parents(dir, 0755) < 0 ? -1 : mkdir(dir, 0755);
        if (rc < 0 && errno != ENOENT)
            break;
    }
    if (rc < 0) {
        if (errno != EEXIST)
            return host_fail(e, label, "mkdir", dir, errno, "creating a cgroup needs root or a delegated cgroup");
        if (cgroup_has_procs(dir))
            return host_fail(e, label, "mkdir", dir, EEXIST, "a sandbox of this name is running in that cgroup; stop it or choose another name");
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* identity: H's cgroup, setgroups and id maps                                                */

static int write_file(const char *label, const char *file, const char *content, const char *hint, struct host_error *e)
{
    int fd = open(file, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return host_fail(e, label, "write", file, errno, "%s", hint);
    size_t len = strlen(content);
    ssize_t n = write(fd, content, len);
    int err = errno;
    close(fd);
    if (n != (ssize_t)len)
        return host_fail(e, label, "write", file, n < 0 ? err : EIO, "%s", hint);
    return 0;
}

int host_cgroup_place(const struct step *s, pid_t pid, struct host_error *e)
{
    char label[128], file[PATH_MAX], content[32];
    host_step_label(s, label, sizeof label);
    snprintf(file, sizeof file, "%s/cgroup.procs", get(s, "path"));
    snprintf(content, sizeof content, "%d\n", (int)pid);
    return write_file(label, file, content, "the helper must still be alive and the cgroup writable", e);
}

int host_write_setgroups(const struct step *s, pid_t pid, struct host_error *e)
{
    char label[128], file[64], content[32];
    host_step_label(s, label, sizeof label);
    snprintf(file, sizeof file, "/proc/%d/setgroups", (int)pid);
    const char *v = get(s, "value");
    snprintf(content, sizeof content, "%s\n", v ? v : "deny");
    return write_file(label, file, content, "needs Linux 3.19+; 'deny' must be written before gid_map", e);
}

/* newuidmap/newgidmap PID [INSIDE OUTSIDE COUNT]...: setuid helpers that check the ranges against
 * /etc/subuid and /etc/subgid (newuidmap(1)); run with a 10 s limit, their output kept for the error. */
static int run_idmap_tool(const char *label, const char *tool, const char *kind, const char *map, pid_t pid, struct host_error *e)
{
    static const char *const dirs[] = { "/usr/bin", "/bin", "/usr/sbin", "/sbin", "/usr/local/bin" };
    char bin[64] = "";
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0] && !bin[0]; i++) {
        snprintf(bin, sizeof bin, "%s/%s", dirs[i], tool);
        if (access(bin, X_OK) != 0)
            bin[0] = '\0';
    }
    if (!bin[0])
        return host_fail(e, label, "exec", tool, ENOENT,
                         "multi-range maps for an unprivileged caller need %s from the 'uidmap' package (apt-get install uidmap)", tool);
    char buf[4096], pidtxt[16];
    snprintf(buf, sizeof buf, "%s", map);
    snprintf(pidtxt, sizeof pidtxt, "%d", (int)pid);
    char *argv[3 + 3 * 340] = { bin, pidtxt };
    int argc = 2;
    char *save = NULL;
    for (char *t = strtok_r(buf, ", \t", &save); t && argc < (int)(sizeof argv / sizeof argv[0]) - 1; t = strtok_r(NULL, ", \t", &save))
        argv[argc++] = t;
    argv[argc] = NULL;
    int out[2];
    if (pipe2(out, O_CLOEXEC) < 0)
        return host_fail(e, label, "pipe2", NULL, errno, NULL);
    pid_t child = fork();
    if (child < 0) {
        int err = errno;
        close(out[0]);
        close(out[1]);
        return host_fail(e, label, "fork", tool, err, NULL);
    }
    if (child == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL); /* the mask survives execve: give the tool a clean one */
        signal(SIGPIPE, SIG_DFL);
        dup2(out[1], 1);
        dup2(out[1], 2);
        extern char **environ;
        execve(bin, argv, environ);
        _exit(127);
    }
    close(out[1]);
    char text[1024];
    size_t len = 0;
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &t);
        long left = 10000 - ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
        struct pollfd p = { out[0], POLLIN, 0 };
        if (left <= 0) {
            kill(child, SIGKILL);
            break;
        }
        int r = poll(&p, 1, (int)left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            continue;
        ssize_t n = read(out[0], text + len, sizeof text - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
        if (len == sizeof text - 1)
            len = sizeof text - 2; /* keep reading (the tool must not block on a full pipe), keep the start */
    }
    close(out[0]);
    text[len] = '\0';
    while (len > 0 && isspace((unsigned char)text[len - 1]))
        text[--len] = '\0';
    int status;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    char who[64];
    host_fail(e, label, tool, pidtxt, 0, "%s; the ranges must be granted to you in /etc/sub%s (usermod --add-sub%ss START-END %s)",
              text, kind, kind, user_name(getuid(), who, sizeof who));
    snprintf(e->err, sizeof e->err, "exit %d", status_code(status));
    return -1;
}

int host_write_id_map(const struct step *s, pid_t pid, struct host_error *e)
{
    char label[128], file[64], content[4096], hint[256];
    host_step_label(s, label, sizeof label);
    const char *kind = get(s, "kind"), *map = get(s, "map"), *via = get(s, "via");
    if (strcmp(kind, "uid") != 0 && strcmp(kind, "gid") != 0)
        return host_fail(e, label, NULL, NULL, 0, "kind=%s is not uid or gid", kind);
    if (via && strcmp(via, "direct") != 0) {
        char tool[16];
        snprintf(tool, sizeof tool, "new%smap", kind);
        return run_idmap_tool(label, tool, kind, map, pid, e);
    }
    snprintf(file, sizeof file, "/proc/%d/%s_map", (int)pid, kind);
    size_t n = 0;
    for (const char *p = map; *p && n < sizeof content - 2; p++)
        content[n++] = *p == ',' ? '\n' : *p;
    content[n++] = '\n';
    content[n] = '\0';
    snprintf(hint, sizeof hint, "an unprivileged caller may only map its own %s directly; more needs new%smap and /etc/sub%s", kind, kind, kind);
    return write_file(label, file, content, hint, e);
}
