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

    /**
     * Priming (SANDBOX_FRONT=prime, set by the launcher as -Dsandbox.front=prime; docs/performance.md "Priming"): compile
     * and write the plan cache's and the native index's entries, run nothing, and say whether the front can serve this call.
     */
    static boolean prime;

    /** What priming prints: "sandbox: prime: cacheable ENTRY" or "sandbox: prime: not cacheable: WHY" (the tests' warm mode reads it). */
    static int primed(PrintWriter err, Optional<String> whyNot, String entry) {
        err.println(whyNot.map(w -> "sandbox: prime: not cacheable: " + w).orElse("sandbox: prime: cacheable " + entry));
        err.flush();
        return 0;
    }

    static int run(Sandbox sandbox, Map<String, String> env, PrintWriter err, Request request) {
        if (Lab.isLab(request.spec())) {
            if (prime) return primed(err, Optional.of("a lab (the front runs single sandboxes)"), null);
            return Lab.up(sandbox, env, err, request); // kind: Lab (docs/labs.md)
        }
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
        String[] entryName = new String[1];
        Optional<String> whyNot = request.extraPluginDirs() ? Optional.of("--plugins-dir")
                : cache(sandbox, env, home, request, checked, source, runtimeDir, plan, inputs, entryName);
        dev.sandbox.engine.Timing.mark("plan cached");
        if (prime) return primed(err, whyNot, entryName[0]);
        Controller controller = new Controller(new Controller.Options(UpDefaults.helper(env, home == null ? "." : home),
                Duration.ofMillis((long) (request.stopTimeoutSeconds() * 1000)), request.verbose(), err, env, request.detach()));
        int status = controller.run(plan, runtimeDir, source);
        dev.sandbox.engine.Timing.mark("plan handed off");
        return status;
    }

    /**
     * Keeps the compiled plan for the next identical {@code up} (see {@link Launch}); never for a join by sandbox name.
     * Returns why the native front can't serve the next identical call, if it can't; {@code entryName[0]} gets the entry's name.
     */
    private static Optional<String> cache(Sandbox sandbox, Map<String, String> env, String home, Request request, Checked checked,
                                          PlanFile.Source source, Path runtimeDir, Plan plan, Map<Path, byte[]> inputs, String[] entryName) {
        if (home == null) return Optional.of("no installation (sandbox.home)");
        if (env.containsKey("SANDBOX_NO_CACHE")) return Optional.of("SANDBOX_NO_CACHE is set");
        boolean joinsSandbox = checked.spec().root().get("namespaces").fields().values().stream()
                .anyMatch(section -> section.get("join").has("sandbox"));
        if (joinsSandbox) return Optional.of("it joins a sandbox by name");
        var caller = sandbox.caller();
        var dirs = Sandbox.defaultPluginDirs(Path.of(home), env, List.of());
        // the key covers the spec's bytes and the env files; the entry records every included file's digest and the value of
        // every variable the spec referenced, checked again before the plan is used
        Optional<String> key = PlanCache.key(request.spec(), request.command(), caller, env, Path.of(home), dirs, request.envFiles());
        if (key.isEmpty()) return Optional.of("no plan cache key (an input could not be read)");
        PlanCache cache = PlanCache.forCaller(caller, env);
        PlanCache.Entry entry = new PlanCache.Entry(plan, runtimeDir, source,
                checked.diagnostics().stream().map(Diagnostic::format).toList(), checked.spec().inputs(), digests(inputs));
        cache.store(key.get(), entry);
        dev.sandbox.engine.Timing.mark("plan cache entry written");
        List<Path> files = new ArrayList<>();
        // the bytes this compile read, for the digest of a racily clean file (NativeIndex.write)
        Map<Path, byte[]> read = new java.util.HashMap<>(inputs);
        for (var input : checked.spec().inputs().files()) {
            if (input.file() == null) return Optional.of("a spec or include of a git revision"); // not cached
            read.put(input.file(), input.bytes());
        }
        for (var envFile : checked.spec().inputs().envFiles()) read.put(envFile.file(), envFile.bytes());
        for (var include : checked.spec().inputs().includes()) files.add(include.file());
        files.addAll(inputs.keySet());
        return nativeEntry(cache, env, Path.of(home), request, dirs, files, entry, List.copyOf(checked.spec().inputs().variables().keySet()),
                read, entryName);
    }

    /** Main's argument count when Launch called us for a plain {@code up} (then /proc/self/cmdline ends with them); else -1. */
    static int rawArgCount = -1;

    /**
     * The native index entry for this call (NativeIndex, docs/architecture.md "The native cache index"): what the native
     * front needs to run {@code entry} without a JVM next time. {@code files}: the includes and compiled-in files.
     */
    static Optional<String> nativeEntry(PlanCache cache, Map<String, String> env, Path home, Request request, List<Path> pluginDirs,
                                        List<Path> files, PlanCache.Entry entry, List<String> variables, Map<Path, byte[]> read,
                                        String[] entryName) {
        if (rawArgCount <= 0) return Optional.of("arguments only the full CLI takes");
        if (env.containsKey("SANDBOX_NO_CACHE")) return Optional.of("SANDBOX_NO_CACHE is set");
        if (env.containsKey("SANDBOX_HELPER")) return Optional.of("SANDBOX_HELPER is set");
        var start = jvmStart();
        if (start.isEmpty()) return Optional.of("the JVM's start time is unknown");
        Optional<byte[]> keyMaterial = NativeIndex.keyMaterial(home, rawArgCount);
        if (keyMaterial.isEmpty()) return Optional.of("no key material (a name or the working directory is not ASCII, or /proc unreadable)");
        {
            byte[] key = keyMaterial.get();
            entryName[0] = NativeIndex.entryName(key);
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
            // the repository around the spec is part of PlanCache's key (provenance): the front checks it too
            Map<Path, String> assumed = new java.util.LinkedHashMap<>(PlanCache.assumed(entry));
            Optional<String> git = NativeIndex.gitChain(request.spec(), assumed, deps);
            if (git.isPresent()) return git;
            return NativeIndex.write(cache.dir(), key, new NativeIndex.Deps(deps, assumed, variables, read), entry.text(),
                    say, run, start.getAsLong());
        }
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
