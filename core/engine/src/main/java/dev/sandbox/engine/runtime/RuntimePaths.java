package dev.sandbox.engine.runtime;

import dev.sandbox.api.Caller;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * Where sandboxes keep their runtime state: {@code /run/sandbox/<name>} for root,
 * {@code $XDG_RUNTIME_DIR/sandbox/<name>} (or {@code /tmp/sandbox-<uid>/<name>}) for everyone else.
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
}
