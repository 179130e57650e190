package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Specs that live in git (issue 11), through the packaged {@code bin/sandbox} on real repositories made
 * here with the git CLI: {@code REV:path} for up/validate/plan, provenance in {@code plan --format json},
 * {@code sandbox diff} and its use as git's external diff driver.
 */
class GitIT {

    static final ObjectMapper JSON = new ObjectMapper();
    /** git without the user's or the system's configuration. */
    static final Map<String, String> GIT_ENV = Map.of("GIT_CONFIG_GLOBAL", "/dev/null", "GIT_CONFIG_NOSYSTEM", "1",
            "GIT_AUTHOR_NAME", "it", "GIT_AUTHOR_EMAIL", "it@example.org", "GIT_COMMITTER_NAME", "it", "GIT_COMMITTER_EMAIL", "it@example.org");

    private SpecDir repo;
    private SpecDir home;
    private final String name = "git-it-" + ProcessHandle.current().pid();

    @BeforeEach
    void init() {
        repo = new SpecDir();
        home = new SpecDir();
        git("init", "-q", "-b", "main");
    }

    @AfterEach
    void remove() {
        if (repo != null) repo.close();
        if (home != null) home.close();
    }

    static String spec(String name, String extra, String word) {
        return "apiVersion: sandbox/v1\nkind: Sandbox\nname: " + name + "\nnamespaces:\n  user: {}\n  uts: {hostname: box}\n" + extra
                + "process:\n  command: [/bin/echo, " + word + "]\n";
    }

    // ------------------------------------------------------------------------- REV:path for up, validate, plan

    @Test
    void upRunsTheSpecOfTheNamedRevisionAndThePlainFileFromTheWorkingTree() {
        commit("spec.yaml", spec(name + "-up", "", "one"));
        commit("spec.yaml", spec(name + "-up", "", "two"));
        repo.write("spec.yaml", spec(name + "-up", "", "three"));
        Cli.Result old = sandbox(repo.dir, "up", "HEAD~1:spec.yaml");
        assertEquals(0, old.exit(), old.toString());
        assertEquals("one\n", old.out());
        assertEquals("two\n", sandbox(repo.dir, "up", "HEAD:spec.yaml").out());
        assertEquals("three\n", sandbox(repo.dir, "up", "spec.yaml").out());
    }

    @Test
    void validateOfARevisionLocatesItsErrorsAtRevColonPath() {
        commit("specs/web.yaml", spec(name, "  bogus: {}\n", "x"));
        repo.write("specs/web.yaml", spec(name, "", "x"));
        Cli.Result r = sandbox(repo.dir, "validate", "HEAD:specs/web.yaml");
        assertEquals(1, r.exit(), r.toString());
        assertTrue(r.out().contains("HEAD:specs/web.yaml:7:3: error[schema.unknown-key]: unknown key 'bogus' in 'namespaces'"), r.toString());
        assertEquals(0, sandbox(repo.dir, "validate", "specs/web.yaml").exit());
    }

    @Test
    void aPathAfterDotSlashIsRelativeToTheCurrentDirectoryAndTagsWork() {
        commit("specs/web.yaml", spec(name, "", "x"));
        git("tag", "v1");
        Cli.Result r = sandbox(repo.dir.resolve("specs"), "validate", "v1:./web.yaml");
        assertEquals(0, r.exit(), r.toString());
        assertEquals("v1:./web.yaml: ok\n", r.out());
        Cli.Result fromTop = sandbox(repo.dir.resolve("specs"), "validate", "v1:specs/web.yaml");
        assertEquals(0, fromTop.exit(), fromTop.toString());
    }

    @Test
    void anUnknownRevisionIsAnErrorWithAHint() {
        commit("spec.yaml", spec(name, "", "x"));
        Cli.Result r = sandbox(repo.dir, "validate", "nosuch:spec.yaml");
        assertEquals(1, r.exit(), r.toString());
        assertTrue(r.out().contains("nosuch:spec.yaml: error[spec.unknown-revision]: unknown revision 'nosuch'"), r.toString());
        assertTrue(r.out().contains("hint: check it with: git rev-parse nosuch"), r.toString());
    }

