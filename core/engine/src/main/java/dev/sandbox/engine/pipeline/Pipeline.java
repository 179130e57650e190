package dev.sandbox.engine.pipeline;

import dev.sandbox.api.Caller;
import dev.sandbox.api.Diagnostic;
import dev.sandbox.api.HostFacts;
import dev.sandbox.api.Location;
import dev.sandbox.api.NamespacePlugin;
import dev.sandbox.api.Plan;
import dev.sandbox.api.PlanContext;
import dev.sandbox.api.SandboxCgroup;
import dev.sandbox.api.SectionContext;
import dev.sandbox.api.SpecNode;
import dev.sandbox.api.Stage;
import dev.sandbox.api.Step;
import dev.sandbox.api.Ops;
import dev.sandbox.engine.plugin.PluginRegistry;
import dev.sandbox.engine.schema.ComposedSchema;
import dev.sandbox.engine.seccomp.SeccompCompiler;
import dev.sandbox.engine.schema.SchemaCheck;
import dev.sandbox.engine.spec.LoadedSpec;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * The ordered plugin pipeline: validates a spec (schema, then each plugin's section, then the
 * engine's cross-section checks) and compiles it into a {@link Plan}.
 */
public final class Pipeline {

    private final List<PluginRegistry.Loaded> plugins;
    private final ComposedSchema schema;
    private final Map<String, ComposedSchema.FragmentException> brokenFragments = new LinkedHashMap<>();
    private final HostFacts host;
    private final Caller caller;
    private final Map<String, String> callerEnv;
    private SchemaCheck schemaCheck;

    public Pipeline(PluginRegistry registry, HostFacts host, Caller caller, Map<String, String> callerEnv) {
        this.plugins = registry.plugins();
        this.host = host;
        this.caller = caller;
        this.callerEnv = callerEnv;
        this.schema = ComposedSchema.compose(registry.extensions(), brokenFragments);
    }

    public ComposedSchema schema() {
        return schema;
    }

    /** Problems with the plugins' fragments, reported by plugin id. */
    public List<Diagnostic> pluginProblems() {
        List<Diagnostic> out = new ArrayList<>();
        brokenFragments.forEach((id, e) -> out.add(Diagnostic.error("plugin.bad-schema", "plugin '" + id + "': " + e.getMessage(),
                "", new Location(sourceOf(id), 0, 0), "fix the plugin's schemaFragment()")));
        return out;
    }

    /** The schema's validator, built on first use (networknt builds a validator per keyword: ~40 ms cold). */
    public synchronized SchemaCheck prepareValidation() {
        if (schemaCheck == null) {
            schemaCheck = new SchemaCheck(schema);
            dev.sandbox.engine.Timing.mark("schema validator built");
        }
        return schemaCheck;
    }

    /** Every problem of the spec, sorted by location. Nothing may run while one of them is an error. */
    public List<Diagnostic> validate(LoadedSpec spec) {
        List<Diagnostic> out = new ArrayList<>(spec.diagnostics());
        if (!spec.parsed()) return sorted(out);
        SpecNode root = spec.root();
        if (root.kind() != SpecNode.Kind.MAP) {
            out.add(Diagnostic.error("spec.not-a-map", "the spec must be a map of keys (apiVersion, kind, name, ...)", "",
                    root.location(), "start from examples/hello.yaml"));
            return sorted(out);
        }
        List<Diagnostic> schemaProblems = prepareValidation().check(root);
        dev.sandbox.engine.Timing.mark("schema checked");
        out.addAll(schemaProblems);
        Path specDir = specDir(spec);
        String name = root.get("name").text("sandbox");
        SpecNode namespaces = root.get("namespaces");

        out.addAll(EngineChecks.check(root, caller, host, callerEnv));
        if (!hasErrorsUnder(schemaProblems, "resources")) out.addAll(ResourcesSection.check(root, caller, host));
        out.addAll(seccomp(root, specDir).diagnostics());
        for (PluginRegistry.Loaded loaded : plugins) {
            String id = loaded.id();
            SpecNode section = namespaces.get(id);
            if (section.isMissing() || isJoin(section)) continue;
            if (hasErrorsUnder(schemaProblems, section.path())) continue;
            Context ctx = new Context(root, section, specDir, name, null, out);
            try {
                loaded.plugin().validate(ctx);
            } catch (RuntimeException | LinkageError e) {
                out.add(crash(loaded, "validate", e, section));
            }
        }
        return sorted(spec.locate(out));
    }

    /** Compiles a spec that validated without errors. Diagnostics found only now (a join target that isn't running) go to {@code problems}. */
    public Plan compile(LoadedSpec spec, Path runtimeDir, RunOptions options, List<Diagnostic> problems) {
        return compile(spec, runtimeDir, options, problems, new LinkedHashMap<>());
    }

    /**
     * As {@link #compile(LoadedSpec, Path, RunOptions, List)}, and puts into {@code inputs} every host file
     * besides the spec whose content was compiled into the plan (a seccomp profile), with the bytes read:
     * a cached plan is stale once one of them changes.
     */
    public Plan compile(LoadedSpec spec, Path runtimeDir, RunOptions options, List<Diagnostic> problems, Map<Path, byte[]> inputs) {
        SpecNode root = spec.root();
        String name = root.get("name").text();
        Path specDir = specDir(spec);
        SpecNode namespaces = root.get("namespaces");
        List<Step> steps = new ArrayList<>();

        List<Step> joins = Joins.steps(namespaces, runtimeDir.getParent(), problems, caller.isRoot());
        steps.addAll(joins);
        for (NamespaceTable.Entry entry : NamespaceTable.entries()) {
            if (creates(namespaces, entry.type())) entry.unshareStep().ifPresent(steps::add);
        }
        steps.add(Step.of(Stage.FINISH, "close-fds").summary("close every inherited descriptor >= 3 so nothing of the host leaks into the sandbox")
                .syscall("close_range(3, ~0U, 0)").build().withPlugin("engine"));
        // Why before the plugins' steps: the pid plugin's init forks there, and init and the target
        // must share the new session (core/native/PROTOCOL.md, new-session).
        steps.add(ProcessSection.newSession());

        for (PluginRegistry.Loaded loaded : plugins) {
            SpecNode section = namespaces.get(loaded.id());
            if (section.isMissing() || isJoin(section)) continue;
            List<Step> contributed = new ArrayList<>();
            Context ctx = new Context(root, section, specDir, name, runtimeDir, null);
            ctx.sink = contributed;
            try {
                loaded.plugin().contribute(ctx);
            } catch (RuntimeException | LinkageError e) {
                problems.add(crash(loaded, "contribute", e, section));
                continue;
            }
            for (Step step : contributed) {
                if (!Ops.allowedForPlugin(step)) {
                    String why = Ops.ENGINE_ONLY.contains(step.op()) ? "which only the engine may emit"
                            : Ops.allowed(step) ? "with a NUL byte in an argument" : "which is not in the plan vocabulary";
                    problems.add(Diagnostic.error("plugin.bad-step", "plugin '" + loaded.id() + "' contributed op '" + step.op()
                            + "' in stage " + step.stage().wireName() + ", " + why, section.path(),
                            section.location(), "see dev.sandbox.api.Ops for the ops each stage accepts"));
                    continue;
                }
                steps.add(step.withPlugin(loaded.id()));
            }
        }
        steps.addAll(defaultCgroup(name, steps));
        ResourcesSection.steps(root, caller, host).forEach(s -> steps.add(s.withPlugin("engine")));
        ProcessSection.timeout(root.get("process")).ifPresent(steps::add); // stage clone, before the clone step
        steps.add(cloneStep(namespaces));
        options.commandOverride().ifPresent(argv -> problems.addAll(EngineChecks.checkOverride(root, argv, callerEnv)));
        SeccompSection.Result seccomp = seccomp(root, specDir);
        problems.addAll(seccomp.diagnostics().stream().filter(Diagnostic::isError).toList());
        seccomp.input().ifPresent(in -> inputs.put(in.path(), in.content()));
        List<Step> filters = seccomp.filters().stream().map(f -> f.step()).toList();
        steps.addAll(ProcessSection.steps(root, caller, callerEnv, options, namespaces, filters));
        // Stable sort: within a stage, engine steps and plugin steps keep the order they were added in.
        steps.sort(Comparator.comparing(Step::stage));
        return new Plan(name, withoutDuplicateCgroups(steps));
    }

    /**
     * One {@code cgroup-create}/{@code cgroup-place}/{@code cgroup-remove} per path: the cgroup plugin and the
     * {@code resources} section both want the sandbox's cgroup when they share a hierarchy (v2); the first one stays.
     */
    static List<Step> withoutDuplicateCgroups(List<Step> steps) {
        Set<String> seen = new java.util.HashSet<>();
        List<Step> out = new ArrayList<>();
        for (Step step : steps) {
            boolean cgroupDir = step.op().equals("cgroup-create") || step.op().equals("cgroup-place") || step.op().equals("cgroup-remove");
            if (cgroupDir && !seen.add(step.op() + "\0" + step.arg("path").orElse(""))) continue;
            out.add(step);
        }
        return out;
    }

    /**
     * Every sandbox of root gets a cgroup of its own, so that teardown finds every process it left (issue 8): when no
     * plugin gave it one (the cgroup plugin does for {@code namespaces.cgroup}), the steps of {@link SandboxCgroup}
     * for the one hierarchy {@link SandboxCgroup#tracking} names. Added after the plugins' steps, so within each stage
     * they come last (the cgroup placement after the id maps, as the cgroup plugin's). Rootless (no delegated
     * subtree here), or where the hierarchy can't be written (root of a user namespace): none; the monitor is then a
     * child subreaper and kills the process tree.
     */
    private List<Step> defaultCgroup(String name, List<Step> steps) {
        if (!caller.isRoot() || steps.stream().anyMatch(s -> s.op().equals("cgroup-create"))) return List.of();
        Optional<Path> path = SandboxCgroup.tracking(host, name);
        if (path.isEmpty() || !host.canCreateCgroupUnder(path.get().getParent().getParent())) return List.of();
        return SandboxCgroup.steps(List.of(path.get())).stream().map(s -> s.withPlugin("engine")).toList();
    }

    private Step cloneStep(SpecNode namespaces) {
        List<String> flags = new ArrayList<>();
        List<String> from = new ArrayList<>();
        for (String type : NamespaceTable.CLONE_ORDER) {
            if (creates(namespaces, type)) {
                flags.add(NamespaceTable.lookup(type).orElseThrow().cloneFlag());
                from.add(type);
            }
        }
        String flagText = String.join("|", flags);
        return Step.of(Stage.CLONE, "clone").arg("flags", flagText)
                .summary(flags.isEmpty() ? "start the child in the caller's namespaces"
                        : "start the child in new " + String.join(", ", from) + " namespaces; it waits for the monitor")
                .syscall("clone(" + (flagText.isEmpty() ? "SIGCHLD" : flagText + "|SIGCHLD") + ")")
                .build().withPlugin(from.isEmpty() ? "engine" : String.join(",", from));
    }

    /** The seccomp filters for the capabilities the target keeps, on this host's architecture and kernel. */
    private SeccompSection.Result seccomp(SpecNode root, Path specDir) {
        ProcessSection.Identity id = ProcessSection.identity(root, caller);
        return SeccompSection.resolve(root.get("process"), specDir, SeccompCompiler.Target.host(Set.copyOf(id.keep())));
    }

    static boolean isJoin(SpecNode section) {
        return section.has("join");
    }

    static boolean creates(SpecNode namespaces, String type) {
        SpecNode s = namespaces.get(type);
        return s.isPresent() && !isJoin(s);
    }

    private static Path specDir(LoadedSpec spec) {
        Path parent = spec.file().toAbsolutePath().normalize().getParent();
        return parent != null ? parent : Path.of("/");
    }

    private String sourceOf(String id) {
        return plugins.stream().filter(p -> p.id().equals(id)).map(p -> p.source().toString()).findFirst().orElse(id);
    }

    private static boolean hasErrorsUnder(List<Diagnostic> diagnostics, String path) {
        return diagnostics.stream().anyMatch(d -> d.isError() && (d.path().equals(path) || d.path().startsWith(path + ".")
                || d.path().startsWith(path + "[")));
    }

    private static Diagnostic crash(PluginRegistry.Loaded loaded, String phase, Throwable e, SpecNode section) {
        StackTraceElement top = e.getStackTrace().length > 0 ? e.getStackTrace()[0] : null;
        return Diagnostic.error("plugin.crashed", "plugin '" + loaded.id() + "' (" + loaded.source().getFileName() + ") crashed in "
                        + phase + ": " + e + (top != null ? " at " + top : ""), section.path(), section.location(),
                "this is a bug in the plugin, not in your spec; report it to the plugin's authors");
    }

    static List<Diagnostic> sorted(List<Diagnostic> in) {
        List<Diagnostic> out = new ArrayList<>(in);
        out.sort(Diagnostic.BY_LOCATION);
        return out;
    }

    /** One object per callback, as JUnit does: what the plugin may see and where its output goes. */
    private final class Context implements SectionContext, PlanContext {
        private final SpecNode spec;
        private final SpecNode section;
        private final Path specDir;
        private final String name;
        private final Path runtimeDir;
        private final List<Diagnostic> diagnostics;
        private List<Step> sink;

        Context(SpecNode spec, SpecNode section, Path specDir, String name, Path runtimeDir, List<Diagnostic> diagnostics) {
            this.spec = spec;
            this.section = section;
            this.specDir = specDir;
            this.name = name;
            this.runtimeDir = runtimeDir;
            this.diagnostics = diagnostics;
        }

        @Override public SpecNode section() { return section; }
        @Override public SpecNode spec() { return spec; }
        @Override public Path specDir() { return specDir; }
        @Override public String sandboxName() { return name; }
        @Override public Caller caller() { return caller; }
        @Override public HostFacts host() { return host; }
        @Override public boolean creates(String type) { return Pipeline.creates(spec.get("namespaces"), type); }
        @Override public boolean joins(String type) {
            SpecNode s = spec.get("namespaces").get(type);
            return s.isPresent() && isJoin(s);
        }
        @Override public void report(Diagnostic diagnostic) {
            if (diagnostics == null) throw new IllegalStateException("report() is only available in validate()");
            diagnostics.add(diagnostic);
        }
        @Override public Path runtimeDir() {
            if (runtimeDir == null) throw new IllegalStateException("runtimeDir() is only available in contribute()");
            return runtimeDir;
        }
        @Override public void add(Step step) {
            if (sink == null) throw new IllegalStateException("add() is only available in contribute()");
            sink.add(step);
        }
    }

    /** Options of {@code up} that shape the plan. */
    public record RunOptions(Optional<List<String>> commandOverride) {
        public static RunOptions none() {
            return new RunOptions(Optional.empty());
        }
    }
}
