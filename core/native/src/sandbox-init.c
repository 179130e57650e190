/*
 * sandbox-init: the single-threaded helper that executes the in-sandbox part of a sandbox plan.
 *
 * Why a C helper at all: a JVM is multithreaded, and the kernel refuses unshare(CLONE_NEWUSER) and
 * setns() into a user namespace for a multithreaded process (EINVAL). runc solves the same problem
 * for Go with nsexec.c. The contract with the Java controller is core/native/PROTOCOL.md; the
 * message pairs are repeated here (compare runc's libcontainer/sync.go):
 *
 *  controller (Java)                 helper H (sandbox-init)              child C (in the sandbox)
 *  -----------------                 -----------------------              ------------------------
 *  listen(SOCKET); spawn H ------->  fexecve(sealed memfd copy of itself)
 *                                    PR_SET_DUMPABLE 0 (until execve)
 *                                    connect(SOCKET); parse FILE
 *                                    stage enter: join..., unshare-user
 *                                    [new user ns: PR_SET_DUMPABLE 1]
 *             <------------------ "ENTERED <pid of H>"
 *  stage identity: setgroups,
 *  uid_map/gid_map of H, cgroup
 *  placement of H
 *             ------------------> "GO"            (or "ABORT": H exits 125 silently)
 *                                    [PR_SET_DUMPABLE 0 again]
 *                                    stage clone: unshare time, offsets,
 *                                    clone(flags) ----------------------> C: PR_SET_PDEATHSIG(SIGKILL),
 *                                                                            blocks reading a pipe from H
 *             <------------------ "CLONED <host pid of C>"
 *  stage connect: veth into
 *  /proc/<C>/ns/net
 *             ------------------> "GO"            (or "ABORT": H kills C, exits 125)
 *                                    writes 1 byte to the pipe ---------> stage mounts (paths below the new
 *                                                                         root: openat2(RESOLVE_IN_ROOT), mounts
 *                                                                         through fds), stage finish (new-session,
 *                                                                         seccomp, ...), exec (control fd is CLOEXEC)
 *             <------------------------------------------------------- on failure only:
 *                                                                         "ERROR <code> TAB <step> TAB <syscall>
 *                                                                          TAB <path> TAB <errno name> TAB <hint>"
 *                                                                         then _exit(code)
 *  "SIGNAL <n>" ----------------->   kill(C, n); for TERM/HUP/INT arm the
 *                                    grace timer -> kill(C, SIGKILL)
 *                                    waitpid(C)
 *             <------------------ "EXIT <status>"   then exit(status)
 *
 * ERROR may also come from H (enter/clone steps, a bad plan, a bad message); H then exits 125 without
 * EXIT. "SIGNAL" received while H waits for a GO is queued and delivered once C is released. EOF on
 * the socket means the controller died: H kills C with SIGKILL and exits. H forwards the signals it
 * gets itself, but those of the terminal (SI_KERNEL) only when C left the terminal's session
 * (new-session). H and C stay non-dumpable until execve, except in the id-map window drawn above.
 *
 * Exit codes: 125 setup failure, 126 target not executable, 127 target not found, the target's own
 * code, 128+N when it was killed by signal N. Nothing is printed to stderr, except when the control
 * socket itself is unusable.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/capability.h>
#include <net/if.h>
#include <seccomp.h>
#include <linux/openat2.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/sendfile.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <sys/wait.h>
#ifndef MOUNT_ATTR_RDONLY /* glibc < 2.36: take the new mount API from the kernel headers */
#include <linux/mount.h>
#endif

#define VERSION "0.1.0"
#define PROTOCOL_VERSION 1

/* Syscalls glibc may lack; the numbers are the same on every architecture but alpha. */
#ifndef __NR_open_tree
#define __NR_open_tree 428
#define __NR_move_mount 429
#endif
#ifndef __NR_fsopen
#define __NR_fsopen 430
#define __NR_fsconfig 431
#define __NR_fsmount 432
#endif
#ifndef __NR_close_range
#define __NR_close_range 436
#endif
#ifndef __NR_openat2
#define __NR_openat2 437
#endif
#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif
#ifndef __NR_mount_setattr
#define __NR_mount_setattr 442
#endif
#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

static int sys_open_tree(int dfd, const char *path, unsigned flags) { return (int)syscall(__NR_open_tree, dfd, path, flags); }
static int sys_move_mount(int fdfd, const char *fpath, int tdfd, const char *tpath, unsigned flags)
{ return (int)syscall(__NR_move_mount, fdfd, fpath, tdfd, tpath, flags); }
static int sys_mount_setattr(int dfd, const char *path, unsigned flags, struct mount_attr *a)
{ return (int)syscall(__NR_mount_setattr, dfd, path, flags, a, sizeof *a); }
static int sys_fsopen(const char *fstype, unsigned flags) { return (int)syscall(__NR_fsopen, fstype, flags); }
static int sys_fsconfig(int fd, unsigned cmd, const char *key, const void *val, int aux)
{ return (int)syscall(__NR_fsconfig, fd, cmd, key, val, aux); }
static int sys_fsmount(int fd, unsigned flags, unsigned attrs) { return (int)syscall(__NR_fsmount, fd, flags, attrs); }
static int sys_openat2(int dfd, const char *path, struct open_how *how) { return (int)syscall(__NR_openat2, dfd, path, how, sizeof *how); }
static int sys_pivot_root(const char *new_root, const char *put_old) { return (int)syscall(SYS_pivot_root, new_root, put_old); }
static int sys_close_range(unsigned lo, unsigned hi) { return (int)syscall(__NR_close_range, lo, hi, 0); }
/* Raw clone with a NULL stack returns twice like fork(), but takes namespace flags (as bubblewrap's
 * raw_clone; glibc's clone() wants a separate stack and a function). Only s390 swaps the first two
 * arguments; the others are 0. */
static pid_t sys_clone(unsigned long flags)
{
#if defined(__s390__) || defined(__CRIS__)
    return (pid_t)syscall(SYS_clone, 0, flags, 0, 0, 0);
#else
    return (pid_t)syscall(SYS_clone, flags, 0, 0, 0, 0);
#endif
}

/* ------------------------------------------------------------------------------------------ */
/* Plan model                                                                                 */

enum stage { ST_ENTER, ST_CLONE, ST_MOUNTS, ST_FINISH, ST_COUNT };
static const char *const stage_names[ST_COUNT] = { "enter", "clone", "mounts", "finish" };

struct kv { const char *key; const char *val; };
struct step;
typedef void (*op_fn)(const struct step *);
/* keys: space-separated; no marker = exactly once, '?' = at most once, '*' = any number, '+' = one or more */
struct op { enum stage stage; const char *name; const char *keys; op_fn fn; };
struct step { int line; enum stage stage; const struct op *op; struct kv *kv; int nkv; };

#define MAX_TREES 64
static struct {
    int ctl;                   /* control socket, O_CLOEXEC */
    int sync_rd, sync_wr;      /* H releases C through this pipe; C keeps the read end to notice H's death */
    pid_t helper;              /* H's pid, to check C's parent */
    pid_t parent;              /* in the init's target: the init's pid; 0 in C (use the pipe) */
    pid_t child;               /* C, in H */
    long grace_ms;
    bool trace;                /* --trace: report each step's duration (sandbox up -v) */
    const char *newroot;       /* the pivot-root step's path: paths below it are checked until the pivot */
    bool pivoted;
    const char *plan_path;
    char *plan_text;
    struct step *steps;
    int nsteps;
    const struct step *cur;    /* the step being executed, named in ERROR */
    int cap_last;
    mode_t umask_saved;
    sigset_t sigs;             /* blocked in H from the start, read through signalfd */
    sigset_t queued;           /* SIGNAL messages received before C was released */
    int tfd;                   /* grace timer */
    bool grace_armed;
    const struct step *userns; /* the step that created or joined a user namespace (H becomes its root) */
    bool new_session;          /* C calls setsid (a new-session step, stdin not a terminal): H forwards terminal signals */
    bool filtered;             /* a seccomp filter is loaded: no more prctl calls of our own */
    struct { const char *id; int fd; } trees[MAX_TREES];
    int ntrees;
} g = { .ctl = -1, .sync_rd = -1, .sync_wr = -1, .grace_ms = 10000, .tfd = -1 };

