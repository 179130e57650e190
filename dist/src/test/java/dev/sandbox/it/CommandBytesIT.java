package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Issue 8, "arguments are bytes": the command after {@code --} reaches the target byte for byte, whatever the locale,
 * through a compiled plan and through the cached one. The bytes are made by the shell ({@code printf '\377'}): a Java
 * test can't put them into a process's argv itself.
 */
class CommandBytesIT {

    /** sh -c '... exec "$@" <ff fe 2d 72 61 77> <63 61 66 c3 a9>' sh bin/sandbox up SPEC -- sh -c 'od of $1 $2' sh */
    static final List<String> WITH_BYTES = List.of("sh", "-c", "exec \"$@\" \"$(printf '\\377\\376-raw')\" \"$(printf 'caf\\303\\251')\"", "sh");

    private SpecDir specs;

    @BeforeEach
    void setUp() {
        assumeTrue(Cli.isRoot(), "the spec creates namespaces; that needs root (like CI)");
        specs = new SpecDir();
    }

    @AfterEach
    void tearDown() {
        if (specs != null) specs.close();
        ItHost.assertNothingLeftOf("fsit-bytes");
    }

    private Cli.Result run(Path spec, Map<String, String> env, String... args) {
        return Cli.run(WITH_BYTES, env, args);
    }

    @Test
    void argumentsThatAreNotUtf8ReachTheTargetUnchangedCompiledAndCached() {
        Path spec = specs.spec("fsit-bytes.yaml", Specs.isolated("", "[/bin/true]"));
        String[] up = {"up", spec.toString(), "--", "sh", "-c", "printf %s \"$1\" | od -An -tx1; printf %s \"$2\" | od -An -tx1", "sh"};
        for (Map<String, String> env : List.of(Map.of("SANDBOX_NO_CACHE", "1"), Map.<String, String>of(), Map.<String, String>of(),
                Map.of("LC_ALL", "C"))) {
            Cli.Result r = run(spec, env, up);
            assertEquals(0, r.exit(), () -> env + ": " + r);
            List<String> lines = r.out().lines().map(String::trim).toList();
            assertEquals(List.of("ff fe 2d 72 61 77", "63 61 66 c3 a9"), lines, () -> env + " (LC_ALL=C: even valid UTF-8 was lost): " + r);
        }
    }

    @Test
    void aProgramNamedWithSuchBytesThatIsMissingIsNamedWithThemEscaped() {
        Path spec = specs.spec("fsit-bytes.yaml", Specs.isolated("", "[/bin/true]"));
        // the program after -- is /bin/<ff fe 2d 72 61 77>, which does not exist
        Cli.Result r = Cli.run(List.of("sh", "-c", "exec \"$@\" \"/bin/$(printf '\\377\\376-raw')\"", "sh"), Map.of("SANDBOX_NO_CACHE", "1"),
                "up", spec.toString(), "--");
        assertEquals(127, r.exit(), r::toString);
        assertTrue(r.err().contains("execve /bin/\\xff\\xfe-raw: ENOENT"), r::toString);
    }

    @Test
    void planShowsSuchBytesEscapedInTextAndJson() {
        Path spec = specs.spec("fsit-bytes.yaml", Specs.isolated("", "[/bin/true]"));
        Cli.Result text = run(spec, Map.of(), "plan", spec.toString(), "--", "echo");
        assertEquals(0, text.exit(), text::toString);
        assertTrue(text.out().contains("run echo \\xff\\xfe-raw café"), text::toString);
        Cli.Result json = run(spec, Map.of(), "plan", "--format", "json", spec.toString(), "--", "echo");
        assertEquals(0, json.exit(), json::toString);
        assertTrue(json.out().contains("\"\\udcff\\udcfe-raw\""), json::toString);
    }
}
