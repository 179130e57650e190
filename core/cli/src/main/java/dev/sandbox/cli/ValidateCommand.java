package dev.sandbox.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

@Command(name = "validate", mixinStandardHelpOptions = true,
        description = {"Check a spec against the schema and every plugin's rules; print each problem with file:line:col.",
                "Exit 0 when clean (warnings allowed), 1 when the spec has errors, 2 for usage errors."})
final class ValidateCommand implements Callable<Integer> {

    @ParentCommand Main main;

    @Parameters(index = "0", paramLabel = "SPEC", description = "The spec file (YAML), or REV:path to read it from a git revision (docs/git.md).")
    Path spec;

    @Option(names = "--format", paramLabel = "FORMAT", description = "text (default) or json.")
    Output.Format format = Output.Format.text;

    @Mixin EnvFiles envFiles;

    @Override
    public Integer call() {
        if (format == Output.Format.text && Lab.isLab(spec)) { // kind: Lab (docs/labs.md): the lab and every node
            Lab.Checked lab = Lab.check(main.sandbox(), main.env, spec, envFiles.files);
            Output.diagnostics(main.out, lab.diagnostics());
            main.out.println(lab.hasErrors() ? spec + ": " + Output.summary(lab.diagnostics())
                    : spec + ": ok" + (lab.diagnostics().isEmpty() ? "" : " (" + Output.summary(lab.diagnostics()) + ")"));
            return lab.hasErrors() ? 1 : 0;
        }
        Checked checked = Checked.of(main.sandbox(), spec, envFiles.files);
        if (format == Output.Format.json) {
            ObjectNode root = Output.json().createObjectNode();
            root.put("file", spec.toString());
            root.put("valid", !checked.hasErrors());
            root.set("diagnostics", Output.diagnosticsJson(checked.diagnostics()));
            Output.json(main.out, root);
        } else {
            Output.diagnostics(main.out, checked.diagnostics());
            main.out.println(checked.hasErrors() ? spec + ": " + Output.summary(checked.diagnostics())
                    : spec + ": ok" + (checked.diagnostics().isEmpty() ? "" : " (" + Output.summary(checked.diagnostics()) + ")"));
        }
        return checked.hasErrors() ? 1 : 0;
    }
}
