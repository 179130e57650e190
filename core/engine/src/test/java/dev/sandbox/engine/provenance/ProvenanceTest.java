package dev.sandbox.engine.provenance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sandbox.engine.source.GitSpecSource;
import dev.sandbox.engine.source.TestRepo;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Optional;
import org.eclipse.jgit.lib.ObjectInserter;
import org.eclipse.jgit.revwalk.RevCommit;
import org.junit.jupiter.api.Test;

/** Provenance on real repositories made in the test. */
class ProvenanceTest {

    @Test
    void blobIdIsGitsObjectId() {
        byte[] content = "apiVersion: sandbox/v1\n".getBytes(StandardCharsets.UTF_8);
        try (ObjectInserter.Formatter f = new ObjectInserter.Formatter()) {
            assertEquals(f.idFor(org.eclipse.jgit.lib.Constants.OBJ_BLOB, content).name(), SpecOrigin.blobId(content));
        }
        // git hash-object /dev/null
        assertEquals("e69de29bb2d1d6434b8b29ae775ad8c2e48c5391", SpecOrigin.blobId(new byte[0]));
    }

    @Test
    void blobIdIsWhatGitHashObjectPrints(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        byte[] binary = new byte[256];
        for (int i = 0; i < 256; i++) binary[i] = (byte) i;
        byte[] big = new byte[200_003];
        new java.util.Random(7).nextBytes(big);
        java.util.List<byte[]> contents = java.util.List.of(new byte[0], "x: 1\n".getBytes(StandardCharsets.UTF_8),
                "caf\u00e9\r\n".getBytes(StandardCharsets.UTF_8), binary, big);
        for (byte[] content : contents) {
            Path f = dir.resolve("f");
            Files.write(f, content);
            Process p;
            try {
                p = new ProcessBuilder("git", "hash-object", "--no-filters", f.toString()).redirectErrorStream(true).start();
            } catch (java.io.IOException e) {
                org.junit.jupiter.api.Assumptions.assumeTrue(false, "no git CLI here");
                return;
            }
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
            assertEquals(0, p.waitFor(), out);
            assertEquals(out, SpecOrigin.blobId(content), content.length + " bytes");
        }
    }

    @Test
    void aGitFileOfALinkedWorktreeMakesATopAndAnyOtherFileDoesNot(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        Path top = dir.toRealPath().resolve("wt");
        Files.createDirectories(top.resolve("specs"));
        Files.writeString(top.resolve(".git"), "gitdir: /src/app/.git/worktrees/wt\n");
        Path spec = Files.writeString(top.resolve("specs/s.yaml"), "x: 1\n");
        SpecOrigin o = SpecOrigin.of(spec).orElseThrow();
        assertEquals(top, o.repositoryTop());
        assertEquals("specs/s.yaml", o.pathInRepository());
        Files.writeString(top.resolve(".git"), "not a gitdir line\n");
        assertEquals(Optional.empty(), SpecOrigin.repositoryTop(spec), "a .git file without 'gitdir: ' is no repository");
        Files.delete(top.resolve(".git"));
        Files.createSymbolicLink(top.resolve(".git"), dir.resolve("elsewhere"));
        Files.createDirectories(dir.resolve("elsewhere"));
        assertEquals(Optional.empty(), SpecOrigin.repositoryTop(spec), "a symbolic link named .git is not followed");
        // the real path counts: a spec reached through a link is found in the repository it really is in
        Files.delete(top.resolve(".git"));
        Files.createDirectory(top.resolve(".git"));
        Path link = dir.resolve("link");
        Files.createSymbolicLink(link, top.resolve("specs"));
        SpecOrigin viaLink = SpecOrigin.of(link.resolve("s.yaml")).orElseThrow();
        assertEquals(top, viaLink.repositoryTop());
        assertEquals("specs/s.yaml", viaLink.pathInRepository());
    }

