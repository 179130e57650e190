package dev.sandbox.cli;

import dev.sandbox.engine.Sandbox;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code sandbox}: the command line. Each verb is one class that returns its exit code. */
@Command(name = "sandbox", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = "Build a Linux sandbox from a YAML spec, out of kernel namespaces.",
        subcommands = {ValidateCommand.class, PlanCommand.class, UpCommand.class, DiffCommand.class, SchemaCommand.class, PluginsCommand.class,
                CompletionCommand.class},
        synopsisSubcommandLabel = "COMMAND",
        footer = {"", "Exit codes: 0 ok, 1 the spec has errors, 2 usage; for 'up': the target's status, 128+N when it was killed by"
                + " signal N, 125 when sandbox failed, 126/127 when the target can't be executed / found; for 'diff --fail-on weaken': 3 when"
                + " a change weakens isolation."})
public final class Main implements Runnable {

    @Option(names = "--plugins-dir", paramLabel = "DIR", description = "Also load plugins from DIR (repeatable).", scope = CommandLine.ScopeType.INHERIT)
    List<Path> pluginDirs = new ArrayList<>();

    @Option(names = "--stacktrace", description = "Show stack traces of internal errors.", scope = CommandLine.ScopeType.INHERIT)
    boolean stacktrace;

    final PrintWriter out;
    final PrintWriter err;
    final Map<String, String> env;
    private Sandbox sandbox;

    Main(PrintWriter out, PrintWriter err, Map<String, String> env) {
        this.out = out;
        this.err = err;
        this.env = env;
    }

    public static void main(String[] args) {
        PrintWriter out = new PrintWriter(System.out, true);
        PrintWriter err = new PrintWriter(System.err, true);
        int code = run(args, out, err, System.getenv());
        out.flush();
        err.flush();
        System.exit(code);
    }

    /** Runs one command line with the given writers and environment (tests call this directly). */
    public static int run(String[] args, PrintWriter out, PrintWriter err, Map<String, String> env) {
        Main main = new Main(out, err, env);
        CommandLine cli = new CommandLine(main);
        cli.setAllowSubcommandsAsOptionParameters(true);
        cli.setOut(out);
        cli.setErr(err);
        cli.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
            err.println("sandbox: internal error: " + e);
            if (main.stacktrace) e.printStackTrace(err);
            else err.println("  (run again with --stacktrace for details)");
            return 125;
        });
        return cli.execute(args);
    }

    Sandbox sandbox() {
        if (sandbox == null) {
            String home = System.getProperty("sandbox.home", env.get("SANDBOX_HOME"));
            sandbox = new Sandbox(Sandbox.defaultPluginDirs(home == null ? null : Path.of(home), env, pluginDirs), pluginDirs, env);
        }
        return sandbox;
    }

    @Override
    public void run() {
        new CommandLine(this).usage(out);
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = Main.class.getPackage().getImplementationVersion();
            return new String[] {"sandbox " + (v == null ? "development build" : v)};
        }
    }
}
