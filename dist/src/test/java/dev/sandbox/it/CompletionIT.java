package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.sandbox.api.Caller;
import dev.sandbox.engine.runtime.RuntimePaths;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@code sandbox completion bash|zsh} as a user gets it: the distribution prints the script, a real
 * bash (and zsh, when installed) sources it, and the completion function is called the way readline
 * calls it, with COMP_WORDS / COMP_CWORD / COMP_LINE set. Names of running sandboxes come from a real
 * sandbox's runtime directory.
 */
class CompletionIT {

    /** Verbs that take the name of a running sandbox, as they arrive (NAME positional, docs/cli.md#completion). */
    static final List<String> NAME_VERBS = List.of("exec", "down", "logs", "inspect", "wait");

    private static SpecDir dir;
    private static Path bashScript;
    private static List<String> verbs;

    @BeforeAll
    static void theScriptAndTheVerbs() throws IOException {
        dir = new SpecDir();
        Cli.Result script = Cli.run("completion", "bash");
        assertEquals(0, script.exit(), script.toString());
        assertEquals("", script.err(), script.toString());
        bashScript = dir.write("sandbox.bash", script.out());
        verbs = ManPageIT.verbs();
    }

    @AfterAll
    static void removeTheScript() {
        if (dir != null) dir.close();
    }

    @Test
    void sourcingTheBashScriptRegistersTheCompletionOfSandbox() {
        // the issue's check, word for word (a process substitution of the real launcher)
        Shell r = shell(List.of("bash", "-c", "source <(" + Cli.DIST.resolve("bin/sandbox") + " completion bash); complete -p sandbox"),
                Map.of(), dir.dir);
        assertEquals(0, r.exit(), r.toString());
        assertEquals("complete -o default -F _sandbox_complete sandbox", r.out().strip(), r.toString());
    }

    @Test
    void tabAfterSandboxOffersEveryVerb() {
        assertTrue(verbs.containsAll(List.of("validate", "plan", "up", "schema", "plugins", "completion")), verbs.toString());
        Map<String, String> got = complete(Map.of(), dir.dir, List.of("sandbox", ""), List.of("sandbox", "--plugins-dir", "/x", ""));
        assertEquals(sorted(verbs), got.get("sandbox "), "sandbox <TAB>");
        assertEquals(sorted(verbs), got.get("sandbox --plugins-dir /x "), "after a global option");
    }

    @Test
    void tabAfterUpValidateOrPlanOffersYamlFilesAndDirectoriesOnly() throws IOException {
        try (SpecDir cwd = new SpecDir()) {
            cwd.write("web.yaml", "");
            cwd.write("db.yml", "");
            cwd.write("notes.txt", "");
            cwd.write("build.sh", "");
            Files.createDirectories(cwd.dir.resolve("specs"));
            Map<String, String> got = complete(Map.of(), cwd.dir,
                    List.of("sandbox", "up", ""),
                    List.of("sandbox", "validate", ""),
                    List.of("sandbox", "plan", "--format", "json", ""),
                    List.of("sandbox", "up", "-v", "--stop-timeout", "3", "w"),
                    List.of("sandbox", "up", "--"),
                    List.of("sandbox", "validate", "--format", ""));
            assertEquals("db.yml specs web.yaml", got.get("sandbox up "));
            assertEquals("db.yml specs web.yaml", got.get("sandbox validate "));
            assertEquals("db.yml specs web.yaml", got.get("sandbox plan --format json "), "an option's value is no positional");
            assertEquals("web.yaml", got.get("sandbox up -v --stop-timeout 3 w"));
            assertTrue(got.get("sandbox up --").contains("--stop-timeout"), "options still come from picocli: " + got);
            assertEquals("json text", got.get("sandbox validate --format "), "option values too");
        }
    }

    @Test
    void aRunningSandboxIsOfferedByNameAndGoneOnceItEnds() throws IOException {
        assumeTrue(Cli.isRoot(), "starts a sandbox in root's runtime directory, /run/sandbox");
        String name = "complit-" + ProcessHandle.current().pid();
        try (SpecDir specs = new SpecDir()) {
            Path spec = specs.spec(name + ".yaml", Specs.isolated("", "[/bin/sh, -c, 'trap \"exit 0\" TERM; echo ready; sleep 60 & wait']"));
            Map<String, String> env = new LinkedHashMap<>();
            try (LaunchedSandbox run = LaunchedSandbox.start("up", spec.toString())) {
                run.awaitOut("ready", Duration.ofSeconds(60));
                // what the shell lists, no JVM involved: root's runtime directory, /run/sandbox
                assertTrue(names(env).contains(name), "running: " + names(env) + "\n" + run);
                for (String verb : NAME_VERBS) {
                    List<String> words = List.of("sandbox", verb, name.substring(0, name.length() - 2));
                    String offered = complete(env, dir.dir, words).get(String.join(" ", words));
                    if (verbs.contains(verb)) {
                        assertEquals(name, offered, "sandbox " + verb + " <TAB> completes running names");
                    } else {
                        // not a verb (yet): picocli's function answers, nothing breaks
                        assertEquals("", offered, "sandbox " + verb + " (no such verb) <TAB>");
                    }
                }
                run.signal("TERM");
                run.awaitExit(Duration.ofSeconds(30));
            }
            assertFalse(names(env).contains(name), "ended: " + names(env));
        }
    }

