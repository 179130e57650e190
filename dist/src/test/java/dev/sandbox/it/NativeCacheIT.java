package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The warm path without a JVM (issue 10): {@code bin/sandbox up} execs the native front, which runs a cached plan
 * when its native index entry still holds, and hands every other call to the JVM. SANDBOX_TRACE_CACHE=1 makes the
 * front say "native cache: hit" or "native cache: miss ...: why"; SANDBOX_NO_JVM=1 makes the launcher fail where it
 * would start java, so a call that succeeds with it ran without one.
 */
class NativeCacheIT {

    private static final String HIT = "sandbox: native cache: hit ";
    private static final String MISS = "sandbox: native cache: miss ";

    private SpecDir specs;
    private Path cache;
    private final Map<String, String> env = new HashMap<>();

    @BeforeEach
    void setUp() throws Exception {
        specs = new SpecDir();
        cache = specs.dir.resolve("cache");
        Files.createDirectory(cache, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        env.put("SANDBOX_CACHE_DIR", cache.toString());
        env.put("SANDBOX_TRACE_CACHE", "1");
    }

    @AfterEach
    void tearDown() {
        specs.close();
    }

    private Cli.Result up(Map<String, String> extra, String... args) {
        Map<String, String> all = new HashMap<>(env);
        all.putAll(extra);
        List<String> full = new ArrayList<>(List.of("up"));
        full.addAll(List.of(args));
        return Cli.run(List.of(), all, full.toArray(String[]::new));
    }

    /** Runs the call until the front serves it (the JVM writes the entry on a compile or on its own cache hit), then once more without a JVM. */
    private Cli.Result warm(Map<String, String> extra, String... args) {
        for (int i = 0; i < 3; i++) {
            Cli.Result r = up(extra, args);
            assertFalse(r.err().contains("needs the JVM"), r.toString());
            if (r.err().contains(HIT)) break;
        }
        Map<String, String> noJvm = new HashMap<>(extra);
        noJvm.put("SANDBOX_NO_JVM", "1");
        Cli.Result r = up(noJvm, args);
        assertTrue(r.err().contains(HIT), "served by the native front without a JVM: " + r);
        return r;
    }

    private void assertMiss(Cli.Result r, String why) {
        assertTrue(r.err().contains(MISS), why + ": " + r);
        assertFalse(r.err().contains(HIT), why + ": " + r);
    }

    /** A file's change must be older than the racy window (NativeIndex.RACY_MS) for an entry to be written. */
    private static void settle() throws InterruptedException {
        Thread.sleep(1100);
    }

    private Path spec(String name, String hostname) {
        return specs.spec(name, """
                name: warm-it-%d
                include: [base.yaml]
                namespaces:
                  uts: {hostname: %s}
                  mount:
                    mounts:
                      - {type: bind, source: %s, target: /mnt, readonly: true}
                process:
                  command: [/bin/sh, -c, 'hostname; echo ${WARM_IT_WORD:-unset}; ls /mnt']
                """.formatted(ProcessHandle.current().pid(), hostname, specs.dir.resolve("src")));
    }

    @Test
    void anUnchangedCallRunsWithoutAJvmAndEveryChangeGoesToTheJvm() throws Exception {
        Files.createDirectory(specs.dir.resolve("src"));
        Files.writeString(specs.dir.resolve("src/marker"), "x");
        specs.write("base.yaml", "namespaces:\n  pid: {}\n");
        Path spec = spec("warm.yaml", "first");
        String s = spec.toString();
        settle();
        Cli.Result r = warm(Map.of(), "-v", s);
        assertEquals(0, r.exit(), r.toString());
        assertEquals(List.of("first", "unset", "marker"), r.out().lines().toList());
        assertTrue(r.err().contains("sandbox: using the compiled plan cached for " + s), r.err());
        assertTrue(r.err().contains("sandbox: finish    exec"), "-v shows the runtime's steps: " + r.err());
        assertTrue(r.err().lines().anyMatch(l -> l.matches("sandbox: front {5}cache-check +\\d+\\.\\d\\d ms  the native cache's entry [0-9a-f]{16} .*")),
                "-v shows the front's own step with its duration: " + r.err());
        r = warm(Map.of(), s);
        assertFalse(r.err().contains("using the compiled plan"), "no -v, no chatter: " + r.err());
        assertFalse(r.err().contains("cache-check"), "no -v, no step lines: " + r.err());

        // the spec
        spec("warm.yaml", "second");
        r = up(Map.of(), s);
        assertMiss(r, "an edited spec");
        assertEquals("second", r.out().lines().findFirst().orElse(""), r.toString());
        settle();
        warm(Map.of(), s);

        // an include
        specs.write("base.yaml", "namespaces:\n  pid: {}\n  ipc: {}\n");
        assertMiss(up(Map.of(), s), "an edited include");
        settle();
        warm(Map.of(), s);

        // a referenced variable; an unreferenced one is no reason
        r = up(Map.of("WARM_IT_WORD", "set"), s);
        assertMiss(r, "a referenced variable that is now set");
        assertEquals(List.of("second", "set", "marker"), r.out().lines().toList());
        warm(Map.of("WARM_IT_WORD", "set"), s);
        assertMiss(up(Map.of("WARM_IT_WORD", "other"), s), "a referenced variable with another value");
        warm(Map.of("WARM_IT_WORD", "set", "WARM_IT_UNREFERENCED", "x"), s);

        // the arguments
        assertMiss(up(Map.of(), "--stop-timeout", "3", s), "another option");
        r = up(Map.of(), s, "--", "/bin/echo", "override");
        assertMiss(r, "a command override");
        assertEquals("override", r.out().strip());

        // a bind source that is a file now
        Path src = specs.dir.resolve("src");
        Files.delete(src.resolve("marker"));
        Files.delete(src);
        Files.writeString(src, "now a file");
        assertMiss(up(Map.of(), s), "a bind source that changed type");
    }

    @Test
    void anEnvFileEditAPluginJarAndPluginsDirGoToTheJvm() throws Exception {
        specs.write("base.yaml", "namespaces:\n  pid: {}\n");
        Files.createDirectory(specs.dir.resolve("src"));
        Path spec = spec("env.yaml", "envy");
        Path envFile = specs.write("word.env", "WARM_IT_WORD=from-file\n");
        settle();
        String s = spec.toString();
        Cli.Result r = warm(Map.of(), "--env-file", envFile.toString(), s);
        assertEquals(List.of("envy", "from-file"), r.out().lines().toList());
        specs.write("word.env", "WARM_IT_WORD=edited\n");
        r = up(Map.of(), "--env-file", envFile.toString(), s);
        assertMiss(r, "an edited env file");
        assertEquals(List.of("envy", "edited"), r.out().lines().toList());
        settle();
        warm(Map.of(), "--env-file", envFile.toString(), s);

        // a plugin jar of the installation that changed (touched)
        Path jar;
        try (Stream<Path> jars = Files.list(Cli.DIST.resolve("plugins"))) {
            jar = jars.filter(p -> p.toString().endsWith(".jar")).findFirst().orElseThrow();
        }
        warm(Map.of(), s);
        Files.setLastModifiedTime(jar, FileTime.fromMillis(System.currentTimeMillis()));
        assertMiss(up(Map.of(), s), "a plugin jar changed");
        settle();
        warm(Map.of(), s);

        // --plugins-dir is never served by the front
        Path plugins = Files.createDirectory(specs.dir.resolve("plugins"));
        r = up(Map.of(), "--plugins-dir", plugins.toString(), s);
        assertMiss(r, "--plugins-dir");
        r = up(Map.of(), "--plugins-dir", plugins.toString(), s);
        assertMiss(r, "--plugins-dir, again");
    }

    @Test
    void aCacheDirOrEntryOthersCanWriteIsRefusedAndAnotherUidMisses() throws Exception {
        assumeTrue(Cli.isRoot(), "needs root (chown, another user)");
        specs.write("base.yaml", "namespaces:\n  pid: {}\n");
        Files.createDirectory(specs.dir.resolve("src"));
        Path spec = spec("trust.yaml", "trusty");
        settle();
        String s = spec.toString();
        warm(Map.of(), s);

        Files.setPosixFilePermissions(cache, PosixFilePermissions.fromString("rwxrwxrwx"));
        Cli.Result r = up(Map.of(), s);
        assertMiss(r, "a cache dir others can write");
        assertTrue(r.err().contains("is not the caller's alone"), r.err());
        Files.setPosixFilePermissions(cache, PosixFilePermissions.fromString("rwx------"));
        warm(Map.of(), s);

        Path entry;
        try (Stream<Path> entries = Files.list(cache)) {
            entry = entries.filter(p -> p.toString().endsWith(".native")).findFirst().orElseThrow();
        }
        Files.setPosixFilePermissions(entry, PosixFilePermissions.fromString("rw-rw-rw-"));
        for (Path p : listNative()) Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rw-rw-rw-"));
        assertMiss(up(Map.of(), s), "an entry others can write");
        for (Path p : listNative()) Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rw-------"));
        warm(Map.of(), s);

        // the same call by another user: the key material holds the caller's ids, so root's entry is never theirs
        ItHost.must("chmod", "-R", "a+rX", specs.dir.toString());
        ItHost.must("chown", "-R", RootlessIT.USER, cache.toString());
        Cli.Result other = Cli.run(List.of("runuser", "-u", RootlessIT.USER, "--", "env", "SANDBOX_CACHE_DIR=" + cache,
                "SANDBOX_TRACE_CACHE=1", "SANDBOX_NO_JVM=1", "HOME=" + specs.dir), Map.of(), "up", s);
        assertMiss(other, "another uid");
        assertTrue(other.err().contains("needs the JVM"), other.toString());
    }

    /**
     * A spec and include written just now ("racily clean": changed less than 1 s before the JVM started) are listed in the
     * entry by the SHA-256 of the bytes the compile read, and the front hashes them: the next call is served, and an edit of
     * the same size in the same second (even with the mtime put back; only ctime and content differ) is a miss.
     */
    @Test
    void aFreshlyWrittenSpecIsCheckedByContentAndASameSizeEditInTheSameSecondIsAMiss() throws Exception {
        Files.createDirectory(specs.dir.resolve("src"));
        specs.write("base.yaml", "namespaces:\n  pid: {}\n");
        Path spec = spec("racy.yaml", "aaaaa");
        String s = spec.toString();
        Cli.Result r = up(Map.of(), s); // no settle(): both files are racy for this JVM
        assertMiss(r, "no entry yet");
        assertEquals("aaaaa", r.out().lines().findFirst().orElse(""), r.toString());
        String entry = Files.readString(listNative().get(0), java.nio.charset.StandardCharsets.ISO_8859_1);
        assertTrue(entry.contains(" " + s + "\n") && entry.lines().anyMatch(l -> l.startsWith("digest ") && l.endsWith(" " + s)),
                "the racy spec is listed by its digest:\n" + entry);
        assertTrue(entry.lines().anyMatch(l -> l.startsWith("digest ") && l.endsWith(" " + specs.dir.resolve("base.yaml"))),
                "the racy include too:\n" + entry);
        r = up(Map.of("SANDBOX_NO_JVM", "1"), s);
        assertTrue(r.err().contains(HIT), "a fresh spec is served without a JVM: " + r);
        assertEquals("aaaaa", r.out().lines().findFirst().orElse(""), r.toString());

        // the same size, the same second, the same mtime: only the content differs
        FileTime mtime = Files.getLastModifiedTime(spec);
        spec("racy.yaml", "bbbbb");
        Files.setLastModifiedTime(spec, mtime);
        r = up(Map.of(), s);
        assertMiss(r, "a same-size edit of a racy spec in the same second");
        assertTrue(r.err().contains(s + " changed"), r.err());
        assertEquals("bbbbb", r.out().lines().findFirst().orElse(""), r.toString());
        r = up(Map.of("SANDBOX_NO_JVM", "1"), s);
        assertTrue(r.err().contains(HIT), r.toString());
        specs.write("base.yaml", "namespaces:\n  ipc: {}\n"); // the include: same size
        assertMiss(up(Map.of(), s), "a same-size edit of a racy include");
    }

    /** The repository around the spec is part of the plan (provenance): a git init around a cached spec is a miss. */
    @Test
    void aRepositoryMadeAroundTheSpecIsAMiss() throws Exception {
        Files.createDirectory(specs.dir.resolve("src"));
        specs.write("base.yaml", "namespaces:\n  pid: {}\n");
        String s = spec("git.yaml", "gitty").toString();
        warm(Map.of(), s);
        ItHost.must("git", "init", "-q", specs.dir.toString());
        assertMiss(up(Map.of(), s), "a repository made around the spec");
        warm(Map.of(), s);
        ItHost.must("rm", "-rf", specs.dir.resolve(".git").toString());
        assertMiss(up(Map.of(), s), "the repository removed");
    }

    /** SANDBOX_FRONT=prime compiles and writes the entries without running anything; SANDBOX_FRONT_REQUIRE=hit turns a miss into exit 125. */
    @Test
    void primingWritesTheEntriesWithoutRunningAndRequireHitRefusesAMiss() throws Exception {
        Files.createDirectory(specs.dir.resolve("src"));
        specs.write("base.yaml", "namespaces:\n  pid: {}\n");
        Path spec = spec("prime.yaml", "primed");
        String s = spec.toString();
        Cli.Result r = up(Map.of("SANDBOX_FRONT_REQUIRE", "hit"), s);
        assertEquals(125, r.exit(), r.toString());
        assertTrue(r.err().contains("sandbox: up: SANDBOX_FRONT_REQUIRE=hit, but the native cache missed (entry "), r.err());
        assertTrue(r.err().endsWith("): no entry\n"), r.err());
        assertEquals("", r.out(), "nothing ran");

        r = up(Map.of("SANDBOX_FRONT", "prime"), s);
        assertEquals(0, r.exit(), r.toString());
        assertEquals("", r.out(), "priming runs nothing");
        assertTrue(r.err().contains("sandbox: prime: cacheable " + listNative().get(0).getFileName().toString().replace(".native", "")), r.err());
        assertFalse(r.err().contains(HIT) || r.err().contains(MISS), "priming never asks the front: " + r.err());
        r = up(Map.of("SANDBOX_FRONT_REQUIRE", "hit", "SANDBOX_NO_JVM", "1"), s);
        assertEquals(0, r.exit(), r.toString());
        assertTrue(r.err().contains(HIT), r.toString());
        assertEquals("primed", r.out().lines().findFirst().orElse(""), r.toString());

        // what the front never serves: priming says so, and runs nothing either
        r = up(Map.of("SANDBOX_FRONT", "prime"), "--plugins-dir", specs.dir.toString(), s);
        assertEquals(0, r.exit(), r.toString());
        assertEquals("", r.out());
        assertTrue(r.err().contains("sandbox: prime: not cacheable: arguments only the full CLI takes"), r.err());
        r = up(Map.of("SANDBOX_FRONT", "prime", "SANDBOX_NO_CACHE", "1"), s);
        assertTrue(r.err().contains("sandbox: prime: not cacheable: SANDBOX_NO_CACHE is set"), r.err());
        // an invalid spec: reported as up reports it
        Path bad = specs.write("bad.yaml", "name: [\n");
        r = up(Map.of("SANDBOX_FRONT", "prime"), bad.toString());
        assertEquals(125, r.exit(), r.toString());
        assertTrue(r.err().contains("nothing was started"), r.err());
    }

    private List<Path> listNative() throws Exception {
        try (Stream<Path> entries = Files.list(cache)) {
            return entries.filter(p -> p.toString().endsWith(".native")).toList();
        }
    }
}
