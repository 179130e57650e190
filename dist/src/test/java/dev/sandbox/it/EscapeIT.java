package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The escapes of issue 7, tried as an attacker would, against the real kernel: with the default
 * process settings (no {@code capabilities}, {@code noNewPrivileges} or {@code seccomp} keys) none
 * of them works any more. Each negative case has a control that loosens the one default it relies
 * on and shows the same attempt succeeding, so the test can't pass for a reason unrelated to that
 * default (a missing tool, a typo in the probe).
 */
class EscapeIT {

    private SpecDir specs;
    private final List<String> names = new ArrayList<>();

    @BeforeEach
    void setUp() {
        assumeTrue(Cli.isRoot(), "the reproductions were made as root (like CI)");
        specs = new SpecDir();
    }

    @AfterEach
    void tearDown() {
        if (specs != null) specs.close();
        for (String name : names) ItHost.assertNothingLeftOf(name);
    }

    private Path spec(String name, String body) {
        names.add(name);
        return specs.spec(name + ".yaml", body);
    }

    /** The README's shape (a user namespace mapping root to root), a read-only bind of a host dir and a masked file. */
    private Path rootInside(String name, String processExtra, String command) {
        return spec(name, """
                namespaces:
                  user: {}
                  mount:
                    root: {type: tmpfs}
                    mounts:
                %s      - {type: bind, source: %s, target: /ro, readonly: true}
                    masks: [/ro/secret]
                  pid: {}
                process:
                  command: %s
                %s""".formatted(Specs.SYSTEM_MOUNTS, specs.dir.resolve("host"), command, processExtra));
    }

    private Path hostDir() {
        Path host = specs.dir.resolve("host");
        try {
            Files.createDirectories(host);
            Files.writeString(host.resolve("file"), "original\n");
            Files.writeString(host.resolve("secret"), "s3cr3t\n");
        } catch (IOException e) {
            throw new AssertionError(e);
        }
        return host;
    }

    private static final String REMOUNT = "[/bin/sh, -c, 'mount -o remount,rw,bind /ro && echo pwned > /ro/file; cat /ro/file']";
    private static final String UNMASK = "[/bin/sh, -c, 'umount /ro/secret; cat /ro/secret; true']";

    @Test
    void rootInsideCannotRemountAReadonlyBindWritable() throws IOException {
        Path host = hostDir();
        Cli.Result r = Cli.run("up", rootInside("esc-remount", "", REMOUNT).toString());
        assertEquals("original\n", Files.readString(host.resolve("file")), "the host file is unchanged:\n" + r);
        assertTrue(r.out().contains("original"), r::toString);
    }

    @Test
    void controlWithCapabilitiesAllTheSameRemountReachesTheHostAndIsWarned() throws IOException {
        Path host = hostDir();
        Cli.Result r = Cli.run("up", rootInside("esc-remount-all", "  capabilities: all\n", REMOUNT).toString());
        assertEquals("pwned\n", Files.readString(host.resolve("file")), "capabilities: all is the documented opt-out:\n" + r);
        assertTrue(r.err().contains("capabilities"), "the opt-out is warned:\n" + r);
    }

    @Test
    void rootInsideCannotUnmountAMask() {
        hostDir();
        Cli.Result r = Cli.run("up", rootInside("esc-unmask", "", UNMASK).toString());
        assertFalse(r.out().contains("s3cr3t"), "the masked file stays hidden:\n" + r);
    }

    @Test
    void controlWithCapabilitiesAllTheMaskCanBeUnmounted() {
        hostDir();
        Cli.Result r = Cli.run("up", rootInside("esc-unmask-all", "  capabilities: all\n", UNMASK).toString());
        assertTrue(r.out().contains("s3cr3t"), "without the default capability set the mask can be undone:\n" + r);
    }

    /** Without a user namespace: a tmpfs, a block device node of the host's disk, and a mount of it. */
    @Test
    void withoutAUserNamespaceRootCanNeitherMountNorMakeDeviceNodes() {
        Path spec = spec("esc-mknod", """
                namespaces:
                  mount:
                    root: {type: tmpfs}
                    mounts:
                %s      - {type: tmpfs, target: /x}
                  pid: {}
                process:
                  command: [/bin/sh, -c, 'mount -t tmpfs none /x 2>/dev/null && echo MOUNTED; mknod /x/vda b 8 0 2>/dev/null && echo MKNOD; true']
                """.formatted(Specs.SYSTEM_MOUNTS));
        Cli.Result r = Cli.run("up", spec.toString());
        assertEquals(0, r.exit(), r::toString);
        assertFalse(r.out().contains("MOUNTED"), "no CAP_SYS_ADMIN by default:\n" + r);
        assertFalse(r.out().contains("MKNOD"), "no CAP_MKNOD by default:\n" + r);
    }

