package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The AppCDS archive follows the distribution (docs/performance.md, "The AppCDS archive"): the build's
 * lib/sandbox.jsa records lib/'s absolute path, so a JVM of a copied or moved distribution would ignore it and
 * start ~1.8x slower. The launcher sees the mismatch (lib/sandbox.jsa.home) and makes the copy an archive of its
 * own once: in lib/ when the caller owns lib/, else in the caller's cache. "Used" is checked for real: the JVM's
 * class-load log names the dynamic archive ("shared objects file (top)") as the source of the launcher's class.
 */
class DistributionMovedIT {

    private static final String FROM_ARCHIVE = "dev.sandbox.cli.Launch source: shared objects file (top)";

    @Test
    void aCopyOwnedByTheCallerGetsItsArchiveInLibOnceAndMapsIt() throws IOException {
        assumeTrue(Cli.isRoot(), "copies the distribution as root (the owner of the copy)");
        try (SpecDir copy = new SpecDir(); SpecDir work = new SpecDir()) {
            Path home = copy.dir.resolve("sandbox");
            ItHost.must("cp", "-a", Cli.DIST.toString(), home.toString());
            Path stamp = home.resolve("lib/sandbox.jsa.home");
            assertEquals(Cli.DIST.toRealPath().toString(), Files.readString(stamp).strip(), "the build names its own place");
            Path spec = work.spec("cl-moved.yaml", Specs.isolated("", "[/bin/true]"));

            // the first JVM call makes the archive (before it goes on) and maps it
            Path log1 = work.dir.resolve("load1.txt");
            Cli.Result first = Cli.exec(List.of(), Map.of("JAVA_OPTS", "-Xlog:class+load:file=" + log1), home, null, "validate", spec.toString());
            assertEquals(0, first.exit(), first.toString());
            assertEquals("", first.err(), "the training says nothing");
            assertEquals(home.toRealPath().toString(), Files.readString(stamp).strip(), "the stamp names the copy now");
            assertTrue(Files.readString(log1).contains(FROM_ARCHIVE), "the JVM mapped the new archive");
            assertFalse(Files.exists(home.resolve("lib/sandbox.jsa.lock")), "no lock left");
            assertFalse(Files.exists(home.resolve("lib/sandbox.jsa.tmp")), "no temporary archive left");
            var made = Files.getLastModifiedTime(home.resolve("lib/sandbox.jsa"));
            assertTrue(Files.getPosixFilePermissions(home.resolve("lib/sandbox.jsa")).contains(PosixFilePermission.OTHERS_READ),
                    "lib/'s archive serves every user of the copy");

            // later calls map it without making it again
            Path log2 = work.dir.resolve("load2.txt");
            Cli.Result second = Cli.exec(List.of(), Map.of("JAVA_OPTS", "-Xlog:class+load:file=" + log2), home, null, "validate", spec.toString());
            assertEquals(0, second.exit(), second.toString());
            assertTrue(Files.readString(log2).contains(FROM_ARCHIVE), "the JVM mapped the archive");
            assertEquals(made, Files.getLastModifiedTime(home.resolve("lib/sandbox.jsa")), "made once");

            // the original keeps its own
            Path log3 = work.dir.resolve("load3.txt");
            Cli.Result original = Cli.exec(List.of(), Map.of("JAVA_OPTS", "-Xlog:class+load:file=" + log3), Cli.DIST, null, "validate",
                    spec.toString());
            assertEquals(0, original.exit(), original.toString());
            assertTrue(Files.readString(log3).contains(FROM_ARCHIVE), "the original distribution maps its archive");
            assertEquals(Cli.DIST.toRealPath().toString(), Files.readString(Cli.DIST.resolve("lib/sandbox.jsa.home")).strip());
        }
    }

