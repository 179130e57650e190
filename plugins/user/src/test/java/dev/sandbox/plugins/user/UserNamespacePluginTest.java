package dev.sandbox.plugins.user;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sandbox.api.Diagnostic;
import dev.sandbox.api.Stage;
import dev.sandbox.api.Step;
import dev.sandbox.testkit.FakeHost;
import dev.sandbox.testkit.PluginHarness;
import java.util.List;
import org.junit.jupiter.api.Test;

class UserNamespacePluginTest {

    private static PluginHarness root(String yaml) {
        return PluginHarness.with(new UserNamespacePlugin()).spec(yaml);
    }

    private static PluginHarness alice(String yaml) {
        return PluginHarness.with(new UserNamespacePlugin()).caller(PluginHarness.ALICE).spec(yaml);
    }

    /** op and args of each identity step, in plan order. */
    private static List<String> identity(PluginHarness h) {
        return h.plan().stage(Stage.IDENTITY).stream()
                .map(s -> s.op() + s.args().stream().map(a -> " " + a.key() + "=" + a.value()).reduce("", String::concat))
                .toList();
    }

    private static Diagnostic only(PluginHarness h) {
        List<Diagnostic> errors = h.errors();
        assertEquals(1, errors.size(), errors.toString());
        return errors.get(0);
    }

    // ---- steps ----

    @Test
    void rootlessDefaultMapsOwnIdsDirectlyAfterDenyingSetgroups() {
        var h = alice("""
                namespaces:
                  user: {}
                """);
        assertEquals(List.of(), h.errors());
        assertEquals(List.of(
                "write-setgroups value=deny",
                "write-id-map kind=uid map=0 1000 1 via=direct",
                "write-id-map kind=gid map=0 1000 1 via=direct"), identity(h));
        assertEquals("write /proc/<helper>/setgroups \"deny\"", h.first("write-setgroups").orElseThrow().syscall());
        assertEquals("write /proc/<helper>/uid_map \"0 1000 1\"", h.first("write-id-map").orElseThrow().syscall());
        assertEquals(Stage.ENTER, h.first("unshare-user").orElseThrow().stage());
    }

    @Test
    void rootDefaultMapsRootAndLeavesSetgroupsAllowed() {
        var h = root("""
                namespaces:
                  user: {}
                """);
        assertEquals(List.of(
                "write-id-map kind=uid map=0 0 1 via=direct",
                "write-id-map kind=gid map=0 0 1 via=direct",
                // every sandbox of root gets a cgroup (the engine's step), placed after the maps are written
                "cgroup-place path=/sys/fs/cgroup/unified/sandbox/test"), identity(h));
    }

    @Test
    void rootWritesMultiRangeMapsDirectlyAndHonoursExplicitDeny() {
        var h = root("""
                namespaces:
                  user:
                    uidMap: [{inside: 0, outside: 100000, count: 65536}]
                    gidMap: [{inside: 0, outside: 100000, count: 1000}, {inside: 1000, outside: 5000, count: 10}]
                    setgroups: deny
                """);
        assertEquals(List.of(
                "write-setgroups value=deny",
                "write-id-map kind=uid map=0 100000 65536 via=direct",
                "write-id-map kind=gid map=0 100000 1000,1000 5000 10 via=direct",
                "cgroup-place path=/sys/fs/cgroup/unified/sandbox/test"), identity(h));
        assertEquals("write /proc/<helper>/gid_map \"0 100000 1000\\n1000 5000 10\"", h.steps("write-id-map").get(1).syscall());
    }

    @Test
    void rootlessSubordinateRangesGoThroughNewuidmapAndNewgidmap() {
        var h = alice("""
                namespaces:
                  user:
                    uidMap: [{inside: 0, outside: 1000, count: 1}, {inside: 1, outside: 100000, count: 65536}]
                    gidMap: [{inside: 0, outside: 100000, count: 65536}]
                """);
        assertEquals(List.of(), h.errors());
        // the gid map comes only from /etc/subgid: newgidmap leaves setgroups allowed
        assertEquals(List.of(
                "write-id-map kind=uid map=0 1000 1,1 100000 65536 via=newuidmap",
                "write-id-map kind=gid map=0 100000 65536 via=newgidmap"), identity(h));
        Step uid = h.first("write-id-map").orElseThrow();
        assertEquals("newuidmap <helper> 0 1000 1 1 100000 65536  (writes /proc/<helper>/uid_map)", uid.syscall());
        assertTrue(uid.summary().contains("/etc/subuid"), uid.summary());
    }

