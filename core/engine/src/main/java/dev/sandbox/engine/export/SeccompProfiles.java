package dev.sandbox.engine.export;

import dev.sandbox.engine.seccomp.BuiltInProfile;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Where the exporters get seccomp profiles in docker's (moby's) JSON format: the built-in
 * {@code default} and a spec's own {@code PATH}. One seam, so the engine's seccomp compiler (issue 7)
 * and the exporters read the same built-in profile.
 */
public interface SeccompProfiles {

    /** The built-in profile's bytes; empty when this build doesn't ship it. */
    Optional<byte[]> builtIn() throws IOException;

    /** A profile file named by a spec (already resolved against the spec's directory). */
    default byte[] read(Path file) throws IOException {
        return Files.readAllBytes(file);
    }

    /** The engine's built-in profile ({@link BuiltInProfile}: Docker's default with sandbox's changes), as {@code up} compiles it. */
    static SeccompProfiles fromClassPath() {
        return () -> Optional.of(BuiltInProfile.bytes());
    }
}
