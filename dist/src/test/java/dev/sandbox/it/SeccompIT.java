package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The seccomp filters and the new session, against the real kernel: what the target can't do by
 * default, and what {@code seccomp: unconfined} or a profile of one's own changes. The TIOCSTI probes
 * use standard input that is not a terminal: a filtered ioctl fails with EPERM before the kernel looks
 * at the descriptor; an unfiltered one reaches the tty layer and fails with ENOTTY. (TIOCSTI on a real
 * pty with {@code legacy_tiocsti} is the terminal test's job.)
 */
class SeccompIT {

    /** perl: ioctl(0, REQUEST) and the errno text, e.g. {@code tiocsti=Operation not permitted}. */
    private static String ioctl(String key, String request) {
        return "perl -e 'ioctl(STDIN, " + request + ", my $c = \"x\") and print \"" + key + "=done\\n\" or print \"" + key + "=$!\\n\"' </dev/null";
    }

    private static final String PROBES = String.join("\n",
            ioctl("tiocsti", "0x5412"),
            // high bits the kernel ignores (it reads the request as an unsigned int): CVE-2019-10063
            ioctl("tiocsti_high", "0x100005412"),
            ioctl("tioclinux", "0x541C"),
            "mkdir -p /tmp/m && mount -t tmpfs none /tmp/m 2>/dev/null && echo mount=yes || echo mount=no",
            // the target itself (this shell, $$) leads a session of its own: field 6 of its stat is its own pid
            "set -- $(cat /proc/$$/stat); [ \"$6\" = \"$1\" ] && echo session=own || echo session=inherited",
            "sh -c 'exec 3</dev/tty' 2>/dev/null && echo tty=open || echo tty=failed");

    private SpecDir specs;
    private final List<String> names = new ArrayList<>();

    @BeforeEach
    void setUp() {
        assumeTrue(Cli.isRoot(), "the specs create namespaces; that needs root (like CI)");
        specs = new SpecDir();
    }

    @AfterEach
    void tearDown() {
        if (specs != null) specs.close();
        for (String name : names) ItHost.assertNothingLeftOf(name);
    }

    private Path spec(String name, String processExtra) {
        names.add(name);
        String body = Specs.isolated("", "[/bin/true]").replace("process:\n", "process:\n" + processExtra);
        return specs.spec(name + ".yaml", body);
    }

    /** Runs the probes instead of the spec's command. */
    private static Map<String, String> run(Path spec) {
        Cli.Result r = Cli.run("up", spec.toString(), "--", "/bin/sh", "-c", PROBES);
        assertEquals(0, r.exit(), r::toString);
        return ItHost.probe(r.out());
    }

    @Test
    void byDefaultTiocstiAndMountFailWithEpermEvenWithTheRequestsHighBitsSetAndTheTargetHasItsOwnSession() {
        Map<String, String> p = run(spec("scit-default", ""));
        assertEquals("Operation not permitted", p.get("tiocsti"));
        assertEquals("Operation not permitted", p.get("tiocsti_high"), "a 64-bit compare would let this through");
        assertEquals("Operation not permitted", p.get("tioclinux"));
        assertEquals("no", p.get("mount"));
        assertEquals("own", p.get("session"), "stdin is not a terminal: a new session");
        assertEquals("failed", p.get("tty"), "no controlling terminal: /dev/tty is ENXIO");
    }

    @Test
    void unconfinedLetsTheIoctlReachTheTtyLayerAndKeepsTheNewSession() {
        Map<String, String> p = run(spec("scit-unconfined", "  seccomp: unconfined\n"));
        assertEquals("Inappropriate ioctl for device", p.get("tiocsti"));
        assertEquals("Inappropriate ioctl for device", p.get("tiocsti_high"));
        assertEquals("no", p.get("mount"), "still no CAP_SYS_ADMIN");
        assertEquals("own", p.get("session"));
    }

    @Test
    void capSysAdminBringsMountBackUnderTheDefaultProfile() {
        Map<String, String> p = run(spec("scit-sysadmin", "  capabilities: [SYS_ADMIN]\n"));
        assertEquals("yes", p.get("mount"), "the default profile allows mount with CAP_SYS_ADMIN, as Docker's does");
        assertEquals("Operation not permitted", p.get("tiocsti"));
    }

    @Test
    void aProfileOfOnesOwnIsApplied() throws Exception {
        Files.writeString(specs.dir.resolve("eacces-tiocsti.json"), """
                {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                  {"names": ["ioctl"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
                   "args": [{"index": 1, "value": 4294967295, "valueTwo": 21522, "op": "SCMP_CMP_MASKED_EQ"}]}]}
                """);
        Map<String, String> p = run(spec("scit-profile", "  seccomp: ./eacces-tiocsti.json\n"));
        assertEquals("Permission denied", p.get("tiocsti"), "EACCES, the profile's errnoRet");
        assertEquals("Permission denied", p.get("tiocsti_high"));
        assertEquals("Inappropriate ioctl for device", p.get("tioclinux"), "this profile leaves TIOCLINUX alone");
    }
}