    @Test
    void aFileAsAnOlderCommitHadItMatchesThatCommitButNotHead() throws Exception {
        try (TestRepo repo = new TestRepo()) {
            Path spec = repo.write("s.yaml", "x: 1\n");
            repo.commit("one");
            repo.write("other.yaml", "y: 1\n");
            RevCommit second = repo.commit("two (s.yaml unchanged)");
            repo.write("s.yaml", "x: 2\n");
            RevCommit third = repo.commit("three");
            repo.write("s.yaml", "x: 1\n");
            Provenance p = ProvenanceResolver.resolve(SpecOrigin.of(spec).orElseThrow());
            assertEquals(Optional.of(second.name()), p.commit(), "the newest commit with that blob at that path");
            assertEquals(Optional.of(third.name()), p.head());
            assertTrue(p.uncommittedChanges());
            assertEquals(second.name().substring(0, 12) + ":s.yaml (not HEAD's)", p.describe());
            repo.write("s.yaml", "x: 2\n");
            Provenance clean = ProvenanceResolver.resolve(SpecOrigin.of(spec).orElseThrow());
            assertEquals(third.name().substring(0, 12) + ":s.yaml", clean.describe());
            repo.write("s.yaml", "x: 3\n");
            Provenance none = ProvenanceResolver.resolve(SpecOrigin.of(spec).orElseThrow());
            assertEquals("s.yaml (uncommitted, blob " + SpecOrigin.blobId("x: 3\n".getBytes(StandardCharsets.UTF_8)).substring(0, 12) + ")",
                    none.describe());
        }
    }

    @Test
    void originFindsTheTopAndThePathWithoutGitClasses() throws Exception {
        try (TestRepo repo = new TestRepo()) {
            Path spec = repo.write("deep/er/s.yaml", "x: 1\n");
            SpecOrigin o = SpecOrigin.of(spec).orElseThrow();
            assertEquals(repo.top, o.repositoryTop());
            assertEquals("deep/er/s.yaml", o.pathInRepository());
            assertEquals(SpecOrigin.blobId("x: 1\n".getBytes(StandardCharsets.UTF_8)), o.blobId());
        }
        Path outside = Files.createTempFile("sandbox-no-git", ".yaml");
        try {
            assertEquals(Optional.empty(), SpecOrigin.of(outside));
        } finally {
            Files.delete(outside);
        }
    }

    @Test
    void aCommittedFileMatchesHead() throws Exception {
        try (TestRepo repo = new TestRepo()) {
            Path spec = repo.write("s.yaml", "x: 1\n");
            RevCommit c = repo.commit("one");
            Provenance p = ProvenanceResolver.resolve(SpecOrigin.of(spec).orElseThrow());
            assertEquals(Optional.of(c.name()), p.commit());
            assertEquals(Optional.of(c.name()), p.head());
            assertFalse(p.uncommittedChanges());
        }
    }

    @Test
    void anEditedFileHasUncommittedChangesAndNoCommit() throws Exception {
        try (TestRepo repo = new TestRepo()) {
            Path spec = repo.write("s.yaml", "x: 1\n");
            RevCommit c = repo.commit("one");
            Files.writeString(spec, "x: 2\n");
            Provenance p = ProvenanceResolver.resolve(SpecOrigin.of(spec).orElseThrow());
            assertEquals(Optional.empty(), p.commit());
            assertEquals(Optional.of(c.name()), p.head());
            assertTrue(p.uncommittedChanges());
        }
    }

    @Test
    void anUntrackedFileAndARepositoryWithoutCommitsAreUncommitted() throws Exception {
        try (TestRepo repo = new TestRepo()) {
            Path first = repo.write("s.yaml", "x: 1\n");
            Provenance none = ProvenanceResolver.resolve(SpecOrigin.of(first).orElseThrow());
            assertTrue(none.uncommittedChanges());
            assertEquals(Optional.empty(), none.head());
            repo.commit("one");
            Path untracked = repo.write("new.yaml", "x: 1\n");
            Provenance p = ProvenanceResolver.resolve(SpecOrigin.of(untracked).orElseThrow());
            assertTrue(p.uncommittedChanges());
            assertEquals(Optional.empty(), p.commit());
        }
    }

    @Test
    void aSpecFromARevisionCarriesThatRevisionsCommit() throws Exception {
        try (TestRepo repo = new TestRepo()) {
            repo.write("s.yaml", "x: 1\n");
            RevCommit first = repo.commit("one");
            repo.write("s.yaml", "x: 2\n");
            RevCommit second = repo.commit("two");
            GitSpecSource source = (GitSpecSource) dev.sandbox.engine.source.SpecSources.forArgument("HEAD~1:s.yaml", repo.top, new ArrayList<>());
            Provenance p = ProvenanceResolver.resolve(source);
            assertEquals(Optional.of("HEAD~1"), p.revision());
            assertEquals(Optional.of(first.name()), p.commit());
            assertEquals(Optional.of(second.name()), p.head());
            assertEquals(SpecOrigin.blobId("x: 1\n".getBytes(StandardCharsets.UTF_8)), p.blobId());
            assertFalse(p.uncommittedChanges());
        }
    }
}
