package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Issue 7, reproduction 4: another local user (root here) creates the victim's runtime base dir
 * first, mode 0777, and plants a {@code plan} in it. The victim ({@value RootlessIT#USER}) runs
 * {@code up}: it must refuse with one line naming the dir, its owner and mode (exit 125), and
 * nothing of the victim's spec may run — its command would create a marker file.
 */
class RuntimeDirTrustIT {

    private static SpecDir specs;
    private static Path spec;
    private static Path marker;
    private static long uid;

    @BeforeAll
    static void aVictimAndItsSpec() throws IOException {
        assumeTrue(Cli.isRoot(), "planting a dir as another user needs root");
        assumeTrue(ItHost.run("id", "-u", RootlessIT.USER).exit() == 0, "the user " + RootlessIT.USER + " is missing (RootlessIT creates it)");
        uid = Long.parseLong(ItHost.must("id", "-u", RootlessIT.USER).out().strip());
        specs = new SpecDir();
        marker = specs.dir.resolve("victim-ran");
        Files.setPosixFilePermissions(specs.dir, java.nio.file.attribute.PosixFilePermissions.fromString("rwxrwxrwx"));
        spec = specs.spec("trust-victim.yaml", """
                namespaces:
                  user: {}
                process:
                  command: [/bin/sh, -c, 'touch %s']
                """.formatted(marker));
    }

    @AfterAll
    static void cleanUp() {
        if (specs != null) specs.close();
    }

    private static Cli.Result upAsVictim(Map<String, String> env) {
        return Cli.run(List.of("runuser", "-u", RootlessIT.USER, "--"), env, "up", spec.toString());
    }

    /** Root creates {@code base} 0777 with a planted plan; the victim's up refuses it. */
    private static void refused(Path base, Map<String, String> env) throws IOException {
        ItHost.must("mkdir", "-m", "0777", base.toString());
        ItHost.must("chmod", "0777", base.toString()); // past the umask
        Path planted = base.resolve("plan");
        Files.writeString(planted, "planted by someone else\n");
        Cli.Result r = upAsVictim(env);
        assertEquals(125, r.exit(), r.toString());
        HostileSpecsIT.noStackTrace(r);
        List<String> lines = r.err().lines().filter(l -> !l.isBlank()).toList();
        assertEquals(1, lines.size(), "one line: " + r);
        String line = lines.get(0);
        assertTrue(line.contains(base.toString()) && line.contains("owner root") && line.contains("mode 0777") && line.contains("Fix:"), line);
        assertFalse(Files.exists(marker), "the victim's command ran");
        assertEquals("planted by someone else\n", Files.readString(planted));
        try (Stream<Path> s = Files.list(base)) {
            assertEquals(List.of(planted), s.toList(), "the victim wrote into the planted dir");
        }
    }

    @Test
    void aPlantedWorldWritableXdgRuntimeDirIsRefused() throws IOException {
        Path xdg = specs.dir.resolve("xdg");
        ItHost.must("mkdir", "-m", "0700", xdg.toString());
        ItHost.must("chown", RootlessIT.USER, xdg.toString());
        Path base = xdg.resolve("sandbox");
        try {
            refused(base, Map.of("XDG_RUNTIME_DIR", xdg.toString(), "SANDBOX_NO_CACHE", "1", "HOME", specs.dir.toString()));
        } finally {
            ItHost.run("rm", "-rf", xdg.toString());
        }
    }

    /**
     * The issue's own case, without XDG_RUNTIME_DIR: {@code /tmp/sandbox-UID}. That path is shared with
     * RootlessIT (and other runs on this machine): an existing one is set aside only when it holds no
     * sandbox, and put back afterwards.
     */
    @Test
    void aPlantedWorldWritableTmpRuntimeDirIsRefused() throws IOException {
        Path base = Path.of("/tmp", "sandbox-" + uid);
        Path aside = Path.of("/tmp", "sandbox-" + uid + ".trust-it-aside");
        boolean existed = Files.exists(base, LinkOption.NOFOLLOW_LINKS);
        if (existed) {
            try (Stream<Path> s = Files.list(base)) {
                assumeTrue(s.findAny().isEmpty(), base + " holds a sandbox's state right now; not touching it");
            }
            Files.move(base, aside);
        }
        try {
            refused(base, Map.of("SANDBOX_NO_CACHE", "1", "HOME", specs.dir.toString()));
        } finally {
            ItHost.run("rm", "-rf", base.toString());
            if (existed) Files.move(aside, base);
        }
    }

    @Test
    void aMissingBaseIsCreatedByTheVictimAndUsed() throws IOException {
        Path xdg = specs.dir.resolve("xdg-fresh");
        ItHost.must("mkdir", "-m", "0700", xdg.toString());
        ItHost.must("chown", RootlessIT.USER, xdg.toString());
        try {
            Cli.Result r = upAsVictim(Map.of("XDG_RUNTIME_DIR", xdg.toString(), "SANDBOX_NO_CACHE", "1", "HOME", specs.dir.toString()));
            assumeTrue(r.exit() != 125 || !r.err().contains("user namespace"), "rootless user namespaces are unavailable: " + r);
            assertEquals(0, r.exit(), r.toString());
            assertTrue(Files.exists(marker), "the command ran");
            Path base = xdg.resolve("sandbox");
            assertEquals(uid, ((Integer) Files.getAttribute(base, "unix:uid", LinkOption.NOFOLLOW_LINKS)).longValue());
            assertEquals(0711, (Integer) Files.getAttribute(base, "unix:mode", LinkOption.NOFOLLOW_LINKS) & 07777);
        } finally {
            Files.deleteIfExists(marker);
            ItHost.run("rm", "-rf", xdg.toString());
        }
    }
}
