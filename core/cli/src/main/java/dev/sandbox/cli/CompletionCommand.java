package dev.sandbox.cli;

import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

@Command(name = "completion", mixinStandardHelpOptions = true,
        description = {"Print a shell completion script for sandbox: verbs, options, spec files, running sandbox names.",
                "bash: source <(sandbox completion bash). zsh: the same script through bashcompinit, source <(sandbox completion zsh)."})
final class CompletionCommand implements Callable<Integer> {

    /** fish is missing: picocli generates bash (which zsh runs), and there is no maintained fish generator for picocli. */
    enum Shell { bash, zsh }

    @ParentCommand Main main;

    @Spec CommandSpec spec;

    @Parameters(index = "0", paramLabel = "SHELL", description = "bash or zsh.")
    Shell shell;

    @Override
    public Integer call() {
        String script = CompletionScript.generate(spec.root().commandLine());
        if (shell == Shell.zsh) {
            script = "# zsh: picocli's bash script, run through zsh's bashcompinit (set up below)\n" + script;
        }
        main.out.print(script);
        main.out.flush();
        return 0;
    }
}
