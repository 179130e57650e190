package dev.sandbox.it;

import static dev.sandbox.it.HelperRun.step;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The helper's own hardening (issue 7), driven with hand-written plans through {@link HelperRun}:
 * the {@code seccomp} and {@code new-session} ops, the non-dumpable setup with its id-map window, and
 * the sealed memfd copy it runs from. Real kernel, real pty (script(1)), no namespaces needed.
 */
class HelperHardeningIT {

    /** The contract's "tty" filter: TIOCSTI (0x5412) and TIOCLINUX (0x541C) compared under a 32-bit mask. */
    static final String TTY_FILTER = step("finish", "seccomp", "default=allow",
            "rule=errno:1 ioctl 1:masked_eq:4294967295:21522", "rule=errno:1 ioctl 1:masked_eq:4294967295:21532");
    static final String CLONE = step("clone", "clone", "flags=");

    private HelperRun run;

    @BeforeEach
    void setUp() throws IOException {
        assumeTrue(Cli.isRoot(), "drives the helper as root (and as sbtest through runuser)");
        run = new HelperRun();
    }

    @AfterEach
    void tearDown() throws IOException {
        if (run != null) run.close();
    }

    private static String exec(Path probe, String... args) {
        String[] kv = new String[args.length + 1];
        kv[0] = "arg=" + probe;
        for (int i = 0; i < args.length; i++) kv[i + 1] = "arg=" + args[i];
        return step("finish", "exec", kv);
    }

    private static void assumeScript() {
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/script")), "script(1) from util-linux is missing");
    }

    // ------------------------------------------------------------------------------ seccomp

    @Test
    void withoutAFilterTiocstiWorksOnThisPtySoTheFilterTestsBelowCanFail() throws Exception {
        assumeScript();
        Path probe = HelperRun.probe();
        HelperRun.Result low = run.wrappedIn("/usr/bin/script").run(CLONE + exec(probe, "tiocsti", "low"));
        HelperRun.Result high = run.wrappedIn("/usr/bin/script").run(CLONE + exec(probe, "tiocsti", "high"));
        assertTrue(low.out().contains("tiocsti-low rc=0"), low::toString);
        assertTrue(high.out().contains("tiocsti-high rc=0"), "the kernel truncates the request to 32 bits: " + high);
    }

    @Test
    void theStackedTtyFilterDeniesTiocstiAlsoWithHighBitsSetOnARealPty() throws Exception {
        assumeScript();
        Path probe = HelperRun.probe();
        for (String variant : new String[] {"low", "high"}) {
            // stacked: a first filter (as the default profile's allow list would be), then the tty filter
            String first = step("finish", "seccomp", "default=allow", "arch=x86", "rule=errno:38 uname");
            HelperRun.Result r = run.wrappedIn("/usr/bin/script").run(CLONE + first + TTY_FILTER + exec(probe, "tiocsti", variant));
            assertEquals(0, r.exit(), r::toString);
            assertTrue(r.out().contains("tiocsti-" + variant + " rc=-1 errno=1"), "EPERM from the filter: " + r);
        }
    }

    @Test
    void stackedFiltersBothApplyAndLoadingWorksWithoutNoNewPrivsWhileCapSysAdminIsHeld() throws Exception {
        Path probe = HelperRun.probe();
        // a first filter: default errno 38 with an allow list (seccomp and prctl included: the second filter needs them)
        String first = step("finish", "seccomp", "default=errno:38", "arch=x86", "arch=x32",
                "rule=allow seccomp,prctl,execve,brk,mmap,mprotect,munmap,arch_prctl,set_tid_address,set_robust_list,rseq,"
                        + "prlimit64,newfstatat,fstat,write,exit_group,access,openat,read,close,pread64,getrandom,futex,"
                        + "rt_sigprocmask,rt_sigaction,sendto,ioctl,no_such_syscall_anywhere");
        HelperRun.Result r = run.run(CLONE + first + TTY_FILTER + exec(probe, "uname"));
        assertEquals(0, r.exit(), r::toString);
        assertTrue(r.out().contains("uname rc=-1 errno=38"), "the first filter's default: " + r);
        HelperRun.Result nnp = run.run(CLONE + TTY_FILTER + exec(probe, "dumpable"));
        assertTrue(nnp.out().contains("nnp=0"), "the seccomp op must not set no_new_privs (SCMP_FLTATR_CTL_NNP=0): " + nnp);
    }

