package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;
import static org.junit.jupiter.api.DynamicTest.dynamicTest;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.sandbox.api.Caller;
import dev.sandbox.api.Diagnostic;
import dev.sandbox.api.HostFacts;
import dev.sandbox.api.SpecNode;
import dev.sandbox.engine.Sandbox;
import dev.sandbox.engine.host.HostProbe;
import dev.sandbox.engine.pipeline.Pipeline;
import dev.sandbox.engine.spec.LoadedSpec;
import dev.sandbox.engine.spec.SpecLoader;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * The golden samples in {@code schemas/tests/}: every invalid sample states, in its first comment lines, the
 * diagnostics it must produce, and gets exactly those; every valid sample validates without errors.
 *
 * <p>A sample starts with header lines, then {@code # yaml-language-server: $schema=../../sandbox.schema.json},
 * then the spec (which may have comments of its own):
 * <pre>
 * # expect: 12:7 mount.relative-target        (an error: line:column code; one line each, all of them)
 * # expect-warning: 9:16 mount.proc-without-pid-namespace   (a warning; all of them, too)
 * # expect: valid                             (valid samples: no errors)
 * # caller: uid=1000 gid=1000 user=sbfake     (optional: validate as this unprivileged caller)
 * # subuid: 100000:65536                      (optional, with caller: its /etc/subuid ranges; # subgid alike)
 * </pre>
 * Samples are validated in-process through the engine, with the distribution's plugins, as root (uid 0) — what
 * CI runs as — whoever runs the test, so results don't depend on the machine's user. A sample with
 * {@code # caller:} is validated as that unprivileged caller on a fake host (cgroup v2, only the stated
 * subordinate ids): the rootless rules (setgroups, newuidmap ranges, veth links, cgroups) are checked without an
 * unprivileged account. The last tests run the packaged {@code bin/sandbox validate} for its exit codes and its
 * JSON.
 */
class SchemaSamplesIT {

    static final Path SAMPLES = Cli.ROOT.resolve("schemas/tests");
    static final String SCHEMA_LINE = "# yaml-language-server: $schema=../../sandbox.schema.json";
    static final Caller ROOT = new Caller(0, 0, "root");
    static final ObjectMapper JSON = new ObjectMapper();

    private static final Pattern FILE_NAME = Pattern.compile("\\d{2}-[a-z0-9]+(-[a-z0-9]+)*\\.yaml");
    private static final Pattern HEADER = Pattern.compile("# (expect|expect-warning|caller|subuid|subgid): (.*)");
    private static final Pattern EXPECTATION = Pattern.compile("(\\d+):(\\d+) ([a-z]+\\.[A-Za-z0-9.-]+)");
    private static final Pattern CALLER = Pattern.compile("uid=(\\d+) gid=(\\d+) user=([a-z_][a-z0-9_-]*)");
    private static final Pattern RANGE = Pattern.compile("(\\d+):(\\d+)");

    private static Sandbox engine;
    private static Pipeline asRoot;

    /** One sample file and what its header says. */
    record Sample(Path file, boolean valid, List<String> errors, List<String> warnings, Optional<Caller> caller,
                  List<long[]> subuids, List<long[]> subgids) {

        String name() {
            return SchemaSamplesIT.name(file);
        }
    }

    /** The host a rootless sample is validated on: cgroup v2 and the subordinate ids its header gives. */
    record FakeHost(CgroupLayout cgroupLayout, Optional<Path> cgroup2Mount, List<Path> cgroupV1Mounts, List<long[]> subuids,
                    List<long[]> subgids) implements HostFacts {}

    @BeforeAll
    static void engine() {
        engine = new Sandbox(List.of(Cli.DIST.resolve("plugins")), Map.of());
        List<Diagnostic> problems = engine.pluginProblems();
        assertEquals(List.of(), problems.stream().map(Diagnostic::format).toList(),
                "the distribution's plugins must load cleanly, or every sample fails for the wrong reason");
        asRoot = new Pipeline(engine.registry(), HostProbe.detect(ROOT), ROOT, Map.of());
    }

    // ------------------------------------------------------------------------------ one test per sample

    @TestFactory
    Stream<DynamicTest> invalidSamplesProduceExactlyTheDiagnosticsTheyState() {
        return files("invalid").stream().map(f -> dynamicTest(name(f), f.toUri(), () -> {
            Sample s = parse(f);
            assertFalse(s.valid(), s.name() + " is under invalid/ but says '# expect: valid'");
            assertFalse(s.errors().isEmpty(), s.name() + " states no '# expect: LINE:COL CODE' line");
            check(s);
        }));
    }

    @Test
    void theEditorSchemaInTheRepositoryIsTheComposedSchemaOfTheBuiltInPlugins() throws IOException {
        // schemas/sandbox.schema.json is what editors load ($schema lines); it must never drift from
        // what `sandbox schema` composes. Regenerate with: bin/sandbox schema > schemas/sandbox.schema.json
        Cli.Result r = Cli.run(List.of(), Map.of("HOME", "/nonexistent"), "schema");
        assertEquals(0, r.exit(), r.toString());
        ObjectMapper json = new ObjectMapper();
        JsonNode committed = json.readTree(Cli.ROOT.resolve("schemas/sandbox.schema.json").toFile());
        assertEquals(json.readTree(r.out()), committed,
                "schemas/sandbox.schema.json is stale: run bin/sandbox schema > schemas/sandbox.schema.json");
    }

    @TestFactory
    Stream<DynamicTest> validSamplesHaveNoErrors() {
        return files("valid").stream().map(f -> dynamicTest(name(f), f.toUri(), () -> {
            Sample s = parse(f);
            assertTrue(s.valid(), s.name() + " is under valid/ but lacks '# expect: valid'");
            assertEquals(List.of(), s.errors(), s.name() + " is valid, so it can't expect errors");
            check(s);
        }));
    }

    private static void check(Sample s) {
        List<Diagnostic> found = validate(s);
        String all = found.stream().map(Diagnostic::format).collect(Collectors.joining("\n"));
        assertEquals(sorted(s.errors()), sorted(codes(found, true)), s.name() + ": the errors differ from the '# expect:' lines;"
                + " the engine reported:\n" + all);
        assertEquals(sorted(s.warnings()), sorted(codes(found, false)), s.name() + ": the warnings differ from the"
                + " '# expect-warning:' lines; the engine reported:\n" + all);
        for (Diagnostic d : found) {
            assertEquals(s.file().toString(), d.location().file(), "a diagnostic names another file: " + d.format());
            assertFalse(d.message() == null || d.message().isBlank(), "a diagnostic without a message: " + d.format());
        }
        List<Diagnostic> byLocation = new ArrayList<>(found);
        byLocation.sort(Diagnostic.BY_LOCATION);
        assertEquals(byLocation, found, s.name() + ": diagnostics must come sorted by location");
    }

    // ------------------------------------------------------------------------------ the set of samples

    @Test
    void thereAreAtLeast40InvalidAnd8ValidSamples() {
        assertTrue(files("invalid").size() >= 40, "only " + files("invalid").size() + " invalid samples");
        assertTrue(files("valid").size() >= 8, "only " + files("valid").size() + " valid samples");
    }

    @Test
    void everySampleFileIsNamedNnShortNameWithADistinctNumber() throws IOException {
        for (String kind : List.of("invalid", "valid")) {
            Map<String, String> byNumber = new TreeMap<>();
            try (Stream<Path> files = Files.list(SAMPLES.resolve(kind))) {
                for (Path p : files.sorted().toList()) {
                    String name = p.getFileName().toString();
                    assertTrue(FILE_NAME.matcher(name).matches(), kind + "/" + name + " is not named NN-short-name.yaml (so no test"
                            + " would read it)");
                    String previous = byNumber.put(name.substring(0, 2), name);
                    assertEquals(null, previous, kind + "/" + name + " and " + previous + " share a number");
                }
            }
        }
    }

    /**
     * Every key the composed schema knows, and every value of its closed vocabularies (enums), appears in some
     * valid sample: a new option without a sample fails here. The {@code join} of every section counts as one.
     */
    @Test
    void validSamplesUseEveryKeyAndEveryEnumValueOfTheSchema() {
        JsonNode schema = asRoot.schema().json();
        Set<String> keys = new TreeSet<>();
        Map<String, Set<String>> enums = new TreeMap<>();
        Map<String, Set<String>> enumPaths = new TreeMap<>();
        walkSchema(schema, schema, "", null, keys, enums, enumPaths);

        Set<String> used = new TreeSet<>();
        for (Sample s : samples("valid")) {
            LoadedSpec spec = new SpecLoader().load(s.file());
            walkSpec(spec.root(), "", used);
        }
        List<String> missing = new ArrayList<>();
        for (String key : keys) {
            if (!used.contains(key)) missing.add("key " + key);
        }
        for (var e : enums.entrySet()) {
            for (String value : e.getValue()) {
                boolean seen = enumPaths.get(e.getKey()).stream().anyMatch(p -> used.contains(p + "=" + value));
                if (!seen) missing.add("value " + value + " of " + String.join(" / ", enumPaths.get(e.getKey())));
            }
        }
        assertEquals(List.of(), missing, "no valid sample in " + SAMPLES.resolve("valid") + " uses these");
    }

    /** Keys as dotted paths ({@code namespaces.mount.mounts[].target}); enums by their $defs name or path. */
    private static void walkSchema(JsonNode root, JsonNode node, String path, String def, Set<String> keys,
                                   Map<String, Set<String>> enums, Map<String, Set<String>> enumPaths) {
        if (node.has("$ref")) {
            String ref = node.get("$ref").asText();
            String name = ref.substring(ref.lastIndexOf('/') + 1);
            walkSchema(root, root.at(ref.substring(1)), path, name, keys, enums, enumPaths);
            return;
        }
        if (node.has("enum")) {
            String id = def != null ? "$defs/" + def : path;
            node.get("enum").forEach(v -> enums.computeIfAbsent(id, k -> new TreeSet<>()).add(v.asText()));
            enumPaths.computeIfAbsent(id, k -> new TreeSet<>()).add(path);
        }
        for (Iterator<Map.Entry<String, JsonNode>> it = node.path("properties").fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> p = it.next();
            String child = normalize(path.isEmpty() ? p.getKey() : path + "." + p.getKey());
            keys.add(child);
            walkSchema(root, p.getValue(), child, null, keys, enums, enumPaths);
        }
        if (node.has("items")) walkSchema(root, node.get("items"), path + "[]", null, keys, enums, enumPaths);
    }

    private static void walkSpec(SpecNode node, String path, Set<String> used) {
        switch (node.kind()) {
            case MAP -> node.fields().forEach((k, v) -> {
                String child = normalize(path.isEmpty() ? k : path + "." + k);
                used.add(child);
                walkSpec(v, child, used);
            });
            case LIST -> node.elements().forEach(e -> walkSpec(e, path + "[]", used));
            default -> used.add(path + "=" + node.text());
        }
    }

    /** {@code namespaces.<any section>.join...} is one option, whichever section uses it. */
    private static String normalize(String path) {
        return path.replaceFirst("^namespaces\\.[^.\\[]+\\.join", "namespaces.*.join");
    }

    // ------------------------------------------------------------------------------ hints worth pinning

    @Test
    void unknownKeysAndCapabilitiesGetADidYouMean() {
        assertHints("invalid/04-unknown-top-level-key.yaml", "did you mean 'namespaces'?");
        assertHints("invalid/05-unknown-key-in-section.yaml", "did you mean 'hostname'?");
        assertHints("invalid/06-unknown-key-in-mount.yaml", "did you mean 'source'?");
        assertHints("invalid/54-unknown-capability.yaml", "did you mean 'CAP_SYS_ADMIN'?", "did you mean 'CAP_NET_BIND_SERVICE'?",
                "see capabilities(7) for the names");
    }

    private static void assertHints(String sample, String... hints) {
        Sample s = parse(SAMPLES.resolve(sample));
        List<String> found = validate(s).stream().filter(Diagnostic::isError).map(Diagnostic::hint).toList();
        assertEquals(List.of(hints), found, sample);
    }

    // ------------------------------------------------------------------------------ the packaged CLI

    /** Samples without namespaces mean the same for every caller; the others state root's diagnostics. */
    private static void assumeRootLikeTheSamples() {
        assumeTrue(Cli.isRoot(), "the packaged CLI validates as whoever runs it, and this sample states what root gets");
    }

    @Test
    void validateExits1ForAnInvalidSampleAnd0ForAValidOne() {
        Sample invalid = parse(SAMPLES.resolve("invalid/54-unknown-capability.yaml"));
        Cli.Result bad = Cli.run("validate", invalid.file().toString());
        assertEquals(1, bad.exit(), bad.toString());
        for (String expected : invalid.errors()) {
            String[] lc = expected.split(" ");
            assertTrue(bad.out().contains(invalid.file() + ":" + lc[0] + ": error[" + lc[1] + "]: "), "no " + expected + " in\n" + bad);
        }
        assertTrue(bad.out().strip().endsWith(invalid.file() + ": " + invalid.errors().size() + " errors, 0 warnings"), bad.toString());

        Path valid = SAMPLES.resolve("valid/01-minimal.yaml");
        Cli.Result good = Cli.run("validate", valid.toString());
        assertEquals(0, good.exit(), good.toString());
        assertEquals(valid + ": ok\n", good.out(), good.toString());
    }

    @Test
    void validateWithOnlyWarningsExits0AndCountsThem() {
        assumeRootLikeTheSamples();
        Sample s = parse(SAMPLES.resolve("valid/13-warnings-only.yaml"));
        Cli.Result r = Cli.run("validate", s.file().toString());
        assertEquals(0, r.exit(), r.toString());
        assertTrue(r.out().strip().endsWith(s.file() + ": ok (0 errors, " + s.warnings().size() + " warnings)"), r.toString());
    }

    @Test
    void validateFormatJsonIsJsonWithFileLineColumnCodeAndHintOfEachDiagnostic() throws IOException {
        assumeRootLikeTheSamples();
        Sample s = parse(SAMPLES.resolve("invalid/70-several-errors-sorted.yaml"));
        Cli.Result r = Cli.run("validate", "--format", "json", s.file().toString());
        assertEquals(1, r.exit(), r.toString());
        JsonNode root = JSON.readTree(r.out());
        assertEquals(s.file().toString(), root.path("file").asText(), r.out());
        assertFalse(root.path("valid").asBoolean(true), r.out());
        List<String> found = new ArrayList<>();
        for (JsonNode d : root.path("diagnostics")) {
            for (String field : List.of("severity", "code", "message", "path", "file", "line", "column", "hint")) {
                assertTrue(d.hasNonNull(field), "diagnostic without '" + field + "': " + d);
            }
            assertEquals(s.file().toString(), d.path("file").asText());
            assertTrue(d.path("line").isInt() && d.path("column").isInt(), d.toString());
            assertFalse(d.path("hint").asText().isBlank(), d.toString());
            if (d.path("severity").asText().equals("error")) found.add(d.path("line").asInt() + ":" + d.path("column").asInt() + " " + d.path("code").asText());
        }
        // the order of the JSON array is the order of the file
        assertEquals(s.errors(), found, r.out());

        Cli.Result ok = Cli.run("validate", "--format", "json", SAMPLES.resolve("valid/01-minimal.yaml").toString());
        assertEquals(0, ok.exit(), ok.toString());
        JsonNode clean = JSON.readTree(ok.out());
        assertTrue(clean.path("valid").asBoolean(false), ok.out());
        assertEquals(0, clean.path("diagnostics").size(), ok.out());
    }

    @Test
    void usageErrorsExit2() {
        Cli.Result noSpec = Cli.run("validate");
        assertEquals(2, noSpec.exit(), noSpec.toString());
        assertTrue(noSpec.err().contains("SPEC"), "the usage error should name the missing SPEC:\n" + noSpec);

        Cli.Result unknownOption = Cli.run("validate", "--no-such-option", SAMPLES.resolve("valid/01-minimal.yaml").toString());
        assertEquals(2, unknownOption.exit(), unknownOption.toString());
        assertTrue(unknownOption.err().contains("--no-such-option"), unknownOption.toString());

        Cli.Result badFormat = Cli.run("validate", "--format", "yaml", SAMPLES.resolve("valid/01-minimal.yaml").toString());
        assertEquals(2, badFormat.exit(), badFormat.toString());

        Cli.Result unknownVerb = Cli.run("validat", SAMPLES.resolve("valid/01-minimal.yaml").toString());
        assertEquals(2, unknownVerb.exit(), unknownVerb.toString());
    }

    @Test
    void aMissingSpecFileIsAnErrorOfTheSpecNotOfUsage() {
        Cli.Result r = Cli.run("validate", SAMPLES.resolve("valid/no-such-sample.yaml").toString());
        assertEquals(1, r.exit(), r.toString());
        assertTrue(r.out().contains("error[spec.not-found]"), r.toString());
    }

    // ------------------------------------------------------------------------------ reading and validating samples

    /** The sample files of {@code schemas/tests/<kind>}, in file name order. */
    static List<Path> files(String kind) {
        try (Stream<Path> files = Files.list(SAMPLES.resolve(kind))) {
            return files.filter(p -> FILE_NAME.matcher(p.getFileName().toString()).matches()).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static List<Sample> samples(String kind) {
        return files(kind).stream().map(SchemaSamplesIT::parse).toList();
    }

    private static String name(Path file) {
        return file.getParent().getFileName() + "/" + file.getFileName();
    }

    static Sample parse(Path file) {
        List<String> lines;
        try {
            lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        boolean valid = false;
        List<String> errors = new ArrayList<>();
        List<String> warnings = new ArrayList<>();
        Caller caller = null;
        Map<String, List<long[]>> subordinate = new LinkedHashMap<>(Map.of("subuid", new ArrayList<>(), "subgid", new ArrayList<>()));
        int i = 0;
        for (; i < lines.size() && !lines.get(i).equals(SCHEMA_LINE); i++) {
            String where = file + ":" + (i + 1) + ": ";
            Matcher h = HEADER.matcher(lines.get(i));
            if (!h.matches()) fail(where + "'" + lines.get(i) + "' is not a header line (# expect: LINE:COL CODE, # expect-warning: ...,"
                    + " # expect: valid, # caller: ..., # subuid/# subgid: START:COUNT); the header ends with: " + SCHEMA_LINE);
            String value = h.group(2).strip();
            switch (h.group(1)) {
                case "expect" -> {
                    if (value.equals("valid")) valid = true;
                    else errors.add(expectation(where, value));
                }
                case "expect-warning" -> warnings.add(expectation(where, value));
                case "caller" -> {
                    Matcher c = CALLER.matcher(value);
                    if (!c.matches()) fail(where + "write the caller as uid=N gid=N user=NAME");
                    caller = new Caller(Long.parseLong(c.group(1)), Long.parseLong(c.group(2)), c.group(3));
                    if (caller.isRoot()) fail(where + "the caller of a sample is an unprivileged one (samples run as root otherwise)");
                }
                default -> {
                    for (String range : value.split(",\\s*")) {
                        Matcher r = RANGE.matcher(range);
                        if (!r.matches()) fail(where + "write subordinate ranges as START:COUNT[, START:COUNT]");
                        subordinate.get(h.group(1)).add(new long[] {Long.parseLong(r.group(1)), Long.parseLong(r.group(2))});
                    }
                }
            }
        }
        if (i == lines.size()) fail(file + ": the header must end with the line " + SCHEMA_LINE);
        Path schema = file.getParent().resolve(SCHEMA_LINE.substring(SCHEMA_LINE.indexOf('=') + 1)).normalize();
        assertTrue(Files.isRegularFile(schema), file + ": the $schema " + schema + " does not exist");
        if (caller == null && (!subordinate.get("subuid").isEmpty() || !subordinate.get("subgid").isEmpty())) {
            fail(file + ": # subuid and # subgid need a # caller");
        }
        return new Sample(file, valid, errors, warnings, Optional.ofNullable(caller), subordinate.get("subuid"), subordinate.get("subgid"));
    }

    private static String expectation(String where, String value) {
        if (!EXPECTATION.matcher(value).matches()) fail(where + "write an expectation as LINE:COL CODE, e.g. 12:7 mount.relative-target");
        return value;
    }

    static List<Diagnostic> validate(Sample s) {
        Pipeline pipeline = s.caller().map(c -> new Pipeline(engine.registry(), new FakeHost(HostFacts.CgroupLayout.V2,
                Optional.of(Path.of("/sys/fs/cgroup")), List.of(), s.subuids(), s.subgids()), c, Map.of())).orElse(asRoot);
        return pipeline.validate(new SpecLoader().load(s.file()));
    }

    private static List<String> codes(List<Diagnostic> diagnostics, boolean errors) {
        return diagnostics.stream().filter(d -> d.isError() == errors)
                .map(d -> d.location().line() + ":" + d.location().column() + " " + d.code()).toList();
    }

    private static List<String> sorted(List<String> codes) {
        return codes.stream().sorted().toList();
    }
}
