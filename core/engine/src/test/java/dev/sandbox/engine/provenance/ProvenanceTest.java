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
