package dev.sandbox.cli;

import dev.sandbox.api.Diagnostic;
import dev.sandbox.api.Plan;
import dev.sandbox.engine.pipeline.Pipeline;
import dev.sandbox.engine.runtime.PlanFile;
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
        description = {"Show the ordered steps 'sandbox up' would execute (its plan file), with the stage each runs in, the part of the"
                + " runtime that runs it (monitor, helper, child) and the syscall it becomes.",
                "A dry run: nothing is created."})
final class PlanCommand implements Callable<Integer> {

    @ParentCommand Main main;

    @Parameters(index = "0", paramLabel = "SPEC", description = "The spec file (YAML), or REV:path to read it from a git revision (docs/git.md).")
    Path spec;

    @Parameters(index = "1..*", paramLabel = "CMD", description = "After '--': the command 'up SPEC -- CMD' would run instead of process.command.")
    List<String> command = new ArrayList<>();

    /** What {@code plan} prints: the table, its JSON view, or the canonical plan file itself. */
    enum Format { text, json, file }

    @Option(names = "--format", paramLabel = "FORMAT",
            description = "text (default), json, or file: the plan file the runtime executes, byte for byte.")
    Format format = Format.text;

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
        String name = plan.name();
        PlanFile.Source source = checked.source();
        PlanFile.Rendered file = PlanFile.canonical(plan, runtimeDir, source);
        List<Output.FileStep> steps = Output.fileSteps(file, PlanFile.runtimeDirStep(name, runtimeDir, source));
        switch (format) {
            case json -> {
                com.fasterxml.jackson.databind.node.ObjectNode json = Output.planJson(name, runtimeDir, steps);
                json.set("provenance", ProvenanceJson.of(spec, checked.revisionSource())); // issue 11: git provenance
                Output.json(main.out, json);
            }
            case file -> {
                // byte for byte what the runtime reads: UTF-8 whatever the locale's charset (bytes that are not UTF-8
                // are %XX in the file)
                main.out.flush();
                try {
                    main.bytesOut.write(file.text().getBytes(java.nio.charset.StandardCharsets.UTF_8));
                    main.bytesOut.flush();
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            }
            case text -> {
                Output.plan(main.out, name, steps, spec.toString());
                checked.revisionSource().ifPresent(s -> main.out.println(System.lineSeparator() + SpecArgument.workingTreeNote(s))); // issue 11
            }
        }
        return 0;
    }
}
