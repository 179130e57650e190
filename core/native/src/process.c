/*
 * process.c: C's life and stage finish. C waits for H's release, runs stage mounts and stage finish:
 * host and domain name, lo up, cwd, groups/gid/uid, capabilities, no_new_privs, fds, new session,
 * the init (PID 1 loop), exec. Also the parent-death signal that ties C (and the init's target) to
 * its parent.
 */
#include "runtime.h"

/* ------------------------------------------------------------------------------------------ */
/* C: released by H, then mounts, finish, exec                                                */

_Noreturn void child_main(void)
{
    close(g.sync_wr);
    g.sync_wr = -1;
    if (g.procfd >= 0) /* the host's /proc: nothing in the sandbox may hold it (the init never execs) */
        close(g.procfd);
    g.procfd = -1;
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
    if (g.connect_window && prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) /* the window of op_clone ends */
        _exit(125);
    /* Plan modes are exact; the caller's umask comes back before exec. */
    g.umask_saved = umask(0);
    crash_point("child-mounts");
    run_stage(ST_MOUNTS);
    run_stage(ST_FINISH);
    _exit(125); /* not reached: exec is the last step and does not return */
}

/* ------------------------------------------------------------------------------------------ */
/* Parent death (C and the init's target)                                                     */

void arm_pdeathsig(void)
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
/* Stage finish (C)                                                                           */

void op_sethostname(const struct step *s) /* and setdomainname */
{
    const char *name = get(s, "name");
    bool host = strcmp(s->op->name, "sethostname") == 0;
    check(host ? sethostname(name, strlen(name)) : setdomainname(name, strlen(name)), s->op->name, NULL, name);
}

void op_link_up(const struct step *s)
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

void op_chdir(const struct step *s)
{
    check(chdir(get(s, "path")), "chdir", NULL, get(s, "path"));
}


void op_setgroups(const struct step *s)
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

void op_setresgid(const struct step *s)
{
    gid_t gid = (gid_t)number(s, "gid", 10, 0, UINT32_MAX - 1, 0);
    check(setresgid(gid, gid, gid), "setresgid", NULL, get(s, "gid"));
    arm_pdeathsig(); /* Why again: a change of the effective gid clears the parent-death signal. */
}

void op_setresuid(const struct step *s)
{
    uid_t uid = (uid_t)number(s, "uid", 10, 0, UINT32_MAX - 1, 0);
    /* Why keepcaps: leaving uid 0 would clear the permitted set; `capabilities` decides what stays. */
    check(prctl(PR_SET_KEEPCAPS, 1), "prctl(PR_SET_KEEPCAPS)", NULL, NULL);
    check(setresuid(uid, uid, uid), "setresuid", NULL, get(s, "uid"));
    arm_pdeathsig(); /* Why again: a change of the effective uid clears the parent-death signal. */
}

/* The resources of setrlimit(2) by the names the plan uses (RLIMIT_ without the prefix). */
static const struct name_val rlimit_names[] = {
    { "AS", RLIMIT_AS }, { "CORE", RLIMIT_CORE }, { "CPU", RLIMIT_CPU }, { "DATA", RLIMIT_DATA },
    { "FSIZE", RLIMIT_FSIZE }, { "LOCKS", RLIMIT_LOCKS }, { "MEMLOCK", RLIMIT_MEMLOCK },
    { "MSGQUEUE", RLIMIT_MSGQUEUE }, { "NICE", RLIMIT_NICE }, { "NOFILE", RLIMIT_NOFILE },
    { "NPROC", RLIMIT_NPROC }, { "RSS", RLIMIT_RSS }, { "RTPRIO", RLIMIT_RTPRIO }, { "RTTIME", RLIMIT_RTTIME },
    { "SIGPENDING", RLIMIT_SIGPENDING }, { "STACK", RLIMIT_STACK }, { NULL, 0 } };

/* A limit: decimal digits, or `unlimited` (RLIM_INFINITY). */
static rlim_t rlimit_value(const struct step *s, const char *key)
{
    const char *v = get(s, key);
    if (strcmp(v, "unlimited") == 0)
        return RLIM_INFINITY;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (!isdigit((unsigned char)*v) || *end || errno || n >= (unsigned long long)RLIM_INFINITY)
        bad_value("%s=%s is not a number below 2^64-1 or 'unlimited'", key, v);
    return (rlim_t)n;
}

void op_setrlimit(const struct step *s)
{
    int resource = (int)one_name(s, "resource", rlimit_names, 0);
    struct rlimit rl = { .rlim_cur = rlimit_value(s, "soft"), .rlim_max = rlimit_value(s, "hard") };
    if (rl.rlim_cur > rl.rlim_max)
        bad_value("soft=%s is above hard=%s", get(s, "soft"), get(s, "hard"));
    char what[64];
    snprintf(what, sizeof what, "RLIMIT_%s", get(s, "resource"));
    if (setrlimit(resource, &rl) == 0)
        return;
    int err = errno;
    const char *hint = NULL;
    if (err == EPERM && resource == RLIMIT_NOFILE)
        hint = "raising a hard limit needs CAP_SYS_RESOURCE in the initial user namespace, and nofile can't go above "
               "fs.nr_open (/proc/sys/fs/nr_open)";
    else if (err == EPERM)
        hint = "raising a hard limit needs CAP_SYS_RESOURCE in the initial user namespace (a rootless sandbox can only "
               "lower its limits)";
    die(125, "setrlimit", NULL, what, err, hint);
}