    @Test
    void rootlessOwnGidThroughNewgidmapDefaultsToDeny() {
        var h = alice("""
                namespaces:
                  user:
                    gidMap: [{inside: 0, outside: 1000, count: 1}, {inside: 1, outside: 100000, count: 10}]
                """);
        assertEquals(List.of(
                "write-setgroups value=deny",
                "write-id-map kind=uid map=0 1000 1 via=direct",
                "write-id-map kind=gid map=0 1000 1,1 100000 10 via=newgidmap"), identity(h));
    }

    @Test
    void processIdentityInsideTheMapsValidates() {
        var h = root("""
                namespaces:
                  user:
                    uidMap: [{inside: 0, outside: 100000, count: 65536}]
                    gidMap: [{inside: 0, outside: 100000, count: 65536}]
                process:
                  command: [/bin/true]
                  user: {uid: 1000, gid: 1000, groups: [10, 20]}
                """);
        assertEquals(List.of(), h.errors());
        assertEquals("10,20", h.first("setgroups").orElseThrow().arg("groups").orElseThrow());
    }

    // ---- one test per diagnostic code, located ----

    @Test
    void zeroCountIsReportedAtTheCount() {
        var h = root("""
                namespaces:
                  user:
                    uidMap:
                      - {inside: 0, outside: 0, count: 0}
                """);
        assertEquals(List.of("7:40 user.zero-count"), h.errorCodes());
    }

    @Test
    void idsBeyondTheLargestValidIdAreReportedAtTheStart() {
        var h = root("""
                namespaces:
                  user:
                    uidMap:
                      - inside: 0
                        outside: 4294967295
                        count: 1
                    gidMap:
                      - inside: 4294967290
                        outside: 0
                        count: 5
                      - inside: 4294967290
                        outside: 5
                        count: 6
                """);
        assertEquals(List.of("8:18 user.id-out-of-range", "14:17 user.id-out-of-range"), h.errorCodes());
        assertTrue(only(root("""
                namespaces:
                  user:
                    uidMap: [{inside: 0, outside: 99999999999999999999999, count: 1}]
                """)).message().contains("4294967294"));
    }

    @Test
    void overlappingRangesAreReportedAtTheLaterRangeForEachSide() {
        var h = root("""
                namespaces:
                  user:
                    uidMap:
                      - {inside: 0, outside: 100000, count: 10}
                      - {inside: 5, outside: 200000, count: 10}
                    gidMap:
                      - {inside: 0, outside: 100000, count: 10}
                      - {inside: 10, outside: 100009, count: 10}
                """);
        assertEquals(List.of("8:9 user.overlapping-ranges", "11:9 user.overlapping-ranges"), h.errorCodes());
        Diagnostic inside = h.errors().get(0);
        assertTrue(inside.message().contains("inside 5-14") && inside.message().contains("overlaps uidMap[0] (inside 0-9)"), inside.message());
        assertTrue(h.errors().get(1).message().contains("outside 100009-100018"), h.errors().get(1).message());
    }

    @Test
    void rootlessRangesOutsideSubuidAreReportedWithUsermodHint() {
        var h = PluginHarness.with(new UserNamespacePlugin()).caller(PluginHarness.ALICE).host(FakeHost.hybrid().withoutSubordinateIds())
                .spec("""
                        namespaces:
                          user:
                            uidMap: [{inside: 0, outside: 1000, count: 1}, {inside: 1, outside: 100000, count: 65536}]
                        """);
        Diagnostic d = only(h);
        assertEquals("6:73 user.not-subordinate", h.errorCodes().get(0));
        assertTrue(d.message().contains("no subordinate uids in /etc/subuid"), d.message());
        assertTrue(d.hint().contains("/etc/subuid") && d.hint().contains("usermod --add-subuids"), d.hint());
    }

