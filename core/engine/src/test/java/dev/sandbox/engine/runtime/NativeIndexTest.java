package dev.sandbox.engine.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The native index's encoding; core/native/src/test/front_test.c checks the same vectors against front.c. */
class NativeIndexTest {

    @Test
    void fnv1a64MatchesThePublishedVectorsAndFrontC() {
        assertEquals(0xcbf29ce484222325L, NativeIndex.fnv1a64(new byte[0]));
        assertEquals(0xaf63dc4c8601ec8cL, NativeIndex.fnv1a64("a".getBytes(StandardCharsets.US_ASCII)));
        assertEquals(0x85944171f73967e8L, NativeIndex.fnv1a64("foobar".getBytes(StandardCharsets.US_ASCII)));
        assertEquals(0x0359be526bfaaae9L, NativeIndex.fnv1a64("sandbox-native-key 1\n".getBytes(StandardCharsets.US_ASCII)));
        assertEquals("0359be526bfaaae9", NativeIndex.name("sandbox-native-key 1\n".getBytes(StandardCharsets.US_ASCII)));
    }

    @Test
    void escapeKeepsEveryTokenOnOneLineWithoutSpaces() {
        assertEquals("plain/path.yaml", NativeIndex.escape("plain/path.yaml".getBytes(StandardCharsets.US_ASCII)));
        assertEquals("a%20b%09c%0ad", NativeIndex.escape("a b\tc\nd".getBytes(StandardCharsets.US_ASCII)));
        assertEquals("100%25", NativeIndex.escape("100%".getBytes(StandardCharsets.US_ASCII)));
        assertEquals("caf%c3%a9%20%ff%7f", NativeIndex.escape(new byte[] {'c', 'a', 'f', (byte) 0xc3, (byte) 0xa9, ' ', (byte) 0xff, 0x7f}));
    }

    @Test
    void theKeyedVariablesAreThoseTheJvmPathReadsButNotTheFrontsOwnSwitches() {
        for (String k : List.of("HOME", "TERM", "XDG_RUNTIME_DIR", "XDG_CACHE_HOME", "SANDBOX_CACHE_DIR", "SANDBOX_RUNTIME_DIR")) {
            assertTrue(NativeIndex.keyed(k), k);
        }
        for (String k : List.of("SANDBOX_TRACE_CACHE", "SANDBOX_NO_JVM", "SANDBOX_FRONT", "SANDBOX_HANDOFF", "PATH", "HOMEX")) {
            assertFalse(NativeIndex.keyed(k), k);
        }
        for (String k : PlanCache.ENV_KEYS) assertTrue(NativeIndex.keyed(k), "every variable of the JVM's key: " + k);
    }

    @Test
    void keyMaterialIsTheFrontsFormat() {
        byte[] environ = "PATH=/bin\0SANDBOX_X=b c\0HOME=/root\0SANDBOX_TRACE_CACHE=1\0TERM=xterm\0".getBytes(StandardCharsets.US_ASCII);
        String limit = String.format("%-25s %-20s %-20s %-10s", "Max open files", "1024", "1048576", "files");
        byte[] k = NativeIndex.keyMaterial("/opt/sandbox", "/home/u/x y", List.of("-v".getBytes(StandardCharsets.US_ASCII),
                        new byte[] {'s', (byte) 0xff}),
                List.of("Name:\tx", "Uid:\t0\t0\t0\t0", "Gid:\t0\t0\t0\t0", "Groups:\t0 1 "), "6.8.0-1",
                List.of(String.format("%-25s %-20s %-20s %-10s", "Limit", "Soft Limit", "Hard Limit", "Units"), limit),
                List.of("35 25 0:30 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw", "1 2 0:1 / / rw - ext4 /dev/sda rw"), environ);
        assertEquals("""
                sandbox-native-key 1
                home /opt/sandbox
                cwd /home/u/x%20y
                arg -v
                arg s%ff
                status Uid:%090%090%090%090
                status Gid:%090%090%090%090
                status Groups:%090%201%20
                osrelease 6.8.0-1
                limit Max%20open%20files 1048576
                mount 35%2025%200:30%20/%20/sys/fs/cgroup/unified%20rw%20-%20cgroup2%20cgroup2%20rw
                env HOME /root
                env SANDBOX_X b%20c
                env TERM xterm
                end-key
                """, new String(k, StandardCharsets.ISO_8859_1));
    }

