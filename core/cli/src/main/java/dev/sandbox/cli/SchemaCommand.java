package dev.sandbox.cli;

import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.ParentCommand;

@Command(name = "schema", mixinStandardHelpOptions = true,
        description = "Print the JSON schema of the spec, with every installed plugin's section composed in (for editors and CI).")
final class SchemaCommand implements Callable<Integer> {

    @ParentCommand Main main;

    @Override
    public Integer call() {
        var problems = main.sandbox().pluginProblems();
        Output.diagnostics(main.err, problems);
        main.out.println(main.sandbox().pipeline().schema().pretty());
        return problems.stream().anyMatch(d -> d.isError()) ? 1 : 0;
    }
}