    // ------------------------------------------------------------------------------ TIOCSTI

    /** A probe that pushes one byte into the input queue of the terminal on fd N; argv[2] sets high bits of the request. */
    private Path tiocstiProbe() throws IOException, InterruptedException {
        Path src = specs.write("tiocsti.c", """
                #include <errno.h>
                #include <stdio.h>
                #include <stdlib.h>
                #include <string.h>
                #include <sys/ioctl.h>
                int main(int argc, char **argv) {
                    int fd = atoi(argv[1]);
                    unsigned long req = TIOCSTI;
                    if (argc > 2) req |= 1UL << 32; /* CVE-2019-10063: a 64-bit compare misses this */
                    char c = ' ';
                    int rc = ioctl(fd, req, &c);
                    printf("TIOCSTI fd=%d high=%d rc=%d errno=%s\\n", fd, argc > 2, rc, rc < 0 ? strerror(errno) : "-");
                    return 0;
                }
                """);
        Path bin = specs.dir.resolve("tiocsti");
        Process cc = new ProcessBuilder("cc", "-O2", "-o", bin.toString(), src.toString()).inheritIO().start();
        assertTrue(cc.waitFor(60, TimeUnit.SECONDS) && cc.exitValue() == 0, "cc builds the probe");
        return bin;
    }

    private Path ttySpec(String name, Path probe, String seccomp, String command) {
        return spec(name, """
                namespaces:
                  user: {}
                  mount:
                    root: {type: tmpfs}
                    mounts:
                %s      - {type: bind, source: %s, target: /probe, readonly: true}
                  pid: {}
                process:
                  command: %s
                %s""".formatted(Specs.SYSTEM_MOUNTS, probe, command, seccomp.isEmpty() ? "" : "  seccomp: " + seccomp + "\n"));
    }

    /** Runs {@code shellCommand} under script(1): its stdin and stdout are a new pty. */
    private static String underPty(String shellCommand) throws IOException, InterruptedException {
        Process p = new ProcessBuilder("/usr/bin/script", "-qec", Warm.commandLine(shellCommand), "/dev/null").redirectErrorStream(true).start();
        p.getOutputStream().close();
        try {
            assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the sandbox under a pty ends");
        } finally {
            if (p.isAlive()) p.destroyForcibly();
        }
        return new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    }

    private static void assumeLegacyTiocsti() throws IOException {
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/script")), "script(1) from util-linux is missing");
        Path sysctl = Path.of("/proc/sys/dev/tty/legacy_tiocsti");
        assumeTrue(!Files.exists(sysctl) || Files.readString(sysctl).strip().equals("1"),
                "dev.tty.legacy_tiocsti is 0: the kernel itself refuses TIOCSTI, nothing to test");
    }

    @Test
    void theDefaultProfileDeniesTiocstiOnTheCallersTerminalAlsoWithHighBitsSet() throws Exception {
        assumeLegacyTiocsti();
        Path probe = tiocstiProbe();
        Path spec = ttySpec("esc-tiocsti", probe, "", "[/bin/sh, -c, '/probe 0; /probe 0 high']");
        String out = underPty(Cli.DIST.resolve("bin/sandbox") + " up " + spec);
        assertTrue(out.contains("TIOCSTI fd=0 high=0 rc=-1 errno=Operation not permitted"), out);
        assertTrue(out.contains("TIOCSTI fd=0 high=1 rc=-1 errno=Operation not permitted"), out);
    }

    @Test
    void unconfinedWithStdinNotATerminalTheNewSessionStillClosesTiocsti() throws Exception {
        assumeLegacyTiocsti();
        Path probe = tiocstiProbe();
        // stdout is the pty, stdin is not: the target starts in a new session, without a controlling terminal
        Path spec = ttySpec("esc-tiocsti-session", probe, "unconfined", "[/probe, '1']");
        String out = underPty(Cli.DIST.resolve("bin/sandbox") + " up " + spec + " </dev/null");
        assertTrue(out.contains("TIOCSTI fd=1 high=0 rc=-1"), out);
    }