    @Test
    void anExistingFileNamedLikeARevisionIsReadAsAFileWithAWarning() {
        commit("spec.yaml", spec(name, "  bogus: {}\n", "x"));
        repo.write("HEAD:spec.yaml", spec(name, "", "x"));
        Cli.Result r = sandbox(repo.dir, "validate", "HEAD:spec.yaml");
        assertEquals(0, r.exit(), r.toString());
        assertTrue(r.out().contains("warning[spec.file-looks-like-revision]: reading the file 'HEAD:spec.yaml'"), r.toString());
    }

    @Test
    void planOfARevisionSaysHostPathsComeFromTheWorkingTree() throws IOException {
        Files.createDirectories(repo.dir.resolve("data"));
        commit("spec.yaml", spec(name, "  mount:\n    mounts: [{type: bind, source: ./data, target: /mnt}]\n", "x"));
        Cli.Result r = sandbox(repo.dir, "plan", "HEAD:spec.yaml");
        assertEquals(0, r.exit(), r.toString());
        assertTrue(r.out().contains("note: the spec comes from revision HEAD (and so do the files it includes); bind sources, overlay layers and other host paths still come"
                + " from the working tree (" + repo.dir + ")"), r.toString());
        Cli.Result json = sandbox(repo.dir, "plan", "--format", "json", "HEAD:spec.yaml");
        assertTrue(json.out().contains("\"" + repo.dir.resolve("data") + "\""), "the bind source is not the working tree's data/:\n" + json.out());
        // the plan file names the spec as given, REV:path, and the digest of the revision's bytes
        Cli.Result file = sandbox(repo.dir, "plan", "--format", "file", "HEAD:spec.yaml");
        assertEquals(0, file.exit(), file.toString());
        String runtimeDir = file.out().lines().skip(1).findFirst().orElse("");
        assertTrue(runtimeDir.contains("\tspec=HEAD:spec.yaml\tspec-sha256="
                + dev.sandbox.engine.runtime.PlanFile.sha256(git("show", "HEAD:spec.yaml").getBytes(java.nio.charset.StandardCharsets.UTF_8))),
                runtimeDir);
    }

    // ------------------------------------------------------------------------------------ provenance

    @Test
    void planJsonCarriesTheSpecsProvenance() throws IOException {
        commit("spec.yaml", spec(name, "", "one"));
        String first = git("rev-parse", "HEAD").strip();
        commit("spec.yaml", spec(name, "", "two"));
        String head = git("rev-parse", "HEAD").strip();

        JsonNode clean = provenance(sandbox(repo.dir, "plan", "--format", "json", "spec.yaml"));
        assertEquals(repo.dir.toRealPath().toString(), clean.path("repository").asText());
        assertEquals("spec.yaml", clean.path("path").asText());
        assertEquals(git("hash-object", "spec.yaml").strip(), clean.path("blob").asText());
        assertEquals(head, clean.path("commit").asText());
        assertFalse(clean.path("uncommittedChanges").asBoolean(true));

        repo.write("spec.yaml", spec(name, "", "three"));
        JsonNode dirty = provenance(sandbox(repo.dir, "plan", "--format", "json", "spec.yaml"));
        assertTrue(dirty.path("commit").isNull(), dirty.toString());
        assertEquals(head, dirty.path("head").asText());
        assertEquals(git("hash-object", "spec.yaml").strip(), dirty.path("blob").asText());
        assertTrue(dirty.path("uncommittedChanges").asBoolean(false));

        JsonNode old = provenance(sandbox(repo.dir, "plan", "--format", "json", "HEAD~1:spec.yaml"));
        assertEquals("HEAD~1", old.path("revision").asText());
        assertEquals(first, old.path("commit").asText());
        assertEquals(git("rev-parse", "HEAD~1:spec.yaml").strip(), old.path("blob").asText());
    }

