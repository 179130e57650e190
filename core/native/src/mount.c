/*
 * mount.c: stage mounts (C). Every path below the new root is resolved by the kernel inside it
 * (openat2 RESOLVE_IN_ROOT) and mounted through file descriptors (the new mount API); binds, new file
 * systems, propagation, mount attributes, mkdir/symlink/write-file, masks and pivot_root.
 */
#include "runtime.h"

static const struct name_val ms_flags[] = {
    { "MS_RDONLY", MS_RDONLY }, { "MS_NOSUID", MS_NOSUID }, { "MS_NODEV", MS_NODEV }, { "MS_NOEXEC", MS_NOEXEC },
    { "MS_SYNCHRONOUS", MS_SYNCHRONOUS }, { "MS_REMOUNT", MS_REMOUNT }, { "MS_DIRSYNC", MS_DIRSYNC },
    { "MS_NOSYMFOLLOW", 256 }, { "MS_NOATIME", MS_NOATIME }, { "MS_NODIRATIME", MS_NODIRATIME },
    { "MS_BIND", MS_BIND }, { "MS_MOVE", MS_MOVE }, { "MS_REC", MS_REC }, { "MS_SILENT", MS_SILENT },
    { "MS_UNBINDABLE", MS_UNBINDABLE }, { "MS_PRIVATE", MS_PRIVATE }, { "MS_SLAVE", MS_SLAVE },
    { "MS_SHARED", MS_SHARED }, { "MS_RELATIME", MS_RELATIME }, { "MS_STRICTATIME", MS_STRICTATIME },
    { "MS_LAZYTIME", MS_LAZYTIME }, { NULL, 0 } };
static const struct name_val prop_modes[] = {
    { "shared", MS_SHARED }, { "slave", MS_SLAVE }, { "private", MS_PRIVATE }, { "unbindable", MS_UNBINDABLE },
    { "rshared", MS_SHARED | MS_REC }, { "rslave", MS_SLAVE | MS_REC }, { "rprivate", MS_PRIVATE | MS_REC },
    { "runbindable", MS_UNBINDABLE | MS_REC }, { NULL, 0 } };
static const struct name_val mount_attrs[] = {
    { "rdonly", MOUNT_ATTR_RDONLY }, { "nosuid", MOUNT_ATTR_NOSUID }, { "nodev", MOUNT_ATTR_NODEV },
    { "noexec", MOUNT_ATTR_NOEXEC }, { NULL, 0 } };
enum { CREATE_NONE, CREATE_DIR, CREATE_FILE };
static const struct name_val create_kinds[] = {
    { "none", CREATE_NONE }, { "dir", CREATE_DIR }, { "file", CREATE_FILE }, { NULL, 0 } };

/* ------------------------------------------------------------------------------------------ */
/* Paths: resolved by the kernel, inside the new root until pivot_root                        */

/* Why the kernel resolves them: until pivot_root, paths below the new root would be resolved from
 * the host's root, so a symlink in a bind-mounted root (rootfs/conf -> /real/conf, or ../..) would
 * point a mkdir, a file or a mount at the host's own tree (runc CVE-2019-19921, CVE-2021-30465). A
 * string check (realpath) can't help: a rename between the check and the use wins the race. So every
 * path below the new root is opened with openat2(root, rel, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS):
 * an absolute link resolves inside the root as it will after pivot_root, `..` stops at the root, and
 * what we get is a file descriptor. Mounts go onto that fd (move_mount(MOVE_MOUNT_T_EMPTY_PATH)),
 * directories are made with mkdirat() in the fd of the resolved parent, so a path swapped after the
 * resolution can no longer redirect them. */

#define RESOLVE_RETRIES 64

/* Below the new root (strictly), before pivot_root: *rel is the path relative to it. */
static bool below_newroot(const char *path, const char **rel)
{
    if (!g.newroot || g.pivoted || !path)
        return false;
    size_t n = strlen(g.newroot);
    while (n > 1 && g.newroot[n - 1] == '/')
        n--;
    if (strncmp(path, g.newroot, n) != 0 || path[n] != '/')
        return false;
    const char *r = path + n;
    while (*r == '/')
        r++;
    if (!*r)
        return false; /* the new root itself: a host path the controller made */
    *rel = r;
    return true;
}

/* How a path is shown in an error: below the new root as the sandbox will see it (/conf/stack). */
static const char *shown(const char *path, char buf[PATH_MAX])
{
    const char *rel;
    if (!below_newroot(path, &rel))
        return path;
    snprintf(buf, PATH_MAX, "/%s", rel);
    return buf;
}

