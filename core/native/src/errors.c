/*
 * errors.c: how a failed step is reported. errno names, the table of hints for common causes, and
 * die(): one ERROR message naming the step, the syscall, the path, the errno and a hint, then exit.
 * Used by H and C alike (C shares the control socket).
 */
#include "runtime.h"

const char *errno_name(int err)
{
    static char buf[16];
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
    const char *name = strerrorname_np(err);
    if (name)
        return name;
#else /* e.g. musl: the errnos this helper can meet */
#define E(x) { x, #x }
    static const struct { int err; const char *name; } names[] = {
        E(EPERM), E(ENOENT), E(ESRCH), E(EINTR), E(EIO), E(E2BIG), E(ENOEXEC), E(EBADF), E(ENOMEM), E(EACCES),
        E(EBUSY), E(EEXIST), E(ENODEV), E(ENOTDIR), E(EISDIR), E(EINVAL), E(ENOSPC), E(EROFS), E(ELOOP),
        E(ENAMETOOLONG), E(ENOSYS), E(EUSERS), E(ETXTBSY), E(EMFILE), E(EAGAIN), E(EOVERFLOW) };
#undef E
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].err == err)
            return names[i].name;
#endif
    snprintf(buf, sizeof buf, "E%d", err);
    return buf;
}

/* Common causes, looked up by "<syscall> <detail>" first, then by "<syscall>". */
static const struct hint { const char *what; int err; const char *text; } hints[] = {
    { "open join", ENOENT, "the namespace file does not exist (did its process exit?)" },
    { "setns", EINVAL, "the file is not a namespace of that type, or the process is multithreaded" },
    { "setns", EPERM, "joining needs CAP_SYS_ADMIN over the namespace; join the user namespace last" },
    { "unshare user", EPERM, "unprivileged user namespaces are disabled on this host "
      "(kernel.unprivileged_userns_clone, user.max_user_namespaces or an AppArmor/SELinux policy)" },
    { "unshare", ENOSPC, "a limit in /proc/sys/user/max_*_namespaces is reached" },
    { "unshare", EPERM, "creating a namespace needs CAP_SYS_ADMIN: unshare the user namespace first"
      " (inside another sandbox: a nested sandbox needs `process.seccomp: unconfined` and capabilities)" },
    { "unshare", EINVAL, "the kernel lacks this namespace type (time namespaces need Linux 5.6)" },
    { "write timens", EACCES, "offsets can only be written before any process entered the time namespace" },
    { "open timens", ENOENT, "no time namespace: add an `unshare type=time` step before the offsets" },
    { "clone", EPERM, "creating namespaces needs CAP_SYS_ADMIN: add unshare-user to the enter stage"
      " (inside another sandbox: a nested sandbox needs `process.seccomp: unconfined` and capabilities)" },
    { "clone", ENOSPC, "a limit in /proc/sys/user/max_*_namespaces is reached" },
    { "clone", EUSERS, "too many nested user or pid namespaces" },
    { "mount proc", EPERM, "mount proc before pivot_root and inside a new pid namespace (in a user namespace "
      "the kernel also wants a fully visible /proc on the host)" },
    { "mount sysfs", EPERM, "in a user namespace sysfs needs a new network namespace" },
    { "mount mqueue", EPERM, "in a user namespace mqueue needs a new IPC namespace" },
    { "mount bind-source", ENOENT, "the source does not exist on the host" },
    { "mount propagation", EINVAL, "the target must be a mount point" },
    { "mount_setattr propagation", EINVAL, "the target must be a mount point" },
    { "openat2 target", ENOENT, "the mount point does not exist: without a new root it must exist on the host "
      "or be under a tmpfs mounted earlier; a plugin's step may ask for create=dir or create=file" },
    { "openat2", ELOOP, "too many symlinks, or a link through /proc/PID/fd or /proc/PID/root (magic links are "
      "not followed while the sandbox is set up)" },
    { "openat2", ENOSYS, "openat2 needs Linux 5.6 (or a seccomp filter hides it)" },
    { "fsopen", ENOSYS, "the new mount API needs Linux 5.2 (or a seccomp filter hides it)" },
    { "setsid", EPERM, "the process already leads a process group" },
    { "mount overlay", EINVAL, "upper and work must be directories on the same file system, work an empty one, "
      "and no lower, upper or work directory may be inside another" },
    { "mount", ENOENT, "the mount point does not exist: without a new root it must exist on the host "
      "or be under a tmpfs mounted earlier; a plugin's step may ask for create=dir or create=file" },
    { "mount", ENODEV, "this file system type is not available in the kernel" },
    { "mount", EPERM, "in a user namespace only some file systems can be mounted, and flags the host locked "
      "(ro, nosuid, nodev, noexec) can't be cleared on a bind (inside another sandbox: a nested sandbox needs `process.seccomp: unconfined` and capabilities)" },
    { "mount", EINVAL, "a bind source must be in this mount namespace and not unbindable; "
      "a remount target must be a mount point" },
    { "open_tree", ENOENT, "the source does not exist on the host" },
    { "open_tree", EINVAL, "the source must be in this mount namespace and not unbindable" },
    { "move_mount", ENOENT, "the target does not exist: without a new root it must exist on the host "
      "or be under a tmpfs mounted earlier; a plugin's step may ask for create=dir or create=file" },
    { "move_mount", ENOTDIR, "a directory tree needs a directory target, a file a file target" },
    { "move_mount", EINVAL, "the target must be in this mount namespace, and a tree with unbindable mounts "
      "can't go under a shared mount (make / rslave or rprivate first)" },
    { "mount_setattr", EINVAL, "the target must be a mount point (mount or bind it first)" },
    { "mount_setattr", ENOSYS, "mount_setattr needs Linux 5.12 (or a seccomp filter or valgrind hides it)" },
    { "open_tree", ENOSYS, "the new mount API needs Linux 5.2 (or a seccomp filter hides it)" },
    { "close_range", ENOSYS, "close_range needs Linux 5.9" },
    { "pivot_root", EINVAL, "the new root must be a mount point (bind it onto itself) and no mount involved "
      "may be shared: make / rslave or rprivate first" },
    { "pivot_root", EPERM, "pivot_root needs a new mount namespace and CAP_SYS_ADMIN in its owner" },
    { "sethostname", EPERM, "setting the host name needs a new UTS namespace" },
    { "setdomainname", EPERM, "setting the domain name needs a new UTS namespace" },
    { "ioctl(SIOCGIFFLAGS)", ENODEV, "no interface of that name in this network namespace" },
    { "setgroups", EPERM, "setgroups is denied in this user namespace (setgroups=deny, needed for an "
      "unprivileged gid_map): leave the groups empty" },
    { "setresuid", EINVAL, "the uid is not mapped in this user namespace" },
    { "setresgid", EINVAL, "the gid is not mapped in this user namespace" },
    { "capset", EPERM, "a kept capability is not in the permitted set" },
    { "prctl(PR_CAPBSET_DROP)", EPERM, "dropping from the bounding set needs CAP_SETPCAP" },
    { "prctl(PR_CAP_AMBIENT_RAISE)", EPERM, "an ambient capability must be permitted and inheritable" },
    { "chdir", ENOENT, "the directory does not exist in the sandbox: for process.cwd, mount something there "
      "or choose a directory that exists" },
    { "execve", ENOENT, "the program, its #! interpreter or its dynamic loader is missing in the sandbox" },
    { "execve", EACCES, "the file is not executable, not a regular file, or on a noexec mount" },
    { "execve", ENOEXEC, "not a format the kernel can run (a script needs a #! line)" },
};

