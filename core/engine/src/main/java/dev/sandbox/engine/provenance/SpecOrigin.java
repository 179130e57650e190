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
        for (Path dir = file.getParent(); dir != null; dir = dir.getParent()) {
            if (Files.exists(dir.resolve(".git"), LinkOption.NOFOLLOW_LINKS)) {
                String path = dir.relativize(file).toString();
                return Optional.of(new SpecOrigin(dir, path, blobId(content)));
            }
        }
        return Optional.empty();
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
