package dev.sandbox.cli;

import dev.sandbox.api.Diagnostic;
import dev.sandbox.api.Plan;
import dev.sandbox.engine.Sandbox;
import dev.sandbox.engine.pipeline.Pipeline;
import dev.sandbox.engine.runtime.Controller;
import dev.sandbox.engine.runtime.NativeIndex;
import dev.sandbox.engine.runtime.PlanCache;
import dev.sandbox.engine.runtime.PlanFile;
import dev.sandbox.engine.runtime.RuntimePaths;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * {@code sandbox up}: validate, compile, keep the plan for next time, run it. Free of picocli, so the
 * launcher can call it directly for plain {@code up SPEC [-- CMD]} invocations (picocli's model
 * building costs ~100 ms of start-up; docs/performance.md); {@link UpCommand} calls it too.
 */
final class Up {

    /** One {@code up}: the spec, the options, and whether plugin dirs beyond the default ones were given. */
    record Request(Path spec, Optional<List<String>> command, boolean verbose, double stopTimeoutSeconds, boolean extraPluginDirs,
                   List<Path> envFiles, boolean detach) {
        Request(Path spec, Optional<List<String>> command, boolean verbose, double stopTimeoutSeconds, boolean extraPluginDirs,
                List<Path> envFiles) {
            this(spec, command, verbose, stopTimeoutSeconds, extraPluginDirs, envFiles, false);
        }
    }

    private Up() {}

    static int run(Sandbox sandbox, Map<String, String> env, PrintWriter err, Request request) {
        if (Lab.isLab(request.spec())) return Lab.up(sandbox, env, err, request); // kind: Lab (docs/labs.md)
        Checked checked = Checked.of(sandbox, request.spec(), request.envFiles());
        Output.diagnostics(err, checked.diagnostics());
        if (checked.hasErrors()) {
            err.println(request.spec() + ": " + Output.summary(checked.diagnostics()) + "; nothing was started");
            err.flush();
            return Controller.SETUP_FAILED;
        }
        List<Diagnostic> problems = new ArrayList<>();
        Path runtimeDir = RuntimePaths.forSandbox(sandbox.caller(), env, checked.spec().root().get("name").text());
        Pipeline.RunOptions options = new Pipeline.RunOptions(request.command());
        Map<Path, byte[]> inputs = new java.util.LinkedHashMap<>();
        Plan plan = sandbox.pipeline().compile(checked.spec(), runtimeDir, options, problems, inputs);
        dev.sandbox.engine.Timing.mark("compiled");
        if (!problems.isEmpty()) {
            Output.diagnostics(err, problems);
            err.flush();
            return Controller.SETUP_FAILED;
        }
        err.flush();
        String home = System.getProperty("sandbox.home", env.get("SANDBOX_HOME"));
        PlanFile.Source source = checked.source(); // the spec's SHA-256 (and git origin): once, for the cache entry and the plan file
        if (!request.extraPluginDirs()) cache(sandbox, env, home, request, checked, source, runtimeDir, plan, inputs);
        dev.sandbox.engine.Timing.mark("plan cached");
        Controller controller = new Controller(new Controller.Options(UpDefaults.helper(env, home == null ? "." : home),
                Duration.ofMillis((long) (request.stopTimeoutSeconds() * 1000)), request.verbose(), err, env, request.detach()));
        int status = controller.run(plan, runtimeDir, source);
        dev.sandbox.engine.Timing.mark("plan handed off");
        return status;
    }

    /** Keeps the compiled plan for the next identical {@code up} (see {@link Launch}); never for a join by sandbox name. */
    private static void cache(Sandbox sandbox, Map<String, String> env, String home, Request request, Checked checked,
                              PlanFile.Source source, Path runtimeDir, Plan plan, Map<Path, byte[]> inputs) {
        if (home == null || env.containsKey("SANDBOX_NO_CACHE")) return;
        boolean joinsSandbox = checked.spec().root().get("namespaces").fields().values().stream()
                .anyMatch(section -> section.get("join").has("sandbox"));
        if (joinsSandbox) return;
        var caller = sandbox.caller();
        var dirs = Sandbox.defaultPluginDirs(Path.of(home), env, List.of());
        // the key covers the spec's bytes and the env files; the entry records every included file's digest and the value of
        // every variable the spec referenced, checked again before the plan is used
        PlanCache.key(request.spec(), request.command(), caller, env, Path.of(home), dirs, request.envFiles()).ifPresent(key -> {
            PlanCache cache = PlanCache.forCaller(caller, env);
            PlanCache.Entry entry = new PlanCache.Entry(plan, runtimeDir, source,
                    checked.diagnostics().stream().map(Diagnostic::format).toList(), checked.spec().inputs(), digests(inputs));
            cache.store(key, entry);
            dev.sandbox.engine.Timing.mark("plan cache entry written");
            List<Path> files = new ArrayList<>();
            for (var include : checked.spec().inputs().includes()) {
                if (include.file() == null) return; // a blob of a git revision: not cached
                files.add(include.file());
            }
            files.addAll(inputs.keySet());
            nativeEntry(cache, env, Path.of(home), request, dirs, files, entry, List.copyOf(checked.spec().inputs().variables().keySet()));
        });
    }

