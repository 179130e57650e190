package dev.sandbox.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Usage errors are one line and exit 2, never the whole usage text (issue 9, docs/cli.md "Exit codes"). */
class UsageErrorTest {

    private record Result(int exit, String out, String err) {}

    private static Result run(String... args) {
        StringWriter out = new StringWriter(), err = new StringWriter();
        int exit = Main.run(args, new PrintWriter(out, true), new PrintWriter(err, true), Map.of());
        return new Result(exit, out.toString(), err.toString());
    }

    private static void oneLine(Result r, String expected) {
        assertEquals(2, r.exit(), r::toString);
        assertEquals("", r.out(), r::toString);
        assertEquals(1, r.err().lines().count(), r::toString);
        assertEquals(expected, r.err().strip(), r::toString);
    }

    @Test
    void anUnknownCommandIsOneLineWithTheClosestOne() {
        oneLine(run("validat", "x.yaml"), "sandbox: unknown command 'validat' (did you mean 'validate'?); 'sandbox --help' shows the usage");
        oneLine(run("psx"), "sandbox: unknown command 'psx' (did you mean 'ps'?); 'sandbox --help' shows the usage");
        Result bogus = run("bogus");
        assertEquals(2, bogus.exit(), bogus::toString);
        assertTrue(bogus.err().startsWith("sandbox: unknown command 'bogus'") && bogus.err().lines().count() == 1, bogus::toString);
    }

    @Test
    void anUnknownOptionOrAMissingArgumentOfAVerbIsOneLine() {
        oneLine(run("inspect", "--bogus", "x"), "sandbox inspect: unknown option '--bogus'; 'sandbox inspect --help' shows the usage");
        oneLine(run("exec", "--bogus", "x"), "sandbox exec: unknown option '--bogus'; 'sandbox exec --help' shows the usage");
        oneLine(run("validate"), "sandbox validate: Missing required parameter: 'SPEC'; 'sandbox validate --help' shows the usage");
    }
}
