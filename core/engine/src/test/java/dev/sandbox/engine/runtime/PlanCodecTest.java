package dev.sandbox.engine.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sandbox.api.Plan;
import dev.sandbox.api.Stage;
import dev.sandbox.api.Step;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PlanCodecTest {

    private static Plan plan() {
        return new Plan("web", List.of(
                Step.of(Stage.PREPARE, "check-path").arg("path", "/usr").summary("check").syscall("stat(\"/usr\")").build().withPlugin("mount"),
                Step.of(Stage.CLONE, "clone").arg("flags", "CLONE_NEWNS").build().withPlugin("mount"),
                Step.of(Stage.FINISH, "exec").arg("arg", "/bin/sh").arg("arg", "-c").arg("arg", "echo a\tb=c %25\nx")
                        .arg("env", "PATH=/bin").summary("run").build().withPlugin("process")));
    }

    @Test
    void theHelperFileHasHelperStagesOnlyWithEscapedValues() {
        PlanFile.Rendered r = PlanFile.render(plan());
        List<String> lines = r.text().lines().toList();
        assertEquals("# sandbox plan for web", lines.get(0));
        assertEquals("clone\tclone\tflags=CLONE_NEWNS", lines.get(1));
        assertEquals("finish\texec\targ=/bin/sh\targ=-c\targ=echo a%09b=c %2525%0Ax\tenv=PATH=/bin", lines.get(2));
        assertEquals(3, lines.size());
        assertEquals("exec", r.lines().get(2).op(), "line 3 of the file is the exec step");
    }

    @Test
    void aCachedPlanReadsBackEqual(@TempDir Path dir) throws IOException {
        Files.setPosixFilePermissions(dir, java.nio.file.attribute.PosixFilePermissions.fromString("rwx------"));
        PlanCache cache = new PlanCache(dir.resolve("plans"));
        cache.store("k1", new PlanCache.Entry(plan(), Path.of("/run/sandbox/web"), List.of("s.yaml:1:1: warning[x]: y")));
        PlanCache.Entry back = cache.load("k1").orElseThrow();
        assertEquals(canonical(plan()), canonical(back.plan()), "the plan file is the same (plugins and syscalls are not in it)");
        assertEquals(plan().steps().stream().map(Step::summary).toList(), back.plan().steps().stream().map(Step::summary).toList());
        assertEquals(Path.of("/run/sandbox/web"), back.runtimeDir());
        assertEquals(List.of("s.yaml:1:1: warning[x]: y"), back.warnings());
        assertTrue(cache.load("k2").isEmpty());
    }

    /** $'\xff\xfe-raw' as the launcher reads it from /proc/self/cmdline (issue 8). */
    static final String RAW = RawText.decode(new byte[] {(byte) 0xff, (byte) 0xfe, '-', 'r', 'a', 'w'});

    private static Plan rawPlan() {
        // U+10080 is the pair D800 DC80: its low half is in the escaped range but is text, not a byte
        return new Plan("raw", List.of(Step.of(Stage.CLONE, "clone").arg("flags", "").build(),
                Step.of(Stage.FINISH, "exec").arg("arg", "sh").arg("arg", RAW).arg("arg", "caf\u00e9 \ud800\udc80 100%")
                        .arg("env", "X=" + RawText.decode(new byte[] {'a', (byte) 0xe9})).summary("run sh " + RAW).build()));
    }

    @Test
    void bytesThatAreNotUtf8AreWrittenAsPercentHexAndTextStaysText() {
        List<String> lines = PlanFile.render(rawPlan()).text().lines().toList();
        assertEquals("finish\texec\targ=sh\targ=%FF%FE-raw\targ=caf\u00e9 \ud800\udc80 100%25\tenv=X=a%E9", lines.get(2));
    }

    @Test
    void rawTextKeepsEveryByteAndOnlyThoseThatAreNotUtf8AreEscaped() {
        byte[][] samples = {{(byte) 0xff, (byte) 0xfe, '-', 'r', 'a', 'w'}, "caf\u00e9".getBytes(java.nio.charset.StandardCharsets.UTF_8),
            {(byte) 0xc3}, {(byte) 0xed, (byte) 0xa0, (byte) 0x80} /* an encoded surrogate is not UTF-8 */, {(byte) 0xf0, (byte) 0x9f, (byte) 0x98, (byte) 0x80},
            {(byte) 0xc0, (byte) 0xaf} /* overlong '/' */, {}};
        for (byte[] b : samples) {
            String s = RawText.decode(b);
            assertEquals(java.util.HexFormat.of().formatHex(b), java.util.HexFormat.of().formatHex(RawText.encode(s)));
        }
        assertEquals("\\xff\\xfe-raw", RawText.display(RAW));
        assertEquals("caf\u00e9", RawText.decode("caf\u00e9".getBytes(java.nio.charset.StandardCharsets.UTF_8)));
        assertEquals(false, RawText.hasBytes("\ud800\udc80"), "a surrogate pair is text");
        assertEquals(true, RawText.hasBytes("\udc80\udc80"));
    }

    @Test
    void aCachedPlanKeepsTheBytesAndTheKeyTellsBytesApart(@TempDir Path dir) throws IOException {
        Files.setPosixFilePermissions(dir, java.nio.file.attribute.PosixFilePermissions.fromString("rwx------"));
        PlanCache cache = new PlanCache(dir.resolve("plans"));
        cache.store("k", new PlanCache.Entry(rawPlan(), Path.of("/run/sandbox/raw"), List.of()));
        assertEquals(rawPlan(), cache.load("k").orElseThrow().plan(), "no plugin or syscall in it: equal");
        Path spec = dir.resolve("s.yaml");
        Files.writeString(spec, "name: x\n");
        var caller = new dev.sandbox.api.Caller(0, 0, "root");
        String ff = PlanCache.key(spec, java.util.Optional.of(List.of("sh", RawText.decode(new byte[] {(byte) 0xff}))), caller,
                java.util.Map.of(), null, List.of()).orElseThrow();
        String fe = PlanCache.key(spec, java.util.Optional.of(List.of("sh", RawText.decode(new byte[] {(byte) 0xfe}))), caller,
                java.util.Map.of(), null, List.of()).orElseThrow();
        assertTrue(!ff.equals(fe), "two commands that differ in one byte are two cache entries");
    }

    @Test
    void aCachedPlanIsNotUsedWhenAHostPathChangedType(@TempDir Path dir) throws IOException {
        Path source = dir.resolve("src");
        Files.createDirectory(source);
        Plan plan = new Plan("p", List.of(Step.of(Stage.MOUNTS, "mount").arg("source", source.toString()).arg("create", "dir").build()));
        PlanCache cache = new PlanCache(dir.resolve("plans"));
        cache.store("k", new PlanCache.Entry(plan, Path.of("/run/sandbox/p"), List.of()));
        assertTrue(cache.load("k").isPresent());
        Files.delete(source);
        Files.writeString(source, "now a file");
        assertTrue(cache.load("k").isEmpty(), "the bind source is now a file: recompile");
    }

    @Test
    void theSandboxsOwnCgroupIsNoHostPathTheCacheChecks(@TempDir Path dir) throws IOException {
        Path cgroup = dir.resolve("cg");
        Plan plan = new Plan("p", List.of(Step.of(Stage.PREPARE, "cgroup-create").arg("path", cgroup.toString()).build(),
                Step.of(Stage.SUPERVISE, "cgroup-remove").arg("path", cgroup.toString()).build()));
        PlanCache cache = new PlanCache(dir.resolve("plans"));
        cache.store("k", new PlanCache.Entry(plan, Path.of("/run/sandbox/p"), List.of()));
        Files.createDirectory(cgroup);
        assertTrue(cache.load("k").isPresent(), "a leftover cgroup of the name is the runtime's to finish, not a reason to recompile");
    }

    @Test
    void aCachedPlanIsNotUsedOnceAFileCompiledIntoItChanged(@TempDir Path dir) throws IOException {
        Path profile = dir.resolve("profile.json");
        Files.writeString(profile, "{\"defaultAction\": \"SCMP_ACT_ERRNO\"}");
        PlanCache cache = new PlanCache(dir.resolve("plans"));
        cache.store("k", new PlanCache.Entry(plan(), Path.of("/run/sandbox/web"), List.of(),
                java.util.Map.of(profile, PlanCache.digest(Files.readAllBytes(profile)))));
        assertEquals(java.util.Map.of(profile, PlanCache.digest(Files.readAllBytes(profile))), cache.load("k").orElseThrow().files());
        Files.writeString(profile, "{\"defaultAction\": \"SCMP_ACT_ALLOW\"}");
        assertTrue(cache.load("k").isEmpty(), "the profile was edited: recompile");
        Files.writeString(profile, "{\"defaultAction\": \"SCMP_ACT_ERRNO\"}");
        assertTrue(cache.load("k").isPresent(), "the same content again");
        Files.delete(profile);
        assertTrue(cache.load("k").isEmpty(), "the profile is gone: recompile (and report it)");
    }

    @Test
    void aCachedPlanCutShortIsAMissNotAShorterPlan(@TempDir Path dir) throws IOException {
        PlanCache cache = new PlanCache(dir.resolve("plans"));
        cache.store("k", new PlanCache.Entry(plan(), Path.of("/run/sandbox/web"), List.of()));
        Path file = dir.resolve("plans/k.plan");
        List<String> lines = Files.readAllLines(file);
        // a crash before the data reached the disk: the exec step is gone, or its last line only
        Files.write(file, lines.subList(0, lines.size() - 2));
        assertTrue(cache.load("k").isEmpty(), "a torn entry must not load as a plan without its last steps");
        Files.write(file, lines.subList(0, lines.size() - 1));
        assertTrue(cache.load("k").isEmpty(), "the last step missing: a miss");
        byte[] all = String.join("\n", lines).concat("\n").getBytes(java.nio.charset.StandardCharsets.UTF_8);
        Files.write(file, java.util.Arrays.copyOf(all, all.length - 1));
        assertTrue(cache.load("k").isEmpty(), "the last newline missing: a miss");
        Files.write(file, lines);
        assertTrue(cache.load("k").isPresent());
        try (var left = Files.list(dir.resolve("plans"))) {
            assertEquals(List.of(file), left.toList(), "no temporary file is left next to the entry");
        }
    }

    @Test
    void theEntryHoldsTheCanonicalPlanFileByteForByteAfterItsHeader(@TempDir Path dir) throws IOException {
        PlanCache cache = new PlanCache(dir.resolve("plans"));
        PlanFile.Source source = new PlanFile.Source("/specs/web.yaml", "ab".repeat(32));
        PlanCache.Entry entry = new PlanCache.Entry(plan(), Path.of("/run/sandbox/web"), source, List.of("w"),
                dev.sandbox.engine.spec.LoadedSpec.Inputs.NONE, java.util.Map.of());
        cache.store("k", entry);
        String stored = Files.readString(dir.resolve("plans/k.plan"));
        String text = PlanFile.canonical(plan(), Path.of("/run/sandbox/web"), source).text();
        assertTrue(stored.startsWith(PlanCache.MAGIC + "\n"), stored);
        assertTrue(stored.endsWith("\nplan\t" + text.getBytes(java.nio.charset.StandardCharsets.UTF_8).length + "\n" + text), stored);
        PlanCache.Entry back = cache.load("k").orElseThrow();
        assertEquals(text, back.text());
        assertEquals(source, back.source());
        // an edit that keeps the length but is not what canonical writes (a lower-case escape) is a miss
        Files.writeString(dir.resolve("plans/k.plan"), stored.replace("%0Ax", "%0ax"));
        assertTrue(cache.load("k").isEmpty(), "not canonical: a miss");
        Files.writeString(dir.resolve("plans/k.plan"), stored.replace("sandbox-plan-cache 4", "sandbox-plan-cache 3"));
        assertTrue(cache.load("k").isEmpty(), "another version: a miss");
    }

    private static String canonical(Plan plan) {
        return PlanFile.canonical(plan, Path.of("/run/sandbox/web"), PlanFile.Source.NONE).text();
    }

    @Test
    void theCanonicalFileReadsBackWithItsSummariesRuntimeDirAndSpec() {
        PlanFile.Source source = new PlanFile.Source("/specs/w\teb %.yaml", "cd".repeat(32));
        String text = PlanFile.canonical(rawPlan(), Path.of("/run/sandbox/raw"), source).text();
        PlanFile.Parsed back = PlanFile.parse(text);
        assertEquals(rawPlan(), back.plan());
        assertEquals(Path.of("/run/sandbox/raw"), back.runtimeDir());
        assertEquals(source, back.source());
        assertEquals(text, PlanFile.canonical(back.plan(), back.runtimeDir(), back.source()).text());
        assertEquals("run sh " + RAW, back.plan().steps().get(1).summary(), "the comment line is the next step's summary");
        PlanFile.Parsed bare = PlanFile.parse(PlanFile.canonical(plan(), Path.of("/r/web"), PlanFile.Source.NONE).text());
        assertEquals(PlanFile.Source.NONE, bare.source());
    }

    @Test
    void theSpecsGitOriginIsPartOfTheRuntimeDirStepAndReadsBack(@TempDir Path dir) {
        PlanFile.Source source = new PlanFile.Source("/src/a p%/specs/web.yaml", "cd".repeat(32))
                .withGit("/src/a p%", "specs/web.yaml", "30c3d9aa5e1d0a39e86df8a1964c48cdaeb6732c", null);
        String text = PlanFile.canonical(plan(), Path.of("/run/sandbox/web"), source).text();
        assertEquals("prepare\truntime-dir\tpath=/run/sandbox/web\tname=web\tspec=/src/a p%25/specs/web.yaml\tspec-sha256=" + "cd".repeat(32)
                + "\tgit-repo=/src/a p%25\tgit-path=specs/web.yaml\tgit-blob=30c3d9aa5e1d0a39e86df8a1964c48cdaeb6732c", text.lines().toList().get(1));
        PlanFile.Parsed back = PlanFile.parse(text);
        assertEquals(source, back.source());
        PlanFile.Source fromRevision = new PlanFile.Source("HEAD~1:web.yaml", "cd".repeat(32)).withGit("/src", "web.yaml", "ab".repeat(20), "ef".repeat(20));
        String rev = PlanFile.canonical(plan(), Path.of("/run/sandbox/web"), fromRevision).text();
        assertTrue(rev.lines().toList().get(1).endsWith("\tgit-commit=" + "ef".repeat(20)), rev);
        assertEquals(fromRevision, PlanFile.parse(rev).source());
        // the plan cache keeps them
        PlanCache cache = new PlanCache(dir.resolve("plans"));
        cache.store("k", new PlanCache.Entry(plan(), Path.of("/run/sandbox/web"), source, List.of(), dev.sandbox.engine.spec.LoadedSpec.Inputs.NONE,
                java.util.Map.of()));
        assertEquals(source, cache.load("k").orElseThrow().source());
        // only together, in order
        String line = text.lines().toList().get(1);
        for (String broken : List.of(line.replaceAll("\tgit-path=[^\t]*", ""), line + "\tgit-blob=ab",
                line.replace("\tgit-repo=/src/a p%25\tgit-path=specs/web.yaml", "\tgit-path=specs/web.yaml\tgit-repo=/src/a p%25"),
                line.replaceAll("\tgit-[a-z]+=[^\t]*", "") + "\tgit-commit=ab")) {
            String t = text.replace(line, broken);
            PlanFile.FormatException e = org.junit.jupiter.api.Assertions.assertThrows(PlanFile.FormatException.class, () -> PlanFile.parse(t), broken);
            assertEquals(2, e.line(), e.getMessage());
        }
    }

    /** A value of the characters that need care: %, TAB, newline, '=', '#', bytes that are not UTF-8, surrogate pairs, CR. */
    private static String randomValue(java.util.Random random) {
        String[] parts = {"a", "%", "%25", "\t", "\n", "=", "# ", "\r", " ", "caf\u00e9", "\ud83d\ude00", "%0A", "x=y", "/usr/bin",
            RawText.decode(new byte[] {(byte) 0xff}), RawText.decode(new byte[] {(byte) 0x80, 'z'}), "\u0660"};
        StringBuilder out = new StringBuilder();
        for (int i = random.nextInt(6); i > 0; i--) out.append(parts[random.nextInt(parts.length)]);
        return out.toString();
    }

    @Test
    void everyRandomPlanReadsBackToTheSameFile() {
        java.util.Random random = new java.util.Random(8);
        List<java.util.Map.Entry<String, java.util.Set<Stage>>> ops = new java.util.ArrayList<>(dev.sandbox.api.Ops.ALLOWED.entrySet());
        ops.removeIf(e -> e.getKey().equals(PlanFile.RUNTIME_DIR));
        ops.sort(java.util.Map.Entry.comparingByKey());
        for (int n = 0; n < 500; n++) {
            List<Step> steps = new java.util.ArrayList<>();
            for (int i = random.nextInt(12); i > 0; i--) {
                var op = ops.get(random.nextInt(ops.size()));
                Step.Builder b = Step.of(op.getValue().iterator().next(), op.getKey());
                for (int k = random.nextInt(4); k > 0; k--) b.arg(List.of("path", "arg", "env", "value").get(random.nextInt(4)), randomValue(random));
                if (random.nextBoolean()) b.summary(randomValue(random));
                steps.add(b.build());
            }
            steps.sort(java.util.Comparator.comparing(Step::stage));
            Plan plan = new Plan("p" + randomValue(random), steps);
            PlanFile.Source source = new PlanFile.Source(random.nextBoolean() ? null : "/s/" + randomValue(random),
                    random.nextBoolean() ? null : "ab");
            Path runtime = Path.of("/run/sandbox", "r%\t" + n); // ASCII: this JVM's file names may be ASCII only (LANG=C)
            String text = PlanFile.canonical(plan, runtime, source).text();
            PlanFile.Parsed back = PlanFile.parse(text);
            assertEquals(text, PlanFile.canonical(back.plan(), back.runtimeDir(), back.source()).text(), "plan " + n);
            for (int i = 0; i < steps.size(); i++) {
                String summary = steps.get(i).summary().isBlank() ? "" : steps.get(i).summary();
                assertEquals(List.of(steps.get(i).args(), summary), List.of(back.plan().steps().get(i).args(),
                        back.plan().steps().get(i).summary()), "plan " + n + " step " + (i + 1));
            }
        }
    }

    @Test
    void aTextThatIsNotACanonicalPlanFileIsRefusedWithItsLine() {
        String ok = PlanFile.canonical(plan(), Path.of("/run/sandbox/web"), PlanFile.Source.NONE).text();
        java.util.Map<String, Integer> bad = new java.util.LinkedHashMap<>();
        bad.put(ok.replace("# sandbox-plan 1", "# sandbox-plan 2"), 1);
        bad.put(ok.substring(0, ok.length() - 1), 7);
        bad.put(ok.replace("prepare\truntime-dir\t", "prepare\tcheck-path\t"), 2);
        bad.put(ok.replace("\tname=web", ""), 2);
        bad.put(ok.replace("clone\tclone", "clone\tmount"), 5);
        bad.put(ok.replace("clone\tclone", "clonk\tclone"), 5);
        bad.put(ok.replace("clone\tclone\tflags=CLONE_NEWNS", "clone\tclone\tflags"), 5);
        bad.put(ok.replace("%0A", "%0"), 7);
        bad.put(ok.replace("%0A", "%\u0660A"), 7);
        bad.put(ok.replace("# check\n", "# check\n# twice\n"), 4);
        bad.put(ok + "# dangling\n", 8);
        bad.put(ok + "prepare\tcheck-path\tpath=/x\n", 8);
        bad.put(ok + "prepare\truntime-dir\tpath=/x\tname=y\n", 8);
        bad.forEach((text, line) -> {
            PlanFile.FormatException e = org.junit.jupiter.api.Assertions.assertThrows(PlanFile.FormatException.class,
                    () -> PlanFile.parse(text), text);
            assertEquals(line, e.line(), e.getMessage() + "\n" + text);
        });
    }
    @Test
    void aCachedPlanWritableByOthersIsNotTrusted(@TempDir Path dir) throws IOException {
        PlanCache cache = new PlanCache(dir.resolve("plans"));
        cache.store("k", new PlanCache.Entry(plan(), Path.of("/run/sandbox/web"), List.of()));
        Path file = dir.resolve("plans/k.plan");
        Files.setPosixFilePermissions(file, java.nio.file.attribute.PosixFilePermissions.fromString("rw-rw-rw-"));
        assertTrue(cache.load("k").isEmpty(), "a plan others can write is executed by nobody");
        Files.setPosixFilePermissions(file, java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
        Files.setPosixFilePermissions(dir.resolve("plans"), java.nio.file.attribute.PosixFilePermissions.fromString("rwxrwxrwx"));
        assertTrue(cache.load("k").isEmpty(), "nor one in a directory others can write");
    }
}
