package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.DynamicTest.dynamicTest;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.sandbox.api.Caller;
import dev.sandbox.api.Diagnostic;
import dev.sandbox.api.Plan;
import dev.sandbox.api.Step;
import dev.sandbox.engine.Sandbox;
import dev.sandbox.engine.host.HostProbe;
import dev.sandbox.engine.pipeline.Pipeline;
import dev.sandbox.engine.runtime.PlanCache;
import dev.sandbox.engine.runtime.PlanFile;
import dev.sandbox.engine.spec.LoadedSpec;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * Issue 8, one plan encoding: the canonical plan file of every example and every valid schema sample reads back
 * ({@link PlanFile#parse}) into a plan that renders to the same bytes, the plan cache gives back exactly that text,
 * and {@code sandbox plan --format json} shows exactly the steps of {@code sandbox plan --format file}. Compiles
 * only: nothing runs.
 */
class PlanFileIT {

    private static final Caller ROOT = new Caller(0, 0, "root");
    private static final ObjectMapper JSON = new ObjectMapper();
    private static Sandbox engine;
    private static Pipeline asRoot;
    @org.junit.jupiter.api.io.TempDir static Path work;

    @BeforeAll
    static void engine() {
        engine = new Sandbox(List.of(Cli.DIST.resolve("plugins")), Map.of());
        assertEquals(List.of(), engine.pluginProblems().stream().map(Diagnostic::format).toList());
        asRoot = new Pipeline(engine.registry(), HostProbe.detect(ROOT), ROOT, Map.of());
    }

    static List<Path> specs() throws IOException {
        List<Path> out = new ArrayList<>();
        try (Stream<Path> examples = Files.list(Cli.ROOT.resolve("examples"))) {
            examples.filter(p -> p.toString().endsWith(".yaml")).sorted().forEach(out::add);
        }
        out.addAll(SchemaSamplesIT.files("valid"));
        return out;
    }

    /** The plan of {@code spec} as root on this host, or null when it doesn't validate so (a sample for another caller). */
    private static Plan compile(LoadedSpec spec, Path runtimeDir) {
        List<Diagnostic> problems = new ArrayList<>(asRoot.validate(spec));
        if (problems.stream().anyMatch(Diagnostic::isError)) return null;
        problems.clear();
        // a join of a sandbox that isn't running is a problem of this moment, the plan is still whole
        Plan plan = asRoot.compile(spec, runtimeDir, Pipeline.RunOptions.none(), problems);
        return problems.stream().anyMatch(d -> d.isError() && !d.code().equals("join.sandbox-not-running")) ? null : plan;
    }

    @TestFactory
    Stream<DynamicTest> theCanonicalFileOfEveryExampleAndSampleReadsBackToTheSameBytes() throws IOException {
        return specs().stream().map(file -> dynamicTest(Cli.ROOT.relativize(file).toString(), file.toUri(), () -> {
            LoadedSpec spec = engine.load(file);
            Path runtimeDir = Path.of("/run/sandbox", spec.root().get("name").text("sandbox"));
            Plan plan = compile(spec, runtimeDir);
            org.junit.jupiter.api.Assumptions.assumeTrue(plan != null, file + " does not compile for root here");
            PlanFile.Source source = PlanFile.Source.of(spec);
            String text = PlanFile.canonical(plan, runtimeDir, source).text();

            PlanFile.Parsed back = PlanFile.parse(text);
            assertEquals(text, PlanFile.canonical(back.plan(), back.runtimeDir(), back.source()).text(), "canonical(parse(t)) != t");
            assertEquals(runtimeDir, back.runtimeDir());
            assertEquals(source, back.source());
            assertEquals(plan.steps().size(), back.plan().steps().size());
            for (int i = 0; i < plan.steps().size(); i++) {
                Step a = plan.steps().get(i), b = back.plan().steps().get(i);
                assertEquals(List.of(a.stage(), a.op(), a.args(), a.summary().isBlank() ? "" : a.summary()),
                        List.of(b.stage(), b.op(), b.args(), b.summary()), "step " + (i + 1));
            }

            PlanCache cache = new PlanCache(work.resolve("plans"));
            String key = Integer.toHexString(file.hashCode());
            cache.store(key, new PlanCache.Entry(plan, runtimeDir, source, List.of(), LoadedSpec.Inputs.NONE, Map.of()));
            assertEquals(text, cache.load(key, dev.sandbox.engine.spec.Variables.of(Map.of())).orElseThrow().text(),
                    "the cache gives back the canonical text");
        }));
    }

    @TestFactory
    Stream<DynamicTest> planJsonShowsExactlyTheStepsOfPlanFormatFile() throws IOException {
        try (Stream<Path> examples = Files.list(Cli.ROOT.resolve("examples"))) {
            return examples.filter(p -> p.toString().endsWith(".yaml")).sorted().toList().stream()
                    .map(file -> dynamicTest(file.getFileName().toString(), file.toUri(), () -> {
                        Cli.Result text = Cli.run(List.of(), Map.of("SANDBOX_NO_CACHE", "1"), "plan", "--format", "file", file.toString());
                        assertEquals(0, text.exit(), text.toString());
                        Cli.Result json = Cli.run(List.of(), Map.of("SANDBOX_NO_CACHE", "1"), "plan", "--format", "json", file.toString());
                        assertEquals(0, json.exit(), json.toString());
                        PlanFile.Parsed parsed = PlanFile.parse(text.out());
                        JsonNode root = JSON.readTree(json.out());
                        assertEquals(1, root.path("version").asInt());
                        assertEquals(parsed.plan().name(), root.path("name").asText());
                        assertEquals(parsed.runtimeDir().toString(), root.path("runtimeDir").asText());
                        JsonNode steps = root.path("steps");
                        assertEquals(parsed.plan().steps().size() + 1, steps.size(), "the runtime-dir step, then every step of the file");
                        JsonNode first = steps.get(0);
                        assertEquals(List.of("prepare", "monitor", "runtime-dir", 2), List.of(first.path("stage").asText(),
                                first.path("executor").asText(), first.path("op").asText(), first.path("line").asInt()));
                        assertEquals(parsed.runtimeDir().toString(), first.at("/args/path").asText());
                        List<String> lines = text.out().lines().toList();
                        for (int i = 0; i < parsed.plan().steps().size(); i++) {
                            Step s = parsed.plan().steps().get(i);
                            JsonNode j = steps.get(i + 1);
                            assertEquals(i + 2, j.path("index").asInt());
                            assertEquals(s.stage().wireName(), j.path("stage").asText());
                            assertEquals(s.stage().executor().wireName(), j.path("executor").asText());
                            assertTrue(List.of("monitor", "helper", "child").contains(j.path("executor").asText()));
                            assertEquals(s.op(), j.path("op").asText());
                            assertEquals(s.summary(), j.path("summary").asText());
                            List<String> keys = new ArrayList<>();
                            j.path("args").fieldNames().forEachRemaining(keys::add);
                            assertEquals(s.args().stream().map(Step.Arg::key).distinct().toList(), keys, "the file's keys in its order");
                            for (String k : keys) {
                                JsonNode v = j.path("args").path(k);
                                List<String> values = new ArrayList<>();
                                if (v.isArray()) v.forEach(e -> values.add(e.asText()));
                                else values.add(v.asText());
                                assertEquals(s.all(k), values, "step " + (i + 2) + " " + k);
                            }
                            String line = lines.get(j.path("line").asInt() - 1);
                            assertTrue(line.startsWith(s.stage().wireName() + "\t" + s.op()), "line " + j.path("line") + ": " + line);
                            assertFalse(j.path("syscall").isMissingNode());
                        }
                    }));
        }
    }
}
