package dev.sandbox.cli;

import dev.sandbox.api.Caller;
import dev.sandbox.engine.runtime.Controller;
import dev.sandbox.engine.runtime.PlanCache;
import dev.sandbox.engine.spec.Variables;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The launcher's entry point. {@code sandbox up SPEC} whose compiled plan is in the {@link PlanCache}
 * runs straight from it — no YAML, no schema, no plugins, no picocli — which is what keeps a warm
 * {@code up} inside the start-up budget (docs/performance.md). Everything else, and every miss, goes
 * to {@link Main}.
 */
public final class Launch {

    private Launch() {}

    public static void main(String[] args) {
        dev.sandbox.engine.Timing.mark("main");
        // slf4j (PF4J logs through it, into slf4j-nop) would otherwise look for its provider with a ServiceLoader over every
        // jar of lib/ (docs/performance.md)
        if (System.getProperty("slf4j.provider") == null) {
            System.setProperty("slf4j.provider", "org.slf4j.nop.NOPServiceProvider");
            System.setProperty("slf4j.internal.verbosity", "WARN"); // no line about the provider property on stderr
        }
        if (args.length == 2 && args[0].equals("--cds-training")) {
            CdsTraining.run(Path.of(args[1]));
            return;
        }
        if (args.length == 1 && args[0].equals("--cds-training")) {
            CdsTraining.run();
            return;
        }
        args = RawArgs.restore(args); // the command after -- as bytes (issue 8)
        if (args.length > 0 && args[0].equals("up")) {
            Optional<Integer> code;
            try {
                Map<String, String> env = System.getenv();
                dev.sandbox.engine.Sandbox prepared = prepare(args, env);
                if ("prime".equals(System.getProperty("sandbox.front"))) {
                    // SANDBOX_FRONT=prime: always a compile (it knows the bytes it read), never a run
                    Up.prime = true;
                    code = plainUp(args, env, prepared);
                    if (code.isEmpty()) code = Optional.of(Up.primed(new PrintWriter(System.err, true),
                            Optional.of("arguments only the full CLI takes"), null));
                } else {
                    code = cachedUp(args, env);
                    dev.sandbox.engine.Timing.mark("plan cache lookup");
                    if (code.isEmpty()) code = plainUp(args, env, prepared);
                }
            } catch (RuntimeException | Error e) {
                // no stack traces for users unless asked (--stacktrace goes through Main); for 'up', 1 is the
                // target's status, so sandbox's own failure is 125 — a StackOverflowError or an OOM included
                Main.internalError(new PrintWriter(System.err, true), e, false);
                code = Optional.of(Controller.SETUP_FAILED);
            }
            if (code.isPresent()) {
                System.out.flush();
                System.err.flush();
                System.exit(code.get());
            }
        }
        Main.main(args);
    }

    /** The {@code up} arguments the fast path understands; anything else falls back to the full CLI. */
    record UpArgs(Path spec, boolean verbose, double stopTimeout, Optional<List<String>> command, List<Path> envFiles, boolean detach) {

        /**
         * Every option of {@code up} this parser takes: the one table of them. UpCommand (picocli: help, completion)
         * must declare the same (LaunchUpArgsTest), and the native front (front.c) parses none: an argument vector is
         * part of its key, and the entry carries the runtime's arguments derived here (docs/performance.md).
         */
        static final List<String> OPTIONS = List.of("-v", "--verbose", "-d", "--detach", "--stop-timeout", "--env-file");

        static Optional<UpArgs> parse(String[] args) {
            boolean verbose = false, detach = false;
            List<Path> envFiles = new ArrayList<>();
            double stop = UpDefaults.STOP_TIMEOUT_SECONDS;
            Path spec = null;
            int i = 1;
            for (; i < args.length; i++) {
                String a = args[i];
                if (a.equals("-v") || a.equals("--verbose")) {
                    verbose = true;
                } else if (a.equals("-d") || a.equals("--detach")) {
                    detach = true;
                } else if (a.equals("--stop-timeout") && i + 1 < args.length) {
                    try {
                        stop = Double.parseDouble(args[++i]);
                    } catch (NumberFormatException e) {
                        return Optional.empty();
                    }
                } else if (a.equals("--env-file") && i + 1 < args.length) {
                    envFiles.add(Path.of(args[++i]));
                } else if (a.startsWith("--env-file=") && a.length() > "--env-file=".length()) {
                    envFiles.add(Path.of(a.substring("--env-file=".length())));
                } else if (a.startsWith("-")) {
                    return Optional.empty();
                } else {
                    spec = Path.of(a);
                    i++;
                    break;
                }
            }
            if (spec == null) return Optional.empty();
            Optional<List<String>> command = Optional.empty();
            if (i < args.length) {
                if (!args[i].equals("--") || i + 1 >= args.length) return Optional.empty();
                List<String> cmd = new ArrayList<>(List.of(args).subList(i + 1, args.length));
                command = Optional.of(cmd);
            }
            return Optional.of(new UpArgs(spec, verbose, stop, command, List.copyOf(envFiles), detach));
        }
    }