/* ------------------------------------------------------------------------------------------ */
/* Messages to the controller                                                                 */

static void send_all(const char *buf, size_t len)
{
    while (len > 0) {
        /* MSG_NOSIGNAL: a dead controller must not kill us with SIGPIPE before we clean up */
        ssize_t n = send(g.ctl, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        buf += n;
        len -= (size_t)n;
    }
}

static void send_line(const char *fmt, ...)
{
    char buf[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
    va_end(ap);
    if (n < 0 || n > (int)sizeof buf - 2)
        return;
    buf[n++] = '\n';
    send_all(buf, (size_t)n);
}

/* Fields are escaped like plan values: % TAB newline become %25 %09 %0A. */
static size_t put_field(char *out, size_t pos, size_t cap, const char *s)
{
    for (; *s; s++) {
        const char *rep = *s == '%' ? "%25" : *s == '\t' ? "%09" : *s == '\n' ? "%0A" : NULL;
        size_t n = rep ? 3 : 1;
        if (pos + n + 8 > cap) /* keep room for the remaining TABs and the newline */
            break;
        memcpy(out + pos, rep ? rep : s, n);
        pos += n;
    }
    return pos;
}

static void send_error(int code, const char *step, const char *sys, const char *path, const char *err,
                       const char *hint)
{
    char buf[8192];
    const char *fields[] = { step, sys, path, err, hint };
    size_t pos = (size_t)snprintf(buf, sizeof buf, "ERROR %d", code);
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        buf[pos++] = '\t';
        pos = put_field(buf, pos, sizeof buf, fields[i] ? fields[i] : "");
    }
    buf[pos++] = '\n';
    send_all(buf, pos);
}

static const char *errno_name(int err)
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

static const char *find_hint(const char *sys, const char *detail, int err)
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

#define NESTED_HINT "sandbox itself runs under a seccomp filter (Seccomp: 2 in /proc/self/status), most likely " \
    "inside another sandbox or container: a nested sandbox (sandbox up or unshare inside) needs the outer " \
    "one's `process.seccomp: unconfined` and capabilities (CAP_SYS_ADMIN or a user namespace)"

/* Are we (not our own seccomp step) under a seccomp filter? Then an EPERM from namespace or mount
 * calls most likely comes from it: the default profiles of docker and of sandbox deny them. */
static bool outer_seccomp(void);

/* Report the current step's failure and exit. Used by H and C alike (C shares the socket). */
static _Noreturn void die(int code, const char *sys, const char *detail, const char *path, int err,
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

static void check(long rc, const char *sys, const char *detail, const char *path)
{
    if (rc < 0)
        die(125, sys, detail, path, errno, NULL);
}

static _Noreturn void bad_value(const char *fmt, ...)
{
    char hint[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(hint, sizeof hint, fmt, ap);
    va_end(ap);
    die(125, NULL, NULL, NULL, 0, hint);
}

static _Noreturn void plan_error(int line, const char *fmt, ...)
{
    char step[32], hint[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(hint, sizeof hint, fmt, ap);
    va_end(ap);
    snprintf(step, sizeof step, line ? "plan:%d" : "plan", line);
    send_error(125, step, "", g.plan_path, "", hint);
    _exit(125);
}

/* ------------------------------------------------------------------------------------------ */
/* Values                                                                                     */

struct name_val { const char *name; unsigned long val; };

static const struct name_val ns_types[] = {
    { "user", CLONE_NEWUSER }, { "mnt", CLONE_NEWNS }, { "pid", CLONE_NEWPID }, { "uts", CLONE_NEWUTS },
    { "ipc", CLONE_NEWIPC }, { "net", CLONE_NEWNET }, { "cgroup", CLONE_NEWCGROUP }, { "time", CLONE_NEWTIME },
    { NULL, 0 } };
static const struct name_val clone_flags[] = {
    { "CLONE_NEWNS", CLONE_NEWNS }, { "CLONE_NEWUTS", CLONE_NEWUTS }, { "CLONE_NEWIPC", CLONE_NEWIPC },
    { "CLONE_NEWNET", CLONE_NEWNET }, { "CLONE_NEWPID", CLONE_NEWPID }, { "CLONE_NEWCGROUP", CLONE_NEWCGROUP },
    { NULL, 0 } };
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
static const struct name_val unshare_types[] = { { "time", CLONE_NEWTIME }, { NULL, 0 } };
static const struct name_val clocks[] = { { "monotonic", 1 }, { "boottime", 1 }, { NULL, 0 } };

static const char *get(const struct step *s, const char *key)
{
    for (int i = 0; i < s->nkv; i++)
        if (strcmp(s->kv[i].key, key) == 0)
            return s->kv[i].val;
    return NULL;
}

static const char *nonempty(const char *v) { return v && *v ? v : NULL; }

static const struct name_val *lookup(const struct name_val *t, const char *name, size_t len)
{
    for (; t->name; t++)
        if (strlen(t->name) == len && strncmp(t->name, name, len) == 0)
            return t;
    return NULL;
}

/* One name (key=name); a missing optional key gives `def`. */
static unsigned long one_name(const struct step *s, const char *key, const struct name_val *t, unsigned long def)
{
    const char *v = get(s, key);
    if (!v)
        return def;
    const struct name_val *nv = lookup(t, v, strlen(v));
    if (!nv)
        bad_value("%s=%s is not a known value", key, v);
    return nv->val;
}

/* `|`-separated names, may be empty. */
static unsigned long names(const struct step *s, const char *key, const struct name_val *t)
{
    const char *v = get(s, key);
    unsigned long out = 0;
    while (v && *v) {
        size_t len = strcspn(v, "|");
        const struct name_val *nv = lookup(t, v, len);
        if (!nv)
            bad_value("unknown name '%.*s' in %s=", (int)len, v, key);
        out |= nv->val;
        v += len + (v[len] == '|');
    }
    return out;
}

static long long number(const struct step *s, const char *key, int base, long long min, long long max,
                        long long def)
{
    const char *v = get(s, key);
    if (!v)
        return def;
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, base);
    /* strtoll would also take leading spaces and a '+': the plan has one spelling per number */
    bool digits = isdigit((unsigned char)v[0]) || (v[0] == '-' && isdigit((unsigned char)v[1]));
    if (!digits || *end || errno || n < min || n > max)
        bad_value("%s=%s is not a number in [%lld, %lld]", key, v, min, max);
    return n;
}

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
/* Stage enter (H)                                                                            */

static void op_join(const struct step *s)
{
    const char *path = get(s, "path"), *type = get(s, "type");
    int nstype = (int)one_name(s, "type", ns_types, 0);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    check(fd, "open", "join", path);
    check(setns(fd, nstype), "setns", type, path);
    if (nstype == CLONE_NEWUSER)
        g.userns = s;
    close(fd);
}

/* A number from a /proc/sys file, or -1 when it is missing or not a number. */
static long read_sysctl(const char *path)
{
    char buf[32] = "";
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    if (fd >= 0)
        close(fd);
    char *end = buf;
    long v = n > 0 ? strtol(buf, &end, 10) : -1;
    return n > 0 && end != buf ? v : -1;
}

static bool outer_seccomp(void)
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

/* Which host setting refused the user namespace, named after the sysctl that does it (the three
 * ways hosts forbid them); NULL leaves the generic hint of the table. */
static const char *userns_hint(int err)
{
    static char hint[256];
    if (err == EPERM && outer_seccomp())
        return NESTED_HINT;
    long max = read_sysctl("/proc/sys/user/max_user_namespaces");
    if (max == 0 && (err == ENOSPC || err == EPERM))
        return "user namespaces are disabled on this host: user.max_user_namespaces is 0 "
               "(/proc/sys/user/max_user_namespaces); enable them with 'sysctl -w user.max_user_namespaces=15000'";
    if (err == EPERM && read_sysctl("/proc/sys/kernel/unprivileged_userns_clone") == 0)
        return "unprivileged user namespaces are disabled on this host: kernel.unprivileged_userns_clone is 0 "
               "(/proc/sys/kernel/unprivileged_userns_clone, Debian); enable them with "
               "'sysctl -w kernel.unprivileged_userns_clone=1', or run sandbox as root";
    if ((err == EPERM || err == EACCES) && read_sysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == 1)
        return "AppArmor restricts unprivileged user namespaces on this host: "
               "kernel.apparmor_restrict_unprivileged_userns is 1 (Ubuntu); allow them for sandbox-init with an "
               "AppArmor profile granting 'userns,', or 'sysctl -w kernel.apparmor_restrict_unprivileged_userns=0'";
    if (err == ENOSPC && max > 0) {
        snprintf(hint, sizeof hint, "the limit user.max_user_namespaces (%ld, /proc/sys/user/max_user_namespaces) "
                 "is reached for this user or in a parent user namespace", max);
        return hint;
    }
    return NULL;
}

static void op_unshare_user(const struct step *s)
{
    (void)s;
    /* Why first: every namespace created later (by the clone) is owned by the user namespace that is
     * current at its creation, so this one must exist before them; the controller writes its maps
     * while we wait for GO (maps are write-once and must be written from outside). */
    if (unshare(CLONE_NEWUSER) < 0) {
        int err = errno;
        die(125, "unshare", "user", NULL, err, userns_hint(err));
    }
    g.userns = s;
}

/* ------------------------------------------------------------------------------------------ */
/* Stage clone (H)                                                                            */

static void op_unshare(const struct step *s)
{
    /* Why unshare and not a clone flag: CLONE_NEWTIME (0x80) lies in the CSIGNAL bits of clone(2).
     * unshare(CLONE_NEWTIME) only moves our future children, like CLONE_NEWPID. */
    check(unshare((int)one_name(s, "type", unshare_types, 0)), "unshare", get(s, "type"), NULL);
}

static void op_timens_offset(const struct step *s)
{
    const char *path = "/proc/self/timens_offsets";
    const char *clock = get(s, "clock");
    one_name(s, "clock", clocks, 0);
    long long sec = number(s, "seconds", 10, LLONG_MIN / 2, LLONG_MAX / 2, 0);
    long long nsec = number(s, "nanoseconds", 10, 0, 999999999, 0);
    char line[96];
    int n = snprintf(line, sizeof line, "%s %lld %lld\n", clock, sec, nsec);
    /* Why here: offsets are frozen once the first process enters the time namespace, i.e. at clone.
     * Why dumpable around the open: /proc/self files of a non-dumpable process belong to the host's
     * root, so in a rootless user namespace our own root could not open it (EACCES). No process is in
     * the sandbox yet; the flag is cleared again right after the open (the write needs no more). */
    prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    int err = errno;
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    errno = err;
    check(fd, "open", "timens", path);
    check(write(fd, line, (size_t)n), "write", "timens", path);
    close(fd);
}

static _Noreturn void child_main(void);

static void op_clone(const struct step *s)
{
    unsigned long flags = names(s, "flags", clone_flags);
    int p[2];
    check(pipe2(p, O_CLOEXEC), "pipe2", NULL, NULL);
    g.sync_rd = p[0];
    g.sync_wr = p[1];
    g.helper = getpid();
    /* Why the cgroup namespace is a clone flag and not part of stage enter: its root is the cgroup of
     * the creating process at creation time, and the controller placed H in the sandbox's cgroup
     * before the GO we just got; C is born there. (nsjail unshares before placement: wrong root.) */
    pid_t pid = sys_clone(flags | SIGCHLD);
    if (pid < 0)
        die(125, "clone", NULL, NULL, errno, NULL);
    if (pid == 0)
        child_main();
    g.child = pid;
    close(g.sync_rd);
    g.sync_rd = -1;
}

/* ------------------------------------------------------------------------------------------ */
/* Parent death (C and the init's target)                                                     */

static void arm_pdeathsig(void)
{
    /* Why: if H (or the init) is killed, the sandbox must not outlive it. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
        die(125, "prctl(PR_SET_PDEATHSIG)", NULL, NULL, errno, NULL);
    /* Close the race "parent died before prctl": in C, getppid() is 0 when C is in another pid
     * namespace, so also look at the pipe: H holds its write end until H exits. */
    pid_t pp = getppid();
    if (g.parent ? pp != g.parent : pp != 0 && pp != g.helper)
        _exit(125);
    struct pollfd pfd = { .fd = g.sync_rd, .events = POLLIN };
    if (!g.parent && poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLHUP | POLLERR)))
        _exit(125);
}

/* ------------------------------------------------------------------------------------------ */
/* Stage mounts (C)                                                                           */

static void op_propagation(const struct step *s)
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

static void op_clone_tree(const struct step *s)
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

static void op_attach_tree(const struct step *s)
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

static void op_mkdir(const struct step *s)
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

static _Noreturn void fs_error(int fsfd, const char *sys, const char *fstype, const char *target)
{
    int err = errno;
    char log[1024], hint[1536], buf[PATH_MAX];
    const char *table = find_hint("mount", fstype, err);
    const char *msg = fs_log(fsfd, log, sizeof log);
    if (msg)
        snprintf(hint, sizeof hint, "the kernel says: %s%s%s", msg, table ? "; " : "", table ? table : "");
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
        fs_error(fsfd, "fsconfig", fstype, target);
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
            fs_error(fsfd, "fsconfig", fstype, target);
    }
    free(opts);
    /* Superblock flags of mount(2) are options here. */
    static const struct { unsigned long flag; const char *name; } sb[] = {
        { MS_RDONLY, "ro" }, { MS_SYNCHRONOUS, "sync" }, { MS_DIRSYNC, "dirsync" }, { MS_LAZYTIME, "lazytime" },
        { MS_SILENT, "silent" } };
    for (size_t i = 0; i < sizeof sb / sizeof sb[0]; i++)
        if ((flags & sb[i].flag) && sys_fsconfig(fsfd, FSCONFIG_SET_FLAG, sb[i].name, NULL, 0) < 0)
            fs_error(fsfd, "fsconfig", fstype, target);
    if (sys_fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
        fs_error(fsfd, "fsconfig", fstype, target);
    int mfd = sys_fsmount(fsfd, FSMOUNT_CLOEXEC, mount_attrs_of(flags));
    if (mfd < 0)
        fs_error(fsfd, "fsmount", fstype, target);
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

static void op_mount(const struct step *s)
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

static void op_setattr(const struct step *s)
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

static void op_symlink(const struct step *s)
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

static void op_write_file(const struct step *s)
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

static void op_pivot_root(const struct step *s)
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

static void op_mask(const struct step *s)
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
    int tree = empty_file_tree(path);
    struct mount_attr attr = { .attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
                                           MOUNT_ATTR_NOEXEC };
    check(sys_mount_setattr(tree, "", AT_EMPTY_PATH, &attr), "mount_setattr", "mask", path);
    attach(tree, fd, "move_mount", "mask", path);
    close(tree);
    close(fd);
}

/* ------------------------------------------------------------------------------------------ */
/* Stage finish (C)                                                                           */

static void op_sethostname(const struct step *s) /* and setdomainname */
{
    const char *name = get(s, "name");
    bool host = strcmp(s->op->name, "sethostname") == 0;
    check(host ? sethostname(name, strlen(name)) : setdomainname(name, strlen(name)), s->op->name, NULL, name);
}

static void op_link_up(const struct step *s)
{
    const char *name = get(s, "name");
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    if (strlen(name) >= sizeof ifr.ifr_name)
        bad_value("name=%s is longer than %zu bytes", name, sizeof ifr.ifr_name - 1);
    memcpy(ifr.ifr_name, name, strlen(name));
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    check(fd, "socket", NULL, NULL);
    check(ioctl(fd, SIOCGIFFLAGS, &ifr), "ioctl(SIOCGIFFLAGS)", NULL, name);
    ifr.ifr_flags |= IFF_UP;
    check(ioctl(fd, SIOCSIFFLAGS, &ifr), "ioctl(SIOCSIFFLAGS)", NULL, name);
    close(fd);
}

static void op_chdir(const struct step *s)
{
    check(chdir(get(s, "path")), "chdir", NULL, get(s, "path"));
}

/* A comma list of numbers <= max (may be empty); returns the count, the numbers in *out (malloc'd). */
static size_t number_list(const struct step *s, const char *key, unsigned long max, unsigned long **out)
{
    const char *v = get(s, key);
    size_t n = 0;
    *out = calloc(strlen(v) / 2 + 1, sizeof **out);
    if (!*out)
        die(125, "calloc", NULL, NULL, ENOMEM, NULL);
    while (*v) {
        char *end;
        errno = 0;
        (*out)[n++] = strtoul(v, &end, 10);
        if (end == v || (*end && *end != ',') || errno || (*out)[n - 1] > max || !isdigit((unsigned char)*v))
            bad_value("%s=%s is not a comma list of numbers <= %lu", key, get(s, key), max);
        v = *end ? end + 1 : end;
        if (*end && !*v) /* a trailing comma */
            bad_value("%s=%s is not a comma list of numbers <= %lu", key, get(s, key), max);
    }
    return n;
}

static void op_setgroups(const struct step *s)
{
    unsigned long *ids;
    size_t n = number_list(s, "groups", UINT32_MAX - 1, &ids);
    gid_t *list = calloc(n + 1, sizeof *list);
    if (!list)
        die(125, "calloc", NULL, NULL, ENOMEM, NULL);
    for (size_t i = 0; i < n; i++)
        list[i] = (gid_t)ids[i];
    check(setgroups(n, list), "setgroups", NULL, get(s, "groups"));
    free(ids);
    free(list);
}

static void op_setresgid(const struct step *s)
{
    gid_t gid = (gid_t)number(s, "gid", 10, 0, UINT32_MAX - 1, 0);
    check(setresgid(gid, gid, gid), "setresgid", NULL, get(s, "gid"));
    arm_pdeathsig(); /* Why again: a change of the effective gid clears the parent-death signal. */
}

static void op_setresuid(const struct step *s)
{
    uid_t uid = (uid_t)number(s, "uid", 10, 0, UINT32_MAX - 1, 0);
    /* Why keepcaps: leaving uid 0 would clear the permitted set; `capabilities` decides what stays. */
    check(prctl(PR_SET_KEEPCAPS, 1), "prctl(PR_SET_KEEPCAPS)", NULL, NULL);
    check(setresuid(uid, uid, uid), "setresuid", NULL, get(s, "uid"));
    arm_pdeathsig(); /* Why again: a change of the effective uid clears the parent-death signal. */
}

static int capset_all(uint64_t eff, uint64_t perm, uint64_t inh)
{
    struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct d[2] = {
        { (uint32_t)eff, (uint32_t)perm, (uint32_t)inh },
        { (uint32_t)(eff >> 32), (uint32_t)(perm >> 32), (uint32_t)(inh >> 32) } };
    return (int)syscall(SYS_capset, &h, d);
}

static void op_capabilities(const struct step *s)
{
    unsigned long *caps;
    uint64_t keep = 0;
    for (size_t i = 0, n = number_list(s, "keep", (unsigned long)g.cap_last, &caps); i < n; i++)
        keep |= 1ULL << caps[i];
    free(caps);
    struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct d[2];
    check(syscall(SYS_capget, &h, d), "capget", NULL, NULL);
    uint64_t perm = d[0].permitted | (uint64_t)d[1].permitted << 32;
    uint64_t inh = d[0].inheritable | (uint64_t)d[1].inheritable << 32;
    /* Why: after setresuid() to a non-zero uid the effective set is empty, and dropping from the
     * bounding set needs CAP_SETPCAP in it. */
    check(capset_all(perm, perm, inh), "capset", NULL, NULL);
    for (int cap = 0; cap <= g.cap_last; cap++) {
        if ((keep >> cap & 1) || prctl(PR_CAPBSET_READ, cap) == 0)
            continue;
        char what[16];
        snprintf(what, sizeof what, "cap %d", cap);
        check(prctl(PR_CAPBSET_DROP, cap), "prctl(PR_CAPBSET_DROP)", NULL, what);
    }
    check(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "prctl(PR_CAP_AMBIENT_CLEAR_ALL)", NULL, NULL);
    check(capset_all(keep, keep, keep), "capset", NULL, NULL);
    /* Why ambient for a non-root uid: execve() of an ordinary file clears permitted for uid != 0
     * unless the capability is ambient. */
    for (int cap = 0; getuid() != 0 && cap <= g.cap_last; cap++) {
        char what[16];
        snprintf(what, sizeof what, "cap %d", cap);
        if (keep >> cap & 1)
            check(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0), "prctl(PR_CAP_AMBIENT_RAISE)", NULL, what);
    }
}

