package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The distribution's man pages (share/man/man1, generated from the CLI definition at build time):
 * one for sandbox and one per verb, valid troff that man(1) renders, found by {@code man sandbox}
 * when the distribution's bin/ is on PATH.
 */
class ManPageIT {

    static final Path MAN1 = Cli.DIST.resolve("share/man/man1");

    @Test
    void thereIsAPageForSandboxAndForEveryVerbOfTheHelp() throws IOException {
        List<String> expected = new ArrayList<>(List.of("sandbox.1"));
        for (String verb : verbs()) expected.add("sandbox-" + verb + ".1");
        List<String> present;
        try (Stream<Path> files = Files.list(MAN1)) {
            present = files.map(p -> p.getFileName().toString()).sorted().toList();
        }
        assertEquals(expected.stream().sorted().toList(), present);
    }

    @Test
    void manRendersTheMainPageWithEveryVerb() {
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/man")), "man-db is not installed (.ci/run installs it)");
        Run r = run(List.of("man", "-l", MAN1.resolve("sandbox.1").toString()), Map.of("MANWIDTH", "100", "MANPAGER", "cat", "LC_ALL", "C.UTF-8"));
        assertEquals(0, r.exit(), r.toString());
        String page = r.out();
        assertTrue(page.contains("sandbox - Build a Linux sandbox from a YAML spec"), "NAME section: " + page);
        assertTrue(page.contains("SYNOPSIS") && page.contains("COMMANDS"), page);
        for (String verb : verbs()) {
            assertTrue(page.lines().anyMatch(l -> l.strip().equals(verb)), "the page lists " + verb + ":\n" + page);
        }
    }

    @Test
    void everyPageIsTroffThatGroffFormatsWithoutAWarning() throws IOException {
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/groff")), "groff is not installed (groff-base; .ci/run installs it)");
        try (Stream<Path> files = Files.list(MAN1)) {
            for (Path page : files.toList()) {
                // -ww: every warning; -z: no output, only the diagnostics
                Run r = run(List.of("groff", "-man", "-Tutf8", "-z", "-ww", page.toString()), Map.of());
                assertEquals(0, r.exit(), page + ": " + r);
                assertEquals("", r.err(), page + ": groff warns");
                assertTrue(Files.readString(page).contains(".TH \"SANDBOX"), page + " has a .TH title line");
            }
        }
    }

    @Test
    void manSandboxFindsTheDistributionsPageWhenItsBinIsOnThePath() {
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/man")), "man-db is not installed (.ci/run installs it)");
        // man-db derives its search path from PATH: DIR/bin -> DIR/share/man (no MANPATH set)
        Run r = run(List.of("env", "-u", "MANPATH", "PATH=" + Cli.DIST.resolve("bin") + ":/usr/bin:/bin", "man", "-w", "sandbox", "sandbox-up"), Map.of());
        assertEquals(0, r.exit(), r.toString());
        assertEquals(List.of(MAN1.resolve("sandbox.1").toString(), MAN1.resolve("sandbox-up.1").toString()), r.out().lines().toList());
    }

    // ---------------------------------------------------------------------------------------------

    /** The verbs {@code sandbox --help} lists under "Commands:". */
    static List<String> verbs() {
        Cli.Result help = Cli.run("--help");
        assertEquals(0, help.exit(), help.toString());
        List<String> out = new ArrayList<>();
        boolean inCommands = false;
        for (String line : help.out().lines().toList()) {
            if (line.equals("Commands:")) inCommands = true;
            else if (inCommands && line.matches("  [a-z][a-z-]*( .*)?")) out.add(line.strip().split(" ")[0]);
            else if (inCommands && !line.startsWith("   ")) inCommands = false;
        }
        assertTrue(out.contains("up"), "sandbox --help lists its verbs: " + help);
        return out;
    }

    record Run(int exit, String out, String err) {
        @Override
        public String toString() {
            return "exit " + exit + "\n--- stdout\n" + out + "--- stderr\n" + err;
        }
    }

    private static Run run(List<String> cmd, Map<String, String> env) {
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.environment().putAll(env);
        pb.redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        try {
            Process p = pb.start();
            // small outputs: read both, then wait
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(60, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new AssertionError(String.join(" ", cmd) + " did not finish in 60 s");
            }
            return new Run(p.exitValue(), out, err);
        } catch (IOException e) {
            throw new AssertionError("could not run " + cmd, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }
}
