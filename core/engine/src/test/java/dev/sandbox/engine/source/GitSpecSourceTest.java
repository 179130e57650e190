package dev.sandbox.engine.source;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sandbox.engine.spec.LoadedSpec;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.eclipse.jgit.revwalk.RevCommit;
import org.junit.jupiter.api.Test;

class GitSpecSourceTest {

    static String read(SpecSource s) throws Exception {
        return new String(s.read(), StandardCharsets.UTF_8);
    }

    @Test
    void revisionFormReadsEachRevisionsBlob() throws Exception {
        try (TestRepo repo = new TestRepo()) {
            repo.write("specs/a.yaml", "one\n");
            repo.commit("one");
            repo.write("specs/a.yaml", "two\n");
            RevCommit second = repo.commit("two");
            repo.git.tag().setName("v2").setObjectId(second).call();
            repo.write("specs/a.yaml", "working\n");
            List<String> warnings = new ArrayList<>();

            assertEquals("two\n", read(SpecSources.forArgument("HEAD:specs/a.yaml", repo.top, warnings)));
            assertEquals("one\n", read(SpecSources.forArgument("HEAD~1:specs/a.yaml", repo.top, warnings)));
            assertEquals("two\n", read(SpecSources.forArgument("v2:specs/a.yaml", repo.top, warnings)));
            assertEquals("one\n", read(SpecSources.forArgument(second.getParent(0).name().substring(0, 10) + ":specs/a.yaml", repo.top, warnings)));
            // ./ is relative to the current directory, a bare path to the repository's top
            assertEquals("one\n", read(SpecSources.forArgument("HEAD~1:./a.yaml", repo.top.resolve("specs"), warnings)));
            assertEquals("one\n", read(SpecSources.forArgument("HEAD~1:specs/a.yaml", repo.top.resolve("specs"), warnings)));
            assertEquals(List.of(), warnings);
        }
    }

    @Test
    void displayNameAndWorkingTreeBaseDir() throws Exception {
        try (TestRepo repo = new TestRepo()) {
            repo.write("specs/a.yaml", "name: x\n");
            repo.commit("one");
            SpecSource s = SpecSources.forArgument("HEAD:./a.yaml", repo.top.resolve("specs"), new ArrayList<>());
            assertEquals("HEAD:./a.yaml", s.displayName());
            assertEquals(repo.top.resolve("specs"), s.baseDir());
            SpecSource sibling = s.resolveSibling("../base/b.yaml");
            assertEquals("HEAD:base/b.yaml", sibling.displayName());
        }
    }

    @Test
    void diagnosticsOfARevisionSpecAreLocatedAtRevColonPath() throws Exception {
        try (TestRepo repo = new TestRepo()) {
            repo.write("a.yaml", "name: x\nname: y\n");
            repo.commit("dup");
            LoadedSpec spec = new dev.sandbox.engine.spec.SpecLoader().load(SpecSources.forArgument("HEAD:a.yaml", repo.top, new ArrayList<>()));
            assertEquals("HEAD:a.yaml:2:1", spec.diagnostics().get(0).location().toString(), spec.diagnostics().toString());
            assertEquals(repo.top.resolve("a.yaml"), spec.file());
        }
    }

    @Test
    void anExistingFileNamedLikeARevisionIsReadWithAWarning() throws Exception {
        try (TestRepo repo = new TestRepo()) {
            repo.write("HEAD:a.yaml", "file\n");
            List<String> warnings = new ArrayList<>();
            SpecSource s = SpecSources.forArgument("HEAD:a.yaml", repo.top, warnings);
            assertInstanceOf(FileSpecSource.class, s);
            assertEquals(1, warnings.size());
            assertTrue(warnings.get(0).contains("looks like REV:path"), warnings.toString());
        }
    }

    @Test
    void plainNamesAndPathsWithAColonAreFiles() {
        assertFalse(SpecSources.looksLikeRevision("spec.yaml"));
        assertFalse(SpecSources.looksLikeRevision("/tmp/a:b.yaml"));
        assertFalse(SpecSources.looksLikeRevision("./a:b.yaml"));
        assertFalse(SpecSources.looksLikeRevision(":a.yaml"));
        assertFalse(SpecSources.looksLikeRevision("HEAD:"));
        assertTrue(SpecSources.looksLikeRevision("origin/main:a.yaml"));
        assertTrue(SpecSources.looksLikeRevision("HEAD~3:a.yaml"));
    }

    @Test
    void failuresAreSourceErrorsWithCodes() throws Exception {
        try (TestRepo repo = new TestRepo()) {
            repo.write("a.yaml", "x: 1\n");
            repo.write("dir/b.yaml", "x: 1\n");
            Files.createSymbolicLink(repo.top.resolve("link.yaml"), Path.of("a.yaml"));
            repo.commit("one");
            assertEquals("spec.unknown-revision", code("nosuch:a.yaml", repo.top));
            assertEquals("spec.not-in-revision", code("HEAD:b.yaml", repo.top));
            assertEquals("spec.not-a-file", code("HEAD:dir", repo.top));
            assertEquals("spec.not-a-file", code("HEAD:link.yaml", repo.top));
            assertEquals("spec.bad-revision-path", code("HEAD:../a.yaml", repo.top));
            assertEquals("spec.bad-revision-path", code("HEAD:./../../a.yaml", repo.top.resolve("dir")));
            Path outside = Files.createTempDirectory("sandbox-no-git");
            try {
                assertEquals("spec.not-in-repository", code("HEAD:a.yaml", outside));
            } finally {
                Files.delete(outside);
            }
        }
    }

    @Test
    void aBlobOverTheLimitIsRefusedBeforeItIsRead() throws Exception {
        try (TestRepo repo = new TestRepo()) {
            repo.write("big.yaml", "#".repeat(SpecSources.MAX_BYTES + 1));
            repo.commit("big");
            assertEquals("spec.too-large", code("HEAD:big.yaml", repo.top));
        }
    }

    @Test
    void findBlobLocatesTheCommitHoldingABlob() throws Exception {
        try (TestRepo repo = new TestRepo()) {
            repo.write("a.yaml", "one\n");
            RevCommit first = repo.commit("one");
            repo.write("a.yaml", "two\n");
            repo.commit("two");
            String blob = dev.sandbox.engine.provenance.SpecOrigin.blobId("one\n".getBytes(StandardCharsets.UTF_8));
            GitSpecSource found = GitSpecSource.findBlob(repo.top, "a.yaml", blob, 10).orElseThrow();
            assertEquals(first.getId(), found.gitRevision().commit().orElseThrow());
            assertEquals("one\n", read(found));
            assertTrue(GitSpecSource.findBlob(repo.top, "a.yaml", "0".repeat(40), 10).isEmpty());
        }
    }

    private static String code(String argument, Path cwd) {
        return assertThrows(SpecSource.SourceException.class, () -> SpecSources.forArgument(argument, cwd, new ArrayList<>()).read(),
                argument).code();
    }
}