    @Test
    void controlUnconfinedOnTheCallersTerminalTiocstiWorksAndIsWarned() throws Exception {
        assumeLegacyTiocsti();
        Path probe = tiocstiProbe();
        Path spec = ttySpec("esc-tiocsti-control", probe, "unconfined", "[/probe, '0']");
        String out = underPty(Cli.DIST.resolve("bin/sandbox") + " up " + spec);
        assertTrue(out.contains("TIOCSTI fd=0 high=0 rc=0"), "without the filter and with the terminal as stdin it works:\n" + out);
        assertTrue(out.contains("unconfined"), "the opt-out is warned:\n" + out);
    }

    // ------------------------------------------------------------------------------ joining a running sandbox

    /**
     * While a second sandbox joins the first one's user and pid namespaces, a process of the first
     * tries to create a file through {@code /proc/PID/root} of every process it sees, in a tight
     * loop. Before its pivot_root the joining process still has the host's root; it must not be
     * reachable (non-dumpable until exec, runc's CVE-2016-9962).
     */
    @Test
    void aJoiningProcessIsNotReachableThroughProcPidRootBeforeItsPivot() throws Exception {
        Path marker = specs.dir.resolve("escaped");
        Path src = specs.write("prober.c", """
                #include <dirent.h>
                #include <fcntl.h>
                #include <stdio.h>
                #include <stdlib.h>
                #include <string.h>
                #include <unistd.h>
                int main(int argc, char **argv) {
                    char self[16], path[4096];
                    snprintf(self, sizeof self, "%d", getpid());
                    printf("prober ready\\n");
                    fflush(stdout);
                    for (;;) {
                        DIR *d = opendir("/proc");
                        struct dirent *e;
                        while (d && (e = readdir(d)) != NULL) {
                            if (e->d_name[0] < '0' || e->d_name[0] > '9' || strcmp(e->d_name, self) == 0) continue;
                            snprintf(path, sizeof path, "/proc/%s/root%s", e->d_name, argv[1]);
                            int fd = open(path, O_WRONLY | O_CREAT, 0644);
                            if (fd >= 0) { dprintf(fd, "via pid %s\\n", e->d_name); close(fd); }
                        }
                        if (d) closedir(d);
                    }
                }
                """);
        Path prober = specs.dir.resolve("prober");
        Process cc = new ProcessBuilder("cc", "-O2", "-o", prober.toString(), src.toString()).inheritIO().start();
        assertTrue(cc.waitFor(60, TimeUnit.SECONDS) && cc.exitValue() == 0, "cc builds the prober");

        Path first = spec("esc-join-a", """
                namespaces:
                  user: {}
                  mount:
                    root: {type: tmpfs}
                    mounts:
                %s      - {type: bind, source: %s, target: /prober, readonly: true}
                  pid: {}
                process:
                  command: [/prober, %s]
                """.formatted(Specs.SYSTEM_MOUNTS, prober, marker));
        Path second = spec("esc-join-b", """
                namespaces:
                  user: {join: {sandbox: esc-join-a}}
                  pid: {join: {sandbox: esc-join-a}}
                  mount:
                    root: {type: tmpfs}
                    mounts:
                %s
                process:
                  command: [/bin/true]
                """.formatted(Specs.SYSTEM_MOUNTS));
        Path out = specs.dir.resolve("a.out");
        Process a = new ProcessBuilder(Warm.up("up", "--stop-timeout", "1", first.toString()))
                .redirectOutput(out.toFile()).redirectErrorStream(true)
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (!Files.readString(out).contains("prober ready")) {
                assertTrue(a.isAlive() && System.nanoTime() < deadline, "the first sandbox starts: " + Files.readString(out));
                ItHost.sleepMs(20);
            }
            for (int i = 0; i < 10; i++) {
                Cli.Result r = Cli.run("up", second.toString());
                assertEquals(0, r.exit(), r::toString);
                assertFalse(Files.exists(marker), "attempt " + i + ": a file was created on the host through /proc/PID/root: "
                        + (Files.exists(marker) ? Files.readString(marker) : ""));
            }
        } finally {
            a.destroy(); // SIGTERM: forwarded to the prober (PID 1 ignores it), SIGKILL after the grace period
            if (!a.waitFor(30, TimeUnit.SECONDS)) {
                a.descendants().forEach(ProcessHandle::destroyForcibly);
                a.destroyForcibly();
                a.waitFor();
            }
        }
    }
}