    @Test
    void anEntryListsEveryDependencyAndIsNotWrittenWhileAFileIsRacy(@TempDir Path tmp) throws Exception {
        Path spec = Files.writeString(tmp.resolve("spec.yaml"), "name: x\n");
        Files.setLastModifiedTime(spec, FileTime.fromMillis(0));
        Path dir = tmp.resolve("cache");
        byte[] key = "sandbox-native-key 1\nend-key\n".getBytes(StandardCharsets.US_ASCII);
        long now = System.currentTimeMillis();
        // the spec's ctime is now: racy for a JVM that started now
        var why = NativeIndex.write(dir, key, new NativeIndex.Deps(List.of(spec), Map.of(), List.of()), "# sandbox-plan 1\n", List.of(),
                List.of(), now);
        assertFalse(Files.exists(dir.resolve(NativeIndex.name(key) + ".native")), "a file changed in the racy window");
        assertTrue(why.orElseThrow().contains(spec + " changed less than 1000 ms before the JVM started"), why.toString());

        NativeIndex.write(dir, key, new NativeIndex.Deps(List.of(spec, tmp.resolve("absent")), Map.of(Path.of("/"), "dir"),
                List.of("NATIVE_INDEX_TEST_UNSET")), "# sandbox-plan 1\n", List.of("a warning"), List.of("--grace-ms", "10000"), now + 5000);
        String entry = Files.readString(dir.resolve(NativeIndex.name(key) + ".native"), StandardCharsets.ISO_8859_1);
        assertTrue(entry.startsWith(new String(key, StandardCharsets.ISO_8859_1)), entry);
        assertTrue(entry.contains("\nfile "), entry);
        assertTrue(entry.contains(" " + spec + "\n"), entry);
        assertTrue(entry.contains("\nabsent " + tmp.resolve("absent") + "\n"), entry);
        assertTrue(entry.contains("\nassume dir /\n"), entry);
        assertTrue(entry.contains("\nunset NATIVE_INDEX_TEST_UNSET\n"), entry);
        assertTrue(entry.contains("\nplan "), entry);
        assertTrue(entry.contains("\nsay a%20warning\nrun --grace-ms\nrun 10000\nend\n"), entry);
        assertEquals("# sandbox-plan 1\n", Files.readString(dir.resolve(NativeIndex.name(key) + ".plan-native")));
        assertEquals("rw-------", java.nio.file.attribute.PosixFilePermissions.toString(
                Files.getPosixFilePermissions(dir.resolve(NativeIndex.name(key) + ".plan-native"))));
    }

    @Test
    void aRacyFileWhoseCompiledBytesAreKnownIsListedByItsDigest(@TempDir Path tmp) throws Exception {
        Path spec = Files.writeString(tmp.resolve("spec.yaml"), "name: x\n");
        Path lib = Files.createDirectory(tmp.resolve("lib"));
        Path dir = tmp.resolve("cache");
        byte[] key = "sandbox-native-key 1\nend-key\n".getBytes(StandardCharsets.US_ASCII);
        long now = System.currentTimeMillis();
        var why = NativeIndex.write(dir, key, new NativeIndex.Deps(List.of(spec), Map.of(), List.of(),
                Map.of(tmp.resolve(".").resolve("spec.yaml"), "name: x\n".getBytes(StandardCharsets.UTF_8))), "# sandbox-plan 1\n", List.of(),
                List.of(), now);
        assertEquals(java.util.Optional.empty(), why);
        String entry = Files.readString(dir.resolve(NativeIndex.name(key) + ".native"), StandardCharsets.ISO_8859_1);
        // sha256("name: x\n"), as sha256sum prints it (front_test.c checks front_sha256 against sha256sum)
        assertTrue(entry.contains("\ndigest 8 " + NativeIndex.sha256("name: x\n".getBytes(StandardCharsets.UTF_8)) + " " + spec + "\n"), entry);
        assertFalse(entry.contains("\nfile "), entry);
        assertEquals("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", NativeIndex.sha256(new byte[0]));
        assertEquals("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
                NativeIndex.sha256("abc".getBytes(StandardCharsets.US_ASCII)));

        // a racy directory (the installation, a plugin dir) has no content to digest: still no entry
        Files.delete(dir.resolve(NativeIndex.name(key) + ".native"));
        why = NativeIndex.write(dir, key, new NativeIndex.Deps(List.of(spec, lib), Map.of(), List.of(),
                Map.of(spec, "name: x\n".getBytes(StandardCharsets.UTF_8), lib, new byte[0])), "# sandbox-plan 1\n", List.of(), List.of(), now);
        assertTrue(why.orElseThrow().contains(lib + " changed less than"), why.toString());
        assertFalse(Files.exists(dir.resolve(NativeIndex.name(key) + ".native")));
    }