static void op_no_new_privs(const struct step *s)
{
    (void)s;
    check(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)", NULL, NULL);
}

static void op_close_fds(const struct step *s)
{
    (void)s;
    /* Why: fds inherited from the caller (or opened by the plan) must not leak into the sandbox. The
     * control socket and the sync pipe stay until exec (both CLOEXEC): an exec failure must still
     * be reported, and C must still notice H's death. */
    int keep[2] = { g.ctl < g.sync_rd ? g.ctl : g.sync_rd, g.ctl < g.sync_rd ? g.sync_rd : g.ctl };
    unsigned lo = 3;
    for (int i = 0; i < 2; i++) {
        if (keep[i] < (int)lo)
            continue;
        if ((unsigned)keep[i] > lo)
            check(sys_close_range(lo, (unsigned)keep[i] - 1), "close_range", NULL, NULL);
        lo = (unsigned)keep[i] + 1;
    }
    check(sys_close_range(lo, ~0U), "close_range", NULL, NULL);
}

/* A seccomp action: allow | errno:<n> | kill-thread | kill-process | trap | log | trace:<n>. */
static bool seccomp_action(const char *v, size_t len, uint32_t *out)
{
    static const struct { const char *name; uint32_t act; } plain[] = {
        { "allow", SCMP_ACT_ALLOW }, { "kill-thread", SCMP_ACT_KILL_THREAD }, { "kill-process", SCMP_ACT_KILL_PROCESS },
        { "trap", SCMP_ACT_TRAP }, { "log", SCMP_ACT_LOG } };
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++)
        if (strlen(plain[i].name) == len && strncmp(v, plain[i].name, len) == 0) {
            *out = plain[i].act;
            return true;
        }
    bool is_errno = len > 6 && strncmp(v, "errno:", 6) == 0, is_trace = len > 6 && strncmp(v, "trace:", 6) == 0;
    if (!is_errno && !is_trace)
        return false;
    unsigned long n = 0;
    for (size_t i = 6; i < len; i++) {
        if (!isdigit((unsigned char)v[i]) || (n = n * 10 + (unsigned long)(v[i] - '0')) > 65535)
            return false;
    }
    if (is_errno && n > 4095) /* the kernel caps a returned errno at MAX_ERRNO */
        return false;
    *out = is_errno ? SCMP_ACT_ERRNO((uint32_t)n) : SCMP_ACT_TRACE((uint32_t)n);
    return true;
}