    /**
     * For an {@code up} the plain path takes: the Sandbox, already building its pipeline on another thread while the
     * cache is asked (a miss is the usual case here: a hit is the native front's, docs/performance.md); else null.
     */
    static dev.sandbox.engine.Sandbox prepare(String[] args, Map<String, String> env) {
        String homeProp = System.getProperty("sandbox.home", env.get("SANDBOX_HOME"));
        if (homeProp == null || UpArgs.parse(args).isEmpty()) return null;
        dev.sandbox.engine.Sandbox sandbox = new dev.sandbox.engine.Sandbox(
                dev.sandbox.engine.Sandbox.defaultPluginDirs(Path.of(homeProp), env, List.of()), env);
        sandbox.prepareInBackground();
        return sandbox;
    }

    /** A plain {@code up} without a cached plan: the whole pipeline, still without picocli. {@code prepared}: from {@link #prepare}, or null. */
    static Optional<Integer> plainUp(String[] args, Map<String, String> env, dev.sandbox.engine.Sandbox prepared) {
        Optional<UpArgs> parsed = UpArgs.parse(args);
        String homeProp = System.getProperty("sandbox.home", env.get("SANDBOX_HOME"));
        if (parsed.isEmpty() || homeProp == null) return Optional.empty();
        UpArgs up = parsed.get();
        Up.rawArgCount = args.length;
        dev.sandbox.engine.Sandbox sandbox = prepared != null ? prepared : new dev.sandbox.engine.Sandbox(
                dev.sandbox.engine.Sandbox.defaultPluginDirs(Path.of(homeProp), env, List.of()), env);
        PrintWriter err = new PrintWriter(System.err, true);
        return Optional.of(Up.run(sandbox, env, err, new Up.Request(up.spec(), up.command(), up.verbose(), up.stopTimeout(), false,
                up.envFiles(), up.detach())));
    }

    static Optional<Integer> cachedUp(String[] args, Map<String, String> env) {
        Optional<UpArgs> parsed = UpArgs.parse(args);
        if (parsed.isEmpty()) return Optional.empty();
        UpArgs up = parsed.get();
        String homeProp = System.getProperty("sandbox.home", env.get("SANDBOX_HOME"));
        if (homeProp == null || env.containsKey("SANDBOX_NO_CACHE")) return Optional.empty();
        Path home = Path.of(homeProp);
        Caller caller = UpDefaults.caller();
        List<Path> pluginDirs = dev.sandbox.engine.Sandbox.defaultPluginDirs(home, env, List.of());
        Optional<String> key = PlanCache.key(up.spec(), up.command(), caller, env, home, pluginDirs, up.envFiles());
        if (key.isEmpty()) return Optional.empty();
        // an entry is used only when the files the spec included and the variables it read are still as they were
        PlanCache cache = PlanCache.forCaller(caller, env);
        Optional<PlanCache.Entry> entry = cache.load(key.get(), Variables.load(env, up.envFiles()));
        if (entry.isEmpty()) return Optional.empty();
        // the native front missed (or was not asked): leave it an entry for the next identical call
        Up.rawArgCount = args.length;
        Up.nativeEntry(cache, env, home, new Up.Request(up.spec(), up.command(), up.verbose(), up.stopTimeout(), false, up.envFiles(),
                up.detach()), pluginDirs, cache.loadedFiles(), entry.get(), cache.loadedVariables(), Map.of(), new String[1]);
        PrintWriter err = new PrintWriter(System.err, true);
        entry.get().warnings().forEach(err::println);
        Controller controller = new Controller(new Controller.Options(UpDefaults.helper(env, home.toString()),
                Duration.ofMillis((long) (up.stopTimeout() * 1000)), up.verbose(), err, env, up.detach()));
        if (up.verbose()) err.println("sandbox: using the compiled plan cached for " + up.spec());
        return Optional.of(controller.run(entry.get().plan(), entry.get().runtimeDir(), entry.get().source()));
    }
}
