package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
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

    /** Runs the probes with {@code up -v} and the given environment; the result's stderr has the trace. */
    private static Cli.Result runTraced(Path spec, Map<String, String> env) {
        Cli.Result r = Cli.run(List.of(), env, "up", "-v", spec.toString(), "--", "/bin/sh", "-c", PROBES);
        assertEquals(0, r.exit(), r::toString);
        return r;
    }

    private static long lines(String err, String... all) {
        return err.lines().filter(l -> java.util.Arrays.stream(all).allMatch(l::contains)).count();
    }

    @Test
    @Warm.Cold("counts which call compiles the filters and which loads them; SANDBOX_NO_CACHE turns the runtime's BPF cache off")
    void aWarmStartLoadsTheCompiledFiltersFromTheCacheAndTheyStillDeny() throws Exception {
        Path cache = specs.dir.resolve("cache");
        Files.createDirectory(cache, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        Map<String, String> env = Map.of("SANDBOX_CACHE_DIR", cache.toString());
        Path spec = spec("scit-bpfcache", "");

        Cli.Result cold = runTraced(spec, env);
        assertEquals(2, lines(cold.err(), "seccomp-cache", "compiled, stored in the cache"), "cold: both filters compiled: " + cold.err());
        assertEquals(0, lines(cold.err(), "finish", "seccomp", "(cached)"), cold.err());
        try (var files = Files.list(cache.resolve("bpf"))) {
            assertEquals(2, files.filter(f -> f.toString().endsWith(".bpf")).count(), "one entry per filter");
        }

        Cli.Result warm = runTraced(spec, env);
        assertEquals(2, lines(warm.err(), "seccomp-cache", "from the cache"), "warm: no compilation: " + warm.err());
        assertEquals(2, lines(warm.err(), "finish", "seccomp", "(cached)"), "the TIOCSTI filter and docker's profile: " + warm.err());
        Map<String, String> p = ItHost.probe(warm.out());
        assertEquals("Operation not permitted", p.get("tiocsti"));
        assertEquals("Operation not permitted", p.get("tiocsti_high"));
        assertEquals("Operation not permitted", p.get("tioclinux"));
        assertEquals("no", p.get("mount"), "docker's profile denies mount without CAP_SYS_ADMIN");

        // a cache dir others can write is never used: compiled as before, and still denying
        Files.setPosixFilePermissions(cache.resolve("bpf"), PosixFilePermissions.fromString("rwxrwx---"));
        Cli.Result open = runTraced(spec, env);
        assertEquals(2, lines(open.err(), "seccomp-cache", "no cache dir of ours alone"), open.err());
        assertFalse(open.err().contains("(cached)"), open.err());
        p = ItHost.probe(open.out());
        assertEquals("Operation not permitted", p.get("tiocsti"));
        assertEquals("no", p.get("mount"));

        // SANDBOX_NO_CACHE: compiled by the step itself, as without the cache
        Cli.Result off = runTraced(spec, Map.of("SANDBOX_CACHE_DIR", cache.toString(), "SANDBOX_NO_CACHE", "1"));
        assertFalse(off.err().contains("(cached)"), off.err());
        assertTrue(ItHost.probe(off.out()).get("tiocsti").equals("Operation not permitted"));
    }
}
