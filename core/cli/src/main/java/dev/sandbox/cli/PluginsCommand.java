package dev.sandbox.cli;

import dev.sandbox.engine.plugin.PluginRegistry;
import java.util.TreeSet;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.ParentCommand;

@Command(name = "plugins", mixinStandardHelpOptions = true,
        description = "List the installed namespace plugins in pipeline order: section id, version, source and 'after' constraints.")
final class PluginsCommand implements Callable<Integer> {

    @ParentCommand Main main;

    @Override
    public Integer call() {
        var registry = main.sandbox().registry();
        main.out.printf("%-5s %-10s %-16s %-14s %s%n", "ORDER", "SECTION", "VERSION", "AFTER", "SOURCE");
        int order = 0;
        for (PluginRegistry.Loaded p : registry.plugins()) {
            String after = String.join(",", new TreeSet<>(p.plugin().after()));
            main.out.printf("%-5d %-10s %-16s %-14s %s%n", ++order, p.id(), p.version(), after.isEmpty() ? "-" : after, p.source());
        }
        var problems = main.sandbox().pluginProblems();
        Output.diagnostics(main.err, problems);
        return problems.stream().anyMatch(d -> d.isError()) ? 1 : 0;
    }
}