/* openat2 with a bounded retry: it returns EAGAIN when a rename anywhere raced a RESOLVE_IN_ROOT walk. */
static int openat2_retry(int dfd, const char *path, int flags, mode_t mode, uint64_t resolve)
{
    struct open_how how = { .flags = (uint64_t)(flags | O_CLOEXEC), .mode = (flags & O_CREAT) ? mode : 0,
                            .resolve = resolve };
    for (int i = 0; i < RESOLVE_RETRIES; i++) {
        int fd = sys_openat2(dfd, path, &how);
        if (fd >= 0 || errno != EAGAIN)
            return fd;
    }
    errno = EAGAIN;
    return -1;
}

/* Opens `path`; below the new root (before pivot_root) resolved inside it. Host paths, and every
 * path after pivot_root, resolve normally but never through a magic link (/proc/PID/fd/N). */
static int resolve(const char *path, int flags, mode_t mode)
{
    const char *rel;
    if (!below_newroot(path, &rel))
        return openat2_retry(AT_FDCWD, path, flags, mode, RESOLVE_NO_MAGICLINKS);
    int root = open(g.newroot, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root < 0)
        return -1;
    int fd = openat2_retry(root, rel, flags, mode, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
    int err = errno;
    close(root);
    errno = err;
    return fd;
}

/* After an ENOENT: the first component of `path` that doesn't resolve, when it is a symlink (dangling
 * in the root). Writes a hint naming the link and where it points; false when there is none. */
static bool dangling_link(const char *path, char *hint, size_t size)
{
    char prefix[PATH_MAX], shownbuf[PATH_MAX];
    if (strlen(path) >= sizeof prefix)
        return false;
    const char *rel;
    size_t start = below_newroot(path, &rel) ? (size_t)(rel - path) : 1;
    for (size_t i = start; ; i++) {
        if (path[i] != '/' && path[i] != '\0')
            continue;
        memcpy(prefix, path, i);
        prefix[i] = '\0';
        int fd = i > 0 ? resolve(prefix, O_PATH, 0) : -1;
        if (fd >= 0) {
            close(fd);
        } else if (errno == ENOENT) {
            char parent[PATH_MAX], link[PATH_MAX];
            char *slash = strrchr(prefix, '/');
            if (!slash)
                return false;
            snprintf(parent, sizeof parent, "%.*s", slash == prefix ? 1 : (int)(slash - prefix), prefix);
            int pfd = resolve(parent, O_PATH | O_DIRECTORY, 0);
            ssize_t n = pfd >= 0 ? readlinkat(pfd, slash + 1, link, sizeof link - 1) : -1;
            if (pfd >= 0)
                close(pfd);
            if (n < 0)
                return false;
            link[n] = '\0';
            (void)!snprintf(hint, size, "%s is a symlink to %s, which does not exist%s", shown(prefix, shownbuf), link,
                            below_newroot(prefix, &rel) ? " in the sandbox's root (links resolve inside the root, "
                                                          "as they will after pivot_root)" : "");
            return true;
        }
        if (!path[i])
            return false;
    }
}

/* Fails the step for a path that could not be resolved or created. */
static _Noreturn void path_error(const char *sys, const char *detail, const char *path, int err)
{
    char buf[PATH_MAX], hint[2 * PATH_MAX + 200];
    const char *h = NULL;
    if (err == EAGAIN) {
        snprintf(hint, sizeof hint, "a rename inside the root raced the path's resolution %d times in a row: "
                 "something is changing the root while the sandbox starts", RESOLVE_RETRIES);
        h = hint;
    } else if ((err == ENOENT || err == EEXIST) && dangling_link(path, hint, sizeof hint)) {
        h = hint;
    }
    die(125, sys, detail, shown(path, buf), err, h);
}

/* The mount point of the mount holding `fd`, as the sandbox will see it, for the EROFS hint. */
static bool mount_point_of(int fd, char *out, size_t size)
{
    struct statx stx;
    if (statx(fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &stx) < 0 || !(stx.stx_mask & STATX_MNT_ID))
        return false;
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f)
        return false;
    char line[4096], mp[PATH_MAX];
    bool found = false;
    while (!found && fgets(line, sizeof line, f)) {
        unsigned long long id;
        if (sscanf(line, "%llu %*u %*s %*s %4095s", &id, mp) == 2 && id == stx.stx_mnt_id)
            found = true;
    }
    fclose(f);
    if (found) {
        char buf[PATH_MAX];
        const char *rel;
        snprintf(out, size, "%s", below_newroot(mp, &rel) ? shown(mp, buf) : mp);
    }
    return found;
}