    @Test
    void loadingWithNeitherNoNewPrivsNorCapSysAdminIsAClearError() throws Exception {
        Path probe = HelperRun.probe();
        String drop = step("finish", "setresgid", "gid=65534") + step("finish", "setresuid", "uid=65534")
                + step("finish", "capabilities", "keep=");
        HelperRun.Result r = run.run(CLONE + drop + TTY_FILTER + exec(probe, "dumpable"));
        assertEquals(125, r.exit(), r::toString);
        String e = r.error();
        // libseccomp's seccomp_load when the filter is compiled; the seccomp(2) call itself when it came from the filter cache
        assertTrue(e.contains("finish:5 seccomp\tseccomp_load\t\tEACCES\t") || e.contains("finish:5 seccomp\tseccomp(SECCOMP_SET_MODE_FILTER)\t\tEACCES\t"),
                "step, call and errno: " + e);
        assertTrue(e.contains("no_new_privs or CAP_SYS_ADMIN") && e.contains("process.seccomp: unconfined"), "the hint: " + e);
        assertFalse(r.out().contains("dumpable="), "the target never ran");
    }

    @Test
    void afterNoNewPrivsAnUnprivilegedTargetIsFilteredAndKillProcessKillsIt() throws Exception {
        Path probe = HelperRun.probe();
        String drop = step("finish", "setresgid", "gid=65534") + step("finish", "setresuid", "uid=65534")
                + step("finish", "capabilities", "keep=") + step("finish", "no-new-privs");
        // a duplicate rule (EEXIST) and an unknown syscall name are skipped, as the contract says
        String filter = step("finish", "seccomp", "default=allow", "arch=x86",
                "rule=kill-process getppid", "rule=errno:1 nosuchcall,ioctl 1:masked_eq:4294967295:21522",
                "rule=errno:1 ioctl 1:masked_eq:4294967295:21522", "rule=allow getpid");
        HelperRun.Result r = run.run(CLONE + drop + filter + exec(probe, "getppid"));
        assertEquals(128 + 31, r.exit(), "killed by SIGSYS: " + r);
        assertFalse(r.out().contains("alive"), r::toString);
    }

    @Test
    void aMalformedRuleIsAValueErrorNamingTheStepAndTheRule() throws Exception {
        Path probe = HelperRun.probe();
        HelperRun.Result r = run.run(CLONE + step("finish", "seccomp", "default=allow", "rule=errno:1 ioctl 1:like:3")
                + exec(probe, "dumpable"));
        assertEquals(125, r.exit(), r::toString);
        assertTrue(r.error().contains("finish:2 seccomp") && r.error().contains("rule=errno:1 ioctl 1:like:3"), r::toString);
        HelperRun.Result arch = run.run(CLONE + step("finish", "seccomp", "default=allow", "arch=vax") + exec(probe, "dumpable"));
        assertTrue(arch.error().contains("arch=vax"), arch::toString);
    }

