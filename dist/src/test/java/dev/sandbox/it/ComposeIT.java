package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Composition and variables through the packaged launcher: include with its merge rule and located
 * diagnostics, ${VAR} from the environment and --env-file on every verb (up's fast path and picocli's),
 * and {@code sandbox config}.
 */
class ComposeIT {

    private SpecDir specs;
    private final String name = "compose-it-" + ProcessHandle.current().pid();
    /** no plan cache: each up compiles (the cache has its own IT) */
    private static final Map<String, String> NO_CACHE = Map.of("SANDBOX_NO_CACHE", "1");

    @BeforeEach
    void setUp() {
        specs = new SpecDir();
        specs.write("base/system.yaml", """
                x-ro: &ro {type: bind, readonly: true}
                namespaces:
                  user: {}
                  uts: {hostname: base-host}
                  mount:
                    mounts:
                      - {<<: *ro, source: /usr, target: /usr}
                    masks: [/proc/kcore]
                process:
                  env: {FROM_BASE: base}
                  command: [/bin/false]
                """);
    }

    @AfterEach
    void tearDown() {
        specs.close();
    }

    private Path web(String extra) {
        return specs.spec("web.yaml", "name: " + name + "\ninclude: [base/system.yaml]\n" + extra);
    }

    private static Cli.Result sandbox(Map<String, String> env, String... args) {
        java.util.HashMap<String, String> all = new java.util.HashMap<>(NO_CACHE);
        all.putAll(env);
        return Cli.run(List.of(), all, args);
    }

    @Test
    void upRunsTheMergedSpecWithVariablesAndTheShellsOwnDollarsUntouched() {
        Path web = web("""
                namespaces:
                  pid: {}
                  uts: {hostname: '${COMPOSE_IT_HOST:-web-host}'}
                process:
                  env: {GREETING: '${COMPOSE_IT_GREETING:?say hello}'}
                  command: [/bin/sh, -c, 'echo "$GREETING $(hostname) $FROM_BASE pid=$$ shell=$${FROM_BASE} arg=$1"', sh, one]
                """);
        Cli.Result r = sandbox(Map.of("COMPOSE_IT_GREETING", "hi"), "up", web.toString());
        assertEquals(0, r.exit(), r.toString());
        // the command replaced the base's; env merged; $$, $1 and $(...) are the shell's; $${FROM_BASE} reached the
        // shell as ${FROM_BASE} (sandbox would have refused it as an unset variable otherwise)
        assertEquals("hi web-host base pid=1 shell=base arg=one", r.out().strip(), r.toString());
    }

    @Test
    void anUnsetRequiredVariableStopsUpWithALocatedErrorAndItsMessage() {
        Path web = web("process:\n  env: {GREETING: '${COMPOSE_IT_GREETING:?say hello}'}\n  command: [/bin/true]\n");
        Cli.Result r = sandbox(Map.of(), "up", web.toString());
        assertEquals(125, r.exit(), r.toString());
        assertTrue(r.err().contains(web + ":6:19: error[spec.required-variable]: the variable COMPOSE_IT_GREETING is not set: say hello"),
                r.toString());
        assertFalse(r.err().contains("Exception"), r.toString());
    }

    @Test
    void envFilesWorkForEveryVerbAndOnBothPathsOfUp() {
        Path env = specs.write("web.env", "# the host name\nCOMPOSE_IT_HOST=\"from-file\"\n");
        Path web = web("namespaces:\n  uts: {hostname: '${COMPOSE_IT_HOST}'}\nprocess:\n  command: [/bin/hostname]\n");
        Cli.Result missing = sandbox(Map.of(), "validate", web.toString());
        assertEquals(1, missing.exit(), missing.toString());
        assertTrue(missing.out().contains("error[spec.unset-variable]: the variable COMPOSE_IT_HOST is not set"), missing.toString());

        assertEquals(0, sandbox(Map.of(), "validate", "--env-file", env.toString(), web.toString()).exit());
        Cli.Result plan = sandbox(Map.of(), "plan", "--env-file", env.toString(), web.toString());
        assertEquals(0, plan.exit(), plan.toString());
        assertTrue(plan.out().contains("from-file"), plan.toString());
        Cli.Result config = sandbox(Map.of(), "config", "--env-file", env.toString(), web.toString());
        assertTrue(config.out().contains("hostname: \"from-file\""), config.toString());
        Cli.Result fast = sandbox(Map.of(), "up", "--env-file", env.toString(), web.toString());
        assertEquals("from-file", fast.out().strip(), fast.toString());
        // a global option first: the full command line (picocli) instead of up's fast path
        Cli.Result full = sandbox(Map.of(), "--stacktrace", "up", "--env-file=" + env, web.toString());
        assertEquals("from-file", full.out().strip(), full.toString());
        Cli.Result wins = sandbox(Map.of("COMPOSE_IT_HOST", "from-environment"), "up", "--env-file", env.toString(), web.toString());
        assertEquals("from-environment", wins.out().strip(), "the environment wins over the file, as in compose: " + wins);

        Cli.Result bad = sandbox(Map.of(), "validate", "--env-file", specs.dir.resolve("nope.env").toString(), web.toString());
        assertEquals(1, bad.exit(), bad.toString());
        assertTrue(bad.out().contains("nope.env:1:1: error[env-file.not-found]"), bad.toString());
    }