/* A decimal unsigned 64-bit number, digits only. */
static bool u64(const char *v, uint64_t *out)
{
    char *end;
    if (!isdigit((unsigned char)*v))
        return false;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (*end || errno)
        return false;
    *out = n;
    return true;
}

/* `<index>:<op>:<value>[:<value2>]` */
static bool seccomp_arg(char *spec, struct scmp_arg_cmp *out)
{
    static const struct { const char *name; enum scmp_compare op; } cmp_ops[] = {
        { "ne", SCMP_CMP_NE }, { "lt", SCMP_CMP_LT }, { "le", SCMP_CMP_LE }, { "eq", SCMP_CMP_EQ },
        { "ge", SCMP_CMP_GE }, { "gt", SCMP_CMP_GT }, { "masked_eq", SCMP_CMP_MASKED_EQ } };
    char *idx = strsep(&spec, ":"), *op = strsep(&spec, ":"), *v1 = strsep(&spec, ":"), *v2 = strsep(&spec, ":");
    uint64_t index, a = 0, b = 0;
    if (!idx || !op || !v1 || spec || !u64(idx, &index) || index > 5 || !u64(v1, &a) || (v2 && !u64(v2, &b)))
        return false;
    *out = (struct scmp_arg_cmp){ .arg = (unsigned)index, .op = 0, .datum_a = a, .datum_b = b };
    for (size_t i = 0; i < sizeof cmp_ops / sizeof cmp_ops[0]; i++)
        if (strcmp(op, cmp_ops[i].name) == 0)
            out->op = cmp_ops[i].op;
    /* masked_eq: value = mask, value2 = datum (OCI, docker and SCMP_CMP_MASKED_EQ alike) */
    return out->op != 0 && (out->op != SCMP_CMP_MASKED_EQ || v2);
}