    @Test
    void aCopyOfAnotherUserGetsTheArchiveInTheCallersCacheAndLibIsNeverWritten() throws IOException {
        assumeTrue(Cli.isRoot(), "runs a root-owned copy as the unprivileged user " + RootlessIT.USER);
        assumeTrue(ItHost.run("sh", "-c", "command -v runuser").exit() == 0, "runuser (util-linux) is missing");
        ItHost.ensureUser(RootlessIT.USER); // kept for later runs
        try (SpecDir copy = new SpecDir(); SpecDir userHome = new SpecDir(); SpecDir work = new SpecDir()) {
            Path home = copy.dir.resolve("sandbox");
            ItHost.must("cp", "-a", Cli.DIST.toString(), home.toString());
            ItHost.must("chmod", "-R", "a+rX", copy.dir.toString());
            ItHost.must("chown", RootlessIT.USER, userHome.dir.toString());
            ItHost.must("chmod", "a+rwx", work.dir.toString());
            Path spec = work.spec("cl-moved-user.yaml", Specs.isolated("", "[/bin/true]"));
            ItHost.must("chmod", "a+r", spec.toString());
            Set<String> libBefore = listing(home.resolve("lib"));
            List<String> asUser = List.of("runuser", "-u", RootlessIT.USER, "--", "env", "-u", "XDG_CACHE_HOME", "HOME=" + userHome.dir);

            Path log1 = work.dir.resolve("user1.txt");
            Cli.Result first = Cli.exec(asUser, Map.of("JAVA_OPTS", "-Xlog:class+load:file=" + log1), home, null, "validate", spec.toString());
            assertEquals(0, first.exit(), first.toString());
            Path cds = userHome.dir.resolve(".cache/sandbox/cds");
            String name = home.toRealPath().toString().replace('/', '_') + ".jsa";
            assertTrue(Files.isRegularFile(cds.resolve(name)), "the archive is in the user's cache: " + listing(cds));
            assertEquals(home.toRealPath().toString(), Files.readString(cds.resolve(name + ".home")).strip());
            assertEquals(Set.of(PosixFilePermission.OWNER_READ, PosixFilePermission.OWNER_WRITE, PosixFilePermission.OWNER_EXECUTE),
                    Files.getPosixFilePermissions(cds), "the cache dir is the user's alone");
            assertTrue(Files.readString(log1).contains(FROM_ARCHIVE), "the JVM mapped the user's archive");
            assertEquals(libBefore, listing(home.resolve("lib")), "nothing written into a lib/ the user doesn't own");
            assertEquals(Cli.DIST.toRealPath().toString(), Files.readString(home.resolve("lib/sandbox.jsa.home")).strip());

            Path log2 = work.dir.resolve("user2.txt");
            Cli.Result second = Cli.exec(asUser, Map.of("JAVA_OPTS", "-Xlog:class+load:file=" + log2), home, null, "validate", spec.toString());
            assertEquals(0, second.exit(), second.toString());
            assertTrue(Files.readString(log2).contains(FROM_ARCHIVE), "mapped again");
        }
    }

    @Test
    void noPlaceForAnArchiveNeverFailsTheCall() throws IOException {
        assumeTrue(Cli.isRoot(), "runs a root-owned copy as the unprivileged user " + RootlessIT.USER);
        assumeTrue(ItHost.run("sh", "-c", "command -v runuser").exit() == 0, "runuser (util-linux) is missing");
        ItHost.ensureUser(RootlessIT.USER); // kept for later runs
        try (SpecDir copy = new SpecDir(); SpecDir work = new SpecDir()) {
            Path home = copy.dir.resolve("sandbox");
            ItHost.must("cp", "-a", Cli.DIST.toString(), home.toString());
            ItHost.must("chmod", "-R", "a+rX", copy.dir.toString());
            ItHost.must("chmod", "a+rwx", work.dir.toString());
            Path spec = work.spec("cl-moved-nohome.yaml", Specs.isolated("", "[/bin/true]"));
            ItHost.must("chmod", "a+r", spec.toString());
            // a HOME that doesn't exist and can't be made: no archive, the same answer
            List<String> asUser = List.of("runuser", "-u", RootlessIT.USER, "--", "env", "-u", "XDG_CACHE_HOME", "HOME=/nonexistent/cl-moved");
            Path log = work.dir.resolve("nohome.txt");
            Cli.Result r = Cli.exec(asUser, Map.of("JAVA_OPTS", "-Xlog:class+load:file=" + log), home, null, "validate", spec.toString());
            assertEquals(0, r.exit(), r.toString());
            assertTrue(r.out().contains(": ok"), r.toString());
            assertEquals("", r.err(), r.toString());
            assertFalse(Files.readString(log).contains(FROM_ARCHIVE), "no archive was mapped (the copy's stale one never is)");
        }
    }

    private static Set<String> listing(Path dir) throws IOException {
        try (var files = Files.list(dir)) {
            return files.map(p -> p.getFileName().toString()).collect(java.util.stream.Collectors.toSet());
        }
    }
}
