package dev.sandbox.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * The dynamic layer of the completion script, run in a real bash: a verb whose positional is
 * labelled NAME completes the running sandboxes of the runtime directory. The real CLI has no such
 * verb yet (exec, down, logs, inspect, wait come later), so the test adds one shaped like them.
 */
class CompletionScriptTest {

    /** Shaped like the coming {@code sandbox exec NAME [--user U] -- CMD...}. */
    @Command(name = "exec")
    static final class ExecLike implements Runnable {
        @Parameters(index = "0", paramLabel = "NAME") String name;
        @Parameters(index = "1..*", paramLabel = "CMD") List<String> command = new ArrayList<>();
        @Option(names = "--user", paramLabel = "USER") String user;

        @Override
        public void run() {}
    }

    @TempDir Path tmp;

    @Test
    void aNamePositionalCompletesTheSandboxesWithALivePidAndNothingElse() throws Exception {
        Path runtime = Files.createDirectory(tmp.resolve("runtime"));
        String live = Long.toString(ProcessHandle.current().pid());
        entry(runtime, "web", live);
        entry(runtime, "db", live);
        entry(runtime, "stale", "4194305"); // above the kernel's largest pid_max: never a live process
        entry(runtime, "torn", "12ab");
        entry(runtime, ".web2.new-x1y2", live); // being born: hidden
        entry(runtime, "web@exec-42", live); // an exec session inside web, not a sandbox
        Files.createDirectory(runtime.resolve("starting")); // no pid file yet
        Files.writeString(runtime.resolve("plain-file"), "");

        Bash bash = complete(runtime, List.of(
                List.of("sandbox", "exec", ""),
                List.of("sandbox", "exec", "w"),
                List.of("sandbox", "exec", "--user", "root", ""),
                List.of("sandbox", "--plugins-dir", "/plugins", "exec", ""),
                List.of("sandbox", "exec", "web", "")));

        assertEquals("", bash.err(), "the script runs without errors");
        List<String> lines = bash.out().lines().toList();
        assertEquals(5, lines.size(), bash.out());
        assertEquals("db web", lines.get(0), "the running sandboxes");
        assertEquals("web", lines.get(1), "filtered by the word typed");
        assertEquals("db web", lines.get(2), "an option's value is not a positional");
        assertEquals("db web", lines.get(3), "an option before the verb is skipped");
        assertEquals("", lines.get(4), "the word after NAME is CMD: no names there");
    }

    @Test
    void withoutARuntimeDirectoryThereAreNoNamesAndNoErrors() throws Exception {
        Bash bash = complete(tmp.resolve("missing"), List.of(List.of("sandbox", "exec", "")));
        assertEquals("", bash.err());
        assertEquals(List.of(""), bash.out().lines().toList());
    }

    @Test
    void theRealCliMarksEveryVerbThatTakesASandboxNameSoThatItCompletesNames() {
        // the verbs the roadmap gives a sandbox name; each one that exists must label it NAME
        CommandLine cli = new CommandLine(new Main(new PrintWriter(new StringWriter()), new PrintWriter(new StringWriter()), Map.of()));
        for (String verb : List.of("exec", "down", "logs", "inspect", "wait")) {
            CommandLine sub = cli.getSubcommands().get(verb);
            if (sub == null) continue;
            var positionals = sub.getCommandSpec().positionalParameters();
            assertTrue(!positionals.isEmpty() && positionals.get(0).paramLabel().equals(CompletionScript.NAME_LABEL),
                    "sandbox " + verb + ": label its sandbox-name parameter " + CompletionScript.NAME_LABEL + " (completion of running names)");
        }
        String script = CompletionScript.generate(cli);
        assertTrue(script.contains("rules=(0:0:spec)"), "up/validate/plan complete spec files");
    }

    private static void entry(Path runtime, String name, String pid) throws IOException {
        Path dir = Files.createDirectory(runtime.resolve(name));
        Files.writeString(dir.resolve("pid"), pid + "\n");
    }

    record Bash(String out, String err) {}

    /** Sources the script generated for Main plus {@link ExecLike} and completes each word list, one output line each. */
    private Bash complete(Path runtime, List<List<String>> lines) throws Exception {
        assumeTrue(Files.isExecutable(Path.of("/bin/bash")), "bash is not installed");
        CommandLine cli = new CommandLine(new Main(new PrintWriter(new StringWriter()), new PrintWriter(new StringWriter()), Map.of()));
        if (!cli.getSubcommands().containsKey("exec")) cli.addSubcommand("exec", new ExecLike());
        Path script = Files.writeString(tmp.resolve("sandbox.bash"), CompletionScript.generate(cli));
        StringBuilder test = new StringBuilder();
        test.append("source ").append(script).append('\n');
        // compopt works only inside a completion bash started itself; these calls are the function's, not readline's
        test.append("compopt() { :; }\n");
        test.append("t() { COMP_WORDS=(\"$@\"); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); COMP_LINE=\"$*\"; COMP_POINT=${#COMP_LINE};"
                + " COMPREPLY=(); _sandbox_complete; printf '%s\\n' \"$(printf '%s\\n' \"${COMPREPLY[@]}\" | sort | tr '\\n' ' ' | sed 's/ $//')\"; }\n");
        for (List<String> words : lines) {
            test.append('t');
            for (String w : words) test.append(" '").append(w).append('\'');
            test.append('\n');
        }
        ProcessBuilder pb = new ProcessBuilder("/bin/bash", "--noprofile", "--norc", "-c", test.toString());
        pb.environment().put("SANDBOX_RUNTIME_DIR", runtime.toString());
        pb.directory(tmp.toFile());
        Process p = pb.start();
        p.getOutputStream().close();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(30, TimeUnit.SECONDS), "bash did not finish");
        assertEquals(0, p.exitValue(), out + err);
        return new Bash(out, err);
    }
}
