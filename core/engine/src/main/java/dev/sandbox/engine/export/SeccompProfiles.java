package dev.sandbox.engine.export;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Where the exporters get seccomp profiles in docker's (moby's) JSON format: the built-in
 * {@code default} and a spec's own {@code PATH}. One seam, so the engine's seccomp compiler (issue 7)
 * and the exporters read the same built-in profile.
 */
public interface SeccompProfiles {

    /** The class-path resource of the built-in profile (moby's default rules), shipped by the engine's seccomp package. */
    String BUILT_IN_RESOURCE = "/dev/sandbox/engine/seccomp/default.json";

    /** The built-in profile's bytes; empty when this build doesn't ship it. */
    Optional<byte[]> builtIn() throws IOException;

    /** A profile file named by a spec (already resolved against the spec's directory). */
    default byte[] read(Path file) throws IOException {
        return Files.readAllBytes(file);
    }

    /** The built-in profile from the class path, as the engine reads it. */
    static SeccompProfiles fromClassPath() {
        return () -> {
            try (InputStream in = SeccompProfiles.class.getResourceAsStream(BUILT_IN_RESOURCE)) {
                return in == null ? Optional.empty() : Optional.of(in.readAllBytes());
            }
        };
    }
}
