package dev.sandbox.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Usage errors are one line with a suggestion and where the help is, exit 2; never the whole usage text (issue 9). */
class UsageErrorTest {

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "psx|sandbox: unknown command 'psx' (did you mean 'ps'?); see 'sandbox --help'",
        "valdate|sandbox: unknown command 'valdate' (did you mean 'validate'?); see 'sandbox --help'",
        "inspcet|sandbox: unknown command 'inspcet' (did you mean 'inspect'?); see 'sandbox --help'",
        "frobnicate|sandbox: unknown command 'frobnicate'; see 'sandbox --help'",
        "plan|sandbox: Missing required parameter: 'SPEC'; see 'sandbox plan --help'",
    })
    void oneLineAndExitTwo(String args, String expected) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = Main.run(args.split(" "), new PrintWriter(out, true), new PrintWriter(err, true), Map.of());
        assertEquals(2, code);
        assertEquals(expected, err.toString().strip());
        assertFalse(err.toString().contains("Usage:"), err::toString);
    }
}