    @Test
    void planJsonProvenanceIsNullOutsideARepository() throws IOException {
        try (SpecDir plain = new SpecDir()) {
            plain.write("spec.yaml", spec(name, "", "x"));
            Cli.Result r = sandbox(plain.dir, "plan", "--format", "json", "spec.yaml");
            assertEquals(0, r.exit(), r.toString());
            assertTrue(JSON.readTree(r.out()).path("provenance").isNull(), r.out());
        }
    }

    private static JsonNode provenance(Cli.Result r) throws IOException {
        assertEquals(0, r.exit(), r.toString());
        return JSON.readTree(r.out()).path("provenance");
    }

    // ------------------------------------------------------------------------------------------ diff

    static final String HARDENED = "  mount:\n    mounts: [{type: bind, source: /usr, target: /usr, readonly: true}]\n    masks: [/proc/kcore]\n";

    @Test
    void diffComparesHeadWithTheWorkingTreeAndFailsOnWeakeningOnlyWhenAsked() {
        commit("spec.yaml", spec(name, HARDENED, "x"));
        repo.write("spec.yaml", spec(name, HARDENED.replace(", readonly: true", "").replace("    masks: [/proc/kcore]\n", ""), "x")
                + "  noNewPrivileges: false\n");
        Cli.Result r = sandbox(repo.dir, "diff", "spec.yaml");
        assertEquals(0, r.exit(), r.toString());
        assertTrue(r.out().startsWith("sandbox diff HEAD:spec.yaml -> spec.yaml\n"), r.toString());
        assertTrue(r.out().contains("  ~ process.noNewPrivileges: true (default) -> false"), r.toString());
        assertTrue(r.out().contains("isolation: 3 changes weaken the sandbox"), r.toString());
        assertTrue(r.out().contains("WEAKER [mount.bind-writable] namespaces.mount.mounts[/usr]"), r.toString());
        assertTrue(r.out().contains("WEAKER [mount.mask-removed] namespaces.mount.masks[/proc/kcore]"), r.toString());
        assertTrue(r.out().contains("WEAKER [process.no-new-privileges-off] process.noNewPrivileges"), r.toString());
        Cli.Result ci = sandbox(repo.dir, "diff", "--fail-on", "weaken", "spec.yaml");
        assertEquals(3, ci.exit(), ci.toString());
    }

    @Test
    void aChangeThatDoesNotWeakenPassesTheCiGate() throws IOException {
        commit("spec.yaml", spec(name, HARDENED, "x"));
        repo.write("spec.yaml", spec(name, HARDENED.replace("[/proc/kcore]", "[/proc/kcore, /etc/shadow]"), "y"));
        Cli.Result r = sandbox(repo.dir, "diff", "--fail-on", "weaken", "--format", "json", "spec.yaml");
        assertEquals(0, r.exit(), r.toString());
        JsonNode json = JSON.readTree(r.out());
        assertFalse(json.path("weakens").asBoolean(true));
        List<String> keys = new ArrayList<>();
        json.path("changes").forEach(c -> keys.add(c.path("change").asText() + " " + c.path("key").asText()));
        assertEquals(List.of("changed process.command", "added namespaces.mount.masks[/etc/shadow]"), keys);
    }

    @Test
    void diffOfTwoRevisionsAndJsonOutput() throws IOException {
        commit("spec.yaml", spec(name, "  ipc: {}\n", "x"));
        commit("spec.yaml", spec(name, "", "x") + "  capabilities: [NET_ADMIN]\n");
        repo.write("spec.yaml", "not: [valid");  // the working tree takes no part
        Cli.Result r = sandbox(repo.dir, "diff", "--format", "json", "HEAD~1", "HEAD", "spec.yaml");
        assertEquals(0, r.exit(), r.toString());
        JsonNode json = JSON.readTree(r.out());
        assertEquals("HEAD~1:spec.yaml", json.path("old").asText());
        assertEquals("HEAD:spec.yaml", json.path("new").asText());
        assertTrue(json.path("weakens").asBoolean(false));
        List<String> codes = new ArrayList<>();
        json.path("weakenings").forEach(w -> codes.add(w.path("code").asText()));
        assertEquals(List.of("namespace.removed", "process.capabilities-added"), codes);
    }