/* `rule=<action> <name>[,<name>...] [<arg>]...` */
static void seccomp_rule(scmp_filter_ctx ctx, uint32_t def, const char *text)
{
    char *copy = strdup(text), *rest = copy;
    if (!copy)
        die(125, "strdup", NULL, NULL, ENOMEM, NULL);
    char *action = strsep(&rest, " "), *names = strsep(&rest, " ");
    uint32_t act;
    if (!names || !*names || !seccomp_action(action, strlen(action), &act))
        bad_value("rule=%s: expected '<action> <syscall>[,<syscall>...] [<index>:<op>:<value>[:<value2>]]...'", text);
    struct scmp_arg_cmp args[6];
    unsigned nargs = 0;
    for (char *arg; (arg = strsep(&rest, " ")) != NULL;) {
        if (nargs == 6 || !seccomp_arg(arg, &args[nargs++]))
            bad_value("rule=%s: bad argument condition (at most 6 of <index 0..5>:<ne|lt|le|eq|ge|gt|masked_eq>:"
                      "<value>[:<value2>], masked_eq with both)", text);
    }
    /* A rule with the filter's default action changes nothing; libseccomp refuses it (EACCES). */
    if (act == def) {
        free(copy);
        return;
    }
    for (char *name; (name = strsep(&names, ",")) != NULL;) {
        if (!*name)
            bad_value("rule=%s: empty syscall name", text);
        int nr = seccomp_syscall_resolve_name(name);
        if (nr == __NR_SCMP_ERROR)
            continue; /* unknown on this architecture: skipped, as runc does */
        int rc = seccomp_rule_add_array(ctx, act, nr, nargs, args);
        if (rc == -EEXIST)
            continue; /* the same rule is already there */
        if (rc < 0)
            die(125, "seccomp_rule_add", NULL, name, -rc, "libseccomp refused the rule for this syscall");
    }
    free(copy);
}

static void op_seccomp(const struct step *s)
{
    const char *dv = get(s, "default");
    uint32_t def;
    if (!seccomp_action(dv, strlen(dv), &def))
        bad_value("default=%s is not a seccomp action (allow, errno:<n>, kill-thread, kill-process, trap, log, "
                  "trace:<n>)", dv);
    scmp_filter_ctx ctx = seccomp_init(def);
    if (!ctx)
        die(125, "seccomp_init", NULL, NULL, EINVAL, "libseccomp could not create a filter");
    /* Why: libseccomp sets no_new_privs by default when loading; only the no-new-privs step may. */
    int rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
    if (rc < 0)
        die(125, "seccomp_attr_set(SCMP_FLTATR_CTL_NNP)", NULL, NULL, -rc, NULL);
    /* the kernel's errno from seccomp_load, not libseccomp's ECANCELED (libseccomp >= 2.5) */
    (void)seccomp_attr_set(ctx, SCMP_FLTATR_API_SYSRAWRC, 1);
    for (int i = 0; i < s->nkv; i++) {
        if (strcmp(s->kv[i].key, "arch") != 0)
            continue;
        uint32_t arch = seccomp_arch_resolve_name(s->kv[i].val);
        if (!arch)
            bad_value("arch=%s is not an architecture libseccomp knows (x86_64, x86, x32, aarch64, arm, ...)",
                      s->kv[i].val);
        rc = seccomp_arch_add(ctx, arch);
        if (rc < 0 && rc != -EEXIST) /* the native one is always there */
            die(125, "seccomp_arch_add", NULL, s->kv[i].val, -rc, NULL);
    }
    for (int i = 0; i < s->nkv; i++)
        if (strcmp(s->kv[i].key, "rule") == 0)
            seccomp_rule(ctx, def, s->kv[i].val);
    rc = seccomp_load(ctx);
    if (rc < 0) {
        int err = -rc;
        bool nnp = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1;
        const char *hint = (err == EACCES || err == EPERM) && !nnp
            ? "loading a seccomp filter needs no_new_privs or CAP_SYS_ADMIN: place the seccomp step after "
              "no-new-privs, or before setresuid/capabilities drop CAP_SYS_ADMIN; when sandbox runs inside another "
              "sandbox, the outer one needs `process.seccomp: unconfined` and capabilities"
            : err == EINVAL ? "the kernel refused the filter (too many filters or instructions, or an action it lacks)"
            : g.filtered ? "a filter loaded by an earlier seccomp step may deny seccomp(2) or prctl(2), which loading "
                           "this one needs"
            : NULL;
        seccomp_release(ctx);
        die(125, "seccomp_load", NULL, NULL, err, hint);
    }
    seccomp_release(ctx);
}

static void op_new_session(const struct step *s)
{
    (void)s;
    /* Why only without a terminal on stdin: a new session has no controlling terminal, so TIOCSTI on
     * an inherited terminal fd fails (EPERM) even unconfined (bwrap --new-session). An interactive
     * shell on a terminal keeps its job control; the seccomp tty filter covers it. H forwards the
     * terminal's signals to us from now on (we are no longer in its foreground group). */
    if (isatty(0))
        return;
    check(setsid(), "setsid", NULL, NULL);
}

static int status_code(int status)
{
    return WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 125;
}

/* The init: PID 1 of the sandbox. Reaps every orphan, forwards signals to the target and exits
 * with the target's status once it is gone (the kernel then kills the rest of the pid namespace). */
static _Noreturn void init_loop(pid_t target)
{
    for (;;) {
        siginfo_t si;
        int sig = sigwaitinfo(&g.sigs, &si);
        if (sig < 0)
            continue; /* EINTR (SIGCONT after a stop) */
        if (sig == SIGCHLD) {
            int status;
            pid_t pid;
            while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
                if (pid == target)
                    _exit(status_code(status));
            continue;
        }
        /* Why skip SI_KERNEL: the terminal already sent it to its whole foreground group. */
        if (si.si_code != SI_KERNEL)
            kill(target, sig);
    }
}

static void op_init(const struct step *s)
{
    (void)s;
    pid_t self = getpid();
    pid_t target = fork();
    check(target, "fork", NULL, NULL);
    if (target == 0) {
        g.parent = self;
        arm_pdeathsig();
        return; /* the target continues with the remaining steps */
    }
    /* Signals stay blocked (inherited from H) and are taken with sigwaitinfo(): blocked signals
     * are queued even for a PID 1 without handlers, which would otherwise drop them. */
    close(g.ctl);
    close(g.sync_rd);
    /* Why dumpable again: the init never execs, and a `join: {sandbox: ...}` opens /proc/<init>/ns/<type>,
     * which a non-dumpable process allows only to holders of CAP_SYS_PTRACE on the host (a rootless
     * join would fail). From here on it holds what the target holds (the same root and cwd, no control
     * socket, no pipe), and its binary is the sealed memfd copy. A filter may deny prctl: then it
     * simply stays non-dumpable. */
    prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
    /* Why subreaper: without a new pid namespace the orphans would otherwise go to the host's init. */
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    init_loop(target);
}

static char **collect(const struct step *s, const char *key)
{
    int n = 0;
    char **list = calloc((size_t)s->nkv + 1, sizeof *list);
    if (!list)
        die(125, "calloc", NULL, NULL, ENOMEM, NULL);
    for (int i = 0; i < s->nkv; i++)
        if (strcmp(s->kv[i].key, key) == 0)
            list[n++] = (char *)s->kv[i].val;
    return list;
}

/* PATH search like execvp(), in the target's environment; returns the errno to report. */
static int exec_search(char **argv, char **envp, char failed[PATH_MAX])
{
    const char *path = "/bin:/usr/bin"; /* execvp's default when the environment has no PATH */
    for (char **e = envp; *e; e++)
        if (strncmp(*e, "PATH=", 5) == 0)
            path = *e + 5;
    bool eacces = false;
    for (const char *dir = path;; dir++) {
        size_t len = strcspn(dir, ":");
        char cand[PATH_MAX];
        if (snprintf(cand, sizeof cand, "%.*s%s%s", (int)len, len ? dir : ".", "/", argv[0]) < PATH_MAX) {
            execve(cand, argv, envp);
            if (errno == EACCES) {
                eacces = true;
                memcpy(failed, cand, sizeof cand);
            } else if (errno != ENOENT && errno != ENOTDIR && errno != ESTALE && errno != ENODEV) {
                memcpy(failed, cand, sizeof cand);
                return errno;
            }
        }
        dir += len;
        if (!*dir)
            break;
    }
    return eacces ? EACCES : ENOENT;
}

