package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;
import static org.junit.jupiter.api.DynamicTest.dynamicTest;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * Hostile spec files through the packaged launcher, as an attacker (or an accident) would hand them
 * over: every one is a located error ({@code file:line:col}) with exit 1 from {@code validate} and
 * exit 125 from {@code up}, without a stack trace, without hanging (each run is guarded by
 * {@link Cli}'s 120 s), and without creating anything on the host.
 *
 * <p>The files are in {@code schemas/tests/hostile/}; each states its errors in its first lines like
 * the golden samples ({@code # expect: LINE:COL CODE}; {@code generate.py} writes them, bytes an
 * editor would mangle included). The cases that are not files (a FIFO, {@code /dev/zero}, a
 * directory, a file its reader can't read, a symlink loop, a missing file, more than 1 MiB) are made
 * here. {@code up} runs with a runtime dir and a plan cache of its own that must stay empty.
 */
class HostileSpecsIT {

    static final Path HOSTILE = Cli.ROOT.resolve("schemas/tests/hostile");
    private static final Pattern EXPECT = Pattern.compile("# expect: (\\d+:\\d+ [a-z]+\\.[a-z0-9-]+)");
    private static final Pattern LOCATED = Pattern.compile("(?m)^(.+):(\\d+):(\\d+): error\\[([a-z]+\\.[a-z0-9-]+)\\]");

    private static SpecDir work;
    private static Path leakBaseline;

    @BeforeAll
    static void setUp() {
        work = new SpecDir();
        if (Files.isExecutable(ItHost.LEAKCHECK) && Cli.isRoot()) leakBaseline = ItHost.leakBaseline();
    }

    @AfterAll
    static void nothingOfAHostileSpecIsLeftOnTheHost() {
        try {
            if (leakBaseline != null) assertEquals(List.of(), ItHost.leaksSince(leakBaseline, "hostile"), "left on the host");
        } finally {
            work.close();
        }
    }

    static List<Path> files() {
        try (Stream<Path> s = Files.list(HOSTILE)) {
            return s.filter(p -> p.getFileName().toString().endsWith(".yaml")).sorted().toList();
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    /** The {@code # expect:} lines, read as bytes: some files are not UTF-8 on purpose. */
    static List<String> expected(Path file) throws IOException {
        String text = new String(Files.readAllBytes(file), StandardCharsets.ISO_8859_1);
        List<String> out = new ArrayList<>();
        Matcher m = EXPECT.matcher(text);
        while (m.find()) out.add(m.group(1));
        return out;
    }

    @Test
    void thereAreAtLeastSixtyHostileFiles() {
        assertTrue(files().size() >= 60, "only " + files().size() + " files in " + HOSTILE);
    }

    @TestFactory
    Stream<DynamicTest> everyHostileFileIsALocatedErrorForValidateAndUp() {
        return files().stream().map(f -> dynamicTest(f.getFileName().toString(), f.toUri(), () -> {
            List<String> expected = expected(f);
            assertFalse(expected.isEmpty(), f + " states no '# expect: LINE:COL CODE' line");

            Cli.Result validate = Cli.run("validate", f.toString());
            assertEquals(1, validate.exit(), validate.toString());
            noStackTrace(validate);
            assertEquals(expected.stream().sorted().toList(), located(validate.out(), f).stream().sorted().toList(),
                    "validate " + f.getFileName() + ": the located errors differ from the '# expect:' lines\n" + validate);

            String id = f.getFileName().toString().substring(0, 2);
            Path runtime = work.dir.resolve("run-" + id);
            Path cache = work.dir.resolve("cache-" + id);
            Cli.Result up = Cli.run(List.of(), Map.of("SANDBOX_RUNTIME_DIR", runtime.toString(), "SANDBOX_CACHE_DIR", cache.toString()),
                    "up", f.toString());
            assertEquals(125, up.exit(), up.toString());
            noStackTrace(up);
            assertEquals(expected.stream().sorted().toList(), located(up.err(), f).stream().sorted().toList(),
                    "up " + f.getFileName() + ": the located errors differ\n" + up);
            assertFalse(Files.exists(runtime), "up created its runtime dir for a spec with errors: " + runtime);
            assertTrue(!Files.exists(cache) || isEmpty(cache), "up cached a plan for a spec with errors");
        }));
    }

    /** Issue 7, reproduction 7: the target got {@code B=x} (the anchor's name); now it gets the value, merges included. */
    @Test
    void anAliasAndAMergeReachTheTargetAsTheirValues() {
        Path spec = work.spec("hostile-alias-env.yaml", """
                namespaces:
                  uts: {hostname: alias-box}
                process:
                  command: [/bin/sh, -c, 'echo "A=$A B=$B M=$M"']
                  env:
                    <<: {M: merged, A: overridden}
                    A: &x hello
                    B: *x
                """);
        Cli.Result r = Cli.run(List.of(), Map.of("SANDBOX_NO_CACHE", "1"), "up", spec.toString());
        assertEquals(0, r.exit(), r.toString());
        assertEquals("A=hello B=hello M=merged", r.out().strip(), r.toString());
        ItHost.assertNothingLeftOf("hostile-alias-env");
    }

    // ------------------------------------------------------------------------------ not files, or not readable

    @Test
    void aFifoFailsAtOnceInsteadOfBlocking() throws Exception {
        Path fifo = work.dir.resolve("fifo.yaml");
        ItHost.must("mkfifo", fifo.toString());
        notAFile(fifo, "spec.not-regular", "a FIFO");
    }

    @Test
    void devZeroFailsAtOnceInsteadOfFillingTheHeap() {
        notAFile(Path.of("/dev/zero"), "spec.not-regular", "a character device");
    }

    @Test
    void aDirectoryIsNotASpec() {
        notAFile(work.dir, "spec.not-regular", "a directory");
    }

    @Test
    void aSymlinkLoopNamesEloop() throws IOException {
        Path loop = work.dir.resolve("loop.yaml");
        Files.createSymbolicLink(loop, loop);
        notAFile(loop, "spec.unreadable", "cannot read " + loop + ": ELOOP");
    }

    @Test
    void aMissingFileIsALocatedError() {
        notAFile(work.dir.resolve("missing.yaml"), "spec.not-found", "no such file");
    }

    @Test
    void aFileOverOneMebibyteIsRefusedBeforeItIsRead() throws IOException {
        Path big = work.dir.resolve("big.yaml");
        byte[] bytes = new byte[1024 * 1024 + 1];
        java.util.Arrays.fill(bytes, (byte) '#');
        Files.write(big, bytes);
        notAFile(big, "spec.too-large", "at most 1048576 bytes");
    }

    @Test
    void aOneMebibyteSingleLineIsALocatedErrorNotMinutesOfParsing() throws IOException {
        Path line = work.dir.resolve("line.yaml");
        Files.writeString(line, "# " + "x".repeat(1024 * 1024 - 3) + "\n");
        Cli.Result r = Cli.run("validate", line.toString());
        assertEquals(1, r.exit(), r.toString());
        assertTrue(r.out().contains(line + ":1:65537: error[spec.line-too-long]"), r.toString());
    }

    @Test
    void aFileItsReaderCannotReadNamesEaccesAndThePathOnce() throws IOException {
        assumeTrue(Cli.isRoot(), "running as another user needs root");
        assumeTrue(ItHost.run("id", "-u", RootlessIT.USER).exit() == 0, "the user " + RootlessIT.USER + " is missing (RootlessIT creates it)");
        Path secret = work.dir.resolve("secret.yaml");
        Files.writeString(secret, "apiVersion: sandbox/v1\nkind: Sandbox\nname: hostile-secret\nprocess: {command: [/bin/true]}\n");
        Files.setPosixFilePermissions(secret, PosixFilePermissions.fromString("rw-------"));
        List<String> as = List.of("runuser", "-u", RootlessIT.USER, "--");
        Map<String, String> env = Map.of("HOME", work.dir.toString(), "SANDBOX_NO_CACHE", "1");
        Cli.Result validate = Cli.run(as, env, "validate", secret.toString());
        assertEquals(1, validate.exit(), validate.toString());
        noStackTrace(validate);
        String line = secret + ":1:1: error[spec.unreadable]: cannot read " + secret + ": EACCES";
        assertTrue(validate.out().contains(line), validate.toString());
        assertFalse(validate.out().contains(secret + ": " + secret), "the path once, then the errno: " + validate.out());
        Cli.Result up = Cli.run(as, env, "up", secret.toString());
        assertEquals(125, up.exit(), up.toString());
        noStackTrace(up);
        assertTrue(up.err().contains(line), up.toString());
    }

    private static void notAFile(Path spec, String code, String text) {
        Cli.Result validate = Cli.run("validate", spec.toString());
        assertEquals(1, validate.exit(), validate.toString());
        noStackTrace(validate);
        assertTrue(validate.out().contains(spec + ":1:1: error[" + code + "]"), validate.toString());
        assertTrue(validate.out().contains(text), validate.toString());
        Path runtime = work.dir.resolve("run-" + code);
        Cli.Result up = Cli.run(List.of(), Map.of("SANDBOX_RUNTIME_DIR", runtime.toString(), "SANDBOX_CACHE_DIR",
                work.dir.resolve("cache-" + code).toString()), "up", spec.toString());
        assertEquals(125, up.exit(), up.toString());
        noStackTrace(up);
        assertTrue(up.err().contains(spec + ":1:1: error[" + code + "]"), up.toString());
        assertFalse(Files.exists(runtime), "up created its runtime dir");
    }

    // ------------------------------------------------------------------------------ helpers

    static void noStackTrace(Cli.Result r) {
        for (String s : List.of(r.out(), r.err())) {
            assertFalse(s.contains("Exception") || s.contains("\tat ") || s.contains("Error:") && s.contains("java."),
                    "a stack trace or exception reached the user:\n" + r);
        }
    }

    /** {@code LINE:COL CODE} of every error located in {@code file}; an error located elsewhere (or nowhere) fails. */
    static List<String> located(String output, Path file) {
        List<String> out = new ArrayList<>();
        Matcher m = LOCATED.matcher(output);
        while (m.find()) {
            assertEquals(file.toString(), m.group(1), "an error located in another file:\n" + output);
            out.add(m.group(2) + ":" + m.group(3) + " " + m.group(4));
        }
        long errors = output.lines().filter(l -> l.contains(": error[")).count();
        assertEquals(errors, out.size(), "an error without file:line:col:\n" + output);
        return out;
    }

    private static boolean isEmpty(Path dir) {
        try (Stream<Path> s = Files.list(dir)) {
            return s.noneMatch(p -> p.getFileName().toString().endsWith(".plan"));
        } catch (IOException e) {
            return false;
        }
    }
}