/* mkdirat() one component in `parent`; EEXIST is fine (resolve() decides what it is). */
static void mkdir_in(int parent, const char *name, mode_t mode, const char *path)
{
    if (mkdirat(parent, name, mode) == 0 || errno == EEXIST)
        return;
    int err = errno;
    if (err == EROFS) {
        char buf[PATH_MAX], mp[PATH_MAX], hint[2 * PATH_MAX + 200];
        bool known = mount_point_of(parent, mp, sizeof mp);
        (void)!snprintf(hint, sizeof hint, "the mount point is under %s%s, mounted read-only earlier in the plan: "
                        "create the directory in its source, or mount there before it is made read-only",
                        known ? "the read-only mount at " : "a read-only mount", known ? mp : "");
        die(125, "mkdir", NULL, shown(path, buf), err, hint);
    }
    path_error("mkdir", NULL, path, err);
}

/* mkdir -p: every missing component is made with mkdirat() in the resolved fd of its parent (parents
 * 0755, the last one `mode`). Returns an O_PATH fd of the directory. */
static int mkdir_p(const char *path, mode_t mode)
{
    char prefix[PATH_MAX];
    size_t len = strlen(path);
    if (len == 0 || len >= PATH_MAX || path[0] != '/')
        path_error("mkdir", NULL, path, len ? (path[0] != '/' ? EINVAL : ENAMETOOLONG) : ENOENT);
    const char *rel;
    /* the first existing base: the new root (below it) or / */
    size_t i = below_newroot(path, &rel) ? (size_t)(rel - path) - 1 : 0;
    snprintf(prefix, sizeof prefix, "%.*s", i ? (int)i : 1, path);
    int parent = resolve(prefix, O_PATH | O_DIRECTORY, 0);
    if (parent < 0)
        path_error("openat2", NULL, prefix, errno);
    for (i++; i <= len; i++) {
        if (path[i] != '/' && path[i] != '\0')
            continue;
        if (path[i - 1] == '/') /* an empty component: a doubled or trailing slash */
            continue;
        memcpy(prefix, path, i);
        prefix[i] = '\0';
        bool last = path[i] == '\0' || path[i + strspn(path + i, "/")] == '\0';
        int fd = resolve(prefix, O_PATH | O_DIRECTORY, 0);
        if (fd < 0 && errno == ENOENT) {
            mkdir_in(parent, strrchr(prefix, '/') + 1, last ? mode : 0755, prefix);
            fd = resolve(prefix, O_PATH | O_DIRECTORY, 0);
        }
        if (fd < 0)
            path_error(errno == ENOENT ? "mkdir" : "openat2", NULL, prefix, errno);
        close(parent);
        parent = fd;
    }
    return parent;
}

/* The directory part and the last component of an absolute path. */
static void split_path(const char *path, char dir[PATH_MAX], const char **base)
{
    const char *slash = strrchr(path, '/');
    if (!slash || !slash[1] || strlen(path) >= PATH_MAX)
        path_error("openat2", NULL, path, EINVAL);
    snprintf(dir, PATH_MAX, "%.*s", slash == path ? 1 : (int)(slash - path), path);
    *base = slash + 1;
}

/* The mount point as an O_PATH fd, created first (per the `create` key) when missing. */
static int mount_point(const struct step *s, const char *target)
{
    unsigned long kind = one_name(s, "create", create_kinds, CREATE_NONE);
    int fd = resolve(target, O_PATH, 0);
    if (fd >= 0)
        return fd;
    if (errno != ENOENT || kind == CREATE_NONE)
        path_error("openat2", "target", target, errno);
    if (kind == CREATE_DIR)
        return mkdir_p(target, 0755);
    char dir[PATH_MAX];
    const char *base;
    split_path(target, dir, &base);
    int parent = mkdir_p(dir, 0755);
    fd = openat(parent, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0644);
    if (fd < 0)
        path_error("open", NULL, target, errno); /* EEXIST: a dangling symlink, named by path_error */
    close(fd);
    close(parent);
    fd = resolve(target, O_PATH, 0);
    if (fd < 0)
        path_error("openat2", "target", target, errno);
    return fd;
}

/* ------------------------------------------------------------------------------------------ */
/* Stage mounts (C)                                                                           */

void op_propagation(const struct step *s)
{
    /* Why the plan starts with `propagation / rslave`: C's mount namespace is a copy whose mounts are
     * still peers of the host's; until / is a slave, every mount below would appear on the host. */
    const char *target = get(s, "target");
    unsigned long mode = one_name(s, "mode", prop_modes, 0);
    int fd = resolve(target, O_PATH, 0);
    if (fd < 0)
        path_error("openat2", "target", target, errno);
    /* mount_setattr on the resolved fd: the same change as mount(NULL, target, NULL, MS_<MODE>) */
    struct mount_attr attr = { .propagation = mode & ~(unsigned long)MS_REC };
    if (sys_mount_setattr(fd, "", AT_EMPTY_PATH | ((mode & MS_REC) ? AT_RECURSIVE : 0), &attr) < 0) {
        char buf[PATH_MAX];
        die(125, "mount_setattr", "propagation", shown(target, buf), errno, NULL);
    }
    close(fd);
}