    @Test
    void diffNeedsNeitherTheHostsPathsNorRunningSandboxes() {
        String away = "  mount:\n    mounts: [{type: bind, source: /nonexistent/" + name + ", target: /data, readonly: true}]\n"
                + "  ipc: {join: {sandbox: " + name + "-not-running}}\n";
        commit("spec.yaml", spec(name, away, "x"));
        repo.write("spec.yaml", spec(name, away.replace(", readonly: true", ""), "x"));
        Cli.Result plan = sandbox(repo.dir, "plan", "spec.yaml");
        assertEquals(1, plan.exit(), "plan should refuse a join of a sandbox that isn't running:\n" + plan);
        Cli.Result r = sandbox(repo.dir, "diff", "spec.yaml");
        assertEquals(0, r.exit(), r.toString());
        assertTrue(r.out().contains("WEAKER [mount.bind-writable] namespaces.mount.mounts[/data]"), r.toString());
    }

    @Test
    void diffOfABrokenSideIsExit1WithLocatedDiagnostics() {
        commit("spec.yaml", spec(name, "  bogus: {}\n", "x"));
        repo.write("spec.yaml", spec(name, "", "x"));
        Cli.Result r = sandbox(repo.dir, "diff", "spec.yaml");
        assertEquals(1, r.exit(), r.toString());
        assertTrue(r.err().contains("HEAD:spec.yaml:7:3: error[schema.unknown-key]"), r.toString());
    }

    @Test
    void asGitsDiffDriverItReadsTheOldSideFromTheRepository() {
        repo.write(".gitattributes", "*.yaml diff=sandbox\n");
        commit("spec.yaml", spec(name, HARDENED, "x"));
        git("config", "diff.sandbox.command", Cli.DIST.resolve("bin/sandbox") + " diff --git-driver");
        repo.write("spec.yaml", spec(name, HARDENED.replace("    masks: [/proc/kcore]\n", ""), "x"));
        String head = git("rev-parse", "--short=12", "HEAD").strip();
        String working = git("--no-pager", "diff");
        assertTrue(working.startsWith("sandbox diff " + head + ":spec.yaml -> spec.yaml\n"), working);
        assertTrue(working.contains("WEAKER [mount.mask-removed] namespaces.mount.masks[/proc/kcore]"), working);
        commit("spec.yaml", spec(name, HARDENED.replace("    masks: [/proc/kcore]\n", ""), "x"));
        String between = git("--no-pager", "diff", "HEAD~1", "HEAD");
        assertTrue(between.startsWith("sandbox diff " + head + ":spec.yaml -> " + git("rev-parse", "--short=12", "HEAD").strip() + ":spec.yaml\n"), between);
        assertTrue(between.contains("WEAKER [mount.mask-removed]"), between);
    }

    @Test
    void asGitsDiffDriverAStagedOnlySideIsReadFromGitsTemporaryFileWithANote() {
        // no commit at all: the old side of 'git diff' is the index's blob, which no commit holds
        repo.write(".gitattributes", "*.yaml diff=sandbox\n");
        repo.write("spec.yaml", spec(name, HARDENED, "x"));
        git("add", "-A");
        git("config", "diff.sandbox.command", Cli.DIST.resolve("bin/sandbox") + " diff --git-driver");
        repo.write("spec.yaml", spec(name, HARDENED.replace(", readonly: true", ""), "x"));
        String blob = git("rev-parse", ":spec.yaml").strip();
        String out = git("--no-pager", "diff");
        assertTrue(out.startsWith("sandbox diff spec.yaml@" + blob.substring(0, 12) + " -> spec.yaml\n"), out);
        assertTrue(out.contains("note: blob " + blob + " of spec.yaml is in none of the last 1000 commits of HEAD"), out);
        assertTrue(out.contains("WEAKER [mount.bind-writable] namespaces.mount.mounts[/usr]"), out);
    }

