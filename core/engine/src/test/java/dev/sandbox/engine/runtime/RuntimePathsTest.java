package dev.sandbox.engine.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The runtime base dir is trusted only when the caller owns it and only the caller can write to it. */
class RuntimePathsTest {

    @TempDir Path dir;

    @Test
    void aMissingBaseIsCreatedSearchableButNotListableOrWritableByOthers() throws Exception {
        Path base = dir.resolve("a/b/sandbox");
        RuntimePaths.ensureTrusted(base);
        assertEquals(0711, (Integer) Files.getAttribute(base, "unix:mode") & 07777);
        RuntimePaths.ensureTrusted(base); // and an own one is accepted as it is
    }

    @Test
    void aWorldWritableBaseIsRefusedWithItsOwnerModeAndAFix() throws Exception {
        Path base = Files.createDirectory(dir.resolve("open"));
        Files.setPosixFilePermissions(base, PosixFilePermissions.fromString("rwxrwxrwx"));
        HostStepException e = assertThrows(HostStepException.class, () -> RuntimePaths.ensureTrusted(base));
        assertTrue(e.getMessage().contains(base + " can be written by"), e.getMessage());
        assertTrue(e.getMessage().contains("mode 0777"), e.getMessage());
        assertTrue(e.getMessage().contains("Fix: "), e.getMessage());
    }

    @Test
    void aSymlinkIsRefusedEvenToAGoodDir() throws Exception {
        Path real = Files.createDirectory(dir.resolve("real"), PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        Path link = Files.createSymbolicLink(dir.resolve("link"), real);
        HostStepException e = assertThrows(HostStepException.class, () -> RuntimePaths.ensureTrusted(link));
        assertTrue(e.getMessage().contains("is a symbolic link"), e.getMessage());
        assertTrue(Files.isSymbolicLink(link) && Files.isDirectory(real, LinkOption.NOFOLLOW_LINKS));
    }

    @Test
    void aBaseOwnedBySomeoneElseIsRefused() throws Exception {
        assumeTrue(RuntimePaths.effectiveUid() == 0, "chown to another user needs root");
        Path base = Files.createDirectory(dir.resolve("theirs"), PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        Files.setAttribute(base, "unix:uid", 65534);
        HostStepException e = assertThrows(HostStepException.class, () -> RuntimePaths.ensureTrusted(base));
        assertTrue(e.getMessage().contains("(uid 65534), not by you (uid 0)"), e.getMessage());
    }
}
