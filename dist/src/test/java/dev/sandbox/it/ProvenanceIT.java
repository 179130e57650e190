package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Provenance of a running sandbox (issue 11): {@code up} records the spec's repository, path and git blob id in
 * state.json (no git library on its path), {@code ps --format json} shows them as recorded, {@code inspect} resolves
 * the commit and whether the file that ran had uncommitted changes. Real repositories made with the git CLI; real
 * detached sandboxes ({@code up -d}, a {@code sleep} target), each named {@code prov-*} and removed in a finally block.
 */
class ProvenanceIT {

    static final ObjectMapper JSON = new ObjectMapper();

    private SpecDir repo;
    private SpecDir other;
    private final Map<String, String> env = new HashMap<>(GitIT.GIT_ENV);
    private final List<String> started = new ArrayList<>();
    private final String prefix = "prov-" + ProcessHandle.current().pid() + "-";

    @BeforeEach
    void init() throws IOException {
        assumeTrue(Cli.isRoot(), "detached sandboxes of every namespace: as root");
        repo = new SpecDir();
        other = new SpecDir();
        Path cache = other.dir.resolve("cache");
        Files.createDirectory(cache, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        env.put("SANDBOX_CACHE_DIR", cache.toString());
        git("init", "-q", "-b", "main");
    }

    @AfterEach
    void remove() {
        try {
            if (!started.isEmpty()) {
                List<String> args = new ArrayList<>(List.of("down", "--timeout", "0"));
                args.addAll(started);
                sandbox(repo.dir, args.toArray(String[]::new)); // 1 when a test removed some already: fine
                sandbox(repo.dir, "gc");
            }
        } finally {
            if (repo != null) repo.close();
            if (other != null) other.close();
        }
    }

    static String spec(String name, String hostname) {
        return "apiVersion: sandbox/v1\nkind: Sandbox\nname: " + name + "\nnamespaces:\n  user: {}\n  pid: {}\n  uts: {hostname: " + hostname
                + "}\nprocess:\n  command: [/bin/sleep, '600']\n";
    }

    @Test
    void aCommittedSpecShowsItsCommitAndAnEditedOneShowsUncommittedChanges() throws IOException {
        String name = prefix + "a";
        commit("specs/web.yaml", spec(name, "one"));
        String c1 = git("rev-parse", "HEAD").strip();
        String blob1 = git("hash-object", "specs/web.yaml").strip();

        up(repo.dir, "specs/web.yaml");
        JsonNode g = inspectGit(name);
        assertEquals(repo.dir.toRealPath().toString(), g.path("repository").asText(), g.toString());
        assertEquals("specs/web.yaml", g.path("path").asText());
        assertEquals(blob1, g.path("blob").asText());
        assertEquals(c1, g.path("commit").asText(), g.toString());
        assertEquals(c1, g.path("head").asText());
        assertTrue(g.path("revision").isNull(), g.toString());
        assertFalse(g.path("uncommittedChanges").asBoolean(true), g.toString());
        assertEquals(c1.substring(0, 12) + ":specs/web.yaml", g.path("describe").asText());
        // ps: as recorded, not resolved
        JsonNode ps = psEntry(name);
        assertEquals(blob1, ps.path("git").path("blob").asText(), ps.toString());
        assertEquals("specs/web.yaml", ps.path("git").path("path").asText());
        assertEquals(repo.dir.toRealPath().toString(), ps.path("git").path("repository").asText());
        assertTrue(ps.path("git").path("commit").isNull(), ps.toString());
        // what ran is recorded: committing something else afterwards doesn't change the blob, only what it resolves to
        down(name);

        repo.write("specs/web.yaml", spec(name, "two"));
        String blob2 = git("hash-object", "specs/web.yaml").strip();
        up(repo.dir, "specs/web.yaml");
        JsonNode dirty = inspectGit(name);
        assertEquals(blob2, dirty.path("blob").asText(), dirty.toString());
        assertTrue(dirty.path("commit").isNull(), "no commit holds the edit: " + dirty);
        assertEquals(c1, dirty.path("head").asText());
        assertTrue(dirty.path("uncommittedChanges").asBoolean(false), dirty.toString());
        assertEquals("specs/web.yaml (uncommitted, blob " + blob2.substring(0, 12) + ")", dirty.path("describe").asText());
        assertEquals(blob2, psEntry(name).path("git").path("blob").asText());

        // committed after it started: the file that ran is now HEAD's
        git("commit", "-q", "-am", "two");
        JsonNode later = inspectGit(name);
        assertEquals(git("rev-parse", "HEAD").strip(), later.path("commit").asText(), later.toString());
        assertFalse(later.path("uncommittedChanges").asBoolean(true), later.toString());
        down(name);

        // back to the first content, uncommitted: the newest commit that has it, and HEAD's file differs
        repo.write("specs/web.yaml", spec(name, "one"));
        up(repo.dir, "specs/web.yaml");
        JsonNode back = inspectGit(name);
        assertEquals(c1, back.path("commit").asText(), back.toString());
        assertTrue(back.path("uncommittedChanges").asBoolean(false), back.toString());
        assertEquals(c1.substring(0, 12) + ":specs/web.yaml (not HEAD's)", back.path("describe").asText());
    }

    @Test
    void aSpecOutsideARepositoryHasNoGitSection() throws IOException {
        String name = prefix + "b";
        other.write("plain.yaml", spec(name, "plain"));
        up(other.dir, "plain.yaml");
        JsonNode spec = inspect(name).path("spec");
        assertEquals(other.dir.resolve("plain.yaml").toString(), spec.path("path").asText(), spec.toString());
        assertTrue(spec.path("git").isNull(), spec.toString());
        assertTrue(psEntry(name).path("git").isNull());
        assertTrue(state(name).path("git").isNull());
    }

    @Test
    @Warm.Cold("checks which call compiles (-v's cache note); the front's side of a git init: NativeCacheIT")
    void theCachedPlanKeepsTheProvenanceAndAGitInitAroundACachedSpecIsANewPlan() throws IOException {
        String name = prefix + "c";
        commit("web.yaml", spec(name, "cached"));
        String c1 = git("rev-parse", "HEAD").strip();
        Cli.Result first = up(repo.dir, "-v", "web.yaml");
        assertFalse(first.err().contains("using the compiled plan cached"), first.toString());
        down(name);
        Cli.Result second = up(repo.dir, "-v", "web.yaml");
        assertTrue(second.err().contains("using the compiled plan cached"), "the second up runs from the cache:\n" + second);
        JsonNode g = inspectGit(name);
        assertEquals(git("hash-object", "web.yaml").strip(), g.path("blob").asText(), g.toString());
        assertEquals(c1, g.path("commit").asText(), g.toString());
        assertFalse(g.path("uncommittedChanges").asBoolean(true));
        down(name);

        // a spec cached outside any repository, then made part of one: the repository is part of the cache key
        String plain = prefix + "d";
        Path dir = other.dir.resolve("later");
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("s.yaml"), spec(plain, "later"));
        up(dir, "-v", "s.yaml");
        assertTrue(inspect(plain).path("spec").path("git").isNull());
        down(plain);
        exec(List.of("git", "init", "-q", "-b", "main"), dir);
        exec(List.of("git", "add", "s.yaml"), dir);
        exec(List.of("git", "commit", "-q", "-m", "s"), dir);
        Cli.Result again = up(dir, "-v", "s.yaml");
        assertFalse(again.err().contains("using the compiled plan cached"), "a repository around the spec is a new plan:\n" + again);
        JsonNode now = inspectGit(plain);
        assertEquals(dir.toRealPath().toString(), now.path("repository").asText(), now.toString());
        assertFalse(now.path("uncommittedChanges").asBoolean(true), now.toString());
    }

