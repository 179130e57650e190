package dev.sandbox.engine.source;

import dev.sandbox.engine.runtime.Errno;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;

/**
 * A spec file of the working tree (or anywhere on the host). Needs no git classes.
 *
 * <p>The file is checked before it is read: a regular file of at most {@link SpecSources#MAX_BYTES}
 * (a FIFO, a device or a directory fails at once, without blocking), read with a bound even if it grows
 * meanwhile. Every failure is a {@link SourceException} naming the file, the errno and a hint.
 */
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
        String display = displayName;
        BasicFileAttributes attributes;
        try {
            attributes = Files.readAttributes(file, BasicFileAttributes.class);
        } catch (NoSuchFileException e) {
            if (Files.isSymbolicLink(file)) {
                throw new SourceException("spec.not-found", display + " is a symbolic link to a file that does not exist (ENOENT)",
                        "fix the link: ls -l " + display);
            }
            throw new SourceException("spec.not-found", "no such file: " + display, "check the path");
        } catch (IOException e) {
            throw unreadable(e);
        }
        if (!attributes.isRegularFile()) {
            throw new SourceException("spec.not-regular", display + " is " + fileType(attributes) + ", not a regular file",
                    "give the path of a spec file (YAML); it is read whole, so it must be a regular file");
        }
        if (attributes.size() > SpecSources.MAX_BYTES) throw tooLarge(attributes.size());
        byte[] bytes;
        try (InputStream in = Files.newInputStream(file)) {
            // bounded even if the file grew since the check
            bytes = in.readNBytes(SpecSources.MAX_BYTES + 1);
        } catch (IOException e) {
            throw unreadable(e);
        }
        if (bytes.length > SpecSources.MAX_BYTES) throw tooLarge(bytes.length);
        return bytes;
    }

    private String fileType(BasicFileAttributes attributes) {
        if (attributes.isDirectory()) return "a directory (EISDIR)";
        try {
            int mode = (Integer) Files.getAttribute(file, "unix:mode");
            return switch (mode & 0170000) {
                case 0010000 -> "a FIFO (named pipe)";
                case 0020000 -> "a character device";
                case 0060000 -> "a block device";
                case 0140000 -> "a socket";
                default -> "not a regular file";
            };
        } catch (IOException | UnsupportedOperationException | IllegalArgumentException e) {
            return "a special file";
        }
    }

    private SourceException tooLarge(long size) {
        return new SourceException("spec.too-large", displayName + " is " + size + " bytes; a spec may be at most " + SpecSources.MAX_BYTES
                + " bytes (1 MiB)", "a spec is a few kilobytes; check that this is the right file");
    }

    private SourceException unreadable(IOException e) {
        String errno = Errno.name(e);
        String hint = switch (errno) {
            case "EACCES" -> "the file or a directory on its path is not readable by you (ls -l " + displayName + ")";
            case "ELOOP" -> "a symbolic link on the path points back to itself (ls -l " + displayName + ")";
            case "EISDIR" -> "give the path of a spec file, not of a directory";
            default -> null;
        };
        return new SourceException("spec.unreadable", "cannot read " + displayName + ": " + errno, hint);
    }

    @Override
    public SpecSource resolveSibling(String relativePath) {
        Path sibling = file.resolveSibling(relativePath).normalize();
        // an include names its file relative to the including one; the display keeps that short form
        return new FileSpecSource(sibling, sibling.toString());
    }
}