    @Test
    void anIdenticalEntryIsNotRewritten(@TempDir Path tmp) throws Exception {
        Path spec = Files.writeString(tmp.resolve("spec.yaml"), "name: x\n");
        Files.setLastModifiedTime(spec, FileTime.fromMillis(0));
        Path dir = tmp.resolve("cache");
        byte[] key = "sandbox-native-key 1\nend-key\n".getBytes(StandardCharsets.US_ASCII);
        var deps = new NativeIndex.Deps(List.of(spec), Map.of(), List.of());
        long later = System.currentTimeMillis() + 5000;
        assertEquals(java.util.Optional.empty(), NativeIndex.write(dir, key, deps, "# sandbox-plan 1\n", List.of(), List.of("--x"), later));
        Path plan = dir.resolve(NativeIndex.name(key) + ".plan-native");
        Object inode = Files.getAttribute(plan, "unix:ino");
        assertEquals(java.util.Optional.empty(), NativeIndex.write(dir, key, deps, "# sandbox-plan 1\n", List.of(), List.of("--x"), later));
        assertEquals(inode, Files.getAttribute(plan, "unix:ino"), "the same pair: nothing rewritten (a concurrent reader never sees it torn)");
        assertEquals(java.util.Optional.empty(), NativeIndex.write(dir, key, deps, "# sandbox-plan 2\n", List.of(), List.of("--x"), later));
        assertFalse(inode.equals(Files.getAttribute(plan, "unix:ino")), "another plan is written");
        assertTrue(Files.readString(dir.resolve(NativeIndex.name(key) + ".native"), StandardCharsets.ISO_8859_1).contains("\nrun --x\nend\n"));
    }

    @Test
    void anIdenticalEntryTheFrontWouldRefuseIsRewritten(@TempDir Path tmp) throws Exception {
        Path spec = Files.writeString(tmp.resolve("spec.yaml"), "name: x\n");
        Files.setLastModifiedTime(spec, FileTime.fromMillis(0));
        Path dir = tmp.resolve("cache");
        byte[] key = "sandbox-native-key 1\nend-key\n".getBytes(StandardCharsets.US_ASCII);
        var deps = new NativeIndex.Deps(List.of(spec), Map.of(), List.of());
        long later = System.currentTimeMillis() + 5000;
        assertEquals(java.util.Optional.empty(), NativeIndex.write(dir, key, deps, "# sandbox-plan 1\n", List.of(), List.of(), later));
        for (String kind : List.of(".native", ".plan-native")) {
            Path f = dir.resolve(NativeIndex.name(key) + kind);
            Files.setPosixFilePermissions(f, java.nio.file.attribute.PosixFilePermissions.fromString("rw--w----"));
            assertEquals(java.util.Optional.empty(), NativeIndex.write(dir, key, deps, "# sandbox-plan 1\n", List.of(), List.of(), later));
            assertEquals("rw-------", java.nio.file.attribute.PosixFilePermissions.toString(Files.getPosixFilePermissions(f)),
                    kind + ": a group-writable entry, which the front refuses, is replaced (not kept as identical)");
        }
    }

    @Test
    void aDotDotAfterASymbolicLinkIsLeftToTheKernel(@TempDir Path tmp) throws Exception {
        // link/../s.yaml is real/s.yaml for the kernel (link -> real/deep), but tmp/s.yaml for Path.normalize()
        Path real = Files.createDirectories(tmp.resolve("real/deep")).getParent();
        Path theSpec = Files.writeString(real.resolve("s.yaml"), "name: real\n");
        Path decoy = Files.writeString(tmp.resolve("s.yaml"), "name: decoy\n");
        Files.createSymbolicLink(tmp.resolve("link"), real.resolve("deep"));
        for (Path f : List.of(theSpec, decoy)) Files.setLastModifiedTime(f, FileTime.fromMillis(0));
        Path given = tmp.resolve("link/../s.yaml");
        Path dir = tmp.resolve("cache");
        byte[] key = "sandbox-native-key 1\nend-key\n".getBytes(StandardCharsets.US_ASCII);
        assertEquals(java.util.Optional.empty(), NativeIndex.write(dir, key, new NativeIndex.Deps(List.of(given), Map.of(), List.of()),
                "# sandbox-plan 1\n", List.of(), List.of(), System.currentTimeMillis() + 5000));
        String entry = Files.readString(dir.resolve(NativeIndex.name(key) + ".native"), StandardCharsets.ISO_8859_1);
        String line = entry.lines().filter(l -> l.startsWith("file ")).findFirst().orElseThrow();
        assertEquals(Files.getAttribute(theSpec, "unix:ino").toString(), line.split(" ")[2], "the file the kernel opens: " + line);
        assertTrue(line.endsWith(" " + given), line);

        // racy: listed by the digest of the bytes read through that path, which the compile names normalized
        Files.setLastModifiedTime(theSpec, FileTime.fromMillis(System.currentTimeMillis()));
        assertEquals(java.util.Optional.empty(), NativeIndex.write(dir, key, new NativeIndex.Deps(List.of(given), Map.of(), List.of(),
                        Map.of(given.normalize(), "name: real\n".getBytes(StandardCharsets.UTF_8))), "# sandbox-plan 1\n", List.of(), List.of(),
                System.currentTimeMillis()));
        entry = Files.readString(dir.resolve(NativeIndex.name(key) + ".native"), StandardCharsets.ISO_8859_1);
        assertTrue(entry.contains("\ndigest 11 " + NativeIndex.sha256("name: real\n".getBytes(StandardCharsets.UTF_8)) + " " + given + "\n"), entry);
    }

