package dev.sandbox.engine.source;

import java.nio.file.Path;

/**
 * A spec whose bytes are in a copy (git's temporary file for a diff driver) but which stands for
 * {@code workingFile}: relative paths and included files resolve next to the working file.
 */
public record CopySpecSource(Path copy, Path workingFile, String displayName) implements SpecSource {

    @Override
    public byte[] read() throws SourceException {
        return new FileSpecSource(copy, displayName).read();
    }

    @Override
    public SpecSource resolveSibling(String relativePath) {
        return new FileSpecSource(workingFile).resolveSibling(relativePath);
    }
}
