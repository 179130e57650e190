package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@code process.rlimits} on the real kernel, as root: what {@code ulimit} and {@code /proc/self/limits} show inside
 * is what the spec asked; raising a hard limit works for root without a user namespace and is a validate error with
 * one. (A rootless caller raising one: {@link RootlessIT}.)
 */
class RlimitsIT {

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

    private Path spec(String name, String rlimits, String script) {
        names.add(name);
        return specs.spec(name + ".yaml", Specs.isolated("", "[/bin/sh, -c, '" + script + "']")
                + "  rlimits: " + rlimits + "\n");
    }

    /** The "Max ..." row of /proc/self/limits as "soft hard". */
    private static String row(String out, String name) {
        return out.lines().filter(l -> l.startsWith(name)).map(l -> l.substring(26).trim().split("\\s+"))
                .map(f -> f[0] + " " + f[1]).findFirst().orElse("missing: " + out);
    }

    @Test
    void nofile1024IsWhatUlimitShowsInsideSoftAndHard() {
        Path spec = spec("fsit-rlim-nofile", "{nofile: 1024}", "echo soft=$(ulimit -n); echo hard=$(ulimit -Hn)");
        Cli.Result r = Cli.run("up", spec.toString());
        assertEquals(0, r.exit(), r::toString);
        assertTrue(r.out().contains("soft=1024\n"), r::toString);
        assertTrue(r.out().contains("hard=1024\n"), r::toString);
    }

    @Test
    void softAndHardAreSetEachAndCore0MeansNoCoreDumps() {
        Path spec = spec("fsit-rlim-each", "{nproc: {soft: 100, hard: 200}, core: 0, nofile: {soft: 64, hard: 128}}",
                "cat /proc/self/limits; echo core=$(ulimit -c) hardcore=$(ulimit -Hc)");
        Cli.Result r = Cli.run("up", spec.toString());
        assertEquals(0, r.exit(), r::toString);
        assertEquals("100 200", row(r.out(), "Max processes"), r::toString);
        assertEquals("64 128", row(r.out(), "Max open files"), r::toString);
        assertEquals("0 0", row(r.out(), "Max core file size"), r::toString);
        assertTrue(r.out().contains("core=0 hardcore=0"), r::toString);
    }

    /** CAP_SYS_RESOURCE in this (root) process's effective set: some hosts withhold it from root (this CI VM does). */
    private static boolean capSysResource() {
        String eff = ItHost.run("grep", "CapEff", "/proc/self/status").out().trim().split("\\s+")[1];
        return (Long.parseUnsignedLong(eff, 16) >> 24 & 1) == 1;
    }

    @Test
    void rootWithoutAUserNamespaceRaisesAHardLimitAboveItsOwn() {
        assumeTrue(capSysResource(), "this host's root has no CAP_SYS_RESOURCE (bounding set): the case below covers it");
        // the caller's nofile (soft and hard) is lowered to 4096 first; the spec asks for 8192
        names.add("fsit-rlim-raise");
        Path spec = specs.spec("fsit-rlim-raise.yaml", """
                namespaces:
                  uts: {hostname: raise}
                process:
                  command: [/bin/sh, -c, 'echo soft=$(ulimit -n) hard=$(ulimit -Hn)']
                  rlimits: {nofile: 8192}
                """);
        Cli.Result r = Cli.run(List.of("sh", "-c", "ulimit -n 4096 && exec \"$@\"", "sh"), Map.of(), "up", spec.toString());
        assertEquals(0, r.exit(), r::toString);
        assertTrue(r.out().contains("soft=8192 hard=8192"), r::toString);
    }

    @Test
    void rootWithoutCapSysResourceCanNotRaiseAHardLimitItIsAValidateError() {
        assumeTrue(!capSysResource(), "this host's root has CAP_SYS_RESOURCE: the case above covers it");
        names.add("fsit-rlim-nocap");
        Path spec = specs.spec("fsit-rlim-nocap.yaml", """
                namespaces:
                  uts: {hostname: nocap}
                process:
                  command: [/bin/echo, target-ran]
                  rlimits: {nofile: 8192}
                """);
        List<String> lowered = List.of("sh", "-c", "ulimit -n 4096 && exec \"$@\"", "sh");
        Cli.Result v = Cli.run(lowered, Map.of(), "validate", spec.toString());
        assertEquals(1, v.exit(), v::toString);
        assertTrue(v.out().contains("error[process.rlimit-raise-needs-privilege]") && v.out().contains("this host's root has no CAP_SYS_RESOURCE"),
                v::toString);
        Cli.Result r = Cli.run(lowered, Map.of(), "up", spec.toString());
        assertEquals(125, r.exit(), r::toString);
        assertFalse(r.out().contains("target-ran"), r::toString);
    }

    @Test
    void rootInAUserNamespaceCanNotRaiseAHardLimitItIsAValidateError() {
        Path spec = spec("fsit-rlim-userns", "{nofile: 8192}", "echo target-ran");
        List<String> lowered = List.of("sh", "-c", "ulimit -n 4096 && exec \"$@\"", "sh");
        Cli.Result v = Cli.run(lowered, Map.of(), "validate", spec.toString());
        assertEquals(1, v.exit(), v::toString);
        assertTrue(v.out().contains("error[process.rlimit-raise-needs-privilege]"), v::toString);
        assertTrue(v.out().contains("CAP_SYS_RESOURCE"), v::toString);
        Cli.Result r = Cli.run(lowered, Map.of(), "up", spec.toString());
        assertEquals(125, r.exit(), r::toString);
        assertFalse(r.out().contains("target-ran"), r::toString);
        // the same spec under a hard limit of 16384 is fine: 8192 lowers it
        Cli.Result ok = Cli.run(List.of("sh", "-c", "ulimit -n 16384 2>/dev/null; [ $(ulimit -Hn) -ge 8192 ] && exec \"$@\"", "sh"), Map.of(),
                "up", spec.toString());
        assertEquals(0, ok.exit(), ok::toString);
        assertTrue(ok.out().contains("target-ran"), ok::toString);
    }
}
