package dev.sandbox.engine.host;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

class MountInfoTest {

    private static final List<String> LINES = List.of(
            "22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw",
            "30 22 0:26 / /sys/fs/cgroup rw - tmpfs tmpfs rw",
            "31 30 0:27 / /sys/fs/cgroup/unified rw shared:9 - cgroup2 cgroup2 rw",
            "40 22 0:40 / /srv/with\\040space rw - tmpfs tmpfs rw");

    @Test
    void fieldsOptionalTagsAndEscapesAreParsed() {
        List<MountInfo.Entry> mounts = MountInfo.parse(LINES);
        assertEquals(4, mounts.size());
        assertTrue(mounts.get(0).isShared());
        assertFalse(mounts.get(1).isShared());
        assertEquals("cgroup2", mounts.get(2).fsType());
        assertEquals(Path.of("/srv/with space"), mounts.get(3).mountPoint());
    }

    @Test
    void theContainingMountIsTheDeepest() {
        List<MountInfo.Entry> mounts = MountInfo.parse(LINES);
        assertEquals(Path.of("/sys/fs/cgroup/unified"), MountInfo.containing(mounts, Path.of("/sys/fs/cgroup/unified/x")).mountPoint());
        assertEquals(Path.of("/"), MountInfo.containing(mounts, Path.of("/home/a")).mountPoint());
    }

    @Test
    void subordinateRangesOfTheCallerAreRead(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        Path f = dir.resolve("subuid");
        java.nio.file.Files.writeString(f, "alice:100000:65536\nbob:200000:65536\n1000:300000:10\nbad line\n");
        List<long[]> ranges = HostProbe.subordinate(f, "alice", 1000);
        assertEquals(2, ranges.size());
        assertEquals(100000, ranges.get(0)[0]);
        assertEquals(300000, ranges.get(1)[0]);
    }
}
