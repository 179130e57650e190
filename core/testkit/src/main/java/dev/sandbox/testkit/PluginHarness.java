package dev.sandbox.testkit;

import dev.sandbox.api.Caller;
import dev.sandbox.api.Diagnostic;
import dev.sandbox.api.HostFacts;
import dev.sandbox.api.NamespacePlugin;
import dev.sandbox.api.Plan;
import dev.sandbox.api.Step;
import dev.sandbox.engine.pipeline.Pipeline;
import dev.sandbox.engine.plugin.PluginRegistry;
import dev.sandbox.engine.spec.LoadedSpec;
import dev.sandbox.engine.spec.SpecLoader;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Runs plugins through the real pipeline (schema, validation, compilation) without PF4J and without
 * root: parse a YAML snippet, read the diagnostics and the plan's steps.
 *
 * <pre>{@code
 * var h = PluginHarness.with(new UtsNamespacePlugin()).spec("""
 *     namespaces:
 *       uts: {hostname: web}
 *     """);
 * assertEquals(List.of(), h.errors());
 * assertEquals("web", h.steps("sethostname").get(0).arg("name").orElseThrow());
 * }</pre>
 */
public final class PluginHarness {

    public static final Caller ROOT = new Caller(0, 0, "root");
    public static final Caller ALICE = new Caller(1000, 1000, "alice");

    private final List<NamespacePlugin> plugins;
    private Caller caller = ROOT;
    private HostFacts host = FakeHost.hybrid();
    private Path specFile = Path.of("/work/spec.yaml");
    private Path runtimeDir = Path.of("/run/sandbox/test");
    private String yaml;

    private PluginHarness(List<NamespacePlugin> plugins) {
        this.plugins = plugins;
    }

    public static PluginHarness with(NamespacePlugin... plugins) {
        return new PluginHarness(List.of(plugins));
    }

    public PluginHarness caller(Caller caller) {
        this.caller = caller;
        return this;
    }

    public PluginHarness host(HostFacts host) {
        this.host = host;
        return this;
    }

    public PluginHarness specFile(Path file) {
        this.specFile = file;
        return this;
    }

    public PluginHarness runtimeDir(Path dir) {
        this.runtimeDir = dir;
        return this;
    }

    /**
     * The spec: {@code apiVersion}, {@code kind}, {@code name: test} and a {@code process} are added
     * when the snippet has none, so a test can give just its {@code namespaces:} part.
     */
    public PluginHarness spec(String snippet) {
        StringBuilder full = new StringBuilder();
        String body = snippet.stripIndent();
        if (!hasTopLevel(body, "apiVersion")) full.append("apiVersion: sandbox/v1\n");
        if (!hasTopLevel(body, "kind")) full.append("kind: Sandbox\n");
        if (!hasTopLevel(body, "name")) full.append("name: test\n");
        full.append(body);
        if (!hasTopLevel(body, "process")) full.append("\nprocess:\n  command: [/bin/true]\n");
        this.yaml = full.toString();
        return this;
    }

    private static boolean hasTopLevel(String yaml, String key) {
        return java.util.regex.Pattern.compile("(?m)^" + key + ":").matcher(yaml).find();
    }

    public String yaml() {
        return yaml;
    }

    private Pipeline pipeline() {
        return new Pipeline(PluginRegistry.of(plugins), host, caller, Map.of("TERM", "xterm"));
    }

    private LoadedSpec loaded() {
        if (yaml == null) throw new IllegalStateException("call spec(...) first");
        return new SpecLoader().parse(specFile, specFile.getFileName().toString(), yaml);
    }

    /** Every diagnostic, sorted by location. */
    public List<Diagnostic> diagnostics() {
        PluginRegistry registry = PluginRegistry.of(plugins);
        Pipeline pipeline = new Pipeline(registry, host, caller, Map.of("TERM", "xterm"));
        List<Diagnostic> out = new ArrayList<>(registry.problems());
        out.addAll(pipeline.pluginProblems());
        out.addAll(pipeline.validate(loaded()));
        return out;
    }

    public List<Diagnostic> errors() {
        return diagnostics().stream().filter(Diagnostic::isError).toList();
    }

    /** {@code line:col code} of every error, the form the invalid samples use. */
    public List<String> errorCodes() {
        return errors().stream().map(d -> d.location().line() + ":" + d.location().column() + " " + d.code()).toList();
    }

    /** Compiles the spec; fails when it does not validate. */
    public Plan plan() {
        Pipeline pipeline = pipeline();
        List<Diagnostic> errors = pipeline.validate(loaded()).stream().filter(Diagnostic::isError).toList();
        if (!errors.isEmpty()) throw new AssertionError("the spec does not validate: " + errors.stream().map(Diagnostic::format).toList());
        List<Diagnostic> problems = new ArrayList<>();
        Plan plan = pipeline.compile(loaded(), runtimeDir, Pipeline.RunOptions.none(), problems);
        if (!problems.isEmpty()) throw new AssertionError("compilation reported: " + problems.stream().map(Diagnostic::format).toList());
        return plan;
    }

    public List<Step> steps() {
        return plan().steps();
    }

    public List<Step> steps(String op) {
        return plan().ops(op);
    }

    public Optional<Step> first(String op) {
        return steps(op).stream().findFirst();
    }
}