    @Test
    void onlyEntriesWithALiveProcessAreNames() throws IOException {
        try (SpecDir runtime = new SpecDir()) {
            String live = Long.toString(ProcessHandle.current().pid());
            runtime.write("alpha/pid", live + "\n");
            runtime.write("beta/pid", live + "\n");
            runtime.write("gone/pid", "4194305\n"); // above the largest pid_max: no such process
            runtime.write(".alpha2.new-abc/pid", live + "\n"); // being created
            Files.createDirectories(runtime.dir.resolve("starting")); // no pid yet
            assertEquals(List.of("alpha", "beta"), names(Map.of("SANDBOX_RUNTIME_DIR", runtime.dir.toString())));
            assertEquals(List.of(), names(Map.of("SANDBOX_RUNTIME_DIR", runtime.dir.resolve("missing").toString())));
        }
    }

    @Test
    void theShellLooksWhereSandboxPutsRuntimeDirectories() throws IOException {
        assumeTrue(Cli.isRoot(), "runs the function as root and as the unprivileged user " + RootlessIT.USER);
        Caller root = new Caller(0, 0, "root");
        assertEquals(RuntimePaths.base(root, Map.of()).toString(), base(List.of(), Map.of()));
        assertEquals(RuntimePaths.base(root, Map.of("SANDBOX_RUNTIME_DIR", "/srv/rt")).toString(),
                base(List.of(), Map.of("SANDBOX_RUNTIME_DIR", "/srv/rt")));

        assumeTrue(ItHost.run("sh", "-c", "command -v runuser").exit() == 0, "runuser (util-linux) is missing");
        ItHost.ensureUser(RootlessIT.USER); // kept for later runs
        String uid = ItHost.must("id", "-u", RootlessIT.USER).out().strip();
        List<String> asUser = List.of("runuser", "-u", RootlessIT.USER, "--", "env", "-u", "XDG_RUNTIME_DIR", "-u", "SANDBOX_RUNTIME_DIR");
        try (SpecDir xdg = new SpecDir()) {
            ItHost.must("chown", uid, xdg.dir.toString());
            // RuntimePaths decides writability as the caller; the test JVM is root, so the user's cases are spelled out
            assertEquals(xdg.dir + "/sandbox", base(asUser, Map.of("XDG_RUNTIME_DIR", xdg.dir.toString())), "a writable XDG_RUNTIME_DIR");
            assertEquals("/tmp/sandbox-" + uid, base(asUser, Map.of("XDG_RUNTIME_DIR", "/")), "an XDG_RUNTIME_DIR the user can't write");
            assertEquals("/tmp/sandbox-" + uid, base(asUser, Map.of()), "no XDG_RUNTIME_DIR");
            assertEquals("/srv/rt", base(asUser, Map.of("SANDBOX_RUNTIME_DIR", "/srv/rt")), "the override");
        }
    }

    @Test
    void zshRunsTheSameScriptThroughBashcompinit() {
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/zsh")), "zsh is not installed (.ci/run installs it)");
        Cli.Result script = Cli.run("completion", "zsh");
        assertEquals(0, script.exit(), script.toString());
        Path zshScript = dir.write("sandbox.zsh", script.out());
        try (SpecDir cwd = new SpecDir()) {
            cwd.write("web.yaml", "");
            cwd.write("notes.txt", "");
            // zsh's compgen (bashcompinit) calls the function with ksharrays on, as a real TAB does; PREFIX stands for the word typed
            String test = """
                    autoload -U +X compinit && compinit -u
                    source %s
                    print -r -- "registered: $_comps[sandbox]"
                    t() { local -a got
                          COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); COMP_LINE="$*"; words=("$@"); CURRENT=$#; PREFIX=${@[-1]}
                          got=( ${(f)"$(compgen -F _sandbox_complete -- "${@[-1]}")"} )
                          print -r -- "$* -> ${(j: :)${(@o)got}}"; }
                    t sandbox ''
                    t sandbox up ''
                    t sandbox validate --format ''
                    """.formatted(zshScript);
            Shell r = shell(List.of("/usr/bin/zsh", "-f", "-c", test), Map.of(), cwd.dir);
            assertEquals(0, r.exit(), r.toString());
            assertEquals("", r.err(), r.toString());
            List<String> lines = r.out().lines().toList();
            assertEquals("registered: _bash_complete -F _sandbox_complete -o default", lines.get(0), r.toString());
            assertEquals("sandbox  -> " + sorted(verbs), lines.get(1), r.toString());
            assertEquals("sandbox up  -> web.yaml", lines.get(2), r.toString());
            assertEquals("sandbox validate --format  -> json text", lines.get(3), r.toString());
        }
    }

