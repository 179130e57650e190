/*
 * ns.c: the namespace steps H runs before C exists. Stage enter: join existing namespaces (every
 * namespace file opened before the first setns), unshare the user namespace; after the GO, H becomes
 * root of its user namespace. Stage clone: the time namespace and its offsets, then clone() of C.
 */
#include "runtime.h"

static const struct name_val ns_types[] = {
    { "user", CLONE_NEWUSER }, { "mnt", CLONE_NEWNS }, { "pid", CLONE_NEWPID }, { "uts", CLONE_NEWUTS },
    { "ipc", CLONE_NEWIPC }, { "net", CLONE_NEWNET }, { "cgroup", CLONE_NEWCGROUP }, { "time", CLONE_NEWTIME },
    { NULL, 0 } };
static const struct name_val clone_flags[] = {
    { "CLONE_NEWNS", CLONE_NEWNS }, { "CLONE_NEWUTS", CLONE_NEWUTS }, { "CLONE_NEWIPC", CLONE_NEWIPC },
    { "CLONE_NEWNET", CLONE_NEWNET }, { "CLONE_NEWPID", CLONE_NEWPID }, { "CLONE_NEWCGROUP", CLONE_NEWCGROUP },
    { NULL, 0 } };
static const struct name_val unshare_types[] = { { "time", CLONE_NEWTIME }, { NULL, 0 } };
static const struct name_val clocks[] = { { "monotonic", 1 }, { "boottime", 1 }, { NULL, 0 } };

/* ------------------------------------------------------------------------------------------ */
/* Stage enter (H)                                                                            */

/* The namespace file of every join step, opened by open_joins(); indexed like g.steps. */
static int *join_fds;

/* Why every file is opened before the first setns (as nsenter does): once the mount namespace is
 * joined, a later /proc/PID/ns/<type> resolves in the joined sandbox's /proc, where PID is another
 * process or none (ENOENT); and once the user namespace is joined, we lack the privilege over the
 * host's /proc. The setns calls keep the plan's order (as root the controller puts the user
 * namespace last: joining it first would drop our capabilities over the others; rootless first:
 * setns(2) of a net, pid or mount namespace also wants CAP_SYS_ADMIN in our own user namespace). */
void open_joins(void)
{
    for (int i = 0; i < g.nsteps; i++) {
        const struct step *s = &g.steps[i];
        if (s->op->fn != op_join)
            continue;
        if (!join_fds) {
            join_fds = calloc((size_t)g.nsteps, sizeof *join_fds);
            if (!join_fds)
                die(125, "calloc", NULL, NULL, ENOMEM, NULL);
        }
        g.cur = s;
        const char *path = get(s, "path");
        one_name(s, "type", ns_types, 0); /* a bad type is reported before anything is opened */
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        check(fd, "open", "join", path);
        join_fds[i] = fd + 1; /* 0: not opened */
    }
    g.cur = NULL;
}

void op_join(const struct step *s)
{
    const char *path = get(s, "path"), *type = get(s, "type");
    int nstype = (int)one_name(s, "type", ns_types, 0);
    int fd = join_fds ? join_fds[s - g.steps] - 1 : -1;
    if (fd < 0)
        die(125, "setns", type, path, EBADF, "internal: the namespace file was not opened before stage enter");
    check(setns(fd, nstype), "setns", type, path);
    if (nstype == CLONE_NEWUSER)
        g.userns = s;
    close(fd);
    join_fds[s - g.steps] = 0;
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

void op_unshare_user(const struct step *s)
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

void op_unshare(const struct step *s)
{
    /* Why unshare and not a clone flag: CLONE_NEWTIME (0x80) lies in the CSIGNAL bits of clone(2).
     * unshare(CLONE_NEWTIME) only moves our future children, like CLONE_NEWPID. */
    check(unshare((int)one_name(s, "type", unshare_types, 0)), "unshare", get(s, "type"), NULL);
}

void op_timens_offset(const struct step *s)
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

void op_clone(const struct step *s)
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
    take_early_signals(); /* what came until now reached H only: a child inherits no pending signal */
    /* Why a dumpable window for a user-mode network (issue 14): pasta runs as the caller, not as root,
     * and must open /proc/<C>/ns/net and /proc/<C>/ns/user; proc(5)/ptrace(2): a non-dumpable
     * process's ns files need CAP_SYS_PTRACE in the user namespace its memory was created in (the
     * host's, since our execve). C inherits the flag through clone; it clears it itself once released,
     * before anything of the sandbox runs, and H clears its own right away. Nothing is in the sandbox
     * meanwhile (the same reasoning as the id-map window, PROTOCOL.md). */
    if (g.connect_window && prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0)
        die(125, "prctl(PR_SET_DUMPABLE)", NULL, NULL, errno, NULL);
    pid_t pid = sys_clone(flags | SIGCHLD);
    if (pid != 0 && g.connect_window)
        prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    if (pid < 0)
        die(125, "clone", NULL, NULL, errno, NULL);
    if (pid == 0)
        child_main();
    g.child = pid;
    close(g.sync_rd);
    g.sync_rd = -1;
}


/* Why: unshare(CLONE_NEWUSER) and setns() keep our kernel uid/gid and supplementary groups (root's
 * on the host). When the maps don't cover them (root mapping inside 0 to 100000 outside), every step
 * of C would run with an unmapped fsuid, so mkdir or open(O_CREAT) on its own tmpfs fails with
 * EOVERFLOW, and the host's groups (gid 0) would reach the target. Once the controller has written
 * the maps (after the first GO), become uid/gid 0 of the namespace where they are mapped and drop the
 * supplementary groups where setgroups is allowed, as runc's nsexec does. */
void become_userns_root(void)
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
