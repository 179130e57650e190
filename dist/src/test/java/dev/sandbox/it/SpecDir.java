package dev.sandbox.it;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Comparator;
import java.util.stream.Stream;

/** A temporary directory for a test's spec files and bind sources; removed by close(). */
final class SpecDir implements AutoCloseable {

    final Path dir;

    SpecDir() {
        try {
            dir = Files.createTempDirectory(Path.of("/tmp"), "sandbox-it-");
            Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    /** Writes a spec; {@code apiVersion}, {@code kind} are added, {@code name} defaults to the file's stem. */
    Path spec(String file, String body) {
        String text = body.stripIndent();
        StringBuilder full = new StringBuilder("apiVersion: sandbox/v1\nkind: Sandbox\n");
        if (!text.matches("(?s)(^|.*\n)name:.*")) full.append("name: ").append(file.replace(".yaml", "")).append('\n');
        full.append(text);
        return write(file, full.toString());
    }

    Path write(String file, String text) {
        try {
            Path p = dir.resolve(file);
            Files.createDirectories(p.getParent());
            Files.writeString(p, text);
            return p;
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    @Override
    public void close() {
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        } catch (IOException e) {
            throw new AssertionError("could not remove " + dir, e);
        }
    }
}