    // ---------------------------------------------------------------------------------------------

    record Shell(int exit, String out, String err) {
        @Override
        public String toString() {
            return "exit " + exit + "\n--- stdout\n" + out + "--- stderr\n" + err;
        }
    }

    /**
     * Completes each word list in one bash that sourced the distribution's script, as readline would
     * (the last word is the one under the cursor); returns "words joined by spaces" → the sorted
     * candidates joined by spaces.
     */
    @SafeVarargs
    private static Map<String, String> complete(Map<String, String> env, Path cwd, List<String>... lines) {
        StringBuilder test = new StringBuilder("source ").append(bashScript).append('\n');
        // outside a real TAB, bash's compopt refuses ("not currently executing completion function"); the calls are no test subject
        test.append("compopt() { :; }\n");
        test.append("t() { COMP_WORDS=(\"$@\"); COMP_CWORD=$(( $# - 1 )); COMP_LINE=\"$*\"; COMP_POINT=${#COMP_LINE}; COMPREPLY=();")
                .append(" _sandbox_complete; printf '%s\\n' \"$(printf '%s\\n' \"${COMPREPLY[@]}\" | LC_ALL=C sort | tr '\\n' ' ' | sed 's/ *$//')\"; }\n");
        for (List<String> words : lines) {
            test.append('t');
            for (String w : words) test.append(" '").append(w).append('\'');
            test.append('\n');
        }
        Shell r = shell(List.of("bash", "--noprofile", "--norc", "-c", test.toString()), env, cwd);
        assertEquals(0, r.exit(), r.toString());
        assertEquals("", r.err(), "the script runs without errors\n" + r);
        List<String> out = r.out().lines().toList();
        assertEquals(lines.length, out.size(), r.toString());
        Map<String, String> got = new LinkedHashMap<>();
        for (int i = 0; i < lines.length; i++) got.put(String.join(" ", lines[i]), out.get(i));
        return got;
    }

    /** What {@code _sandbox_running_names} prints, sorted. */
    private static List<String> names(Map<String, String> env) {
        Shell r = shell(List.of("bash", "--noprofile", "--norc", "-c", "source " + bashScript + "; _sandbox_running_names"), env, dir.dir);
        assertEquals(0, r.exit(), r.toString());
        assertEquals("", r.err(), r.toString());
        return r.out().lines().sorted().toList();
    }

    /** What {@code _sandbox_runtime_base} prints, run behind {@code prefix} (e.g. runuser) with {@code env} added. */
    private static String base(List<String> prefix, Map<String, String> env) {
        List<String> cmd = new ArrayList<>(prefix);
        if (prefix.isEmpty()) cmd.addAll(List.of("env", "-u", "XDG_RUNTIME_DIR", "-u", "SANDBOX_RUNTIME_DIR"));
        env.forEach((k, v) -> cmd.add(k + "=" + v));
        cmd.addAll(List.of("bash", "--noprofile", "--norc", "-c", "source " + bashScript + "; _sandbox_runtime_base"));
        Shell r = shell(cmd, Map.of(), Path.of("/"));
        assertEquals(0, r.exit(), r.toString());
        return r.out().strip();
    }

    private static String sorted(List<String> words) {
        return new TreeSet<>(words).stream().collect(Collectors.joining(" "));
    }

    private static Shell shell(List<String> cmd, Map<String, String> env, Path cwd) {
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(cwd.toFile());
        pb.environment().remove("SANDBOX_RUNTIME_DIR");
        pb.environment().putAll(env);
        pb.redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        try {
            Path out = Files.createTempFile("sandbox-it-shell", ".out");
            Path err = Files.createTempFile("sandbox-it-shell", ".err");
            try {
                pb.redirectOutput(out.toFile());
                pb.redirectError(err.toFile());
                Process p = pb.start();
                if (!p.waitFor(60, TimeUnit.SECONDS)) {
                    p.destroyForcibly();
                    p.waitFor();
                    throw new AssertionError(String.join(" ", cmd) + " did not finish in 60 s");
                }
                return new Shell(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8), Files.readString(err, StandardCharsets.UTF_8));
            } finally {
                Files.deleteIfExists(out);
                Files.deleteIfExists(err);
            }
        } catch (IOException e) {
            throw new AssertionError("could not run " + Arrays.toString(cmd.toArray()), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }
}