    // ------------------------------------------------------------------------------- includes from a revision

    @Test
    void upOfARevisionReadsWhatTheSpecIncludesFromThatRevision() {
        repo.write("specs/base.yaml", "namespaces:\n  user: {}\n  uts: {hostname: committed-base}\n");
        commit("specs/web.yaml", "apiVersion: sandbox/v1\nkind: Sandbox\ninclude: [base.yaml]\nname: " + name + "-inc\n"
                + "process:\n  command: [/bin/hostname]\n");
        repo.write("specs/base.yaml", "namespaces:\n  user: {}\n  uts: {hostname: working-base}\n");
        Cli.Result old = sandbox(repo.dir, "up", "HEAD:specs/web.yaml");
        assertEquals(0, old.exit(), old.toString());
        assertEquals("committed-base", old.out().strip(), "the include comes from HEAD, like the spec");
        Cli.Result now = sandbox(repo.dir.resolve("specs"), "up", "web.yaml");
        assertEquals(0, now.exit(), now.toString());
        assertEquals("working-base", now.out().strip());
        Cli.Result config = sandbox(repo.dir, "config", "HEAD:./specs/web.yaml");
        assertEquals(0, config.exit(), config.toString());
        assertTrue(config.out().contains("hostname: \"committed-base\""), config.toString());
    }

    @Test
    void anErrorInAFileIncludedFromARevisionNamesTheChainAtRevColonPath() {
        repo.write("base.yaml", "namespaces:\n  uts: {hostname: ok}\n  bogus: {}\n");
        commit("web.yaml", "apiVersion: sandbox/v1\nkind: Sandbox\nname: x\ninclude:\n  - base.yaml\nprocess:\n  command: [/bin/true]\n");
        Cli.Result r = sandbox(repo.dir, "validate", "HEAD:web.yaml");
        assertEquals(1, r.exit(), r.toString());
        assertTrue(r.out().contains("HEAD:base.yaml:3:3: error[schema.unknown-key]: unknown key 'bogus' in 'namespaces' (at namespaces.bogus)\n"
                + "  included from HEAD:web.yaml:5:5\n"), r.toString());
    }

    @Test
    void diffReportsAWeakeningThatComesOnlyFromAnIncludedBase() throws IOException {
        repo.write("base/hardened.yaml", "namespaces:\n" + HARDENED + "process:\n  capabilities: []\n");
        commit("web.yaml", "include: [base/hardened.yaml]\n" + spec(name, "", "x"));
        // only the base changes: the mask goes and a capability comes
        repo.write("base/hardened.yaml", "namespaces:\n" + HARDENED.replace("    masks: [/proc/kcore]\n", "")
                + "process:\n  capabilities: [CAP_SYS_ADMIN]\n");
        Cli.Result r = sandbox(repo.dir, "diff", "web.yaml");
        assertEquals(0, r.exit(), r.toString());
        assertTrue(r.out().startsWith("sandbox diff HEAD:web.yaml -> web.yaml\n"), r.toString());
        assertTrue(r.out().contains("WEAKER [mount.mask-removed] namespaces.mount.masks[/proc/kcore]"), r.toString());
        assertTrue(r.out().contains("WEAKER [process.capabilities-added]"), r.toString());
        assertEquals(3, sandbox(repo.dir, "diff", "--fail-on", "weaken", "web.yaml").exit());
        // committed: the old side's include is read from the older commit
        git("add", "-A");
        git("commit", "-q", "-m", "weaken the base");
        JsonNode json = JSON.readTree(sandbox(repo.dir, "diff", "--format", "json", "HEAD~1", "HEAD", "web.yaml").out());
        List<String> codes = new ArrayList<>();
        json.path("weakenings").forEach(w -> codes.add(w.path("code").asText()));
        assertTrue(codes.contains("mount.mask-removed"), json.toString());
    }

