package dev.sandbox.engine.runtime;

import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.util.Map;

/** The errno name behind a Java I/O exception (Java only keeps strerror's text). */
public final class Errno {

    private static final Map<String, String> BY_TEXT = Map.ofEntries(
            Map.entry("Operation not permitted", "EPERM"),
            Map.entry("No such file or directory", "ENOENT"),
            Map.entry("No such process", "ESRCH"),
            Map.entry("Permission denied", "EACCES"),
            Map.entry("File exists", "EEXIST"),
            Map.entry("Device or resource busy", "EBUSY"),
            Map.entry("Invalid argument", "EINVAL"),
            Map.entry("Not a directory", "ENOTDIR"),
            Map.entry("Is a directory", "EISDIR"),
            Map.entry("Read-only file system", "EROFS"),
            Map.entry("No space left on device", "ENOSPC"),
            Map.entry("Directory not empty", "ENOTEMPTY"),
            Map.entry("Too many open files", "EMFILE"),
            Map.entry("Resource temporarily unavailable", "EAGAIN"),
            Map.entry("Operation not supported", "EOPNOTSUPP"),
            Map.entry("Address already in use", "EADDRINUSE"),
            Map.entry("Connection refused", "ECONNREFUSED"),
            Map.entry("Too many levels of symbolic links", "ELOOP"),
            Map.entry("File name too long", "ENAMETOOLONG"),
            Map.entry("Input/output error", "EIO"),
            Map.entry("No such device or address", "ENXIO"),
            Map.entry("Text file busy", "ETXTBSY"));

    private Errno() {}

    public static String name(IOException e) {
        if (e instanceof NoSuchFileException) return "ENOENT";
        if (e instanceof AccessDeniedException) return "EACCES";
        if (e instanceof FileAlreadyExistsException) return "EEXIST";
        if (e instanceof DirectoryNotEmptyException) return "ENOTEMPTY";
        String reason = e instanceof FileSystemException fse && fse.getReason() != null ? fse.getReason() : e.getMessage();
        if (reason != null) {
            for (var entry : BY_TEXT.entrySet()) {
                if (reason.contains(entry.getKey())) return entry.getValue();
            }
        }
        return reason == null ? e.getClass().getSimpleName() : reason;
    }
}