    @Test
    void noEntryIsWrittenWhereTheFrontWouldNotLook(@TempDir Path tmp) throws Exception {
        Path spec = Files.writeString(tmp.resolve("spec.yaml"), "name: x\n");
        Files.setLastModifiedTime(spec, FileTime.fromMillis(0));
        byte[] key = "sandbox-native-key 1\nend-key\n".getBytes(StandardCharsets.US_ASCII);
        var deps = new NativeIndex.Deps(List.of(spec), Map.of(), List.of());
        long later = System.currentTimeMillis() + 5000;
        Path dir = Files.createDirectory(tmp.resolve("shared"), java.nio.file.attribute.PosixFilePermissions.asFileAttribute(
                java.nio.file.attribute.PosixFilePermissions.fromString("rwx------")));
        Files.setPosixFilePermissions(dir, java.nio.file.attribute.PosixFilePermissions.fromString("rwxrwx---"));
        var why = NativeIndex.write(dir, key, deps, "# sandbox-plan 1\n", List.of(), List.of(), later);
        assertTrue(why.orElseThrow().contains("is not the caller's alone"), why.toString());
        assertFalse(Files.exists(dir.resolve(NativeIndex.name(key) + ".native")));

        Files.setPosixFilePermissions(dir, java.nio.file.attribute.PosixFilePermissions.fromString("rwx------"));
        Path link = Files.createSymbolicLink(tmp.resolve("link"), dir);
        why = NativeIndex.write(link, key, deps, "# sandbox-plan 1\n", List.of(), List.of(), later);
        assertTrue(why.orElseThrow().contains("is not the caller's alone"), "the front opens it O_NOFOLLOW: " + why);
        assertEquals(java.util.Optional.empty(), NativeIndex.write(dir, key, deps, "# sandbox-plan 1\n", List.of(), List.of(), later));
    }

    @Test
    void theGitDiscoveryAroundTheSpecIsPartOfTheEntry(@TempDir Path tmp) throws Exception {
        Path spec = Files.writeString(Files.createDirectories(tmp.resolve("a/b")).resolve("s.yaml"), "name: x\n");
        Map<Path, String> assumed = new java.util.LinkedHashMap<>();
        List<Path> files = new java.util.ArrayList<>();
        assertEquals(java.util.Optional.empty(), NativeIndex.gitChain(spec, assumed, files));
        Path real = tmp.toRealPath();
        assertEquals("missing", assumed.get(real.resolve("a/b/.git")));
        assertEquals("missing", assumed.get(real.resolve("a/.git")));
        assertEquals("missing", assumed.get(Path.of("/.git")));

        Files.createDirectory(tmp.resolve("a/.git"));
        assumed.clear();
        assertEquals(java.util.Optional.empty(), NativeIndex.gitChain(spec, assumed, files));
        assertEquals(Map.of(real.resolve("a/b/.git"), "missing", real.resolve("a/.git"), "dir"), assumed, "up to the working tree's top");

        Files.writeString(tmp.resolve("a/b/.git"), "gitdir: /elsewhere\n"); // a linked worktree
        assumed.clear();
        assertEquals(java.util.Optional.empty(), NativeIndex.gitChain(spec, assumed, files));
        assertEquals(Map.of(), assumed);
        assertEquals(List.of(real.resolve("a/b/.git")), files, "its identity covers its gitdir line");

        Files.delete(tmp.resolve("a/b/.git"));
        Files.createSymbolicLink(tmp.resolve("a/b/.git"), tmp.resolve("a/.git"));
        assertTrue(NativeIndex.gitChain(spec, assumed, files).isPresent(), "a .git symlink: no entry");
    }
}