    @Test
    void rootlessRangeMixingOwnIdAndOthersIsNotSubordinate() {
        var h = alice("""
                namespaces:
                  user:
                    gidMap: [{inside: 0, outside: 1000, count: 2}]
                """);
        assertEquals(List.of("6:35 user.not-subordinate"), h.errorCodes());
        Diagnostic d = h.errors().get(0);
        assertTrue(d.message().contains("100000-165535 from /etc/subgid"), d.message());
        assertTrue(d.hint().contains("usermod --add-subgids"), d.hint());
    }

    @Test
    void setgroupsAllowWithOnlyTheCallersGidIsRefused() {
        var h = alice("""
                namespaces:
                  user: {setgroups: allow}
                """);
        assertEquals(List.of("5:21 user.setgroups-allow-unprivileged"), h.errorCodes());
        assertTrue(h.errors().get(0).hint().contains("setgroups: deny"));
    }

    @Test
    void setgroupsAllowWhenNewgidmapMapsTheOwnGidIsRefused() {
        var h = alice("""
                namespaces:
                  user:
                    gidMap: [{inside: 0, outside: 1000, count: 1}, {inside: 1, outside: 100000, count: 10}]
                    setgroups: allow
                """);
        assertEquals(List.of("7:16 user.setgroups-allow-unprivileged"), h.errorCodes());
    }

    @Test
    void unmappedProcessUidIsReportedAtTheUid() {
        var h = alice("""
                namespaces:
                  user: {}
                process:
                  command: [/bin/true]
                  user: {uid: 1000}
                """);
        assertEquals(List.of("8:15 user.uid-not-mapped"), h.errorCodes());
        assertTrue(h.errors().get(0).message().contains("inside uids 0"), h.errors().get(0).message());
    }

    @Test
    void defaultUidZeroMustBeMappedToo() {
        var h = root("""
                namespaces:
                  user:
                    uidMap: [{inside: 1, outside: 100000, count: 10}]
                """);
        assertEquals(List.of("6:13 user.uid-not-mapped"), h.errorCodes());
        assertTrue(h.errors().get(0).message().contains("the default"), h.errors().get(0).message());
    }

    @Test
    void unmappedGidAndGroupAreReportedEach() {
        var h = root("""
                namespaces:
                  user:
                    gidMap: [{inside: 0, outside: 100000, count: 100}]
                process:
                  command: [/bin/true]
                  user: {gid: 100, groups: [5, 500]}
                """);
        assertEquals(List.of("9:15 user.gid-not-mapped", "9:32 user.gid-not-mapped"), h.errorCodes());
        assertTrue(h.errors().get(1).message().contains("setgroups would fail"), h.errors().get(1).message());
    }

    @Test
    void supplementaryGroupsNeedSetgroupsAllowed() {
        var h = alice("""
                namespaces:
                  user: {}
                process:
                  command: [/bin/true]
                  user: {groups: [0]}
                """);
        assertEquals(List.of("8:18 user.groups-need-setgroups"), h.errorCodes());
        assertTrue(h.errors().get(0).hint().contains("/etc/subgid"), h.errors().get(0).hint());
    }

    @Test
    void explicitDenyAsRootWithGroupsHintsAtAllow() {
        var h = root("""
                namespaces:
                  user: {setgroups: deny}
                process:
                  command: [/bin/true]
                  user: {groups: [0]}
                """);
        assertEquals(List.of("8:18 user.groups-need-setgroups"), h.errorCodes());
        assertEquals("remove the groups, or set setgroups: allow under namespaces.user", h.errors().get(0).hint());
    }

    // ---- schema ----

    @Test
    void schemaIsStrictAboutKeysAndIntegers() {
        var h = root("""
                namespaces:
                  user:
                    uidMap: [{inside: 0, outside: 1000, count: 1, extra: 1}]
                    gidMap: [{inside: "0", outside: 1000, count: 1.5}]
                    setgroups: maybe
                """);
        List<String> codes = h.errors().stream().map(Diagnostic::code).sorted().toList();
        assertEquals(List.of("schema.enum", "schema.type", "schema.type", "schema.unknown-key"), codes);
    }
}
