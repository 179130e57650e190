package dev.sandbox.cli;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

@Command(name = "up", mixinStandardHelpOptions = true,
        description = {"Build the sandbox a spec describes and run its command in it; remove everything when it ends.",
                "Exit status: the target's; 128+N when it was killed by signal N; 125 when sandbox failed before the target ran; "
                        + "126/127 when the target can't be executed / doesn't exist."})
final class UpCommand implements Callable<Integer> {

    @ParentCommand Main main;

    @Parameters(index = "0", paramLabel = "SPEC", description = "The spec file (YAML), or REV:path to read it from a git revision (docs/git.md).")
    Path spec;

    @Parameters(index = "1..*", paramLabel = "CMD", description = "After '--': run this instead of process.command.")
    List<String> command = new ArrayList<>();

    @Option(names = {"-v", "--verbose"}, description = "Print each plan step as it runs, with its duration.")
    boolean verbose;

    @Option(names = "--stop-timeout", paramLabel = "SECONDS", description = "After forwarding SIGTERM/SIGHUP/SIGINT, wait this long before SIGKILL (default: ${DEFAULT-VALUE}).")
    double stopTimeout = UpDefaults.STOP_TIMEOUT_SECONDS;

    @Option(names = {"-d", "--detach"}, description = "Return once the target runs (prints the sandbox's name); its output goes to a log "
            + "(sandbox logs NAME); stop it with sandbox down NAME.")
    boolean detach;

    @Mixin EnvFiles envFiles;

    @Override
    public Integer call() {
        return Up.run(main.sandbox(), main.env, main.err, new Up.Request(spec,
                command.isEmpty() ? Optional.empty() : Optional.of(List.copyOf(command)), verbose, stopTimeout, !main.pluginDirs.isEmpty(),
                List.copyOf(envFiles.files), detach));
    }
}
