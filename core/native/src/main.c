/*
 * sandbox-init: the single-threaded native runtime that executes a sandbox plan.
 * main.c: startup (arguments, the sealed memfd re-exec, the mode: `run` = the monitor M, `gc`, or the
 * helper mode driven over --control) and the stage sequence of H drawn below. The other files:
 * monitor.c (M's flow and its side of the conversation), host.c (host steps: runtime dir, checks,
 * cgroups, id maps), netlink.c (veth), journal.c (undo journal, state.json, teardown, gc), plan.c
 * (plan model, parser, op table), errors.c, ns.c, mount.c, process.c, seccomp.c, control.c (H's side);
 * docs/architecture.md lists what each owns.
 *
 * Why native at all: a JVM is multithreaded, and the kernel refuses unshare(CLONE_NEWUSER) and
 * setns() into a user namespace for a multithreaded process (EINVAL). runc solves the same problem
 * for Go with nsexec.c. Java only compiles the plan; the launcher execs `sandbox-init run` with it.
 * The contract is core/native/PROTOCOL.md; the message pairs are repeated here (compare runc's
 * libcontainer/sync.go):
 *
 *  monitor M (sandbox-init run)      helper H (forked by M)                child C (in the sandbox)
 *  ----------------------------      ----------------------                ------------------------
 *  sealed memfd re-exec, parse the
 *  whole plan; runtime dir + lock,
 *  journal, state.json; stage
 *  prepare (checks, cgroup-create)
 *  socketpair; fork H -------------> PR_SET_DUMPABLE 0 (until execve)
 *                                    stage enter: open every join file,
 *                                    then setns each; unshare-user
 *                                    [new user ns: PR_SET_DUMPABLE 1]
 *             <------------------ "ENTERED <pid of H>"
 *  stage identity: setgroups,
 *  uid_map/gid_map of H (or
 *  newuidmap/newgidmap), cgroup
 *  placement of H
 *             ------------------> "GO"            (or "ABORT": H exits 125 silently)
 *                                    [PR_SET_DUMPABLE 0 again]
 *                                    stage clone: unshare time, offsets,
 *                                    clone(flags) ----------------------> C: PR_SET_PDEATHSIG(SIGKILL),
 *                                                                            blocks reading a pipe from H
 *             <------------------ "CLONED <host pid of C>"
 *  state.json; stage connect:
 *  veth into /proc/<C>/ns/net
 *             ------------------> "GO"            (or "ABORT": H kills C, exits 125)
 *                                    writes 1 byte to the pipe ---------> stage mounts (paths below the new
 *                                                                         root: openat2(RESOLVE_IN_ROOT), mounts
 *                                                                         through fds), stage finish (new-session,
 *                                                                         seccomp, ...), exec (control fd is CLOEXEC)
 *             <------------------------------------------------------- on failure only:
 *                                                                         "ERROR <code> TAB <step> TAB <syscall>
 *                                                                          TAB <path> TAB <errno name> TAB <hint>"
 *                                                                         then _exit(code)
 *  "SIGNAL <n>" ----------------->   the copy of a terminal signal H got too:
 *                                    dropped; else kill(C, n); TERM/HUP/INT
 *                                    start a stop (grace timer)
 *                                    [terminal signals: kill(C, n) only where
 *                                    C could not get it; timeout: SIGTERM]
 *             <------------------ "TIMEOUT <ms>"     (the timeout step's timer expired)
 *             <------------------ "STARTED"          (run mode: the target was exec'd)
 *             <------------------ "KILLED <signal> <ms> <why>"  (grace ran out, or a 2nd SIGINT)
 *                                    waitpid(C)
 *             <------------------ "EXIT <status>"   then exit(status)
 *  EOF: waitpid(H); teardown (the
 *  journal in reverse); exit(status)
 *
 * ERROR may also come from H (enter/clone steps, a bad plan, a bad message); H then exits 125 without
 * EXIT. "SIGNAL" received while H waits for a GO is queued and handled once C is released. EOF on
 * the socket means M died: H kills C with SIGKILL and exits. A signal reaches C once (PROTOCOL.md,
 * "Signals"): H forwards the terminal's (SI_KERNEL) only where C could not get it itself (another
 * process group, or a pid namespace's PID 1 with the default action), and drops M's copy of one it
 * got itself. H and C stay non-dumpable until execve, except in the id-map window drawn above. In
 * helper mode (--plan --control) a test harness plays M's part over a Unix socket.
 *
 * Exit codes: 125 setup failure, 126 target not executable, 127 target not found, the target's own
 * code, 128+N when it was killed by signal N, 124 when the timeout expired. H prints nothing to
 * stderr, except when the control socket itself is unusable; M prints one line per failure.
 */
#include "runtime.h"
#include "front.h"

/* ------------------------------------------------------------------------------------------ */