void op_clone_tree(const struct step *s)
{
    const char *id = get(s, "id"), *source = get(s, "source");
    bool rec = number(s, "recursive", 10, 0, 1, 0);
    for (int i = 0; i < g.ntrees; i++)
        if (strcmp(g.trees[i].id, id) == 0)
            bad_value("a tree with id=%s was already cloned", id);
    if (g.ntrees == MAX_TREES)
        bad_value("more than %d clone-tree steps", MAX_TREES);
    /* The copy stays in the source's peer group when the source is shared: clone it before the
     * propagation step that makes / a slave if it must keep shared propagation to the host. */
    int fd = sys_open_tree(AT_FDCWD, source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (rec ? AT_RECURSIVE : 0));
    check(fd, "open_tree", NULL, source);
    g.trees[g.ntrees].id = id;
    g.trees[g.ntrees++].fd = fd;
}

/* Attaches a detached mount (open_tree or fsmount) onto the resolved mount point. */
static void attach(int tree, int target_fd, const char *sys, const char *detail, const char *target)
{
    if (sys_move_mount(tree, "", target_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0) {
        char buf[PATH_MAX];
        die(125, sys, detail, shown(target, buf), errno, NULL);
    }
}

void op_attach_tree(const struct step *s)
{
    const char *id = get(s, "id"), *target = get(s, "target");
    int i = 0;
    while (i < g.ntrees && strcmp(g.trees[i].id, id) != 0)
        i++;
    if (i == g.ntrees || g.trees[i].fd < 0)
        bad_value("no unattached clone-tree step with id=%s before this step", id);
    int t = mount_point(s, target);
    attach(g.trees[i].fd, t, "move_mount", NULL, target);
    close(t);
    close(g.trees[i].fd);
    g.trees[i].fd = -1;
}

void op_mkdir(const struct step *s)
{
    mode_t mode = (mode_t)number(s, "mode", 8, 0, 07777, 0755);
    close(mkdir_p(get(s, "path"), mode));
}

/* MS_* flags that are per-mount attributes (the rest of mount(2)'s flags are superblock flags). */
static unsigned mount_attrs_of(unsigned long flags)
{
    unsigned a = 0;
    a |= (flags & MS_RDONLY) ? MOUNT_ATTR_RDONLY : 0;
    a |= (flags & MS_NOSUID) ? MOUNT_ATTR_NOSUID : 0;
    a |= (flags & MS_NODEV) ? MOUNT_ATTR_NODEV : 0;
    a |= (flags & MS_NOEXEC) ? MOUNT_ATTR_NOEXEC : 0;
    a |= (flags & MS_NODIRATIME) ? MOUNT_ATTR_NODIRATIME : 0;
    a |= (flags & 256 /* MS_NOSYMFOLLOW */) ? MOUNT_ATTR_NOSYMFOLLOW : 0;
    a |= (flags & MS_NOATIME) ? MOUNT_ATTR_NOATIME : (flags & MS_STRICTATIME) ? MOUNT_ATTR_STRICTATIME : 0;
    return a;
}

/* After a failed fsconfig/fsmount: the file system's own message from the fs context ("e overlay:
 * ..."), which says much more than the errno. */
static const char *fs_log(int fsfd, char *buf, size_t size)
{
    char msg[512];
    ssize_t n;
    buf[0] = '\0';
    while ((n = read(fsfd, msg, sizeof msg - 1)) > 0) {
        msg[n] = '\0';
        if (n > 2 && msg[1] == ' ' && (msg[0] == 'e' || msg[0] == 'w'))
            snprintf(buf + strlen(buf), size - strlen(buf), "%s%s", buf[0] ? "; " : "", msg + 2);
    }
    return buf[0] ? buf : NULL;
}

/* In a user namespace other than the host's? (Its uid_map is not the identity map of all ids.) */
static bool in_user_namespace(void)
{
    char buf[128] = "";
    int fd = open("/proc/self/uid_map", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    if (fd >= 0)
        close(fd);
    unsigned long inside, outside, count;
    return n > 0 && !(sscanf(buf, "%lu %lu %lu", &inside, &outside, &count) == 3 && inside == 0 && outside == 0 &&
                      count == 4294967295UL);
}

/* A mountinfo path in place: \040 (space), \011, \012, \134 back to bytes. */
static void unescape_octal(char *s)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' && r[3] >= '0' && r[3] <= '7') {
            *w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
            r += 3;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
}

/* The first mount strictly below one of the overlay's lower dirs (from `data`'s lowerdir=), as a hint.
 * Why it matters: in a user namespace overlayfs clones each lower dir as a private mount, and the
 * kernel refuses (EINVAL; only its log says "failed to clone lowerpath") a tree with mounts that came
 * from the host's mount namespace: they are locked to their parent, since a clone without them would
 * show what they cover. */
static bool overlay_submount(const char *data, char *hint, size_t size)
{
    const char *lower = NULL;
    for (const char *p = data; p && *p; p += strcspn(p, ",") + (p[strcspn(p, ",")] == ',')) {
        if (strncmp(p, "lowerdir=", 9) == 0)
            lower = p + 9;
    }
    FILE *f = lower ? fopen("/proc/self/mountinfo", "re") : NULL;
    if (!f)
        return false;
    char line[4096], mp[PATH_MAX], fstype[64];
    bool found = false;
    while (!found && fgets(line, sizeof line, f)) {
        const char *sep = strstr(line, " - ");
        if (sscanf(line, "%*u %*u %*s %*s %4095s", mp) != 1 || !sep || sscanf(sep + 3, "%63s", fstype) != 1)
            continue;
        unescape_octal(mp);
        for (const char *d = lower; *d && *d != ',' && !found; d += strcspn(d, ":,") + (d[strcspn(d, ":,")] == ':')) {
            size_t n = strcspn(d, ":,");
            while (n > 1 && d[n - 1] == '/')
                n--;
            if (n > 0 && strncmp(mp, d, n) == 0 && (mp[n] == '/' || (n == 1 && d[0] == '/' && mp[1])) && mp[n + (n > 1)]) {
                (void)!snprintf(hint, size, "the lower directory %.*s has a mount below it: %s (%s); in a user namespace "
                                "the kernel can't use a lower directory with mounts below it that come from the host "
                                "(they are locked; the kernel logs 'failed to clone lowerpath'): choose a lower directory "
                                "without mounts below it, or unmount that one on the host", (int)n, d, mp, fstype);
                found = true;
            }
        }
    }
    fclose(f);
    return found;
}

static _Noreturn void fs_error(int fsfd, const char *sys, const char *fstype, const char *data, const char *target)
{
    int err = errno;
    char log[1024], hint[2 * PATH_MAX + 1024], buf[PATH_MAX];
    const char *table = find_hint("mount", fstype, err);
    const char *msg = fs_log(fsfd, log, sizeof log);
    if (msg)
        snprintf(hint, sizeof hint, "the kernel says: %s%s%s", msg, table ? "; " : "", table ? table : "");
    else if (err == EINVAL && strcmp(fstype, "overlay") == 0 && in_user_namespace() &&
             overlay_submount(data, hint, sizeof hint))
        msg = hint;
    die(125, sys, fstype, shown(target, buf), err, msg ? hint : table);
}

/* A new file system instance: fsopen, one fsconfig per `data` option, fsmount, move_mount onto the
 * resolved mount point. (The new mount API takes the options one by one: `data` is split at commas.) */
static void fs_mount(const char *fstype, const char *source, const char *data, unsigned long flags, int target_fd,
                     const char *target)
{
    int fsfd = sys_fsopen(fstype, FSOPEN_CLOEXEC);
    if (fsfd < 0) {
        char buf[PATH_MAX];
        die(125, "fsopen", fstype, shown(target, buf), errno, find_hint("mount", fstype, errno));
    }
    if (source && sys_fsconfig(fsfd, FSCONFIG_SET_STRING, "source", source, 0) < 0)
        fs_error(fsfd, "fsconfig", fstype, data, target);
    char *opts = data ? strdup(data) : NULL;
    for (char *rest = opts, *opt; rest && (opt = strsep(&rest, ",")) != NULL;) {
        if (!*opt)
            continue;
        char *eq = strchr(opt, '=');
        if (eq)
            *eq = '\0';
        int rc = eq ? sys_fsconfig(fsfd, FSCONFIG_SET_STRING, opt, eq + 1, 0)
                    : sys_fsconfig(fsfd, FSCONFIG_SET_FLAG, opt, NULL, 0);
        if (rc < 0)
            fs_error(fsfd, "fsconfig", fstype, data, target);
    }
    free(opts);
    /* Superblock flags of mount(2) are options here. */
    static const struct { unsigned long flag; const char *name; } sb[] = {
        { MS_RDONLY, "ro" }, { MS_SYNCHRONOUS, "sync" }, { MS_DIRSYNC, "dirsync" }, { MS_LAZYTIME, "lazytime" },
        { MS_SILENT, "silent" } };
    for (size_t i = 0; i < sizeof sb / sizeof sb[0]; i++)
        if ((flags & sb[i].flag) && sys_fsconfig(fsfd, FSCONFIG_SET_FLAG, sb[i].name, NULL, 0) < 0)
            fs_error(fsfd, "fsconfig", fstype, data, target);
    if (sys_fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
        fs_error(fsfd, "fsconfig", fstype, data, target);
    int mfd = sys_fsmount(fsfd, FSMOUNT_CLOEXEC, mount_attrs_of(flags));
    if (mfd < 0)
        fs_error(fsfd, "fsmount", fstype, data, target);
    close(fsfd);
    attach(mfd, target_fd, "move_mount", fstype, target);
    close(mfd);
}

/* A bind: open_tree(OPEN_TREE_CLONE) of the source, move_mount onto the resolved mount point. */
static void bind_mount(const char *source, unsigned long flags, int target_fd, const char *target)
{
    const char *rel;
    struct stat st;
    unsigned rec = (flags & MS_REC) ? AT_RECURSIVE : 0;
    int tree;
    if (below_newroot(source, &rel)) { /* a source inside the new root resolves inside it too */
        int src = resolve(source, O_PATH, 0);
        if (src < 0)
            path_error("openat2", "source", source, errno);
        tree = sys_open_tree(src, "", AT_EMPTY_PATH | OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | rec);
        close(src);
    } else {
        tree = sys_open_tree(AT_FDCWD, source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | rec);
    }
    if (tree < 0) {
        int err = errno;
        char buf[PATH_MAX];
        die(125, "open_tree", err == ENOENT && stat(source, &st) < 0 ? NULL : "bind", shown(source, buf), err, NULL);
    }
    /* mount(2) ignores MS_RDONLY and friends on a new bind; a detached tree can take them at once. */
    struct mount_attr attr = { .attr_set = mount_attrs_of(flags) & (MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID |
                                                                      MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC) };
    if (attr.attr_set && sys_mount_setattr(tree, "", AT_EMPTY_PATH | rec, &attr) < 0)
        die(125, "mount_setattr", NULL, source, errno, NULL);
    attach(tree, target_fd, "move_mount", NULL, target);
    close(tree);
}

void op_mount(const struct step *s)
{
    const char *source = nonempty(get(s, "source")), *target = get(s, "target");
    const char *fstype = nonempty(get(s, "fstype")), *data = nonempty(get(s, "data"));
    unsigned long flags = names(s, "flags", ms_flags);
    const unsigned long special = MS_REMOUNT | MS_MOVE | MS_SHARED | MS_SLAVE | MS_PRIVATE | MS_UNBINDABLE;
    int t = mount_point(s, target);
    if ((flags & MS_BIND) && !(flags & special)) {
        if (!source)
            bad_value("a bind (MS_BIND) needs a source");
        bind_mount(source, flags, t, target);
    } else if (fstype && !(flags & (special | MS_BIND))) {
        fs_mount(fstype, source, data, flags, t, target);
    } else {
        /* A remount, a move or a propagation change: the new mount API splits these over fspick,
         * mount_setattr and move_mount with different semantics, so mount(2) gets the resolved fd as
         * its magic link /proc/self/fd/N (the kernel follows the fd, not the name). After pivot_root
         * the path itself is already confined to the sandbox. */
        char fdpath[64], srcpath[64], buf[PATH_MAX];
        const char *rel, *where = target;
        int src = -1;
        if (below_newroot(target, &rel)) {
            snprintf(fdpath, sizeof fdpath, "/proc/self/fd/%d", t);
            where = fdpath;
        }
        if ((flags & MS_MOVE) && below_newroot(source, &rel)) { /* the mount to move, resolved the same way */
            if ((src = resolve(source, O_PATH, 0)) < 0)
                path_error("openat2", "source", source, errno);
            snprintf(srcpath, sizeof srcpath, "/proc/self/fd/%d", src);
            source = srcpath;
        }
        if (mount(source, where, fstype, flags, data) < 0)
            die(125, "mount", fstype, shown(target, buf), errno, NULL);
        if (src >= 0)
            close(src);
    }
    close(t);
}

void op_setattr(const struct step *s)
{
    const char *target = get(s, "target");
    struct mount_attr attr = { .attr_set = names(s, "attr", mount_attrs) };
    unsigned flags = number(s, "recursive", 10, 0, 1, 0) ? AT_RECURSIVE : 0;
    int fd = resolve(target, O_PATH, 0);
    if (fd < 0)
        path_error("openat2", "target", target, errno);
    if (sys_mount_setattr(fd, "", AT_EMPTY_PATH | flags, &attr) < 0) {
        char buf[PATH_MAX];
        die(125, "mount_setattr", NULL, shown(target, buf), errno, NULL);
    }
    close(fd);
}

void op_symlink(const struct step *s)
{
    const char *target = get(s, "target"), *path = get(s, "path");
    char dir[PATH_MAX], buf[PATH_MAX];
    const char *base;
    split_path(path, dir, &base);
    int parent = resolve(dir, O_PATH | O_DIRECTORY, 0);
    if (parent < 0)
        path_error("openat2", NULL, dir, errno);
    if (symlinkat(target, parent, base) == 0) {
        close(parent);
        return;
    }
    int err = errno;
    ssize_t n = err == EEXIST ? readlinkat(parent, base, buf, sizeof buf - 1) : -1;
    close(parent);
    if (n >= 0 && (size_t)n == strlen(target) && memcmp(buf, target, (size_t)n) == 0)
        return;
    die(125, "symlink", NULL, shown(path, dir), err, err == EEXIST ? "something else already exists at the path" : NULL);
}

void op_write_file(const struct step *s)
{
    const char *path = get(s, "path"), *content = get(s, "content");
    mode_t mode = (mode_t)number(s, "mode", 8, 0, 07777, 0644);
    char buf[PATH_MAX];
    int fd = resolve(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOCTTY, mode);
    if (fd < 0)
        path_error("open", NULL, path, errno);
    for (size_t left = content ? strlen(content) : 0; left > 0;) {
        ssize_t n = write(fd, content, left);
        if (n < 0 && errno == EINTR)
            continue;
        check(n, "write", NULL, shown(path, buf));
        content += n;
        left -= (size_t)n;
    }
    check(close(fd), "close", NULL, shown(path, buf));
}

void op_pivot_root(const struct step *s)
{
    const char *path = get(s, "path");
    /* Why proc etc. were mounted before this: in a user namespace the kernel only lets us mount proc
     * while a fully visible proc is reachable (mnt_already_visible); after the old root is detached
     * it isn't, and the mount fails with EPERM. */
    /* Why an fd of the old root: after pivot_root(".", ".") the old root is stacked on the new one,
     * and mount(2) resolves "." to the cwd's mount, i.e. the NEW root (only umount2's lookup
     * follows mounts stacked on top); MS_SLAVE|MS_REC on "." would turn the sandbox's own rshared
     * binds into slaves. runc fchdir()s to the old root for the same reason. */
    int oldroot = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    check(oldroot, "open", NULL, "/ (old root)");
    check(chdir(path), "chdir", NULL, path);
    /* pivot_root(".", "."): the old root ends up stacked on top of the new one, no put_old dir needed. */
    check(sys_pivot_root(".", "."), "pivot_root", NULL, path);
    g.pivoted = true;
    check(fchdir(oldroot), "fchdir", NULL, "(old root)");
    close(oldroot);
    /* Why slave first: the old root may still be a peer of the host's mounts; detaching a shared
     * mount would propagate the unmount to the host. */
    check(mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL), "mount", "propagation", "(old root)");
    check(umount2(".", MNT_DETACH), "umount2", NULL, "(old root)");
    check(chdir("/"), "chdir", NULL, "/");
    crash_point("child-pivoted");
}

/* An empty file as a detached mount, for masking files. A throwaway child makes it: open_tree()
 * clones only mounts of the caller's own namespace (a detached fsmount() qualifies from Linux 6.15
 * on), so the child takes a private mount namespace of its own, where nothing can propagate to C
 * or to the host, mounts a tmpfs on the masked file's directory, creates the file there, clones it
 * and passes the fd back. The child reports its own failures over the control socket. */
static int empty_file_tree(const char *path)
{
    char dir[PATH_MAX], file[PATH_MAX + 8];
    const char *slash = strrchr(path, '/');
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path) + (slash == path) : 1, slash ? path : ".");
    snprintf(file, sizeof file, "%s/empty", dir);
    int sp[2], fd = -1;
    check(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sp), "socketpair", NULL, NULL);
    union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } ctl;
    struct iovec iov = { .iov_base = &fd, .iov_len = sizeof fd };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf };
    pid_t pid = fork();
    check(pid, "fork", NULL, NULL);
    if (pid == 0) {
        check(unshare(CLONE_NEWNS), "unshare", "mnt", NULL);
        check(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), "mount", "propagation", "/");
        check(mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755"), "mount", "mask", dir);
        check(fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444), "open", "mask", file);
        close(fd);
        check(fd = sys_open_tree(AT_FDCWD, file, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC), "open_tree", "mask", file);
        memset(ctl.buf, 0, sizeof ctl.buf);
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        *c = (struct cmsghdr){ .cmsg_len = CMSG_LEN(sizeof fd), .cmsg_level = SOL_SOCKET, .cmsg_type = SCM_RIGHTS };
        memcpy(CMSG_DATA(c), &fd, sizeof fd);
        check(sendmsg(sp[1], &msg, 0), "sendmsg", "mask", NULL);
        _exit(0);
    }
    close(sp[1]);
    int status = 0;
    ssize_t n = recvmsg(sp[0], &msg, MSG_CMSG_CLOEXEC);
    close(sp[0]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    struct cmsghdr *c = n > 0 ? CMSG_FIRSTHDR(&msg) : NULL;
    if (!c || c->cmsg_type != SCM_RIGHTS) {
        if (WIFEXITED(status) && WEXITSTATUS(status) == 125)
            _exit(125); /* the child has sent the ERROR */
        die(125, "recvmsg", "mask", path, n < 0 ? errno : EPROTO, "the helper that makes the empty file failed");
    }
    memcpy(&fd, CMSG_DATA(c), sizeof fd);
    return fd;
}

