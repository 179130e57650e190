package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import org.junit.jupiter.api.Test;

/**
 * The source checkout's bin/sandbox (README's first command): it builds the distribution when it is missing or
 * older than the sources, then keeps a stamp of the sources' times. Here in a small fake checkout with a fake
 * {@code mvn} on PATH (it counts its calls, "builds" by copying the real runtime, and can edit a source file
 * while it runs), and {@code sandbox gc}, which the launcher hands to the runtime without a JVM.
 */
class SourceLauncherIT {

    private static final String FAKE_MVN = """
            #!/bin/sh
            # a fake mvn package: counts its calls, can edit a source while it "builds"
            n=$(cat "$FAKE_COUNT" 2>/dev/null || echo 0)
            echo $((n + 1)) > "$FAKE_COUNT"
            mkdir -p dist/target/sandbox/libexec
            cp "$FAKE_INIT" dist/target/sandbox/libexec/sandbox-init
            if [ -f "$FAKE_EDIT" ]; then
                rm -f "$FAKE_EDIT"
                sleep 0.05
                echo '// edited while the build ran' >> core/src/A.java
            fi
            touch dist/target/sandbox/.built
            """;

    private static ItHost.Run call(Path tree, Path fake) {
        return ItHost.run("env", "PATH=" + fake.resolve("bin") + ":" + System.getenv("PATH"), "FAKE_COUNT=" + fake.resolve("count"),
                "FAKE_EDIT=" + fake.resolve("edit"), "FAKE_INIT=" + Cli.DIST.resolve("libexec/sandbox-init"),
                "SANDBOX_RUNTIME_DIR=" + fake.resolve("run"), tree.resolve("bin/sandbox").toString(), "gc");
    }

    private static int builds(Path fake) throws IOException {
        return Files.exists(fake.resolve("count")) ? Integer.parseInt(Files.readString(fake.resolve("count")).strip()) : 0;
    }

    private static Path checkout(Path tree) throws IOException {
        Files.createDirectories(tree.resolve("bin"));
        Files.copy(Cli.ROOT.resolve("bin/sandbox"), tree.resolve("bin/sandbox"));
        Files.writeString(tree.resolve("pom.xml"), "<project/>\n");
        Files.createDirectories(tree.resolve("core/src"));
        Files.writeString(tree.resolve("core/src/A.java"), "class A {}\n");
        Files.createDirectories(tree.resolve("plugins"));
        Files.createDirectories(tree.resolve("schemas"));
        Files.createDirectories(tree.resolve("man"));
        Files.writeString(tree.resolve("man/pom.xml"), "<project/>\n");
        Files.createDirectories(tree.resolve("dist"));
        Files.writeString(tree.resolve("dist/pom.xml"), "<project/>\n");
        return tree;
    }

    private static Path fakeMvn(Path fake) throws IOException {
        Path mvn = Files.createDirectories(fake.resolve("bin")).resolve("mvn");
        Files.writeString(mvn, FAKE_MVN);
        Files.setPosixFilePermissions(mvn, PosixFilePermissions.fromString("rwxr-xr-x"));
        return fake;
    }

    @Test
    void theFirstCallBuildsOnceAndLaterCallsDoNot() throws IOException {
        try (SpecDir d = new SpecDir()) {
            Path tree = checkout(d.dir.resolve("tree"));
            Path fake = fakeMvn(d.dir.resolve("fake"));
            ItHost.Run first = call(tree, fake);
            assertEquals(0, first.exit(), first.toString());
            assertTrue(first.err().contains("building the distribution"), first.toString());
            assertEquals(1, builds(fake));
            ItHost.Run second = call(tree, fake);
            assertEquals(0, second.exit(), second.toString());
            assertEquals(1, builds(fake), "nothing changed: no build " + second);

            Files.writeString(tree.resolve("core/src/A.java"), "class A { }\n");
            assertEquals(0, call(tree, fake).exit());
            assertEquals(2, builds(fake), "a source edited: built again");
        }
    }

    @Test
    void aSourceEditedWhileTheBuildRanIsBuiltAgainByTheNextCall() throws IOException {
        try (SpecDir d = new SpecDir()) {
            Path tree = checkout(d.dir.resolve("tree"));
            Path fake = fakeMvn(d.dir.resolve("fake"));
            Files.writeString(fake.resolve("edit"), "");
            ItHost.Run first = call(tree, fake);
            assertEquals(0, first.exit(), first.toString());
            assertEquals(1, builds(fake));
            assertTrue(first.err().contains("a source file changed during the build; the next call builds again"), first.toString());
            assertFalse(Files.exists(tree.resolve("dist/target/.sources")), "no stamp that would record the edit as built");

            ItHost.Run second = call(tree, fake);
            assertEquals(0, second.exit(), second.toString());
            assertEquals(2, builds(fake), "the edit is built: " + second);
            ItHost.Run third = call(tree, fake);
            assertEquals(0, third.exit(), third.toString());
            assertEquals(2, builds(fake), "and then nothing more: " + third);
        }
    }
}
