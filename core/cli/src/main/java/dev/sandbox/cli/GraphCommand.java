package dev.sandbox.cli;

import dev.sandbox.api.Diagnostic;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

@Command(name = "graph", mixinStandardHelpOptions = true,
        description = {"Print a lab's topology (kind: Lab, docs/labs.md) as a Mermaid flowchart or Graphviz DOT.",
                "Exit 0, 1 when the lab has errors, 2 for usage errors."})
final class GraphCommand implements Callable<Integer> {

    enum Format { mermaid, dot }

    @ParentCommand Main main;

    @Parameters(index = "0", paramLabel = "LAB", description = "The lab file (YAML, kind: Lab).")
    Path lab;

    @Option(names = "--format", paramLabel = "FORMAT", description = "mermaid (default) or dot.")
    Format format = Format.mermaid;

    @Mixin EnvFiles envFiles;

    @Override
    public Integer call() {
        if (!Lab.isLab(lab)) {
            main.err.println("sandbox: graph: " + lab + " is not a lab (no top-level kind: Lab)");
            return 1;
        }
        List<Diagnostic> found = new ArrayList<>();
        Lab.Model model = Lab.load(main.sandbox(), lab, envFiles.files, found);
        Output.diagnostics(main.err, found);
        if (model == null || found.stream().anyMatch(Diagnostic::isError)) {
            main.err.println(lab + ": " + Output.summary(found));
            return 1;
        }
        main.out.print(Lab.graph(model, format == Format.dot));
        return 0;
    }
}