    @Test
    void asGitsDiffDriverTheOldSidesIncludesComeFromTheCommitItsBlobWasFoundIn() {
        repo.write(".gitattributes", "web.yaml diff=sandbox\n");
        repo.write("base.yaml", "namespaces:\n" + HARDENED);
        commit("web.yaml", "include: [base.yaml]\n" + spec(name, "", "one"));
        // the spec and its base change together; the driver runs for web.yaml only
        repo.write("base.yaml", "namespaces:\n" + HARDENED.replace("    masks: [/proc/kcore]\n", ""));
        commit("web.yaml", "include: [base.yaml]\n" + spec(name, "", "two"));
        git("config", "diff.sandbox.command", Cli.DIST.resolve("bin/sandbox") + " diff --git-driver");
        String out = git("--no-pager", "diff", "HEAD~1", "HEAD", "--", "web.yaml");
        String old = git("rev-parse", "--short=12", "HEAD~1").strip();
        assertTrue(out.startsWith("sandbox diff " + old + ":web.yaml -> "), out);
        assertTrue(out.contains("WEAKER [mount.mask-removed] namespaces.mount.masks[/proc/kcore]"),
                "the old side's base is read from " + old + ", not from the working tree:\n" + out);
    }

    @Test
    void asGitsDiffDriverASideWithErrorsDoesNotEndGitDiff() {
        // git stops 'git diff' with "external diff died" when a driver exits non-zero: the other files' diffs were lost
        repo.write(".gitattributes", "*.yaml diff=sandbox\n");
        commit("spec.yaml", spec(name, HARDENED, "x"));
        commit("other.txt", "one\n");
        git("config", "diff.sandbox.command", Cli.DIST.resolve("bin/sandbox") + " diff --git-driver");
        repo.write("spec.yaml", spec(name, HARDENED, "x") + "kind: Sandbox\n"); // a duplicate key
        repo.write("other.txt", "two\n");
        Cli.Result r = exec(List.of("git", "--no-pager", "diff"), repo.dir, GIT_ENV);
        assertEquals(0, r.exit(), r.toString());
        assertTrue(r.out().contains("sandbox diff spec.yaml: a side has errors (see the errors above); nothing compared"), r.toString());
        assertTrue(r.err().contains("spec.duplicate-key"), r.toString());
        assertTrue(r.out().contains("+two"), "the next file's diff is still shown\n" + r);
        // outside git, diff still fails on errors
        assertEquals(1, sandbox(repo.dir, "diff", "spec.yaml").exit());
    }

    // ---------------------------------------------------------------------------------------- helpers

    private void commit(String file, String content) {
        repo.write(file, content);
        git("add", "-A");
        git("commit", "-q", "-m", "change " + file);
    }

    private String git(String... args) {
        List<String> cmd = new ArrayList<>(List.of("git"));
        cmd.addAll(List.of(args));
        Cli.Result r = exec(cmd, repo.dir, GIT_ENV);
        assertEquals(0, r.exit(), "git " + String.join(" ", args) + " failed:\n" + r);
        return r.out();
    }

    private Cli.Result sandbox(Path cwd, String... args) {
        Map<String, String> env = new java.util.HashMap<>(GIT_ENV);
        env.put("HOME", home.dir.toString());
        return exec(Warm.command(List.of(), env, Cli.DIST, cwd, List.of(args)), cwd, Map.of("HOME", home.dir.toString()));
    }

    private static Cli.Result exec(List<String> cmd, Path cwd, Map<String, String> env) {
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(cwd.toFile());
        pb.environment().putAll(GIT_ENV);
        pb.environment().putAll(env);
        ItHost.Run r = ItHost.capture(pb, 120, null, String.join(" ", cmd));
        return new Cli.Result(r.exit(), r.out(), r.err());
    }
}