    @Test
    void configPrintsTheResolvedSpecWhichLoadsToItself() throws Exception {
        Path web = web("""
                x-anchors: {a: &cmd [/bin/sh, -c, 'echo $${HOME} $$']}
                namespaces:
                  mount:
                    mounts: [{type: tmpfs, target: /tmp}]
                    masks: !reset []
                  net:
                    loopback: ${COMPOSE_IT_LOOPBACK:-true}
                process:
                  command: *cmd
                """);
        Cli.Result r = sandbox(Map.of(), "config", web.toString());
        assertEquals(0, r.exit(), r.toString());
        String yaml = r.out();
        assertFalse(yaml.contains("include") || yaml.contains("x-"), yaml);
        assertTrue(yaml.contains("loopback: true"), "typed by YAML's rules: " + yaml);
        assertTrue(yaml.contains("- \"echo $${HOME} $$\""), "a literal ${ is written $${ so that the output loads to itself: " + yaml);
        assertTrue(yaml.contains("masks: []"), yaml);
        Path again = specs.write("resolved.yaml", yaml);
        Cli.Result second = sandbox(Map.of(), "config", again.toString());
        assertEquals(yaml, second.out(), "config of config's output is the same");

        Cli.Result json = sandbox(Map.of(), "config", "--format", "json", web.toString());
        assertEquals(0, json.exit(), json.toString());
        JsonNode tree = new ObjectMapper().readTree(json.out());
        assertEquals(List.of("/usr", "/tmp"), List.of(tree.at("/namespaces/mount/mounts/0/target").asText(),
                tree.at("/namespaces/mount/mounts/1/target").asText()), "lists append, the base's first");
        assertEquals("base", tree.at("/process/env/FROM_BASE").asText());
    }

    @Test
    void configOfAnInvalidSpecIsExit1WithLocatedDiagnosticsAndTheIncludeChain() {
        specs.write("base/bad.yaml", "namespaces:\n  uts: {hostname: 'bad name'}\n");
        Path web = specs.spec("bad-web.yaml", "include:\n  - base/bad.yaml\nprocess:\n  command: [/bin/true]\n");
        Cli.Result r = sandbox(Map.of(), "config", web.toString());
        assertEquals(1, r.exit(), r.toString());
        assertEquals("", r.out());
        assertTrue(r.err().contains(specs.dir.resolve("base/bad.yaml") + ":2:19: error[uts.hostname-invalid]"), r.toString());
        assertTrue(r.err().contains("\n  included from " + web + ":5:5\n"), r.toString());
    }

    @Test
    void theVethLabExampleRunsWithAnotherLinkAndAddressesChosenByVariables() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(Cli.isRoot(), "a veth in the host's network namespace needs root");
        String link = "sbc" + (ProcessHandle.current().pid() % 100000);
        Path env = specs.write("lab.env", "LAB_NAME=" + name + "-lab\nLAB_LINK=" + link + "\nLAB_ADDRESS=198.18.0.10/30\n"
                + "LAB_HOST_ADDRESS=198.18.0.9/30\nLAB_GATEWAY=198.18.0.9\nLAB_MTU=1300\n");
        try {
            Cli.Result plan = sandbox(Map.of(), "plan", "--env-file", env.toString(), Cli.ROOT.resolve("examples/veth-lab.yaml").toString());
            assertTrue(plan.out().contains(link) && plan.out().contains("198.18.0.9/30"), plan.toString());
            Cli.Result r = sandbox(Map.of(), "up", "--env-file", env.toString(), Cli.ROOT.resolve("examples/veth-lab.yaml").toString());
            assertEquals(0, r.exit(), r.toString());
            assertEquals(List.of("1300", "host reachable over eth0"), r.out().lines().toList(), "the mtu is a number, the gateway answers");
            assertFalse(java.nio.file.Files.exists(Path.of("/sys/class/net", link)), "the host end is removed");
        } finally {
            if (java.nio.file.Files.exists(Path.of("/sys/class/net", link))) {
                new ProcessBuilder("ip", "link", "delete", link).inheritIO().start().waitFor();
            }
        }
    }

    @Test
    void aCycleOfIncludesIsALocatedErrorNotAHang() {
        specs.write("a.yaml", "include: [b.yaml]\n");
        specs.write("b.yaml", "include: [a.yaml]\n");
        Cli.Result r = sandbox(Map.of(), "validate", specs.dir.resolve("a.yaml").toString());
        assertEquals(1, r.exit(), r.toString());
        assertTrue(r.out().contains(specs.dir.resolve("b.yaml") + ":1:11: error[spec.include-cycle]"), r.toString());
        assertTrue(r.out().contains("  included from " + specs.dir.resolve("a.yaml") + ":1:11"), r.toString());
    }
}
