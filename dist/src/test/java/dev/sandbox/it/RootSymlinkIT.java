package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A bind-mounted root may hold symlinks. Before pivot_root the helper resolves every path below the
 * new root with openat2(RESOLVE_IN_ROOT): links resolve inside the root exactly as they will after
 * pivot_root (an absolute link too, as runc does), `..` stops at the root, and mounts and mkdirs go
 * through the resolved file descriptors, so a rename racing the setup can't redirect them onto the host.
 * (Until issue 7 links out of the root were refused with EXDEV after a realpath() check.)
 */
class RootSymlinkIT {

    private SpecDir specs;

    @BeforeEach
    void setUp() {
        specs = new SpecDir();
    }

    @AfterEach
    void tearDown() {
        List<String> problems = ItHost.unmountAllUnder(specs.dir);
        specs.close();
        assertTrue(problems.isEmpty(), problems::toString);
    }

    private Path rootfs() throws Exception {
        Path rootfs = Files.createDirectories(specs.dir.resolve("rootfs"));
        for (String d : new String[] {"usr", "bin", "lib", "lib64", "proc", "dev"}) Files.createDirectories(rootfs.resolve(d));
        return rootfs;
    }

    private Path spec(String name, String extraMount, String command) {
        return specs.spec(name + ".yaml", """
                namespaces:
                  user: {}
                  mount:
                    root: {type: bind, source: ./rootfs}
                    mounts:
                %s      - {type: tmpfs, target: %s}
                  pid: {}
                process:
                  command: [/bin/sh, -c, '%s']
                """.formatted(Specs.SYSTEM_MOUNTS, extraMount, command));
    }

    @Test
    void anAbsoluteSymlinkInTheRootResolvesInsideItAndTheTmpfsLandsThere() throws Exception {
        Path rootfs = rootfs();
        String real = "/sandbox-it-real-" + UUID.randomUUID();
        assertFalse(Files.exists(Path.of(real)), "the link's target must not exist on the host");
        Files.createDirectories(rootfs.resolve(real.substring(1) + "/conf"));
        Files.createSymbolicLink(rootfs.resolve("conf"), Path.of(real + "/conf"));
        Cli.Result r = Cli.run("up", spec("sl-abs", "/conf/stack",
                "ls -d /conf/stack; grep -c \" " + real + "/conf/stack .* tmpfs \" /proc/self/mountinfo").toString());
        assertEquals(0, r.exit(), r.toString());
        assertEquals("/conf/stack\n1", r.out().strip(), "the tmpfs is on the link's target inside the root: " + r);
        assertTrue(Files.isDirectory(rootfs.resolve(real.substring(1) + "/conf/stack")), "the mount point was made inside the root");
        assertFalse(Files.exists(Path.of(real)), "nothing was created on the host");
    }

    @Test
    void anAbsoluteSymlinkToAHostDirectoryIsADanglingLinkInTheRootAndNothingIsCreatedOnTheHost() throws Exception {
        Path victim = Files.createDirectories(specs.dir.resolve("host-victim"));
        Files.createSymbolicLink(rootfs().resolve("data"), victim);
        Cli.Result r = Cli.run("up", spec("sl-escape", "/data/sub", "ls -d /data/*").toString());
        assertEquals(125, r.exit(), r.toString());
        assertTrue(r.err().contains("mkdir /data: ENOENT (/data is a symlink to " + victim + ", which does not exist in the sandbox's root"),
                "names the link and where it points, as the sandbox's path: " + r.err());
        assertFalse(r.err().contains("\tat "), "no stack trace: " + r.err());
        assertFalse(Files.exists(victim.resolve("sub")), "nothing was created through the link on the host");
    }

