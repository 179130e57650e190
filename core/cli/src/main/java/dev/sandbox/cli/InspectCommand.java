package dev.sandbox.cli;

import dev.sandbox.engine.inspect.Inspector;
import dev.sandbox.engine.runtime.RuntimePaths;
import dev.sandbox.engine.runtime.SandboxState;
import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

@Command(name = "inspect", mixinStandardHelpOptions = true,
        description = {"Show a sandbox as JSON: status, host and inside pids, each namespace (inode, created or joined, owning user"
                + " namespace, parent), id maps, cgroup, resource limits (as the spec names them, with the cgroup files written) and"
                + " current usage (memory, peak, OOM kills, pids, CPU time), mounts, links, the spec it came from and its plan's digest;"
                + " for a lab's node its lab links (interface, peer node and interface or bridge, addresses, MTU, checked against /proc).",
                "Exit status: 0; 1 when there is no sandbox of that name; 2 on usage errors."})
final class InspectCommand implements Callable<Integer> {

    @ParentCommand Main main;

    @Option(names = "--format", paramLabel = "FORMAT", description = "json (the only format).")
    String format = "json";

    @Parameters(index = "0", paramLabel = "NAME", description = "The sandbox (its spec's name).")
    String name;

    @Override
    public Integer call() {
        if (!format.equals("json")) {
            main.err.println("sandbox: inspect: --format " + format + ": the only format is json");
            return 2;
        }
        Path base = RuntimePaths.base(UpDefaults.caller(), main.env);
        StringBuilder why = new StringBuilder();
        Optional<SandboxState> state = Records.find(base, name, why);
        if (state.isEmpty()) {
            main.err.println("sandbox: inspect " + name + ": " + why);
            return 1;
        }
        main.out.print(new Inspector().inspect(state.get()));
        main.out.flush();
        return 0;
    }
}