    @Test
    void aSpecFromARevisionRecordsThatRevisionsCommit() throws IOException {
        String name = prefix + "e";
        commit("web.yaml", spec(name, "old"));
        String c1 = git("rev-parse", "HEAD").strip();
        commit("web.yaml", spec(name, "new"));
        up(repo.dir, "HEAD~1:web.yaml");
        JsonNode ps = psEntry(name);
        assertEquals(c1, ps.path("git").path("commit").asText(), ps.toString());
        assertEquals(git("rev-parse", "HEAD~1:web.yaml").strip(), ps.path("git").path("blob").asText());
        JsonNode g = inspectGit(name);
        assertEquals("HEAD~1", g.path("revision").asText(), g.toString());
        assertEquals(c1, g.path("commit").asText());
        assertFalse(g.path("uncommittedChanges").asBoolean(true));
        assertEquals("web.yaml", g.path("path").asText());
    }

    @Test
    void aSpecInALinkedWorktreeIsFoundThroughItsGitFile() throws IOException {
        String name = prefix + "f";
        commit("web.yaml", spec(name, "wt"));
        Path wt = other.dir.resolve("wt");
        git("worktree", "add", "-q", "-b", "side", wt.toString());
        assertTrue(Files.isRegularFile(wt.resolve(".git")), "a linked worktree has a .git file");
        up(wt, "web.yaml");
        JsonNode g = inspectGit(name);
        assertEquals(wt.toRealPath().toString(), g.path("repository").asText(), g.toString());
        assertEquals(git("rev-parse", "HEAD").strip(), g.path("commit").asText(), g.toString());
        assertFalse(g.path("uncommittedChanges").asBoolean(true), g.toString());
    }