    /** Main's argument count when Launch called us for a plain {@code up} (then /proc/self/cmdline ends with them); else -1. */
    static int rawArgCount = -1;

    /**
     * The native index entry for this call (NativeIndex, docs/architecture.md "The native cache index"): what the native
     * front needs to run {@code entry} without a JVM next time. {@code files}: the includes and compiled-in files.
     */
    static void nativeEntry(PlanCache cache, Map<String, String> env, Path home, Request request, List<Path> pluginDirs,
                            List<Path> files, PlanCache.Entry entry, List<String> variables) {
        if (rawArgCount <= 0 || env.containsKey("SANDBOX_NO_CACHE") || env.containsKey("SANDBOX_HELPER")) return;
        var start = jvmStart();
        if (start.isEmpty()) return;
        NativeIndex.keyMaterial(home, rawArgCount).ifPresent(key -> {
            List<Path> deps = new ArrayList<>();
            deps.add(request.spec());
            deps.addAll(request.envFiles());
            deps.addAll(files);
            deps.addAll(NativeIndex.installed(home, pluginDirs));
            List<String> say = new ArrayList<>(entry.warnings());
            if (request.verbose()) say.add("sandbox: using the compiled plan cached for " + request.spec());
            List<String> run = new ArrayList<>(List.of("--grace-ms", Long.toString((long) (request.stopTimeoutSeconds() * 1000))));
            if (request.verbose()) run.add("--trace");
            if (request.detach()) run.add("--detach");
            NativeIndex.write(cache.dir(), key, new NativeIndex.Deps(deps, PlanCache.assumed(entry), variables), entry.text(), say, run,
                    start.getAsLong());
        });
    }

    /**
     * When this process started, in ms since the epoch, as {@code ProcessHandle.current().info().startInstant()} computes
     * it (the boot time from /proc/stat's btime, plus /proc/self/stat's starttime in clock ticks), without it: its Info
     * also reads the command line and the executable and looks the user up (NSS), ~10-20 ms of a cold {@code up}
     * (docs/performance.md). Clock ticks are USER_HZ, 100 on the architectures listed; elsewhere ProcessHandle's answer.
     */
    static java.util.OptionalLong jvmStart() {
        if (java.util.Set.of("amd64", "x86_64", "aarch64", "x86", "i386", "arm", "riscv64", "ppc64le", "s390x")
                .contains(System.getProperty("os.arch", ""))) {
            try {
                // /proc with streams, not readString (JDK 17 truncates /proc files read that way)
                String stat = String.join("\n", java.nio.file.Files.readAllLines(Path.of("/proc/self/stat")));
                String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
                long ticks = Long.parseLong(f[19]); // field 22, starttime; f[0] is field 3, state
                for (String line : java.nio.file.Files.readAllLines(Path.of("/proc/stat"))) {
                    if (line.startsWith("btime ")) return java.util.OptionalLong.of(Long.parseLong(line.substring(6).strip()) * 1000 + ticks * 1000 / 100);
                }
            } catch (java.io.IOException | RuntimeException e) {
                // ProcessHandle's answer below
            }
        }
        var start = ProcessHandle.current().info().startInstant();
        return start.isPresent() ? java.util.OptionalLong.of(start.get().toEpochMilli()) : java.util.OptionalLong.empty();
    }

    private static Map<Path, String> digests(Map<Path, byte[]> inputs) {
        Map<Path, String> out = new java.util.LinkedHashMap<>();
        inputs.forEach((path, content) -> out.put(path, PlanCache.digest(content)));
        return out;
    }
}
