package dev.sandbox.engine.source;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;
import org.eclipse.jgit.api.Git;
import org.eclipse.jgit.api.errors.GitAPIException;
import org.eclipse.jgit.revwalk.RevCommit;

/** A real git repository in a temporary directory, made with JGit; removed on close. */
public final class TestRepo implements AutoCloseable {

    public final Path top;
    public final Git git;

    public TestRepo() throws IOException, GitAPIException {
        top = Files.createTempDirectory("sandbox-git-test").toRealPath();
        git = Git.init().setDirectory(top.toFile()).setInitialBranch("main").call();
    }

    public Path write(String path, String content) throws IOException {
        Path f = top.resolve(path);
        Files.createDirectories(f.getParent());
        Files.writeString(f, content, StandardCharsets.UTF_8);
        return f;
    }

    public RevCommit commit(String message) throws GitAPIException {
        git.add().addFilepattern(".").call();
        return git.commit().setMessage(message).setAuthor("t", "t@example.org").setCommitter("t", "t@example.org").setSign(false).call();
    }

    @Override
    public void close() throws IOException {
        git.close();
        try (Stream<Path> files = Files.walk(top)) {
            for (Path p : files.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        }
    }
}
