package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A bind-mounted root may hold symlinks. Before pivot_root the helper resolves paths from the host's
 * root, so a link out of the new root must be refused, never followed onto the host.
 */
class RootSymlinkIT {

    private SpecDir specs;

    @BeforeEach
    void setUp() {
        specs = new SpecDir();
    }

    @AfterEach
    void tearDown() {
        specs.close();
    }

    private Path rootfs() throws Exception {
        Path rootfs = Files.createDirectories(specs.dir.resolve("rootfs"));
        for (String d : new String[] {"usr", "bin", "lib", "lib64", "proc", "dev"}) Files.createDirectories(rootfs.resolve(d));
        return rootfs;
    }

    private Path spec(String name, String extraMount) {
        return specs.spec(name + ".yaml", """
                namespaces:
                  user: {}
                  mount:
                    root: {type: bind, source: ./rootfs}
                    mounts:
                %s      - {type: tmpfs, target: %s}
                  pid: {}
                process:
                  command: [/bin/sh, -c, 'ls -d /data/*']
                """.formatted(Specs.SYSTEM_MOUNTS, extraMount));
    }

    @Test
    void aMountTargetBehindAnAbsoluteSymlinkOutOfTheRootIsRefusedAndNothingIsCreatedOnTheHost() throws Exception {
        Path victim = Files.createDirectories(specs.dir.resolve("host-victim"));
        Files.createSymbolicLink(rootfs().resolve("data"), victim);
        Cli.Result r = Cli.run("up", spec("escape", "/data/sub").toString());
        assertEquals(125, r.exit(), r.toString());
        assertTrue(r.err().contains("outside the new root") && r.err().contains("EXDEV"), r.err());
        assertFalse(r.err().contains("\tat "), "no stack trace: " + r.err());
        assertFalse(Files.exists(victim.resolve("sub")), "nothing was created through the link on the host");
    }

    @Test
    void aMountTargetBehindARelativeSymlinkThatClimbsOutIsRefused() throws Exception {
        Files.createDirectories(specs.dir.resolve("outside"));
        Files.createSymbolicLink(rootfs().resolve("data"), Path.of("../outside"));
        Cli.Result r = Cli.run("up", spec("climb", "/data/sub").toString());
        assertEquals(125, r.exit(), r.toString());
        assertFalse(Files.exists(specs.dir.resolve("outside/sub")), "nothing was created outside the root");
    }

    @Test
    void aSymlinkThatStaysInsideTheRootIsFollowed() throws Exception {
        Path rootfs = rootfs();
        Files.createDirectories(rootfs.resolve("srv/data"));
        Files.createSymbolicLink(rootfs.resolve("data"), Path.of("srv/data"));
        Cli.Result r = Cli.run("up", spec("inside", "/data/sub").toString());
        assertEquals(0, r.exit(), r.toString());
        assertEquals("/data/sub", r.out().strip());
        assertTrue(Files.isDirectory(rootfs.resolve("srv/data/sub")), "the mount point was made inside the root");
    }
}