static int capset_all(uint64_t eff, uint64_t perm, uint64_t inh)
{
    struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct d[2] = {
        { (uint32_t)eff, (uint32_t)perm, (uint32_t)inh },
        { (uint32_t)(eff >> 32), (uint32_t)(perm >> 32), (uint32_t)(inh >> 32) } };
    return (int)syscall(SYS_capset, &h, d);
}

/* capabilities(7)'s names by number, for an error that names what the caller lacks */
static const char *const cap_names[] = {
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP",
    "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
    "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
    "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
    "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF",
    "CHECKPOINT_RESTORE" };

void op_capabilities(const struct step *s)
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
    /* Why name them: capset(2) can't add to the permitted set, and its EPERM doesn't say which one is missing
     * (`capabilities: all` as a root whose bounding set lacks one, e.g. in a container) */
    uint64_t missing = keep & ~perm;
    if (missing) {
        char what[512];
        size_t n = 0;
        what[0] = '\0';
        for (int cap = 0; cap <= g.cap_last && cap < 64 && n < sizeof what - 40; cap++) {
            if (!(missing >> cap & 1))
                continue;
            if ((size_t)cap < sizeof cap_names / sizeof *cap_names)
                n += (size_t)snprintf(what + n, sizeof what - n, "%sCAP_%s", n ? "," : "", cap_names[cap]);
            else
                n += (size_t)snprintf(what + n, sizeof what - n, "%scap %d", n ? "," : "", cap);
        }
        die(125, "capset", NULL, what, EPERM,
            "these kept capabilities are not in the caller's permitted set (grep Cap /proc/self/status): list the ones "
            "the command needs instead of `all`, or add a user namespace (its root has every capability in it)");
    }
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

void op_no_new_privs(const struct step *s)
{
    (void)s;
    check(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)", NULL, NULL);
}

void op_close_fds(const struct step *s)
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

void op_new_session(const struct step *s)
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


#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif

/* `sandbox exec -t`: a pty of the sandbox's own devpts (we are in its mount namespace: /dev/ptmx is
 * its pts/ptmx), its slave our controlling terminal and stdin/stdout/stderr, the master sent to the
 * monitor with SCM_RIGHTS (unix(7)) on the control socket, which proxies it to the caller's terminal.
 * Why TIOCGPTPEER (ioctl_tty(2), Linux 4.13) rather than open(ptsname()): the slave is opened from the
 * master itself, never by a path a process in the sandbox could replace. */
void op_pty(const struct step *s)
{
    (void)s;
    int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0) {
        int err = errno;
        die(125, "open", NULL, "/dev/ptmx", err, "sandbox exec -t needs the sandbox's own devpts (/dev/ptmx; `mount` with {type: dev}"
            " gives one): run without -t");
    }
    int unlock = 0;
    check(ioctl(master, TIOCSPTLCK, &unlock), "ioctl(TIOCSPTLCK)", NULL, "/dev/ptmx");
    int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    check(slave, "ioctl(TIOCGPTPEER)", NULL, "/dev/ptmx");
    /* a new session whose controlling terminal is the pty (credentials(7)): Ctrl-C typed into it is
     * the pty's SIGINT to our foreground group, as on any terminal */
    check(setsid(), "setsid", NULL, NULL);
    check(ioctl(slave, TIOCSCTTY, 0), "ioctl(TIOCSCTTY)", NULL, "/dev/ptmx");
    for (int fd = 0; fd <= 2; fd++)
        check(dup2(slave, fd), "dup2", NULL, "/dev/ptmx");
    if (slave > 2)
        close(slave);
    char msg[] = "PTY\n";
    struct iovec iov = { msg, sizeof msg - 1 };
    union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } u;
    memset(&u, 0, sizeof u);
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf };
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &master, sizeof(int));
    ssize_t n;
    do
        n = sendmsg(g.ctl, &mh, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    check(n, "sendmsg(SCM_RIGHTS)", NULL, NULL);
    close(master);
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
        /* Why skip the terminal's (SI_KERNEL): it sent it to its whole foreground group, which is ours,
         * and so the target's, unless the target left it (its own process group or session). */
        if (si.si_code != SI_KERNEL || getpgid(target) != getpgrp())
            kill(target, sig);
    }
}

void op_init(const struct step *s)
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

void op_exec(const struct step *s)
{
    char **argv = collect(s, "arg"), **envp = collect(s, "env");
    char failed[PATH_MAX];
    snprintf(failed, sizeof failed, "%s", argv[0]);
    crash_point("child-exec");
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