/* Why a sealed copy (CVE-2019-5736): a process that shares a sandbox with us (a join, later exec)
 * could open /proc/<our pid>/exe and write through it into the host's runtime binary. We run from a
 * copy in a sealed memfd instead: it can't be written, grown or shrunk, by anyone, and it is gone
 * with us. runc does the same (libcontainer/nsenter/cloned_binary.c). Costs one copy of the binary
 * per start; measured in docs/architecture.md. Failures are reported once the control socket is up. */
const char *reexec_sys;
int reexec_err;

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

const char *reexec_hint(void)
{
    bool noexec = reexec_sys && strcmp(reexec_sys, "memfd_create") == 0 && reexec_err == EACCES;
    return noexec ? "vm.memfd_noexec is 2 on this host: executable memfds are forbidden, and sandbox-init "
                    "runs from a sealed memfd copy of itself (so nothing in a sandbox can overwrite the binary "
                    "through /proc/PID/exe); set vm.memfd_noexec to 0 or 1"
                  : "sandbox-init runs from a sealed copy of itself (so nothing in a sandbox can overwrite the "
                    "binary through /proc/PID/exe); making that copy failed";
}

_Noreturn void usage(const char *why)
{
    fprintf(stderr, "sandbox-init: %s\nusage: sandbox-init run --plan FILE [--consume] [--grace-ms N] [--trace]\n"
                    "       sandbox-init gc\n"
                    "       sandbox-init --plan FILE --control SOCKET [--grace-ms N] [--trace]\n"
                    "       sandbox-init --version\n", why);
    exit(125);
}

long parse_grace_ms(const char *v)
{
    char *end;
    errno = 0;
    long ms = strtol(v, &end, 10);
    /* an empty value or a sign/space-led one is a caller's bug, not "0 = SIGKILL at once" */
    if (!isdigit((unsigned char)*v) || *end || errno || ms < 0 || ms > 86400000)
        usage("--grace-ms wants a number of milliseconds");
    return ms;
}

/* Why block these from the start: signals that arrive during setup must be forwarded to C once it
 * runs, not kill H (or M); they are read later through a signalfd (which also gives si_code). H
 * inherits the mask from M across fork. */
void block_signals(void)
{
    sigemptyset(&g.sigs);
    int sigs[] = { SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH };
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaddset(&g.sigs, sigs[i]);
    sigprocmask(SIG_BLOCK, &g.sigs, NULL);
    sigemptyset(&g.queued);
    signal(SIGPIPE, SIG_IGN);
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

/* H's flow once its plan is loaded and g.ctl is connected: in helper mode after connect + load_plan,
 * in run mode in the child M forked (the plan parsed by M). */
_Noreturn void helper_main(void)
{
    g.cap_last = read_cap_last(); /* read now: after pivot_root there may be no /proc */
    /* Why now: supervision reads /proc/<C>/status; after a join of a mount namespace "/proc" may be
     * another pid namespace's. C closes it first thing. */
    g.procfd = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);

    /* Why here: the host's view and the caller's identity, before any join, user namespace or pivot;
     * C is cloned from us and keeps the programs (seccomp.c, "The filter cache"). */
    seccomp_prepare();
    open_joins();
    run_stage(ST_ENTER);
    /* Why dumpable for this window only: the monitor (or newuidmap) writes our uid_map/gid_map, and
     * /proc/<pid>/ files of a non-dumpable process belong to root. Nothing else is in the new user
     * namespace yet. A joined user namespace has its maps: no window (runc's nsexec does the same). */
    bool window = g.userns && g.userns->op->fn == op_unshare_user;
    if (window && prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0)
        die(125, "prctl(PR_SET_DUMPABLE)", NULL, NULL, errno, NULL);
    send_line("ENTERED %d", (int)getpid());
    crash_point("helper-entered");
    wait_go();
    if (window && prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
        die(125, "prctl(PR_SET_DUMPABLE)", NULL, NULL, errno, NULL);
    become_userns_root();
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0); /* a uid change resets it to fs.suid_dumpable */
    run_stage(ST_CLONE); /* ends with clone: C never comes back here */
    crash_point("helper-cloned");
    send_line("CLONED %d", (int)g.child);
    wait_go();
    char go = 1;
    if (write(g.sync_wr, &go, 1) < 0) {
        /* C is gone already (killed from outside): supervise() reaps it and reports EXIT */
    }
    supervise();
}

/*
 * The distribution's bin/sandbox is a symbolic link to this binary (dist/pom.xml): called by the name
 * `sandbox` (argv[0]'s last component; a helper under another name, SANDBOX_HELPER, stays the runtime),
 * we are the launcher. Why not the sh script in front: every exec costs ~0.7 ms on this
 * project's VM (the dynamic loader's CPU feature probing: cpuid traps to the hypervisor), a cached `up`
 * then is ~3 execs (us, the sealed copy, the target) instead of 4 and no sh (docs/performance.md).
 * What needs no JVM stays here - `up` (the front; its miss execs the script with SANDBOX_FRONT=miss),
 * gc, ps, wait, down, logs - everything else execs the script, libexec/sandbox-launcher (the source
 * tree's bin/sandbox), which finds the distribution from its own path as before.
 */