static void op_exec(const struct step *s)
{
    char **argv = collect(s, "arg"), **envp = collect(s, "env");
    char failed[PATH_MAX];
    snprintf(failed, sizeof failed, "%s", argv[0]);
    /* Why: the target must start with a clean signal state. H blocked these signals (and ignored
     * SIGPIPE); a blocked mask and SIG_IGN survive execve(). Signals forwarded before this point are
     * delivered right here, with their default action. */
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            signal(sig, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    umask(g.umask_saved);
    int err;
    if (strchr(argv[0], '/')) {
        execve(argv[0], argv, envp);
        err = errno;
    } else {
        err = exec_search(argv, envp, failed);
    }
    const char *hint = err == ENOENT && !strchr(argv[0], '/') ? "not found in the PATH of the target's environment" : NULL;
    die(err == ENOENT ? 127 : 126, "execve", NULL, failed, err, hint);
}

/* ------------------------------------------------------------------------------------------ */
/* The table of ops                                                                           */

static const struct op ops[] = {
    { ST_ENTER, "join", "type path", op_join },
    { ST_ENTER, "unshare-user", "", op_unshare_user },
    { ST_CLONE, "unshare", "type", op_unshare },
    { ST_CLONE, "timens-offset", "clock seconds ?nanoseconds", op_timens_offset },
    { ST_CLONE, "clone", "flags", op_clone },
    { ST_MOUNTS, "propagation", "target mode", op_propagation },
    { ST_MOUNTS, "clone-tree", "id source ?recursive", op_clone_tree },
    { ST_MOUNTS, "attach-tree", "id target ?create", op_attach_tree },
    { ST_MOUNTS, "mkdir", "path ?mode", op_mkdir },
    { ST_MOUNTS, "mount", "target ?source ?fstype ?flags ?data ?create", op_mount },
    { ST_MOUNTS, "setattr", "target attr ?recursive", op_setattr },
    { ST_MOUNTS, "symlink", "target path", op_symlink },
    { ST_MOUNTS, "write-file", "path ?mode ?content", op_write_file },
    { ST_MOUNTS, "pivot-root", "path", op_pivot_root },
    { ST_MOUNTS, "mask", "path", op_mask },
    { ST_FINISH, "sethostname", "name", op_sethostname },
    { ST_FINISH, "setdomainname", "name", op_sethostname },
    { ST_FINISH, "link-up", "name", op_link_up },
    { ST_FINISH, "chdir", "path", op_chdir },
    { ST_FINISH, "setgroups", "groups", op_setgroups },
    { ST_FINISH, "setresgid", "gid", op_setresgid },
    { ST_FINISH, "setresuid", "uid", op_setresuid },
    { ST_FINISH, "capabilities", "keep", op_capabilities },
    { ST_FINISH, "no-new-privs", "", op_no_new_privs },
    { ST_FINISH, "close-fds", "", op_close_fds },
    { ST_FINISH, "seccomp", "default *arch *rule", op_seccomp },
    { ST_FINISH, "new-session", "", op_new_session },
    { ST_FINISH, "init", "", op_init },
    { ST_FINISH, "exec", "+arg *env", op_exec },
};

/* ------------------------------------------------------------------------------------------ */
/* Plan parsing                                                                               */

/* Percent-decoding in place: only %25 %09 %0A exist. */
static bool decode(char *s)
{
    char *w = s;
    for (char *r = s; *r;) {
        if (*r != '%') {
            *w++ = *r++;
            continue;
        }
        if (r[1] == '2' && r[2] == '5')
            *w++ = '%';
        else if (r[1] == '0' && r[2] == '9')
            *w++ = '\t';
        else if (r[1] == '0' && (r[2] == 'A' || r[2] == 'a'))
            *w++ = '\n';
        else
            return false;
        r += 3;
    }
    *w = '\0';
    return true;
}

/* Walks an op's key list; returns the marker of `key` (' ' once, '?' at most once, '*' any number,
 * '+' at least once) or 0 when the op does not declare it. */
static char key_kind(const char *keys, const char *key, size_t len)
{
    for (const char *p = keys; *p; p += strspn(p, " ")) {
        char kind = strchr("?*+", *p) ? *p++ : ' ';
        size_t n = strcspn(p, " ");
        if (n == len && strncmp(p, key, len) == 0)
            return kind;
        p += n;
    }
    return 0;
}

static void check_keys(const struct step *s)
{
    for (int i = 0; i < s->nkv; i++)
        if (!key_kind(s->op->keys, s->kv[i].key, strlen(s->kv[i].key)))
            plan_error(s->line, "%s: unknown key '%s'", s->op->name, s->kv[i].key);
    for (const char *p = s->op->keys; *p; p += strspn(p, " ")) {
        char kind = strchr("?*+", *p) ? *p++ : ' ';
        size_t len = strcspn(p, " ");
        int n = 0;
        for (int i = 0; i < s->nkv; i++)
            n += strlen(s->kv[i].key) == len && strncmp(s->kv[i].key, p, len) == 0;
        if ((kind == ' ' && n != 1) || (kind == '?' && n > 1) || (kind == '+' && n < 1))
            plan_error(s->line, "%s: key '%.*s' must appear %s (found %d)", s->op->name, (int)len, p,
                       kind == ' ' ? "once" : kind == '?' ? "at most once" : "at least once", n);
        p += len;
    }
}

static void parse_line(char *line, int lineno)
{
    if (!*line || *line == '#')
        return;
    int nfields = 1;
    for (char *p = line; *p; p++)
        nfields += *p == '\t';
    if (nfields < 2)
        plan_error(lineno, "expected <stage> TAB <op> [TAB key=value]...");
    struct step *st = realloc(g.steps, sizeof *g.steps * (size_t)(g.nsteps + 1));
    struct kv *kv = calloc((size_t)nfields, sizeof *kv);
    if (!st || !kv)
        plan_error(lineno, "out of memory");
    g.steps = st;
    st = &g.steps[g.nsteps++];
    *st = (struct step){ .line = lineno, .kv = kv };
    char *stage = strsep(&line, "\t"), *opname = strsep(&line, "\t");
    int si = 0;
    while (si < ST_COUNT && strcmp(stage_names[si], stage) != 0)
        si++;
    if (si == ST_COUNT)
        plan_error(lineno, "unknown stage '%s' (expected enter, clone, mounts or finish)", stage);
    st->stage = (enum stage)si;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (ops[i].stage == st->stage && strcmp(ops[i].name, opname) == 0)
            st->op = &ops[i];
    if (!st->op)
        plan_error(lineno, "unknown op '%s' in stage %s", opname, stage);
    for (char *field; (field = strsep(&line, "\t")) != NULL;) {
        char *eq = strchr(field, '=');
        if (!eq || eq == field)
            plan_error(lineno, "%s: field '%s' is not key=value", opname, field);
        *eq = '\0';
        if (!decode(eq + 1))
            plan_error(lineno, "%s: bad %% escape in %s= (only %%25 %%09 %%0A exist)", opname, field);
        kv[st->nkv++] = (struct kv){ field, eq + 1 };
    }
    check_keys(st);
}

/* Stages in order; one clone, last of its stage; one exec, last of all; at most one init. */
static void check_structure(void)
{
    const struct step *clone = NULL, *exec = NULL, *init = NULL;
    for (int i = 0; i < g.nsteps; i++) {
        const struct step *s = &g.steps[i];
        if (i > 0 && s->stage < g.steps[i - 1].stage)
            plan_error(s->line, "stage %s after stage %s: stages go enter, clone, mounts, finish",
                       stage_names[s->stage], stage_names[g.steps[i - 1].stage]);
        if (exec)
            plan_error(s->line, "%s after exec: exec must be the last step", s->op->name);
        if (clone && s->stage == ST_CLONE)
            plan_error(s->line, "%s after clone: clone must be the last step of stage clone", s->op->name);
        if ((s->op->fn == op_clone && clone) || (s->op->fn == op_init && init))
            plan_error(s->line, "a second %s step", s->op->name);
        clone = s->op->fn == op_clone ? s : clone;
        init = s->op->fn == op_init ? s : init;
        if (s->op->fn == op_pivot_root)
            g.newroot = get(s, "path");
        if (s->op->fn == op_new_session)
            g.new_session = !isatty(0); /* the same test C makes: fd 0 is shared */
        exec = s->op->fn == op_exec ? s : exec;
    }
    if (!clone)
        plan_error(0, "the plan has no clone step");
    if (!exec)
        plan_error(0, "the plan has no exec step");
}

static void load_plan(void)
{
    struct stat st;
    int fd = open(g.plan_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) < 0) {
        send_error(125, "plan", "open", g.plan_path, errno_name(errno), "the plan file can't be read");
        _exit(125);
    }
    if (st.st_size > (16 << 20))
        plan_error(0, "the plan file is larger than 16 MiB");
    size_t len = 0, size = (size_t)st.st_size;
    char *text = g.plan_text = malloc(size + 1); /* kept: the steps point into it */
    if (!text)
        plan_error(0, "out of memory");
    while (len < size) {
        ssize_t n = read(fd, text + len, size - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            plan_error(0, "the plan file could not be read completely");
        len += (size_t)n;
    }
    close(fd);
    text[len] = '\0';
    if (strlen(text) != len)
        plan_error(0, "the plan file contains a NUL byte");
    int lineno = 0;
    for (char *rest = text, *line; (line = strsep(&rest, "\n")) != NULL;)
        parse_line(line, ++lineno);
    check_structure();
}

static long long now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void run_stage(enum stage stage)
{
    for (int i = 0; i < g.nsteps; i++) {
        if (g.steps[i].stage != stage)
            continue;
        g.cur = &g.steps[i];
        bool last = strcmp(g.cur->op->name, "exec") == 0;
        /* exec does not return: with --trace it is reported as it starts */
        if (g.trace && last)
            send_line("TRACE %s:%d %s started", stage_names[stage], g.cur->line, g.cur->op->name);
        long long start = g.trace ? now_us() : 0;
        g.cur->op->fn(g.cur);
        g.filtered |= g.cur->op->fn == op_seccomp;
        /* Why after every step: a change of uid, gid or capabilities (and a join of a user namespace)
         * resets the dumpable flag to fs.suid_dumpable; we stay non-dumpable until execve. (Not once a
         * seccomp filter is loaded: it may deny prctl; nothing after it changes credentials when
         * no_new_privs is set, and otherwise the reset goes to suid_dumpable, never to 1.) */
        if (!g.filtered)
            prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
        if (g.trace)
            send_line("TRACE %s:%d %s %lld us", stage_names[stage], g.cur->line, g.cur->op->name, now_us() - start);
    }
    g.cur = NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* C: released by H, then mounts, finish, exec                                                */

static _Noreturn void child_main(void)
{
    close(g.sync_wr);
    g.sync_wr = -1;
    /* Why PDEATHSIG first: before GO, the controller may still be setting us up; if H is killed
     * now, nobody would ever release or reap us. */
    arm_pdeathsig();
    char byte;
    ssize_t n;
    do
        n = read(g.sync_rd, &byte, 1);
    while (n < 0 && errno == EINTR);
    if (n != 1)
        _exit(125); /* H aborted or died: the controller already knows */
    /* Plan modes are exact; the caller's umask comes back before exec. */
    g.umask_saved = umask(0);
    run_stage(ST_MOUNTS);
    run_stage(ST_FINISH);
    _exit(125); /* not reached: exec is the last step and does not return */
}

/* ------------------------------------------------------------------------------------------ */
/* H: control messages, supervision                                                           */

static struct { char buf[512]; size_t len; } rb;

/* Read once from the socket: >0 bytes, 0 EOF, <0 error. */
static ssize_t ctl_fill(void)
{
    ssize_t n;
    if (rb.len == sizeof rb.buf)
        rb.len = 0; /* a line longer than the buffer: garbage, drop it */
    do
        n = read(g.ctl, rb.buf + rb.len, sizeof rb.buf - rb.len);
    while (n < 0 && errno == EINTR);
    if (n > 0)
        rb.len += (size_t)n;
    return n;
}

static bool ctl_line(char *out, size_t size)
{
    char *nl = memchr(rb.buf, '\n', rb.len);
    if (!nl)
        return false;
    size_t len = (size_t)(nl - rb.buf);
    snprintf(out, size, "%.*s", (int)len, rb.buf);
    rb.len -= len + 1;
    memmove(rb.buf, nl + 1, rb.len);
    return true;
}

static int signal_number(const char *msg)
{
    char *end;
    if (strncmp(msg, "SIGNAL ", 7) != 0)
        return 0;
    errno = 0;
    long n = strtol(msg + 7, &end, 10);
    return isdigit((unsigned char)msg[7]) && *end == '\0' && !errno && n > 0 && n < NSIG ? (int)n : 0;
}

static _Noreturn void abort_run(int code)
{
    if (g.child > 0) {
        kill(g.child, SIGKILL);
        waitpid(g.child, NULL, 0);
    }
    _exit(code);
}

static void wait_go(void)
{
    char msg[128];
    for (;;) {
        while (!ctl_line(msg, sizeof msg))
            if (ctl_fill() <= 0)
                abort_run(125); /* the controller died */
        int sig = signal_number(msg);
        if (strcmp(msg, "GO") == 0)
            return;
        if (strcmp(msg, "ABORT") == 0)
            abort_run(125);
        if (sig) {
            sigaddset(&g.queued, sig); /* delivered once C is released */
            continue;
        }
        send_error(125, "control", "", "", "", "unexpected message while waiting for GO");
        abort_run(125);
    }
}

static void forward(int sig)
{
    kill(g.child, sig);
    if (g.grace_armed || (sig != SIGTERM && sig != SIGHUP && sig != SIGINT))
        return;
    /* Why a grace timer: a PID 1 without a handler ignores SIGTERM, even from the parent namespace. */
    g.grace_armed = true;
    struct itimerspec t = { .it_value = { g.grace_ms / 1000, (g.grace_ms % 1000) * 1000000 } };
    if (g.grace_ms == 0 || timerfd_settime(g.tfd, 0, &t, NULL) < 0)
        kill(g.child, SIGKILL);
}

static _Noreturn void finish(int status)
{
    int code = status_code(status);
    send_line("EXIT %d", code);
    _exit(code);
}

static _Noreturn void supervise(void)
{
    int sfd = signalfd(-1, &g.sigs, SFD_CLOEXEC | SFD_NONBLOCK);
    g.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
    if (sfd < 0 || g.tfd < 0) {
        send_error(125, "supervise", sfd < 0 ? "signalfd" : "timerfd_create", "", errno_name(errno), "");
        abort_run(125);
    }
    for (int sig = 1; sig < NSIG; sig++)
        if (sigismember(&g.queued, sig) == 1)
            forward(sig);
    for (;;) {
        struct pollfd p[3] = { { g.ctl, POLLIN, 0 }, { sfd, POLLIN, 0 }, { g.tfd, POLLIN, 0 } };
        if (poll(p, 3, -1) < 0)
            continue; /* EINTR */
        struct signalfd_siginfo si;
        while (p[1].revents && read(sfd, &si, sizeof si) == sizeof si) {
            int status;
            pid_t pid;
            if (si.ssi_signo == SIGCHLD) {
                while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
                    if (pid == g.child)
                        finish(status);
            } else if (si.ssi_code != SI_KERNEL || g.new_session) {
                /* Why skip SI_KERNEL: the terminal sent it to its foreground group, C included; unless C
                 * left that group with setsid (new-session): then only we got it. */
                kill(g.child, (int)si.ssi_signo);
            }
        }
        uint64_t expirations;
        if (p[2].revents && read(g.tfd, &expirations, sizeof expirations) > 0)
            kill(g.child, SIGKILL);
        if (p[0].revents) {
            ssize_t n = ctl_fill();
            char msg[128];
            while (ctl_line(msg, sizeof msg))
                if (signal_number(msg)) /* anything else is ignored while C runs */
                    forward(signal_number(msg));
            if (n <= 0) /* the controller died: nobody would supervise C */
                abort_run(128 + SIGKILL);
        }
    }
}

/* Why: unshare(CLONE_NEWUSER) and setns() keep our kernel uid/gid and supplementary groups (root's
 * on the host). When the maps don't cover them (root mapping inside 0 to 100000 outside), every step
 * of C would run with an unmapped fsuid, so mkdir or open(O_CREAT) on its own tmpfs fails with
 * EOVERFLOW, and the host's groups (gid 0) would reach the target. Once the controller has written
 * the maps (after the first GO), become uid/gid 0 of the namespace where they are mapped and drop the
 * supplementary groups where setgroups is allowed, as runc's nsexec does. */
static void become_userns_root(void)
{
    if (!g.userns)
        return;
    g.cur = g.userns;
    if (setresgid(0, 0, 0) < 0 && errno != EINVAL) /* EINVAL: 0 is not mapped; finish sets the ids */
        die(125, "setresgid", NULL, "0", errno, NULL);
    if (setresuid(0, 0, 0) < 0 && errno != EINVAL)
        die(125, "setresuid", NULL, "0", errno, NULL);
    char buf[8] = "";
    int fd = open("/proc/self/setgroups", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    if (fd >= 0)
        close(fd);
    if (n > 0 && strncmp(buf, "allow", 5) == 0)
        check(setgroups(0, NULL), "setgroups", NULL, "(none)");
    g.cur = NULL;
}

/* ------------------------------------------------------------------------------------------ */

/* Why a sealed copy (CVE-2019-5736): a process that shares a sandbox with us (a join, later exec)
 * could open /proc/<our pid>/exe and write through it into the host's runtime binary. We run from a
 * copy in a sealed memfd instead: it can't be written, grown or shrunk, by anyone, and it is gone
 * with us. runc does the same (libcontainer/nsenter/cloned_binary.c). Costs one copy of the binary
 * per start; measured in docs/architecture.md. Failures are reported once the control socket is up. */
static const char *reexec_sys;
static int reexec_err;

static void run_from_sealed_copy(char **argv)
{
    extern char **environ;
    const int seals = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;
    int self = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    if (self < 0) {
        reexec_sys = "open(/proc/self/exe)";
        reexec_err = errno;
        return;
    }
    int have = fcntl(self, F_GET_SEALS);
    if (have >= 0) {
        close(self);
        if ((have & seals) != seals) { /* a memfd, but not sealed by us: refuse rather than loop */
            reexec_sys = "fcntl(F_GET_SEALS)";
            reexec_err = EPERM;
        }
        return;
    }
    struct stat st;
    int mfd = memfd_create("sandbox-init", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
    if (mfd < 0 && errno == EINVAL) /* before Linux 6.3 MFD_EXEC is unknown (and implied) */
        mfd = memfd_create("sandbox-init", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    reexec_sys = mfd < 0 ? "memfd_create" : "fstat";
    if (mfd >= 0 && fstat(self, &st) == 0) {
        off_t off = 0;
        reexec_sys = "sendfile";
        while (off < st.st_size) {
            ssize_t n = sendfile(mfd, self, &off, (size_t)(st.st_size - off));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
        }
        if (off == st.st_size) {
            reexec_sys = "fcntl(F_ADD_SEALS)";
            if (fcntl(mfd, F_ADD_SEALS, seals) == 0) {
                close(self);
                reexec_sys = "fexecve";
                fexecve(mfd, argv, environ);
            }
        }
    }
    reexec_err = errno ? errno : EIO;
    close(self);
    if (mfd >= 0)
        close(mfd);
}

static _Noreturn void usage(const char *why)
{
    fprintf(stderr, "sandbox-init: %s\nusage: sandbox-init --plan FILE --control SOCKET [--grace-ms N] [--trace]\n"
                    "       sandbox-init --version\n", why);
    exit(125);
}

static void connect_control(const char *path)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof addr.sun_path)
        usage("the control socket path is too long");
    memcpy(addr.sun_path, path, strlen(path));
    g.ctl = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (g.ctl < 0 || connect(g.ctl, (struct sockaddr *)&addr, sizeof addr) < 0) {
        int err = errno;
        fprintf(stderr, "sandbox-init: cannot connect to the control socket %s: %s (%s)\n", path,
                errno_name(err), strerror(err));
        exit(125);
    }
}

static int read_cap_last(void)
{
    char buf[16] = "";
    int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    if (fd >= 0)
        close(fd);
    if (n > 0 && atoi(buf) > 0 && atoi(buf) < 64)
        return atoi(buf);
    int cap = 0; /* no /proc: probe the bounding set */
    while (cap < 63 && prctl(PR_CAPBSET_READ, cap + 1) >= 0)
        cap++;
    return cap;
}

int main(int argc, char **argv)
{
    const char *control = NULL;
    run_from_sealed_copy(argv);
    /* Why: until the final execve nobody may ptrace us or open /proc/<pid>/{root,cwd,fd,mem}: we still
     * hold the host's root, cwd and fds (runc CVE-2016-9962). C inherits it with our memory map. */
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    /* execveat() of the memfd named us after it ("memfd:sandbox-i"): ps and /proc/1/comm keep the real name */
    prctl(PR_SET_NAME, "sandbox-init", 0, 0, 0);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--version") == 0) {
            printf("sandbox-init %s (protocol %d)\n", VERSION, PROTOCOL_VERSION);
            return 0;
        }
        if (strcmp(argv[i], "--trace") == 0) {
            g.trace = true;
            continue;
        }
        if (i + 1 >= argc)
            usage("missing value");
        if (strcmp(argv[i], "--plan") == 0)
            g.plan_path = argv[++i];
        else if (strcmp(argv[i], "--control") == 0)
            control = argv[++i];
        else if (strcmp(argv[i], "--grace-ms") == 0) {
            char *end;
            const char *v = argv[++i];
            errno = 0;
            g.grace_ms = strtol(v, &end, 10);
            /* an empty value or a sign/space-led one is a caller's bug, not "0 = SIGKILL at once" */
            if (!isdigit((unsigned char)*v) || *end || errno || g.grace_ms < 0 || g.grace_ms > 86400000)
                usage("--grace-ms wants a number of milliseconds");
        } else
            usage("unknown argument");
    }
    if (!g.plan_path || !control)
        usage("--plan and --control are required");

    /* Why block these now: signals that arrive during setup must be forwarded to C once it runs,
     * not kill H; they are read later through a signalfd (which also gives si_code). */
    sigemptyset(&g.sigs);
    int sigs[] = { SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH };
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaddset(&g.sigs, sigs[i]);
    sigprocmask(SIG_BLOCK, &g.sigs, NULL);
    sigemptyset(&g.queued);
    signal(SIGPIPE, SIG_IGN);

    connect_control(control);
    if (reexec_sys) {
        bool noexec = strcmp(reexec_sys, "memfd_create") == 0 && reexec_err == EACCES;
        send_error(125, "start", reexec_sys, "/proc/self/exe", errno_name(reexec_err),
                   noexec ? "vm.memfd_noexec is 2 on this host: executable memfds are forbidden, and sandbox-init "
                            "runs from a sealed memfd copy of itself (so nothing in a sandbox can overwrite the binary "
                            "through /proc/PID/exe); set vm.memfd_noexec to 0 or 1"
                          : "sandbox-init runs from a sealed copy of itself (so nothing in a sandbox can overwrite the "
                            "binary through /proc/PID/exe); making that copy failed");
        _exit(125);
    }
    load_plan();
    g.cap_last = read_cap_last(); /* read now: after pivot_root there may be no /proc */

    run_stage(ST_ENTER);
    /* Why dumpable for this window only: the controller (or newuidmap) writes our uid_map/gid_map, and
     * /proc/<pid>/ files of a non-dumpable process belong to root. Nothing else is in the new user
     * namespace yet. A joined user namespace has its maps: no window (runc's nsexec does the same). */
    bool window = g.userns && g.userns->op->fn == op_unshare_user;
    if (window && prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0)
        die(125, "prctl(PR_SET_DUMPABLE)", NULL, NULL, errno, NULL);
    send_line("ENTERED %d", (int)getpid());
    wait_go();
    if (window && prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
        die(125, "prctl(PR_SET_DUMPABLE)", NULL, NULL, errno, NULL);
    become_userns_root();
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0); /* a uid change resets it to fs.suid_dumpable */
    run_stage(ST_CLONE); /* ends with clone: C never comes back here */
    send_line("CLONED %d", (int)g.child);
    wait_go();
    char go = 1;
    if (write(g.sync_wr, &go, 1) < 0) {
        /* C is gone already (killed from outside): supervise() reaps it and reports EXIT */
    }
    supervise();
}
