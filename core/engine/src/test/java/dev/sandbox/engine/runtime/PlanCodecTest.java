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
        assertEquals(plan(), back.plan());
        assertEquals(Path.of("/run/sandbox/web"), back.runtimeDir());
        assertEquals(List.of("s.yaml:1:1: warning[x]: y"), back.warnings());
        assertTrue(cache.load("k2").isEmpty());
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
    void aCachedPlanCutShortAtALineBoundaryIsAMissNotAShorterPlan(@TempDir Path dir) throws IOException {
        PlanCache cache = new PlanCache(dir.resolve("plans"));
        cache.store("k", new PlanCache.Entry(plan(), Path.of("/run/sandbox/web"), List.of()));
        Path file = dir.resolve("plans/k.plan");
        List<String> lines = Files.readAllLines(file);
        assertTrue(lines.get(lines.size() - 1).startsWith("end\t"), "the entry ends with its end line: " + lines);
        // a crash before the data reached the disk: the exec step and the end line are gone
        Files.write(file, lines.subList(0, lines.size() - 2));
        assertTrue(cache.load("k").isEmpty(), "a torn entry must not load as a plan without its last steps");
        Files.write(file, lines.subList(0, lines.size() - 1));
        assertTrue(cache.load("k").isEmpty(), "no end line: a miss");
        Files.write(file, lines);
        assertTrue(cache.load("k").isPresent());
        try (var left = Files.list(dir.resolve("plans"))) {
            assertEquals(List.of(file), left.toList(), "no temporary file is left next to the entry");
        }
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

    @Test
    void helperErrorsBecomeOneLine() {
        assertEquals("mounts:12 mount: mount /run/sandbox/x/root/usr: ENOENT (the source does not exist on the host)",
                HelperError.describe("ERROR 125\tmounts:12 mount\tmount\t/run/sandbox/x/root/usr\tENOENT\tthe source does not exist on the host"));
        assertEquals("finish:9 exec: execve /nope%x: ENOENT (not found)",
                HelperError.describe("ERROR 127\tfinish:9 exec\texecve\t/nope%25x\tENOENT\tnot found"));
    }
}
