package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The target keeps the caller's terminal: an interactive bash works on a real pty (util-linux script(1)). */
class TerminalIT {

    @Test
    void anInteractiveBashReadsCommandsFromTheTerminalAndItsExitStatusComesBack() throws Exception {
        assumeTrue(Cli.isRoot(), "runs the distribution in place, which CI (root) can always read");
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/script")), "script(1) from util-linux is missing");
        String sandbox = Cli.DIST.resolve("bin/sandbox") + " up " + Cli.ROOT.resolve("examples/shell.yaml");
        // script gives the launcher a pty as stdin/stdout; bash is then interactive (a prompt, job control)
        Process p = new ProcessBuilder("/usr/bin/script", "-qec", Warm.commandLine(sandbox), "/dev/null").redirectErrorStream(true).start();
        p.getOutputStream().write("echo hi-from-$(hostname)-$(tty >/dev/null && echo tty || echo pty)\nexit 7\n".getBytes(StandardCharsets.UTF_8));
        p.getOutputStream().flush();
        try {
            assertTrue(p.waitFor(60, TimeUnit.SECONDS), "bash ends on 'exit 7'");
        } finally {
            if (p.isAlive()) p.destroyForcibly();
        }
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(out.contains("root@shell:~#"), "an interactive prompt: " + out);
        assertTrue(out.contains("hi-from-shell-"), "the command typed at the prompt ran inside: " + out);
        assertEquals(7, p.exitValue(), out);
    }
}