/* The empty file without a helper process, where the kernel allows it (Linux 6.15 on): a detached
 * tmpfs from fsmount(), the file created through its fd, open_tree(OPEN_TREE_CLONE) of the file.
 * Older kernels refuse to clone from a detached mount (EINVAL): -1, and empty_file_tree() forks.
 * Why it matters: the forked helper takes a PID in the sandbox's pid namespace, so with `init` the
 * target would be PID 3 instead of 2. */
static int empty_file_detached(void)
{
    int fsfd = sys_fsopen("tmpfs", FSOPEN_CLOEXEC), mfd = -1, tree = -1;
    if (fsfd < 0)
        return -1;
    if (sys_fsconfig(fsfd, FSCONFIG_SET_STRING, "mode", "0755", 0) == 0 &&
        sys_fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) == 0 &&
        (mfd = sys_fsmount(fsfd, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC)) >= 0) {
        int f = openat(mfd, "empty", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0444);
        if (f >= 0) {
            close(f);
            tree = sys_open_tree(mfd, "empty", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
        }
        close(mfd);
    }
    close(fsfd);
    return tree;
}

/* The first masked file's empty-file mount once attached: later file masks clone it (open_tree
 * clones a mount of the caller's own namespace) instead of forking another helper, so a dozen masks
 * cost one fork, and the target's PID under `init` doesn't depend on how many files are masked. */
