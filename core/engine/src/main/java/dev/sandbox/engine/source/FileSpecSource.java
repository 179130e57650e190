package dev.sandbox.engine.source;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;

/** A spec file of the working tree (or anywhere on the host). Needs no git classes. */
public record FileSpecSource(Path file, String displayName) implements SpecSource {

    public FileSpecSource(Path file) {
        this(file, file.toString());
    }

    @Override
    public Path workingFile() {
        return file;
    }

    @Override
    public byte[] read() throws SourceException {
        try {
            BasicFileAttributes attrs = Files.readAttributes(file, BasicFileAttributes.class);
            // stat before opening: a FIFO or a device would block or never end
            if (!attrs.isRegularFile()) {
                throw new SourceException("spec.not-a-file", displayName + " is not a regular file", "name a YAML file");
            }
            if (attrs.size() > SpecSources.MAX_BYTES) {
                throw new SourceException("spec.too-large", displayName + " is " + attrs.size() + " bytes; a spec may have at most "
                        + SpecSources.MAX_BYTES, "split it with include, or check that this is the right file");
            }
            try (InputStream in = Files.newInputStream(file)) {
                byte[] bytes = in.readNBytes(SpecSources.MAX_BYTES + 1);
                if (bytes.length > SpecSources.MAX_BYTES) {
                    throw new SourceException("spec.too-large", displayName + " has more than " + SpecSources.MAX_BYTES + " bytes", null);
                }
                return bytes;
            }
        } catch (NoSuchFileException e) {
            throw new SourceException("spec.not-found", "no such file: " + displayName, "check the path");
        } catch (AccessDeniedException e) {
            throw new SourceException("spec.unreadable", "cannot read " + displayName + ": EACCES (permission denied)", null);
        } catch (IOException e) {
            throw new SourceException("spec.unreadable", "cannot read " + displayName + ": " + e.getMessage(), null);
        }
    }

    @Override
    public SpecSource resolveSibling(String relativePath) {
        Path sibling = file.resolveSibling(relativePath);
        return new FileSpecSource(sibling, sibling.toString());
    }
}