static void launcher(char **argv)
{
    const char *base = strrchr(argv[0], '/');
    base = base ? base + 1 : argv[0];
    if (strcmp(base, "sandbox") != 0)
        return;
    const char *verb = argv[1] ? argv[1] : "";
    if ((strcmp(verb, "up") == 0 && !getenv("SANDBOX_FRONT")) || strcmp(verb, "gc") == 0 || is_verb(verb)) {
        argv[0] = "sandbox-init"; /* the sealed re-exec keeps argv: it must not come back here */
        return;
    }
    char home[PATH_MAX], script[PATH_MAX + 32];
    if (!front_home(home, sizeof home)) {
        fprintf(stderr, "sandbox: /proc/self/exe is neither a distribution's libexec/sandbox-init nor its bin/sandbox\n");
        exit(125);
    }
    snprintf(script, sizeof script, "%s/libexec/sandbox-launcher", home);
    argv[0] = script;
    execv(script, argv);
    fprintf(stderr, "sandbox: execve %s: %s\n", script, errno_name(errno));
    exit(125);
}

int main(int argc, char **argv)
{
    const char *control = NULL;
    if (argc >= 1)
        launcher(argv);
    /* the state verbs only read state and send signals: no sealed copy, no monitor */
    if (argc >= 2 && is_verb(argv[1]))
        return verbs_main(argc, argv);
    /* `up`: the warm path (front.c); returns as `run --plan <cached plan>` on a hit, else it execs the launcher */
    if (argc >= 2 && strcmp(argv[1], "up") == 0)
        front_main(&argc, &argv);
    if (argc >= 2 && strcmp(argv[1], "source-stamp") == 0)
        return source_stamp_main(argc, argv);
    run_from_sealed_copy(argv);
    /* Why: until the final execve nobody may ptrace us or open /proc/<pid>/{root,cwd,fd,mem}: we still
     * hold the host's root, cwd and fds (runc CVE-2016-9962). C inherits it with our memory map. */
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    /* execveat() of the memfd named us after it ("memfd:sandbox-i"): ps and /proc/1/comm keep the real name */
    prctl(PR_SET_NAME, "sandbox-init", 0, 0, 0);
    if (argc >= 2 && strcmp(argv[1], "run") == 0)
        return monitor_main(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "lab-up") == 0)
        return lab_main(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "gc") == 0) {
        char base[PATH_MAX];
        /* `sandbox gc ARGS`: the launcher sends every gc here; its usage errors are the state verbs' (exit 2) */
        if (argc == 3 && (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0)) {
            printf("Usage: sandbox gc\n"
                   "Finish the teardown of every dead sandbox of the caller (its monitor gone) from its journal, and\n"
                   "remove the finished records of detached sandboxes; prints 'removed NAME' for each.\n"
                   "Exit status: 0; 1 when something could not be removed; 2 on a usage error.\n");
            return 0;
        }
        if (argc != 2) {
            fprintf(stderr, "sandbox gc: %s '%s' (sandbox gc --help shows the usage)\n",
                    argv[2][0] == '-' ? "unknown option" : "unexpected argument", argv[2]);
            return 2;
        }
        if (runtime_base(base, sizeof base) < 0) {
            fprintf(stderr, "sandbox: gc: no runtime directory (its path is too long)\n");
            return 1;
        }
        return gc_main(base);
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--version") == 0) {
            printf("sandbox-init %s (protocol %d)\n", VERSION, PROTOCOL_VERSION);
            return 0;
        }
        if (strcmp(argv[i], "--trace") == 0) {
            g.trace = true;
            continue;
        }
        if (strcmp(argv[i], "--connect-window") == 0) { /* the plan has a connect user-net step (issue 14) */
            g.connect_window = true;
            continue;
        }
        if (i + 1 >= argc)
            usage("missing value");
        if (strcmp(argv[i], "--plan") == 0)
            g.plan_path = argv[++i];
        else if (strcmp(argv[i], "--control") == 0)
            control = argv[++i];
        else if (strcmp(argv[i], "--grace-ms") == 0)
            g.grace_ms = parse_grace_ms(argv[++i]);
        else
            usage("unknown argument");
    }
    if (!g.plan_path || !control)
        usage("--plan and --control are required");

    block_signals();
    connect_control(control);
    if (reexec_sys) {
        send_error(125, "start", reexec_sys, "/proc/self/exe", errno_name(reexec_err), reexec_hint());
        _exit(125);
    }
    load_plan();
    helper_main();
}