    // ---------------------------------------------------------------------------------------- helpers

    /** {@code up -d [extra...] SPEC} in {@code cwd}; the sandbox is removed after the test. */
    private Cli.Result up(Path cwd, String... args) {
        List<String> all = new ArrayList<>(List.of("up", "-d"));
        all.addAll(List.of(args));
        Cli.Result r = sandbox(cwd, all.toArray(String[]::new));
        assertEquals(0, r.exit(), r.toString());
        String name = r.out().strip();
        if (!started.contains(name)) started.add(name);
        return r;
    }

    private void down(String name) {
        Cli.Result r = sandbox(repo.dir, "down", "--timeout", "0", name);
        assertEquals(0, r.exit(), r.toString());
    }

    private JsonNode inspect(String name) throws IOException {
        Cli.Result r = sandbox(repo.dir, "inspect", name);
        assertEquals(0, r.exit(), r.toString());
        return JSON.readTree(r.out());
    }

    private JsonNode inspectGit(String name) throws IOException {
        JsonNode g = inspect(name).path("spec").path("git");
        assertTrue(g.isObject() && !g.has("error"), g.toString());
        return g;
    }

    private JsonNode psEntry(String name) throws IOException {
        Cli.Result r = sandbox(repo.dir, "ps", "-a", "--format", "json");
        assertEquals(0, r.exit(), r.toString());
        for (JsonNode e : JSON.readTree(r.out())) if (e.path("name").asText().equals(name)) return e;
        throw new AssertionError("no " + name + " in ps:\n" + r.out());
    }

    private JsonNode state(String name) throws IOException {
        return JSON.readTree(Path.of("/run/sandbox", name, "state.json").toFile());
    }

    private void commit(String file, String content) {
        repo.write(file, content);
        git("add", "-A");
        git("commit", "-q", "-m", "change " + file);
    }

    private String git(String... args) {
        List<String> cmd = new ArrayList<>(List.of("git"));
        cmd.addAll(List.of(args));
        return exec(cmd, repo.dir);
    }

    private String exec(List<String> cmd, Path cwd) {
        Cli.Result r = run(cmd, cwd);
        assertEquals(0, r.exit(), String.join(" ", cmd) + " failed:\n" + r);
        return r.out();
    }

    private Cli.Result sandbox(Path cwd, String... args) {
        return run(Warm.command(List.of(), env, Cli.DIST, cwd, List.of(args)), cwd);
    }

    private Cli.Result run(List<String> cmd, Path cwd) {
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(cwd.toFile());
        pb.environment().putAll(env);
        ItHost.Run r = ItHost.capture(pb, 120, null, String.join(" ", cmd));
        return new Cli.Result(r.exit(), r.out(), r.err());
    }
}
