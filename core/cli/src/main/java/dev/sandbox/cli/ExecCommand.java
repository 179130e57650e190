package dev.sandbox.cli;

import dev.sandbox.api.Plan;
import dev.sandbox.engine.runtime.Controller;
import dev.sandbox.engine.runtime.ExecPlan;
import dev.sandbox.engine.runtime.RuntimePaths;
import dev.sandbox.engine.runtime.SandboxState;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

@Command(name = "exec", mixinStandardHelpOptions = true,
        description = {"Run a command inside a running sandbox: all of its namespaces (its root included), its cgroup, its process identity"
                + " (uid, gid, groups, capabilities, no_new_privs, seccomp): the tool's 'nsenter -a'.",
                "Exit status: the command's; 128+N when it was killed by signal N; 125 when sandbox failed (no such sandbox, a dead"
                        + " one); 126/127 when the command can't be executed / doesn't exist."})
final class ExecCommand implements Callable<Integer> {

    @ParentCommand Main main;

    @Option(names = {"-i", "--interactive"}, description = "Keep standard input open (it always is: accepted for docker's -it habit).")
    boolean interactive;

    @Option(names = {"-t", "--tty"}, description = "A pty from the sandbox's own devpts as the command's terminal, proxied to yours (raw mode, window size).")
    boolean tty;

    @Option(names = {"-u", "--user"}, paramLabel = "USER", description = "UID[:GID] or NAME[:GROUP] (from the sandbox's /etc/passwd, /etc/group)"
            + " instead of the sandbox's; any uid but 0 keeps no capabilities.")
    String user;

    @Option(names = {"-e", "--env"}, paramLabel = "KEY=VALUE", description = "Set a variable on top of the sandbox's environment (repeatable).")
    List<String> env = new ArrayList<>();

    @Option(names = {"-w", "--cwd"}, paramLabel = "DIR", description = "Working directory inside (default: the sandbox's).")
    String cwd;

    @Option(names = "--stop-timeout", paramLabel = "SECONDS", description = "After forwarding SIGTERM/SIGHUP/SIGINT, wait this long before SIGKILL (default: ${DEFAULT-VALUE}).")
    double stopTimeout = UpDefaults.STOP_TIMEOUT_SECONDS;

    @Parameters(index = "0", paramLabel = "NAME", description = "The running sandbox (its spec's name).")
    String name;

    @Parameters(index = "1..*", paramLabel = "CMD", description = "After '--': the command (default: /bin/sh, when the sandbox has it).")
    List<String> command = new ArrayList<>();

    @Override
    public Integer call() {
        var caller = UpDefaults.caller();
        Path base = RuntimePaths.base(caller, main.env);
        StringBuilder why = new StringBuilder();
        Optional<SandboxState> found = Records.find(base, name, why);
        if (found.isEmpty()) return refuse(why.toString());
        SandboxState state = found.get();
        switch (state.liveness()) {
            case DEAD -> {
                return refuse("sandbox '" + name + "' is dead: its monitor (pid " + (state.monitor() == null ? "?" : state.monitor().pid())
                        + ") or its target is gone; 'sandbox gc' removes what is left");
            }
            case FINISHED -> {
                return refuse("sandbox '" + name + "' has ended" + (state.exitStatus() == null ? "" : " (exit status " + state.exitStatus() + ")")
                        + "; nothing runs to enter");
            }
            case STARTING -> {
                return refuse("sandbox '" + name + "' is still starting; try again when it runs");
            }
            default -> { }
        }
        String text;
        try {
            text = Files.readString(state.dir().resolve("plan"));
        } catch (IOException e) {
            return refuse("its plan " + state.dir().resolve("plan") + " can't be read (" + dev.sandbox.engine.runtime.Errno.name(e) + ")");
        }
        if (command.isEmpty() && !ExecPlan.hasShell(state.target().pid())) {
            return refuse("the sandbox has no /bin/sh; give the command: sandbox exec " + name + " -- CMD...");
        }
        long id = ProcessHandle.current().pid() * 1000 + ThreadLocalRandom.current().nextInt(1000);
        String record = ExecPlan.recordName(name, id);
        Plan plan;
        try {
            plan = ExecPlan.compile(state, text, record, caller.isRoot(), new ExecPlan.Options(Optional.ofNullable(user), List.copyOf(env),
                    Optional.ofNullable(cwd), command.isEmpty() ? Optional.empty() : Optional.of(List.copyOf(command)), tty));
        } catch (ExecPlan.ExecException e) {
            return refuse(e.getMessage());
        }
        String home = System.getProperty("sandbox.home", main.env.get("SANDBOX_HOME"));
        Controller controller = new Controller(new Controller.Options(UpDefaults.helper(main.env, home == null ? "." : home),
                Duration.ofMillis((long) (stopTimeout * 1000)), false, main.err, main.env));
        return controller.run(plan, base.resolve(record), state.spec(), state.specSha256());
    }

    private int refuse(String message) {
        main.err.println("sandbox: exec " + name + ": " + message);
        main.err.flush();
        return Controller.SETUP_FAILED;
    }
}
