package dev.sandbox.engine.runtime;

import dev.sandbox.api.Caller;
import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Map;

/**
 * Where sandboxes keep their runtime state: {@code /run/sandbox/<name>} for root,
 * {@code $XDG_RUNTIME_DIR/sandbox/<name>} (or {@code /tmp/sandbox-<uid>/<name>}) for everyone else.
 *
 * <p>The base dir is trusted only when the caller owns it and no one else can write to it (tmux's
 * rule for its socket dir): otherwise another local user who created {@code /tmp/sandbox-<uid>}
 * first could plant a {@code plan} or a {@code control.sock} and have it run as the caller.
 */
public final class RuntimePaths {

    private RuntimePaths() {}

    public static Path base(Caller caller, Map<String, String> env) {
        String override = env.get("SANDBOX_RUNTIME_DIR");
        if (override != null && !override.isEmpty()) return Path.of(override);
        if (caller.isRoot()) return Path.of("/run/sandbox");
        String xdg = env.get("XDG_RUNTIME_DIR");
        if (xdg != null && !xdg.isEmpty() && Files.isDirectory(Path.of(xdg)) && Files.isWritable(Path.of(xdg))) {
            return Path.of(xdg, "sandbox");
        }
        return Path.of("/tmp", "sandbox-" + caller.uid());
    }

    public static Path forSandbox(Caller caller, Map<String, String> env, String name) {
        return base(caller, env).resolve(name);
    }

    /**
     * Creates {@code base} when it is missing (mode 0711: one mkdir, so no one can slip in between)
     * and checks, without following a symbolic link, that it is a directory this process's user owns
     * and that neither group nor others can write to it. Why 0711 and not tmux's 0700: a sandbox whose
     * user namespace maps its root to another uid (0 to 100000) mounts its new root below this dir as
     * that uid and must be able to pass through; nothing in it becomes listable or writable.
     */
    public static void ensureTrusted(Path base) throws HostStepException {
        int me = effectiveUid();
        Path parent = base.toAbsolutePath().getParent();
        try {
            if (parent != null && !Files.isDirectory(parent)) Files.createDirectories(parent);
            Files.createDirectory(base, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx--x--x")));
        } catch (FileAlreadyExistsException e) {
            // someone's: checked below
        } catch (IOException e) {
            throw new HostStepException("prepare runtime-dir", "mkdir", base.toString(), Errno.name(e),
                    "the runtime dir holds the sandbox's plan and control socket; set SANDBOX_RUNTIME_DIR or XDG_RUNTIME_DIR to a"
                            + " directory you own");
        }
        PosixFileAttributes a;
        int owner;
        int mode;
        try {
            a = Files.readAttributes(base, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
            owner = (Integer) Files.getAttribute(base, "unix:uid", LinkOption.NOFOLLOW_LINKS);
            mode = mode(base);
        } catch (IOException e) {
            throw new HostStepException("prepare runtime-dir", "lstat", base.toString(), Errno.name(e), null);
        }
        String problem = null;
        if (a.isSymbolicLink()) problem = "is a symbolic link";
        else if (!a.isDirectory()) problem = "is not a directory";
        else if (owner != me) problem = "is owned by " + a.owner().getName() + " (uid " + owner + "), not by you (uid " + me + ")";
        else if ((mode & 0022) != 0) problem = "can be written by " + ((mode & 0020) != 0 ? "its group" : "others");
        if (problem != null) {
            throw new HostStepException("prepare runtime-dir", "", "", "", base + " " + problem + " (owner " + a.owner().getName()
                    + ", mode " + String.format("%04o", mode) + "); refusing to keep a sandbox's plan and control socket where another"
                    + " user could change them. Fix: remove it (as its owner, or root: rm -rf " + base + ") so sandbox creates it,"
                    + (owner == me ? " or chmod go-w " + base + "," : "") + " or point SANDBOX_RUNTIME_DIR (XDG_RUNTIME_DIR) to a directory"
                    + " only you can write");
        }
    }

    private static int mode(Path p) throws IOException {
        return (Integer) Files.getAttribute(p, "unix:mode", LinkOption.NOFOLLOW_LINKS) & 07777;
    }

    /** This process's effective uid, from {@code /proc/self/status} (the JDK has no call for it). */
    static int effectiveUid() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("Uid:")) return Integer.parseInt(line.substring(4).trim().split("\\s+")[1]);
            }
        } catch (IOException | RuntimeException e) {
            // fall through
        }
        throw new IllegalStateException("cannot read the effective uid from /proc/self/status");
    }
}
