package dev.sandbox.cli;

import dev.sandbox.api.Diagnostic;
import dev.sandbox.api.Plan;
import dev.sandbox.engine.pipeline.Pipeline;
import dev.sandbox.engine.runtime.Controller;
import dev.sandbox.engine.runtime.PlanCache;
import dev.sandbox.engine.runtime.RuntimePaths;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

@Command(name = "up", mixinStandardHelpOptions = true,
        description = {"Build the sandbox a spec describes and run its command in it; remove everything when it ends.",
                "Exit status: the target's; 128+N when it was killed by signal N; 125 when sandbox failed before the target ran;",
                "126/127 when the target can't be executed / doesn't exist."})
final class UpCommand implements Callable<Integer> {

    @ParentCommand Main main;

    @Parameters(index = "0", paramLabel = "SPEC", description = "The spec file (YAML).")
    Path spec;

    @Parameters(index = "1..*", paramLabel = "CMD", description = "After '--': run this instead of process.command.")
    List<String> command = new ArrayList<>();

    @Option(names = {"-v", "--verbose"}, description = "Print each plan step as it runs, with its duration.")
    boolean verbose;

    @Option(names = "--stop-timeout", paramLabel = "SECONDS", description = "After forwarding SIGTERM/SIGHUP/SIGINT, wait this long before SIGKILL (default: ${DEFAULT-VALUE}).")
    double stopTimeout = UpDefaults.STOP_TIMEOUT_SECONDS;

    @Override
    public Integer call() {
        Checked checked = Checked.of(main.sandbox(), spec);
        Output.diagnostics(main.err, checked.diagnostics());
        if (checked.hasErrors()) {
            main.err.println(spec + ": " + Output.summary(checked.diagnostics()) + "; nothing was started");
            return Controller.SETUP_FAILED;
        }
        List<Diagnostic> problems = new ArrayList<>();
        Path runtimeDir = RuntimePaths.forSandbox(main.sandbox().caller(), main.env, checked.spec().root().get("name").text());
        Pipeline.RunOptions options = new Pipeline.RunOptions(command.isEmpty() ? Optional.empty() : Optional.of(List.copyOf(command)));
        Plan plan = main.sandbox().pipeline().compile(checked.spec(), runtimeDir, options, problems);
        if (!problems.isEmpty()) {
            Output.diagnostics(main.err, problems);
            return Controller.SETUP_FAILED;
        }
        main.err.flush();
        cache(checked, options, runtimeDir, plan);
        String home = System.getProperty("sandbox.home", main.env.getOrDefault("SANDBOX_HOME", "."));
        Controller controller = new Controller(new Controller.Options(UpDefaults.helper(main.env, home), Duration.ofMillis((long) (stopTimeout * 1000)),
                verbose, main.err));
        return controller.run(plan, runtimeDir);
    }

    /** Keeps the compiled plan for the next identical {@code up} (see {@link Launch}); never for a join by sandbox name. */
    private void cache(Checked checked, Pipeline.RunOptions options, Path runtimeDir, Plan plan) {
        String home = System.getProperty("sandbox.home", main.env.get("SANDBOX_HOME"));
        if (home == null || !main.pluginDirs.isEmpty() || main.env.containsKey("SANDBOX_NO_CACHE")) return;
        boolean joinsSandbox = checked.spec().root().get("namespaces").fields().values().stream()
                .anyMatch(section -> section.get("join").has("sandbox"));
        if (joinsSandbox) return;
        var caller = main.sandbox().caller();
        var dirs = dev.sandbox.engine.Sandbox.defaultPluginDirs(Path.of(home), main.env, List.of());
        PlanCache.key(spec, options.commandOverride(), caller, main.env, Path.of(home), dirs).ifPresent(key ->
                PlanCache.forCaller(caller, main.env).store(key, new PlanCache.Entry(plan, runtimeDir,
                        checked.diagnostics().stream().map(Diagnostic::format).toList())));
    }


}