    @Test
    void aRelativeSymlinkThatClimbsOutStopsAtTheRoot() throws Exception {
        Path rootfs = rootfs();
        Files.createDirectories(specs.dir.resolve("outside"));
        Files.createSymbolicLink(rootfs.resolve("data"), Path.of("../../../../outside"));
        // `..` at the root stays at the root: the link means /outside of the sandbox
        Cli.Result dangling = Cli.run("up", spec("sl-climb", "/data/sub", "ls -d /data/*").toString());
        assertEquals(125, dangling.exit(), dangling.toString());
        assertTrue(dangling.err().contains("/data is a symlink to ../../../../outside"), dangling.err());
        Files.createDirectories(rootfs.resolve("outside"));
        Cli.Result r = Cli.run("up", spec("sl-climb", "/data/sub", "ls -d /data/*").toString());
        assertEquals(0, r.exit(), r.toString());
        assertEquals("/data/sub", r.out().strip());
        assertTrue(Files.isDirectory(rootfs.resolve("outside/sub")), "made inside the root");
        assertFalse(Files.exists(specs.dir.resolve("outside/sub")), "nothing was created outside the root");
    }

    @Test
    void aSymlinkThatStaysInsideTheRootIsFollowed() throws Exception {
        Path rootfs = rootfs();
        Files.createDirectories(rootfs.resolve("srv/data"));
        Files.createSymbolicLink(rootfs.resolve("data"), Path.of("srv/data"));
        Cli.Result r = Cli.run("up", spec("sl-inside", "/data/sub", "ls -d /data/*").toString());
        assertEquals(0, r.exit(), r.toString());
        assertEquals("/data/sub", r.out().strip());
        assertTrue(Files.isDirectory(rootfs.resolve("srv/data/sub")), "the mount point was made inside the root");
    }

    /**
     * CVE-2021-30465 class: while {@code up} runs again and again, a process swaps a directory of the
     * root and a symlink to a host directory with renameat2(RENAME_EXCHANGE) as fast as it can. Runs may
     * fail (the path changes under them), but no mkdir and no mount may ever land on the host.
     */
    @Test
    void aRenameExchangeRaceDuringSetupNeverPutsAMkdirOrAMountOutsideTheRoot() throws Exception {
        assumeTrue(Cli.isRoot(), "the probe is compiled into the distribution's build directory");
        Path rootfs = rootfs();
        Path victim = Files.createDirectories(specs.dir.resolve("host-victim"));
        Files.createDirectories(rootfs.resolve("data"));
        Files.createSymbolicLink(rootfs.resolve("swap"), victim);
        Path spec = spec("sl-race", "/data/sub/deeper", "true");
        Process swapper = new ProcessBuilder(HelperRun.probe().toString(), "exchange", rootfs.resolve("data").toString(),
                rootfs.resolve("swap").toString(), "120000").redirectErrorStream(true).start();
        List<Integer> exits = new ArrayList<>();
        try {
            boolean sawLink = false;
            boolean sawDir = false;
            for (int i = 0; i < 100_000 && !(sawLink && sawDir); i++) {
                boolean link = Files.isSymbolicLink(rootfs.resolve("data"));
                sawLink |= link;
                sawDir |= !link;
            }
            assertTrue(sawLink && sawDir, "the swapper really swaps /data between a directory and a link to the host");
            for (int i = 0; i < 25; i++) {
                Cli.Result r = Cli.run("up", spec.toString());
                exits.add(r.exit());
                assertTrue(r.exit() == 0 || r.exit() == 125, r.toString());
                assertFalse(r.err().contains("\tat "), "no stack trace: " + r.err());
                try (Stream<Path> left = Files.list(victim)) {
                    assertEquals(List.of(), left.toList(), "run " + i + " created something in the host directory: " + r);
                }
                assertFalse(ItHost.hostMounts().stream().anyMatch(m -> m.mountPoint().startsWith(victim.toString())),
                        "run " + i + " left a mount on the host directory");
            }
        } finally {
            swapper.destroy();
            swapper.waitFor(10, TimeUnit.SECONDS);
        }
        System.out.println("RootSymlinkIT race: exits " + exits);
    }
}