    @Test
    void aHelperRunningUnderAnOuterFilterThatDeniesUnshareSaysANestedSandboxNeedsUnconfined() throws Exception {
        Path probe = HelperRun.probe();
        try (HelperRun inner = new HelperRun().serveOnly()) {
            java.util.concurrent.CompletableFuture<HelperRun.Result> innerResult = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
                try {
                    return inner.run(step("enter", "unshare-user") + CLONE + exec(probe, "dumpable"));
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });
            // the outer "sandbox": a filter like the default profile's for namespaces, then the inner helper as its target
            String[] args = inner.command().stream().map(a -> "arg=" + a).toArray(String[]::new);
            HelperRun.Result outer = run.run(CLONE + step("finish", "seccomp", "default=allow", "rule=errno:1 unshare")
                    + step("finish", "exec", args));
            HelperRun.Result r = innerResult.get(60, java.util.concurrent.TimeUnit.SECONDS);
            assertEquals(125, outer.exit(), "the inner helper failed: " + outer);
            String e = r.error();
            assertTrue(e.contains("enter:1 unshare-user\tunshare\t\tEPERM\t"), "step, call and errno: " + r);
            assertTrue(e.contains("Seccomp: 2") && e.contains("process.seccomp: unconfined"), "the nested-sandbox hint: " + r);
        }
    }

    // ------------------------------------------------------------------------------ paths below the new root

    @Test
    void pathsBelowTheNewRootResolveInsideItAndARemountGoesThroughTheResolvedFd() throws Exception {
        Path root = Files.createDirectories(run.dir.resolve("root"));
        String r0 = root.toString();
        // a plan that fails before pivot_root, so its effects on the (host) root directory stay visible here
        String plan = CLONE.replace("flags=", "flags=CLONE_NEWNS")
                + step("mounts", "propagation", "target=/", "mode=rslave")
                + step("mounts", "mkdir", "path=" + r0 + "/real")
                + step("mounts", "symlink", "target=/real", "path=" + r0 + "/conf")
                + step("mounts", "mkdir", "path=" + r0 + "/conf/stack")
                + step("mounts", "mount", "source=tmpfs", "target=" + r0 + "/a", "fstype=tmpfs", "create=dir")
                + step("mounts", "mount", "target=" + r0 + "/a", "flags=MS_REMOUNT|MS_RDONLY")
                + step("mounts", "write-file", "path=" + r0 + "/a/x", "content=hi")
                + step("mounts", "pivot-root", "path=" + r0)
                + step("finish", "exec", "arg=/nope");
        HelperRun.Result r = run.run(plan);
        assertEquals(125, r.exit(), r::toString);
        assertTrue(r.error().contains("mounts:8 write-file\topen\t/a/x\tEROFS\t"),
                "the remount (mount(2) on /proc/self/fd/N) made /a read-only; the path is the sandbox's: " + r);
        assertTrue(Files.isDirectory(root.resolve("real/stack")), "the absolute link /conf -> /real resolved inside the root");
        assertFalse(Files.exists(Path.of("/real/stack")), "nothing on the host's /real");
        assertTrue(Files.isDirectory(root.resolve("a")), "the mount point was created");
        assertFalse(ItHost.hostMounts().stream().anyMatch(m -> m.mountPoint().startsWith(r0)), "the mounts stayed in the child's namespace");
    }

    // ------------------------------------------------------------------------------ new-session

    @Test
    void withStdinNotATerminalTheTargetStartsInANewSessionWithoutAControllingTerminal() throws Exception {
        assumeScript();
        Path probe = HelperRun.probe();
        String newSession = step("finish", "new-session");
        HelperRun.Result without = run.wrappedIn("/usr/bin/script", "</dev/null").run(CLONE + exec(probe, "session"));
        assertTrue(without.out().contains("leader=0 tty_errno=0"), "control: the pty is the controlling terminal: " + without);
        HelperRun.Result r = run.wrappedIn("/usr/bin/script", "</dev/null").run(CLONE + newSession + exec(probe, "session"));
        assertEquals(0, r.exit(), r::toString);
        assertTrue(r.out().contains("leader=1 tty_errno=6"), "setsid: /dev/tty is ENXIO: " + r);
        HelperRun.Result tty = run.wrappedIn("/usr/bin/script").run(CLONE + newSession + exec(probe, "session"));
        assertTrue(tty.out().contains("leader=0 tty_errno=0"), "stdin is a terminal: nothing is done: " + tty);
    }

    @Test
    void afterNewSessionTheHelperForwardsCtrlCFromTheTerminal() throws Exception {
        assumeScript();
        Path probe = HelperRun.probe();
        AtomicReference<String> typed = new AtomicReference<>("no");
        HelperRun.Result r = run.wrappedIn("/usr/bin/script", "</dev/null").stdinFromPipe().whileRunning(p -> {
            try {
                if (!run.awaitOutput("ready", 20_000)) return;
                p.getOutputStream().write(3); // ^C through the pty's line discipline: SIGINT (SI_KERNEL) to its foreground group
                p.getOutputStream().flush();
                typed.set("yes");
            } catch (IOException | InterruptedException e) {
                throw new IllegalStateException(e);
            }
        }).run(CLONE + step("finish", "new-session") + exec(probe, "sleep"));
        assertEquals("yes", typed.get(), r::toString);
        assertEquals(128 + 2, r.exit(), "the target died of the forwarded SIGINT: " + r);
        assertFalse(r.out().contains("slept"), r::toString);
    }

    // ------------------------------------------------------------------------------ dumpable, memfd

    private static long uidOf(String user) {
        return Long.parseLong(ItHost.must("id", "-u", user).out().strip());
    }

    /** The owner of /proc/PID/environ: the process's euid when it is dumpable, root when not (task_dump_owner). */
    private static long owner(long pid) {
        try {
            return ((Number) Files.getAttribute(Path.of("/proc/" + pid + "/environ"), "unix:uid")).longValue();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Test
    void theHelperAndTheChildAreNotDumpableUntilExecExceptWhileTheMapsOfANewUserNamespaceAreWritten() throws Exception {
        assumeTrue(ItHost.run("id", "sbtest").exit() == 0, "the unprivileged user sbtest is missing");
        long sbtest = uidOf("sbtest");
        Path probe = run.probeCopy();
        AtomicLong atEntered = new AtomicLong(-1);
        AtomicLong helperAtCloned = new AtomicLong(-1);
        AtomicLong childAtCloned = new AtomicLong(-1);
        AtomicLong helperPid = new AtomicLong();
        HelperRun.Result r = run.wrappedIn("runuser", "-u", "sbtest", "--").onEntered(pid -> {
            helperPid.set(pid);
            atEntered.set(owner(pid)); // dumpable: /proc/PID belongs to the process's own uid
            Files.writeString(Path.of("/proc/" + pid + "/setgroups"), "deny");
            Files.writeString(Path.of("/proc/" + pid + "/uid_map"), "0 " + sbtest + " 1\n");
            Files.writeString(Path.of("/proc/" + pid + "/gid_map"), "0 " + uidOf("sbtest") + " 1\n");
        }).onCloned(pid -> {
            helperAtCloned.set(owner(helperPid.get()));
            childAtCloned.set(owner(pid));
        }).run(step("enter", "unshare-user") + CLONE + step("finish", "setresuid", "uid=0") + exec(probe, "dumpable"));
        assertEquals(0, r.exit(), r::toString);
        assertEquals(sbtest, atEntered.get(), "dumpable in the id-map window (the maps' owner must be able to write them)");
        assertEquals(0, helperAtCloned.get(), "non-dumpable again after GO: /proc/<helper>/environ belongs to root");
        assertEquals(0, childAtCloned.get(), "the child inherits non-dumpable: /proc/<child>/environ belongs to root");
        assertTrue(r.out().contains("dumpable=1"), "the target is dumpable again after execve: " + r);

        AtomicLong noUserns = new AtomicLong(-1);
        HelperRun.Result plain = run.wrappedIn("runuser", "-u", "sbtest", "--").onEntered(pid -> noUserns.set(owner(pid)))
                .onCloned(pid -> {})
                .run(CLONE + exec(probe, "dumpable"));
        assertEquals(0, plain.exit(), plain::toString);
        assertEquals(0, noUserns.get(), "without a new user namespace there is no window: /proc/<helper>/environ belongs to root");
    }

    @Test
    void theHelperRunsFromASealedMemfdCopyThatCannotBeWrittenThroughProcPidExe() throws Exception {
        Path probe = HelperRun.probe();
        AtomicReference<String> exe = new AtomicReference<>();
        AtomicReference<String> comm = new AtomicReference<>();
        AtomicReference<Throwable> write = new AtomicReference<>();
        HelperRun.Result r = run.onEntered(pid -> {
            Path self = Path.of("/proc/" + pid + "/exe");
            exe.set(Files.readSymbolicLink(self).toString());
            comm.set(Files.readString(Path.of("/proc/" + pid + "/comm")).strip());
            write.set(assertThrows(IOException.class, () -> Files.write(self, new byte[] {0}, StandardOpenOption.WRITE),
                    "the sealed copy refuses writes, even from root"));
        }).run(CLONE + exec(probe, "dumpable"));
        assertEquals(0, r.exit(), r::toString);
        assertTrue(exe.get().startsWith("/memfd:sandbox-init"), "runs from a memfd: " + exe.get());
        assertEquals("sandbox-init", comm.get(), "keeps its name for ps and /proc/1/comm");
        byte[] onDisk = Files.readAllBytes(HelperRun.HELPER);
        assertTrue(onDisk.length > 0 && new String(onDisk, 0, 4, StandardCharsets.ISO_8859_1).equals("\u007fELF"), "the binary is intact");
    }
}
