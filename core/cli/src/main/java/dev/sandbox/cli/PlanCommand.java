package dev.sandbox.cli;

import dev.sandbox.api.Diagnostic;
import dev.sandbox.api.Plan;
import dev.sandbox.engine.pipeline.Pipeline;
import dev.sandbox.engine.runtime.RuntimePaths;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

@Command(name = "plan", mixinStandardHelpOptions = true,
        description = {"Show the ordered steps 'sandbox up' would execute, with the stage each runs in and the syscall it becomes.",
                "A dry run: nothing is created."})
final class PlanCommand implements Callable<Integer> {

    @ParentCommand Main main;

    @Parameters(index = "0", paramLabel = "SPEC", description = "The spec file (YAML), or REV:path to read it from a git revision (docs/git.md).")
    Path spec;

    @Parameters(index = "1..*", paramLabel = "CMD", description = "After '--': the command 'up SPEC -- CMD' would run instead of process.command.")
    List<String> command = new ArrayList<>();

    @Option(names = "--format", paramLabel = "FORMAT", description = "text (default) or json.")
    Output.Format format = Output.Format.text;

    @Mixin EnvFiles envFiles;

    @Override
    public Integer call() {
        Checked checked = Checked.of(main.sandbox(), spec, envFiles.files);
        if (checked.hasErrors()) {
            Output.diagnostics(main.err, checked.diagnostics());
            main.err.println(spec + ": " + Output.summary(checked.diagnostics()));
            return 1;
        }
        Output.diagnostics(main.err, checked.diagnostics());
        List<Diagnostic> problems = new ArrayList<>();
        Path runtimeDir = RuntimePaths.forSandbox(main.sandbox().caller(), main.env, checked.spec().root().get("name").text());
        Plan plan = main.sandbox().pipeline().compile(checked.spec(), runtimeDir, new Pipeline.RunOptions(command.isEmpty() ? java.util.Optional.empty() : java.util.Optional.of(List.copyOf(command))), problems);
        if (!problems.isEmpty()) {
            Output.diagnostics(main.err, problems);
            return 1;
        }
        if (format == Output.Format.json) {
            com.fasterxml.jackson.databind.node.ObjectNode json = Output.planJson(plan);
            json.set("provenance", ProvenanceJson.of(spec, checked.revisionSource())); // issue 11: git provenance
            Output.json(main.out, json);
        } else {
            Output.plan(main.out, plan, spec.toString());
            checked.revisionSource().ifPresent(s -> main.out.println(System.lineSeparator() + SpecArgument.workingTreeNote(s))); // issue 11
        }
        return 0;
    }
}