const char *find_hint(const char *sys, const char *detail, int err)
{
    char key[96];
    for (int pass = detail ? 0 : 1; pass < 2; pass++) {
        snprintf(key, sizeof key, pass ? "%s" : "%s %s", sys, detail);
        for (size_t i = 0; i < sizeof hints / sizeof hints[0]; i++)
            if (hints[i].err == err && strcmp(hints[i].what, key) == 0)
                return hints[i].text;
    }
    return NULL;
}


/* Report the current step's failure and exit. Used by H and C alike (C shares the socket). */
_Noreturn void die(int code, const char *sys, const char *detail, const char *path, int err,
         const char *hint)
{
    char step[96] = "";
    if (g.cur)
        snprintf(step, sizeof step, "%s:%d %s", stage_names[g.cur->stage], g.cur->line, g.cur->op->name);
    static const char *const nested[] = { "unshare", "clone", "setns", "mount", "fsopen", "fsconfig", "fsmount",
                                          "open_tree", "move_mount", "mount_setattr", "pivot_root", NULL };
    for (int i = 0; !hint && sys && err == EPERM && nested[i]; i++)
        if (strcmp(sys, nested[i]) == 0 && outer_seccomp())
            hint = NESTED_HINT;
    if (!hint && sys && err)
        hint = find_hint(sys, detail, err);
    send_error(code, step, sys, path, err ? errno_name(err) : "", hint);
    _exit(code);
}

void check(long rc, const char *sys, const char *detail, const char *path)
{
    if (rc < 0)
        die(125, sys, detail, path, errno, NULL);
}

_Noreturn void bad_value(const char *fmt, ...)
{
    char hint[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(hint, sizeof hint, fmt, ap);
    va_end(ap);
    die(125, NULL, NULL, NULL, 0, hint);
}

/* Are we (not our own seccomp step) under a seccomp filter? Then an EPERM from namespace or mount
 * calls most likely comes from it: the default profiles of docker and of sandbox deny them. */
bool outer_seccomp(void)
{
    if (g.filtered)
        return false;
    char buf[4096];
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    if (fd >= 0)
        close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    const char *line = strstr(buf, "\nSeccomp:");
    return line && atoi(line + 9) == 2;
}

