package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The compiled-plan cache behind a fast {@code up}: used when nothing changed, never when something did. */
@Warm.Cold("tests which call the JVM compiles and which it serves from its cache (NativeCacheIT: the front's)")
class PlanCacheIT {

    private static final String CACHED = "using the compiled plan cached";

    private SpecDir specs;
    private Map<String, String> env;

    @BeforeEach
    void setUp() throws Exception {
        specs = new SpecDir();
        Path cache = specs.dir.resolve("cache");
        Files.createDirectory(cache, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        env = Map.of("SANDBOX_CACHE_DIR", cache.toString());
    }

    @AfterEach
    void tearDown() {
        specs.close();
    }

    private Cli.Result up(Path spec, String... extra) {
        String[] args = new String[extra.length + 3];
        args[0] = "up";
        args[1] = "-v";
        args[2] = spec.toString();
        System.arraycopy(extra, 0, args, 3, extra.length);
        return Cli.run(List.of(), env, args);
    }

    private Path spec(String hostname) {
        return specs.spec("cached.yaml", """
                namespaces:
                  uts: {hostname: %s}
                  mount:
                    mounts:
                      - {type: bind, source: %s, target: /mnt, readonly: true}
                process:
                  command: [/bin/sh, -c, 'hostname; ls /mnt']
                """.formatted(hostname, specs.dir.resolve("src")));
    }

    @Test
    void aSecondIdenticalUpRunsFromTheCacheAndAnyChangeRecompiles() throws Exception {
        Files.createDirectory(specs.dir.resolve("src"));
        Files.writeString(specs.dir.resolve("src/marker"), "x");
        Path spec = spec("first");

        Cli.Result r = up(spec);
        assertEquals(0, r.exit(), r.toString());
        assertFalse(r.err().contains(CACHED), "the first run compiles: " + r.err());
        assertEquals(List.of("first", "marker"), r.out().lines().toList());

        r = up(spec);
        assertEquals(0, r.exit(), r.toString());
        assertTrue(r.err().contains(CACHED), "the second run uses the cache: " + r.err());
        assertEquals(List.of("first", "marker"), r.out().lines().toList());

        spec("second");
        r = up(spec);
        assertFalse(r.err().contains(CACHED), "a changed spec is compiled again");
        assertEquals("second", r.out().lines().findFirst().orElse(""));

        r = up(spec, "--", "/bin/echo", "override");
        assertFalse(r.err().contains(CACHED), "a command override is part of the key");
        assertEquals("override", r.out().strip());
    }

    private Cli.Result up(Map<String, String> extraEnv, String... args) {
        Map<String, String> all = new java.util.HashMap<>(env);
        all.putAll(extraEnv);
        String[] full = new String[args.length + 2];
        full[0] = "up";
        full[1] = "-v";
        System.arraycopy(args, 0, full, 2, args.length);
        return Cli.run(List.of(), all, full);
    }

    @Test
    void anIncludedFileAReferencedVariableOrAnEnvFileThatChangedRecompilesAnUnreferencedVariableDoesNot() {
        specs.write("base.yaml", "namespaces:\n  uts: {hostname: base-one}\n");
        Path spec = specs.spec("composed.yaml", "name: cache-it-" + ProcessHandle.current().pid() + "\ninclude: [base.yaml]\n"
                + "process:\n  command: [/bin/sh, -c, 'hostname; echo ${CACHE_IT_WORD:-unset}']\n");
        String s = spec.toString();
        Cli.Result r = up(Map.of(), s);
        assertEquals(0, r.exit(), r.toString());
        assertEquals(List.of("base-one", "unset"), r.out().lines().toList());
        r = up(Map.of(), s);
        assertTrue(r.err().contains(CACHED), "nothing changed: " + r);

        specs.write("base.yaml", "namespaces:\n  uts: {hostname: base-two}\n");
        r = up(Map.of(), s);
        assertFalse(r.err().contains(CACHED), "an edited include is compiled again: " + r);
        assertEquals(List.of("base-two", "unset"), r.out().lines().toList());

        r = up(Map.of("CACHE_IT_WORD", "set"), s);
        assertFalse(r.err().contains(CACHED), "a referenced variable that was unset and now is set: " + r);
        assertEquals(List.of("base-two", "set"), r.out().lines().toList());
        r = up(Map.of("CACHE_IT_WORD", "set"), s);
        assertTrue(r.err().contains(CACHED), r.toString());
        r = up(Map.of("CACHE_IT_WORD", "changed"), s);
        assertFalse(r.err().contains(CACHED), "a referenced variable with another value: " + r);
        assertEquals(List.of("base-two", "changed"), r.out().lines().toList());
        r = up(Map.of("CACHE_IT_WORD", "changed", "CACHE_IT_UNREFERENCED", "x"), s);
        assertTrue(r.err().contains(CACHED), "a variable the spec doesn't reference is no reason to recompile: " + r);
        assertEquals(List.of("base-two", "changed"), r.out().lines().toList());

        Path envFile = specs.write("word.env", "CACHE_IT_WORD=from-file\n");
        r = up(Map.of(), "--env-file", envFile.toString(), s);
        assertFalse(r.err().contains(CACHED), r.toString());
        assertEquals(List.of("base-two", "from-file"), r.out().lines().toList());
        r = up(Map.of(), "--env-file", envFile.toString(), s);
        assertTrue(r.err().contains(CACHED), "the same env file: " + r);
        specs.write("word.env", "CACHE_IT_WORD=edited\n");
        r = up(Map.of(), "--env-file", envFile.toString(), s);
        assertFalse(r.err().contains(CACHED), "an edited env file: " + r);
        assertEquals(List.of("base-two", "edited"), r.out().lines().toList());
        r = up(Map.of("CACHE_IT_WORD", "environment"), "--env-file", envFile.toString(), s);
        assertEquals(List.of("base-two", "environment"), r.out().lines().toList(), "the environment wins over an env file");
    }

    @Test
    void aBindSourceThatChangedTypeIsNotServedFromTheCache() throws Exception {
        Path src = specs.dir.resolve("src");
        Files.createDirectory(src);
        Path spec = spec("typed");
        assertEquals(0, up(spec).exit());
        assertTrue(up(spec).err().contains(CACHED));
        Files.delete(src);
        Files.writeString(src, "now a file");
        Cli.Result r = up(spec);
        assertFalse(r.err().contains(CACHED), "the cached plan assumed a directory: " + r.err());
    }

    @Test
    void anEditOfTheSeccompProfileRecompilesThePlan() throws Exception {
        // the profile is compiled into the plan (nothing is read when the sandbox starts): the cache
        // entry records its digest, so an edit must not run the old filter
        Path profile = specs.dir.resolve("profile.json");
        String denyTiocsti = "{\"names\": [\"ioctl\"], \"action\": \"SCMP_ACT_ERRNO\", \"args\": [{\"index\": 1, \"value\": 4294967295,"
                + " \"valueTwo\": 21522, \"op\": \"SCMP_CMP_MASKED_EQ\"}]}";
        Files.writeString(profile, "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [" + denyTiocsti + "]}");
        Path spec = specs.spec("cached-seccomp.yaml", """
                process:
                  command: [/bin/uname, -s]
                  seccomp: ./profile.json
                """);
        Cli.Result r = up(spec);
        assertEquals(0, r.exit(), r.toString());
        assertEquals("Linux", r.out().strip());
        r = up(spec);
        assertTrue(r.err().contains(CACHED), "unchanged profile: the cache is used: " + r.err());
        assertEquals("Linux", r.out().strip());

        Files.writeString(profile, "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [" + denyTiocsti
                + ", {\"names\": [\"uname\"], \"action\": \"SCMP_ACT_ERRNO\"}]}");
        r = up(spec);
        assertFalse(r.err().contains(CACHED), "the profile changed: compiled again: " + r.err());
        assertFalse(r.out().contains("Linux"), "the new filter denies uname(2): " + r);
        assertEquals(1, r.exit(), r.toString());
    }

    @Test
    void warningsAreRepeatedWhenThePlanComesFromTheCache() {
        Path spec = specs.spec("warned.yaml", """
                namespaces:
                  mount:
                    mounts:
                      - {type: proc, target: /proc}
                process:
                  command: [/bin/true]
                """);
        Cli.Result first = up(spec);
        assertEquals(0, first.exit(), first.toString());
        assertTrue(first.err().contains("warning[mount.proc-without-pid-namespace]"), first.err());
        Cli.Result second = up(spec);
        assertTrue(second.err().contains(CACHED), second.err());
        assertTrue(second.err().contains("warning[mount.proc-without-pid-namespace]"), second.err());
    }

    @Test
    void anInvalidSpecIsNeverCached() {
        Path spec = specs.spec("invalid.yaml", """
                namespaces:
                  uts: {hostname: "bad name"}
                process:
                  command: [/bin/true]
                """);
        assertEquals(125, up(spec).exit());
        Cli.Result again = up(spec);
        assertEquals(125, again.exit());
        assertTrue(again.err().contains("uts.hostname-invalid"), again.err());
    }
}
