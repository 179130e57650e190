package dev.sandbox.cli;

import com.sun.security.auth.module.UnixSystem;
import dev.sandbox.api.Caller;
import java.nio.file.Path;
import java.util.Map;

/** What {@code up} shares between the full command and the cached fast path (kept free of picocli). */
final class UpDefaults {

    static final double STOP_TIMEOUT_SECONDS = 10;

    private UpDefaults() {}

    static Path helper(Map<String, String> env, String home) {
        String explicit = env.get("SANDBOX_HELPER");
        if (explicit != null && !explicit.isEmpty()) return Path.of(explicit);
        return Path.of(home, "libexec", "sandbox-init");
    }

    static Caller caller() {
        UnixSystem unix = new UnixSystem();
        return new Caller(unix.getUid(), unix.getGid(), unix.getUsername());
    }
}
