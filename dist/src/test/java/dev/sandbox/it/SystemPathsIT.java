package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * docker's system paths, against the real kernel: when uid 0 inside is host root for files (no user
 * namespace, or {@code user: {}} run as root, whose map is 0 → 0), /proc/sys was writable with the
 * default capabilities and seccomp profile ({@code kernel.core_pattern} then runs a sandbox file as
 * host root on the next crash). By default the sandbox's /proc/sys, /proc/sysrq-trigger, ... are
 * read-only and /proc/kcore, /proc/keys, ... masked.
 *
 * <p>Nothing here writes a sysctl: the probe opens {@code core_pattern} for appending and closes it
 * at once (the kernel checks read-only mounts and permissions at open; nothing is written without a
 * write). The control with {@code systemPaths: unconfined} shows that this open succeeds there, so the
 * negative cases can't pass for an unrelated reason.
 */
class SystemPathsIT {

    /** Opens core_pattern for writing without writing; prints OPENED or the shell's error (EROFS: "Read-only file system"). */
    private static final String PROBE = "(exec 3>>/proc/sys/kernel/core_pattern) && echo OPENED; "
            + "grep -E ' /proc/(sys|sysrq-trigger|bus|fs|irq|kcore|keys|interrupts|timer_list|acpi) | /sys/firmware ' /proc/self/mountinfo"
            + " | sed 's/^/MI /'; echo INTERRUPTS $(wc -c < /proc/interrupts); "
            + "if [ -e /proc/kcore ]; then echo KCORE $(wc -c < /proc/kcore); fi; "
            + "echo SOMAXCONN $(cat /proc/sys/net/core/somaxconn); echo LO $(cat /proc/sys/net/ipv4/conf/lo/forwarding)";

    private SpecDir specs;
    private final List<String> names = new ArrayList<>();

    @BeforeEach
    void setUp() {
        assumeTrue(Cli.isRoot(), "uid 0 inside is host root only when the caller is root");
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

    /** hello.yaml's shape (user: {} as root, so 0 → 0; a tmpfs root with its own proc; a new net namespace). */
    private Path helloShape(String name, String userLine, String mountExtra) {
        return spec(name, """
                namespaces:
                %s  mount:
                    root: {type: tmpfs}
                %s    mounts:
                %s  pid: {}
                  net: {loopback: true}
                process:
                  command: [/bin/sh, -c, "%s"]
                """.formatted(userLine, mountExtra, Specs.SYSTEM_MOUNTS, PROBE));
    }

    private static List<String> mountinfo(Cli.Result r) {
        return r.out().lines().filter(l -> l.startsWith("MI ")).toList();
    }

    private static Optional<String> mountAt(Cli.Result r, String target) {
        return mountinfo(r).stream().filter(l -> l.split(" ")[5].equals(target)).reduce((a, b) -> b);
    }

    /** The per-mount options (field 6 of mountinfo) of the last mount at {@code target} say read-only. */
    private static boolean readOnly(Cli.Result r, String target) {
        return mountAt(r, target).map(l -> List.of(l.split(" ")[6].split(",")).contains("ro")).orElse(false);
    }

    private static void assertProtected(Cli.Result r) throws IOException {
        assertEquals(0, r.exit(), r::toString);
        assertFalse(r.out().contains("OPENED"), "core_pattern can't be opened for writing:\n" + r);
        assertTrue(r.err().contains("Read-only file system"), "the open fails with EROFS:\n" + r);
        for (String p : List.of("/proc/sys", "/proc/bus", "/proc/fs", "/proc/irq")) {
            if (Files.exists(Path.of(p))) assertTrue(readOnly(r, p), p + " is a read-only mount:\n" + r);
        }
        if (Files.exists(Path.of("/proc/sysrq-trigger"))) assertTrue(readOnly(r, "/proc/sysrq-trigger"), r::toString);
        for (String p : List.of("/proc/keys", "/proc/interrupts", "/proc/timer_list", "/proc/acpi")) {
            if (Files.exists(Path.of(p))) assertTrue(readOnly(r, p) && mountAt(r, p).orElseThrow().contains(" - tmpfs "),
                    p + " is masked by a read-only tmpfs or an empty file on one:\n" + r);
        }
        assertTrue(r.out().contains("INTERRUPTS 0\n"), "the masked /proc/interrupts reads empty:\n" + r);
        assertTrue(Files.size(Path.of("/proc/interrupts")) > 0 || !Files.readString(Path.of("/proc/interrupts")).isEmpty(),
                "control: the host's /proc/interrupts is not empty");
        if (r.out().contains("KCORE")) assertTrue(r.out().contains("KCORE 0\n"), "/proc/kcore is masked:\n" + r);
        // the sandbox's own network namespace's sysctls stay readable
        assertTrue(r.out().lines().anyMatch(l -> l.matches("SOMAXCONN \\d+")), "net.core.somaxconn is readable:\n" + r);
        assertTrue(r.out().lines().anyMatch(l -> l.matches("LO [01]")), "net.ipv4.conf.lo.forwarding is readable:\n" + r);
    }

    @Test
    void readmeShapeRootMappedToRootCannotOpenCorePatternForWriting() throws IOException {
        assertProtected(Cli.run("up", helloShape("sp-hello", "  user: {}\n", "").toString()));
    }

    @Test
    void withoutAUserNamespaceProcSysIsReadOnlyToo() throws IOException {
        assertProtected(Cli.run("up", helloShape("sp-nouser", "", "").toString()));
    }

    @Test
    void theHostsProcSeenThroughAMountNamespaceIsProtectedAsWell() throws IOException {
        Path spec = spec("sp-hostroot", """
                namespaces:
                  mount: {}
                  pid: {}
                  net: {loopback: true}
                process:
                  command: [/bin/sh, -c, "%s"]
                """.formatted(PROBE));
        Cli.Result r = Cli.run("up", spec.toString());
        assertProtected(r);
        assertTrue(readOnly(r, "/sys/firmware") || !Files.exists(Path.of("/sys/firmware")), "the host's /sys/firmware is masked:\n" + r);
    }

    @Test
    void controlSystemPathsUnconfinedLeavesProcSysWritableAndIsWarned() {
        Cli.Result r = Cli.run("up", helloShape("sp-unconfined", "  user: {}\n", "    systemPaths: unconfined\n").toString());
        assertEquals(0, r.exit(), r::toString);
        assertTrue(r.err().contains("mount.system-paths-unconfined"), "the opt-out is warned:\n" + r);
        assertTrue(mountAt(r, "/proc/sys").isEmpty(), "/proc/sys is part of the writable proc mount:\n" + r);
        assertTrue(r.out().contains("OPENED"), "the documented opt-out: core_pattern opens for writing (nothing is written):\n" + r);
        assertFalse(r.out().contains("INTERRUPTS 0\n"), "/proc/interrupts is not masked:\n" + r);
    }
}
