package dev.sandbox.engine.inspect;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import jnr.ffi.LastError;
import jnr.ffi.LibraryLoader;
import jnr.ffi.Runtime;
import jnr.ffi.annotations.Out;

/**
 * The namespace ioctls of ioctl_ns(2) through JNR-FFI: {@code NS_GET_USERNS} (the user namespace that owns
 * a namespace), {@code NS_GET_PARENT} (the parent of a pid or user namespace), {@code NS_GET_OWNER_UID}
 * (the uid that created a user namespace, in the caller's user namespace). The only class that names JNR
 * types for {@code inspect}; loaded only by it (binding libc costs 100–150 ms of code generation).
 */
final class NsIoctl {

    /** The libc functions we bind; errno is saved after each call (JNR's default). */
    public interface LibC {
        int open(String path, int flags);

        int ioctl(int fd, long request);

        int ioctl(int fd, long request, @Out int[] uid);

        int close(int fd);
    }

    /** _IO(0xb7, n) of linux/nsfs.h. */
    private static final long NS_GET_USERNS = 0xb701;
    private static final long NS_GET_PARENT = 0xb702;
    private static final long NS_GET_OWNER_UID = 0xb704;
    private static final int O_RDONLY = 0;
    private static final int O_CLOEXEC = 0x80000;

    /** A namespace found by an ioctl: its inode, or the errno name when the kernel refused (EPERM: outside our scope). */
    record Answer(Long inode, Long value, String error) {}

    private final LibC libc;
    private final Runtime runtime;

    private NsIoctl(LibC libc) {
        this.libc = libc;
        this.runtime = Runtime.getRuntime(libc);
    }

    /** Binds libc; throws IllegalStateException with the reason when native access is unavailable. */
    static NsIoctl load() {
        try {
            return new NsIoctl(LibraryLoader.create(LibC.class).load("c"));
        } catch (RuntimeException | LinkageError e) {
            throw new IllegalStateException("JNR-FFI can't bind libc: " + e.getMessage(), e);
        }
    }

    /** NS_GET_USERNS of the namespace file: the owning user namespace's inode. */
    Answer owner(Path nsFile) {
        return namespaceOf(nsFile, NS_GET_USERNS);
    }

    /** NS_GET_PARENT of a pid or user namespace file: the parent's inode. */
    Answer parent(Path nsFile) {
        return namespaceOf(nsFile, NS_GET_PARENT);
    }

    /** NS_GET_OWNER_UID of a user namespace file. */
    Answer ownerUid(Path nsFile) {
        int fd = libc.open(nsFile.toString(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) return new Answer(null, null, errno());
        try {
            int[] uid = new int[1];
            if (libc.ioctl(fd, NS_GET_OWNER_UID, uid) < 0) return new Answer(null, null, errno());
            return new Answer(null, Integer.toUnsignedLong(uid[0]), null);
        } finally {
            libc.close(fd);
        }
    }

    private Answer namespaceOf(Path nsFile, long request) {
        int fd = libc.open(nsFile.toString(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) return new Answer(null, null, errno());
        try {
            int other = libc.ioctl(fd, request);
            if (other < 0) return new Answer(null, null, errno());
            try {
                // the new fd is a namespace file too: its link reads "<type>:[<inode>]"
                String link = Files.readSymbolicLink(Path.of("/proc/self/fd/" + other)).toString();
                return new Answer(Long.parseLong(link.substring(link.indexOf('[') + 1, link.lastIndexOf(']'))), null, null);
            } catch (IOException | RuntimeException e) {
                return new Answer(null, null, "EIO");
            } finally {
                libc.close(other);
            }
        } finally {
            libc.close(fd);
        }
    }

    private String errno() {
        int e = LastError.getLastError(runtime);
        return switch (e) {
            case 1 -> "EPERM";
            case 2 -> "ENOENT";
            case 3 -> "ESRCH";
            case 13 -> "EACCES";
            case 22 -> "EINVAL";
            case 25 -> "ENOTTY";
            default -> "errno " + e;
        };
    }
}
