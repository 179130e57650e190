package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;
import static org.junit.jupiter.api.DynamicTest.dynamicTest;

import dev.sandbox.api.Caller;
import dev.sandbox.api.Diagnostic;
import dev.sandbox.api.HostFacts;
import dev.sandbox.api.SpecNode;
import dev.sandbox.engine.Sandbox;
import dev.sandbox.engine.host.HostProbe;
import dev.sandbox.engine.pipeline.Pipeline;
import dev.sandbox.engine.runtime.RuntimePaths;
import dev.sandbox.engine.spec.LoadedSpec;
import dev.sandbox.engine.spec.SpecLoader;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * Every {@code examples/*.yaml}: it validates without errors, its first line points editors at an existing schema,
 * and — as root, where the kernel can do it — {@code sandbox up} runs it, exits 0 and leaves nothing behind (no
 * runtime directory, no cgroup, no veth host end). {@code shell.yaml} is interactive, so it runs
 * {@code -- /bin/true} instead of its shell.
 */
class ExamplesIT {

    static final Path EXAMPLES = Cli.ROOT.resolve("examples");
    static final Pattern SCHEMA_LINE = Pattern.compile("# yaml-language-server: \\$schema=(\\S+)");
    static final Caller ROOT = new Caller(0, 0, "root");

    /** Arguments after the spec for examples that can't run as they are here (interactive ones). */
    static final Map<String, List<String>> RUN_WITH = Map.of("shell.yaml", List.of("--", "/bin/true"));

    private static Pipeline asRoot;
    private static SpecDir home;

    @BeforeAll
    static void engine() {
        Sandbox engine = new Sandbox(List.of(Cli.DIST.resolve("plugins")), Map.of());
        assertEquals(List.of(), engine.pluginProblems().stream().map(Diagnostic::format).toList());
        asRoot = new Pipeline(engine.registry(), HostProbe.detect(ROOT), ROOT, Map.of());
        home = new SpecDir();
    }

    @AfterAll
    static void removeHome() {
        if (home != null) home.close();
    }

    @Test
    void thereAreExamples() {
        assertTrue(examples().size() >= 5, "examples: " + examples());
    }

    @TestFactory
    Stream<DynamicTest> everyExampleValidatesWithoutErrors() {
        return examples().stream().map(e -> dynamicTest(e.getFileName().toString(), e.toUri(), () -> {
            // as root, like CI: veth-lab.yaml needs it (as any other user it is rightly refused)
            List<Diagnostic> found = asRoot.validate(new SpecLoader().load(e));
            String all = found.stream().map(Diagnostic::format).collect(Collectors.joining("\n"));
            assertEquals(List.of(), found.stream().filter(Diagnostic::isError).map(Diagnostic::format).toList(), all);
        }));
    }

    @TestFactory
    Stream<DynamicTest> everyExampleStartsWithASchemaLineThatPointsAtAnExistingSchema() {
        return examples().stream().map(e -> dynamicTest(e.getFileName().toString(), e.toUri(), () -> {
            String first = lines(e).get(0);
            Matcher m = SCHEMA_LINE.matcher(first);
            assertTrue(m.matches(), e + ": the first line must be '# yaml-language-server: $schema=...', not: " + first);
            Path schema = e.getParent().resolve(m.group(1)).normalize();
            assertTrue(Files.isRegularFile(schema), e + ": its $schema " + m.group(1) + " resolves to " + schema + ", which does not exist");
            assertTrue(schema.getFileName().toString().endsWith(".schema.json"), schema.toString());
        }));
    }

    @TestFactory
    Stream<DynamicTest> everyExampleRunsWithUpAndLeavesNothingBehind() {
        return examples().stream().map(e -> dynamicTest(e.getFileName().toString(), e.toUri(), () -> {
            assumeTrue(Cli.isRoot(), "runs the examples as root, like CI (veth-lab.yaml and the cgroup of hello.yaml need it)");
            LoadedSpec spec = new SpecLoader().load(e);
            SpecNode namespaces = spec.root().get("namespaces");
            if (namespaces.has("time")) {
                assumeTrue(Files.exists(Path.of("/proc/self/ns/time")), "this kernel has no time namespaces (Linux 5.6+)");
            }
            String name = spec.root().get("name").text();
            List<String> args = new ArrayList<>(List.of("up", e.toString()));
            args.addAll(RUN_WITH.getOrDefault(e.getFileName().toString(), List.of()));
            List<Path> leftovers = leftovers(name, namespaces);
            assertEquals(List.of(), leftovers.stream().filter(Files::exists).toList(), "left over before the run; remove them first");
            try {
                // an empty HOME: no user plugins; no plan cache: each run validates and compiles the example afresh
                Cli.Result r = Cli.run(List.of(), Map.of("HOME", home.dir.toString(), "SANDBOX_NO_CACHE", "1"), args.toArray(String[]::new));
                assertEquals(0, r.exit(), "sandbox " + String.join(" ", args) + "\n" + r);
                assertEquals(List.of(), leftovers.stream().filter(Files::exists).toList(), "left behind by sandbox up " + e.getFileName());
            } finally {
                removeLeftovers(leftovers);
            }
        }));
    }

    /**
     * What a run may create on the host: the runtime directory, the sandbox's cgroup in every hierarchy this host
     * has (e.g. /sys/fs/cgroup/unified/sandbox/NAME on a hybrid host), the host end of each veth link.
     */
    static List<Path> leftovers(String name, SpecNode namespaces) {
        List<Path> out = new ArrayList<>();
        out.add(RuntimePaths.forSandbox(ROOT, System.getenv(), name)); // /run/sandbox/NAME
        HostFacts host = HostProbe.detect(ROOT);
        host.cgroup2Mount().ifPresent(m -> out.add(m.resolve("sandbox").resolve(name)));
        host.cgroupV1Mounts().forEach(m -> out.add(m.resolve("sandbox").resolve(name)));
        Path unified = Path.of("/sys/fs/cgroup/unified/sandbox", name);
        if (!out.contains(unified)) out.add(unified);
        for (SpecNode link : namespaces.get("net").get("links").elements()) {
            link.get("hostName").optText().ifPresent(h -> out.add(Path.of("/sys/class/net", h)));
        }
        return out;
    }

    /** After a failed run, so that one broken example doesn't break the next run of the tests. */
    private static void removeLeftovers(List<Path> leftovers) {
        for (Path p : leftovers) {
            if (!Files.exists(p)) continue;
            try {
                if (p.startsWith("/sys/class/net")) {
                    new ProcessBuilder("ip", "link", "delete", p.getFileName().toString()).inheritIO().start().waitFor();
                } else if (p.startsWith("/sys/fs/cgroup")) {
                    Files.deleteIfExists(p); // rmdir: works once the cgroup is empty
                } else {
                    try (Stream<Path> walk = Files.walk(p)) {
                        for (Path f : walk.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(f);
                    }
                }
            } catch (IOException | InterruptedException ex) {
                System.err.println("ExamplesIT: could not remove " + p + ": " + ex);
            }
        }
    }

    static List<Path> examples() {
        try (Stream<Path> files = Files.list(EXAMPLES)) {
            return files.filter(p -> p.toString().endsWith(".yaml") && Files.isRegularFile(p)).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static List<String> lines(Path file) {
        try {
            return Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
