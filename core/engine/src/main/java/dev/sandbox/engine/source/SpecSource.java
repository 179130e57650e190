package dev.sandbox.engine.source;

import java.nio.file.Path;
import java.util.Optional;

/**
 * Where a spec's bytes come from: a file of the working tree, or a blob of a git revision
 * ({@code sandbox up HEAD~1:examples/hello.yaml}). The loader takes what {@link #read()} returns together
 * with {@link #displayName()} (what diagnostics print) and {@link #baseDir()} (what relative paths in
 * the spec — bind sources, overlay layers — resolve against: always the working tree, see docs/git.md).
 */
public interface SpecSource {

    /** What diagnostics and messages call this spec: {@code spec.yaml}, {@code HEAD~1:examples/hello.yaml}. */
    String displayName();

    /**
     * The working-tree file this spec stands for: the file itself, or for a revision the file at the
     * same path in the working tree (it need not exist). Its directory is where relative paths resolve.
     */
    Path workingFile();

    /** The directory relative host paths of the spec resolve against. */
    default Path baseDir() {
        Path parent = workingFile().toAbsolutePath().normalize().getParent();
        return parent != null ? parent : Path.of("/");
    }

    /** The spec's bytes, at most {@link SpecSources#MAX_BYTES}. */
    byte[] read() throws SourceException;

    /**
     * Another file named relative to this one, from the same place (same revision for a git source):
     * what {@code include: [base.yaml]} will read.
     */
    SpecSource resolveSibling(String relativePath);

    /** The revision this source reads from; empty for a working-tree file. */
    default Optional<String> revision() {
        return Optional.empty();
    }

    /** A failure to read a source, with a hint; becomes one diagnostic at the spec's name. */
    final class SourceException extends Exception {
        private final String code;
        private final String hint;

        public SourceException(String code, String message, String hint) {
            super(message);
            this.code = code;
            this.hint = hint;
        }

        public String code() {
            return code;
        }

        public String hint() {
            return hint;
        }
    }
}
