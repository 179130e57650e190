package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * An overlay whose lower directory has a mount below it, inside a user namespace (issue 8). The
 * kernel refuses it with EINVAL and says why only in its log ("failed to clone lowerpath": a mount
 * that came from the host is locked to its parent in a less privileged mount namespace, so the lower
 * tree can't be cloned). The error used to carry the hint about upper and work directories, which
 * did not apply; now it names the mount below the lower directory.
 */
class OverlaySubmountIT {

    private SpecDir specs;

    @BeforeEach
    void setUp() {
        assumeTrue(Cli.isRoot(), "mounting the tmpfs below the lower directory on the host needs root (like CI)");
        specs = new SpecDir();
    }

    @AfterEach
    void tearDown() {
        List<String> problems = specs == null ? List.of() : ItHost.unmountAllUnder(specs.dir);
        if (specs != null) specs.close();
        assertEquals(List.of(), problems, "could not unmount what the test mounted");
        ItHost.assertNothingLeftOf("ovsub-userns");
    }

    @Test
    void aLowerDirWithAHostMountBelowItInAUserNamespaceFailsNamingThatMount() throws IOException {
        Path lower = Files.createDirectories(specs.dir.resolve("lower"));
        Path sub = Files.createDirectories(lower.resolve("cache"));
        Files.createDirectories(specs.dir.resolve("upper"));
        Files.createDirectories(specs.dir.resolve("work"));
        Files.writeString(lower.resolve("l.txt"), "from-lower\n");
        Path spec = specs.spec("ovsub-userns.yaml", """
                namespaces:
                  user: {}
                  mount:
                    mounts:
                      - {type: overlay, target: /mnt, lower: ./lower, upper: ./upper, work: ./work}
                process:
                  command: [/bin/cat, /mnt/l.txt]
                """);

        ItHost.must("mount", "-t", "tmpfs", "-o", "size=1m", "ovsub-test", sub.toString());
        Cli.Result r = Cli.run("up", spec.toString());
        assertEquals(125, r.exit(), r::toString);
        assertFalse(r.out().contains("from-lower"), r::toString);
        assertTrue(r.err().contains("EINVAL"), r::toString);
        assertTrue(r.err().contains("the lower directory " + lower + " has a mount below it: " + sub + " (tmpfs)"),
                "the error names the mount below the lower directory:\n" + r);
        assertTrue(r.err().contains("failed to clone lowerpath"), "and what the kernel logs:\n" + r);
        assertFalse(r.err().contains("upper and work must be"), "the upper/work hint does not apply:\n" + r);
        assertFalse(r.err().contains("\tat "), "no stack trace:\n" + r);

        // control: the same spec once the mount below the lower directory is gone
        ItHost.must("umount", sub.toString());
        Cli.Result ok = Cli.run("up", spec.toString());
        assertEquals(0, ok.exit(), ok::toString);
        assertEquals("from-lower", ok.out().strip(), ok::toString);
    }
}
