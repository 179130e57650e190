package dev.sandbox.engine.provenance;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Optional;

/**
 * What is cheap to know about a spec file at start: the git repository it is in, its path inside it
 * and its git blob id. No git library: the top is the nearest directory holding {@code .git} (a
 * directory, or a file for a linked worktree or submodule) and the blob id is
 * {@code sha1("blob " + length + "\0" + content)} — what {@code git hash-object} prints, and what a
 * JVM-free (native) start can compute too. {@link ProvenanceResolver} turns it into a commit.
 *
 * <p>Filters are not applied: in a repository that converts line endings ({@code core.autocrlf}) or
 * stores the file through a clean filter (LFS), the id differs from the committed one and the file
 * shows as changed.
 */
public record SpecOrigin(Path repositoryTop, String pathInRepository, String blobId) {

    /** The origin of {@code specFile}; empty when it is not inside a git working tree. */
    public static Optional<SpecOrigin> of(Path specFile, byte[] content) {
        Path file;
        try {
            file = specFile.toRealPath();
        } catch (IOException e) {
            return Optional.empty();
        }
        Optional<Path> top = repositoryTop(file);
        if (top.isEmpty()) return Optional.empty();
        String path = top.get().relativize(file).toString().replace(java.io.File.separatorChar, '/');
        return Optional.of(new SpecOrigin(top.get(), path, blobId(content)));
    }

    /**
     * The working tree {@code file} (a real path) is in: the nearest directory above it holding {@code .git} as a
     * directory, or as a file that starts with {@code gitdir: } (a linked worktree, a submodule). Only file checks; unlike
     * git's discovery, {@code GIT_DIR}, {@code GIT_CEILING_DIRECTORIES} and filesystem boundaries are not considered (as
     * JGit's {@code findGitDir}, which {@code inspect} resolves with). Empty outside a working tree.
     */
    public static Optional<Path> repositoryTop(Path file) {
        for (Path dir = file.getParent(); dir != null; dir = dir.getParent()) {
            Path git = dir.resolve(".git");
            if (Files.isDirectory(git, LinkOption.NOFOLLOW_LINKS)) return Optional.of(dir);
            if (Files.isRegularFile(git, LinkOption.NOFOLLOW_LINKS) && gitdirFile(git)) return Optional.of(dir);
        }
        return Optional.empty();
    }

    private static boolean gitdirFile(Path git) {
        try (java.io.InputStream in = Files.newInputStream(git)) {
            return new String(in.readNBytes(8), StandardCharsets.US_ASCII).equals("gitdir: ");
        } catch (IOException e) {
            return false;
        }
    }

    /** Reads the file and computes its origin. */
    public static Optional<SpecOrigin> of(Path specFile) {
        try {
            return of(specFile, Files.readAllBytes(specFile));
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    /** git's object id of a blob with this content: {@code git hash-object FILE}. */
    public static String blobId(byte[] content) {
        try {
            MessageDigest sha1 = MessageDigest.getInstance("SHA-1");
            sha1.update(("blob " + content.length + "\0").getBytes(StandardCharsets.US_ASCII));
            byte[] digest = sha1.digest(content);
            StringBuilder hex = new StringBuilder(40);
            for (byte b : digest) hex.append(Character.forDigit((b >> 4) & 0xf, 16)).append(Character.forDigit(b & 0xf, 16));
            return hex.toString();
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK has no SHA-1", e);
        }
    }
}