static int empty_file_mount = -1;

void op_mask(const struct step *s)
{
    const char *path = get(s, "path");
    struct stat st;
    int fd = resolve(path, O_PATH, 0);
    if (fd < 0) {
        if (errno == ENOENT)
            return;
        path_error("openat2", NULL, path, errno);
    }
    check(fstat(fd, &st), "fstat", NULL, path);
    if (S_ISDIR(st.st_mode)) {
        fs_mount("tmpfs", "tmpfs", "mode=0555", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, fd, path);
        close(fd);
        return;
    }
    /* Read-only at the mount level: writes fail with EROFS even for root inside. (A bind of /dev/null
     * would accept writes: device I/O ignores a read-only mount.) */
    if (empty_file_mount >= 0) {
        int tree = sys_open_tree(empty_file_mount, "", AT_EMPTY_PATH | OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
        check(tree, "open_tree", "mask", path);
        attach(tree, fd, "move_mount", "mask", path);
        close(tree);
        close(fd);
        return;
    }
    int tree = empty_file_detached();
    if (tree < 0)
        tree = empty_file_tree(path);
    struct mount_attr attr = { .attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
                                           MOUNT_ATTR_NOEXEC };
    check(sys_mount_setattr(tree, "", AT_EMPTY_PATH, &attr), "mount_setattr", "mask", path);
    attach(tree, fd, "move_mount", "mask", path);
    empty_file_mount = tree; /* attached now, in this namespace: later masks clone it (closed by close-fds) */
    close(fd);
}

/* A path made read-only where it is, recursively, when it exists (the defaults for /proc, runc's
 * readonlyPath): a recursive bind of the path onto itself, so it is a mount of its own even when it
 * is a directory of a larger mount (/proc/sys of a proc), then MOUNT_ATTR_RDONLY on the whole copy
 * before it is attached (nosuid, nodev, noexec too: nothing there is a program or a device). Missing:
 * nothing (a kernel without /proc/sysrq-trigger, or a spec that covered /proc). */
void op_readonly_path(const struct step *s)
{
    const char *path = get(s, "path");
    char buf[PATH_MAX];
    int fd = resolve(path, O_PATH, 0);
    if (fd < 0) {
        if (errno == ENOENT)
            return;
        path_error("openat2", NULL, path, errno);
    }
    int tree = sys_open_tree(fd, "", AT_EMPTY_PATH | OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
    if (tree < 0)
        die(125, "open_tree", "readonly", shown(path, buf), errno, NULL);
    struct mount_attr attr = { .attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
                                           MOUNT_ATTR_NOEXEC };
    if (sys_mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr) < 0)
        die(125, "mount_setattr", "readonly", shown(path, buf), errno, NULL);
    attach(tree, fd, "move_mount", "readonly", path);
    close(tree);
    close(fd);
}

