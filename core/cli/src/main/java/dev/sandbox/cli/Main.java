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
        subcommands = {ValidateCommand.class, PlanCommand.class, ConfigCommand.class, UpCommand.class, DiffCommand.class, ExportCommand.class,
                ImportCommand.class, SchemaCommand.class, PluginsCommand.class, ExecCommand.class, InspectCommand.class,
                CompletionCommand.class, GraphCommand.class},
        synopsisSubcommandLabel = "COMMAND",
        footer = {"", "Exit codes: 0 ok, 1 the spec has errors, 2 usage; for 'up': the target's status, 128+N when it was killed by"
                + " signal N, 125 when sandbox failed, 126/127 when the target can't be executed / found; for 'diff --fail-on weaken': 3 when"
                + " a change weakens isolation.",
                "", "Sandboxes by name (native, no JVM; each has --help): ps [-a] [--format json], logs [-f] NAME, wait NAME,"
                + " down [--timeout S] NAME...|--all, gc."})
public final class Main implements Runnable {

    @Option(names = "--plugins-dir", paramLabel = "DIR", description = "Also load plugins from DIR (repeatable).", scope = CommandLine.ScopeType.INHERIT)
    List<Path> pluginDirs = new ArrayList<>();

    @Option(names = "--stacktrace", description = "Show stack traces of internal errors.", scope = CommandLine.ScopeType.INHERIT)
    boolean stacktrace;

    final PrintWriter out;
    final PrintWriter err;
    final Map<String, String> env;
    /** Standard output as bytes, for output that must not go through the locale's charset ({@code plan --format file}). */
    java.io.OutputStream bytesOut = System.out;
    private Sandbox sandbox;

    Main(PrintWriter out, PrintWriter err, Map<String, String> env) {
        this.out = out;
        this.err = err;
        this.env = env;
    }

    public static void main(String[] args) {
        PrintWriter out = new PrintWriter(System.out, true);
        PrintWriter err = new PrintWriter(System.err, true);
        int code;
        try {
            code = run(args, out, err, System.getenv());
        } catch (RuntimeException | Error e) {
            // picocli hands Errors (StackOverflowError, OutOfMemoryError) through; still one line and 125
            internalError(err, e, java.util.Arrays.asList(args).contains("--stacktrace"));
            code = 125;
        }
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
        cli.setParameterExceptionHandler((e, badArgs) -> usageError(err, e));
        cli.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
            internalError(err, e, main.stacktrace);
            return 125;
        });
        try {
            return cli.execute(args);
        } catch (RuntimeException | Error e) {
            internalError(err, e, main.stacktrace);
            return 125;
        }
    }

    /** The verbs bin/sandbox runs natively (core/native/src/verbs.c), offered as suggestions too. */
    static final List<String> NATIVE_VERBS = List.of("ps", "logs", "wait", "down", "gc");

    /**
     * A usage error (an unknown verb or option, a missing or bad argument): one line naming it, with picocli's
     * closest match when there is one, and where the usage is; never the whole usage text (issue 9). Exit 2.
     */
    static int usageError(PrintWriter err, CommandLine.ParameterException e) {
        String verb = e.getCommandLine().getCommandSpec().qualifiedName(" ");
        String message = e.getMessage();
        List<String> close = List.of();
        if (e instanceof CommandLine.UnmatchedArgumentException u) {
            close = u.getSuggestions();
            List<String> unmatched = u.getUnmatched();
            String first = unmatched.isEmpty() ? "" : unmatched.get(0);
            boolean topLevel = e.getCommandLine().getCommandSpec().parent() == null;
            if (topLevel && !first.startsWith("-")) {
                message = "unknown command '" + first + "'";
                // the verbs the launcher runs natively (ps, logs, wait, down, gc) are no picocli subcommands
                String nativeVerb = dev.sandbox.engine.schema.Suggest.closest(first, NATIVE_VERBS);
                if (close.isEmpty() && nativeVerb != null) close = List.of(nativeVerb);
            }
            else if (first.startsWith("-")) message = "unknown option '" + first + "'";
            else message = "unexpected argument '" + first + "'";
        }
        String hint = close.isEmpty() ? "" : " (did you mean '" + close.get(0) + "'?)";
        err.println(verb + ": " + message + hint + "; '" + verb + " --help' shows the usage");
        err.flush();
        return 2;
    }

    /**
     * A bug of sandbox itself, never the user's input (that is a diagnostic): one line naming it, and the
     * stack trace only with {@code --stacktrace}. The caller exits 125 (for {@code up}, 1 is the target's status).
     */
    static void internalError(PrintWriter err, Throwable e, boolean stacktrace) {
        String what = e instanceof StackOverflowError ? "the call stack overflowed"
                : e instanceof OutOfMemoryError ? "out of memory" : e.getClass().getSimpleName() + (e.getMessage() == null ? "" : ": " + e.getMessage());
        err.println("sandbox: internal error: " + what);
        if (stacktrace) e.printStackTrace(err);
        else err.println("  (run again with --stacktrace for details)");
        err.flush();
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
