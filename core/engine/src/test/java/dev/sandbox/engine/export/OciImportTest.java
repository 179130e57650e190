package dev.sandbox.engine.export;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.DynamicTest.dynamicTest;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.sandbox.api.Diagnostic;
import dev.sandbox.engine.review.EffectiveSpec;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

/** import is export's reverse: export → import → export gives the same config; what a spec can't express is a located warning. */
class OciImportTest {

    static final ObjectMapper JSON = new ObjectMapper();

    @TempDir Path dir;

    /** The rich spec, joining its cgroup namespace by path (join by sandbox name has no OCI form, so it can't come back). */
    static final String RICH_ROUND_TRIP = ExportFixtures.RICH.replace("cgroup: {join: {sandbox: other}}", "cgroup: {join: {path: /proc/1/ns/cgroup}}");

    @TestFactory
    Stream<DynamicTest> exportImportExportGivesTheSameConfig() throws Exception {
        List<DynamicTest> tests = new ArrayList<>();
        for (Path example : ExportFixtures.examples()) {
            tests.add(dynamicTest(example.getFileName().toString(), () -> roundTrip(example, ExportFixtures.read(example), example.getParent())));
        }
        tests.add(dynamicTest("every key", () -> {
            Files.writeString(dir.resolve("profile.json"), DockerSeccompTest.PROFILE);
            roundTrip(dir.resolve("rich.yaml"), RICH_ROUND_TRIP, dir);
        }));
        return tests.stream();
    }

    private void roundTrip(Path file, String yaml, Path baseDir) throws Exception {
        EffectiveSpec first = ExportFixtures.model(file, yaml, 0);
        JsonNode a = text(OciExport.export(first, baseDir, ExportFixtures.profiles()).config());
        Path bundle = Files.createTempDirectory(dir, "bundle");
        OciImport.Result imported = OciImport.read(JSON.writeValueAsBytes(a), "config.json", bundle, "fallback", 0, 0, ExportFixtures.profiles());
        assertFalse(imported.hasErrors(), imported.diagnostics().toString());
        Path specDir = Files.createTempDirectory(dir, "spec");
        if (imported.seccompProfile().isPresent()) {
            Files.writeString(specDir.resolve("imported.seccomp.json"), JSON.writeValueAsString(imported.seccompProfile().get()));
            OciImport.nameSeccompFile(imported.spec(), "./imported.seccomp.json");
        }
        String spec = OciImport.yaml(imported.spec());
        EffectiveSpec second = ExportFixtures.model(specDir.resolve("imported.yaml"), spec, 0);
        JsonNode b = text(OciExport.export(second, specDir, ExportFixtures.profiles()).config());
        assertEquals(a.toPrettyString(), b.toPrettyString(), "the spec import wrote:\n" + spec);
    }

    static JsonNode text(JsonNode n) throws Exception {
        return JSON.readTree(JSON.writeValueAsString(n));
    }

    @Test
    void theBuiltInProfileComesBackAsDefaultAndNoProfileAsUnconfined() throws Exception {
        Path hello = ExportFixtures.EXAMPLES.resolve("hello.yaml");
        JsonNode a = OciExport.export(ExportFixtures.model(hello, ExportFixtures.read(hello), 0), hello.getParent(), ExportFixtures.profiles()).config();
        OciImport.Result r = OciImport.read(JSON.writeValueAsBytes(a), "config.json", dir, "x", 0, 0, ExportFixtures.profiles());
        assertTrue(r.seccompProfile().isEmpty());
        assertFalse(r.spec().get("process").has("seccomp"), "default is the default: " + r.spec());
        ((com.fasterxml.jackson.databind.node.ObjectNode) a.get("linux")).remove("seccomp");
        r = OciImport.read(JSON.writeValueAsBytes(a), "config.json", dir, "x", 0, 0, ExportFixtures.profiles());
        assertEquals("unconfined", r.spec().get("process").get("seccomp").asText());
    }

    /** The shape of `runc spec`, plus fields a spec has no key for. */
    static final String RUNC_STYLE = """
            {
              "ociVersion": "1.0.2-dev",
              "process": {
                "terminal": true,
                "user": {"uid": 0, "gid": 0},
                "args": ["sh"],
                "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
                "cwd": "/",
                "capabilities": {
                  "bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                  "effective": ["CAP_AUDIT_WRITE", "CAP_KILL"],
                  "permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                  "ambient": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
                },
                "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
                "noNewPrivileges": true
              },
              "root": {"path": "rootfs", "readonly": true},
              "hostname": "runc",
              "mounts": [
                {"destination": "/proc", "type": "proc", "source": "proc"},
                {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
                {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
                {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
                {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
                {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
                {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
                {"destination": "/data", "type": "bind", "source": "data", "options": ["bind", "ro"]}
              ],
              "hooks": {"prestart": [{"path": "/usr/bin/true"}]},
              "linux": {
                "resources": {"devices": [{"allow": false, "access": "rwm"}]},
                "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}],
                "maskedPaths": ["/proc/acpi", "/proc/kcore"],
                "readonlyPaths": ["/proc/bus", "/proc/sys"],
                "cgroupsPath": "/machine/web"
              },
              "annotations": {"org.example.owner": "team"}
            }
            """;

    @Test
    void aRuncConfigBecomesASpecAndWhatDoesntMapIsAWarningAtItsLineAndColumn() throws Exception {
        OciImport.Result r = OciImport.read(RUNC_STYLE.getBytes(StandardCharsets.UTF_8), "config.json", dir, "web", 0, 0, ExportFixtures.profiles());
        assertFalse(r.hasErrors(), r.diagnostics().toString());
        Map<String, String> where = new TreeMap<>();
        for (Diagnostic d : r.diagnostics()) where.merge(d.code(), d.location().line() + ":" + d.location().column(), (x, y) -> x + " " + y);
        // at the key (or the object) that has no spec equivalent; the text block's first line is 1
        assertEquals("4:5", where.get("import.terminal"));
        assertEquals("11:7 13:7", where.get("import.capability-sets-differ"), "effective differs; ambient for uid 0");
        assertEquals("15:5 32:19 30:3", where.get("import.unmapped"), "process.rlimits, linux.resources.devices, hooks");
        assertEquals("27:5", where.get("import.mount-type"), "the cgroup mount");
        assertEquals("28:64", where.get("import.bind-not-recursive"));
        assertEquals("21:5", where.get("import.mount-flag-added"), "proc without nosuid,nodev,noexec: one warning");
        assertEquals("36:5", where.get("import.cgroups-path"));
        assertEquals("38:19", where.get("import.annotation"));
        JsonNode spec = r.spec();
        assertEquals("web", spec.get("name").asText());
        assertEquals("runc", spec.at("/namespaces/uts/hostname").asText());
        assertEquals(dir.resolve("rootfs").toString(), spec.at("/namespaces/mount/root/source").asText(), "a relative root.path is the bundle's");
        assertTrue(spec.at("/namespaces/mount/readonlyRoot").asBoolean());
        assertEquals("[\"/proc/acpi\",\"/proc/kcore\"]", spec.at("/namespaces/mount/masks").toString());
        assertEquals("dev", spec.at("/namespaces/mount/mounts/1/type").asText(), "tmpfs /dev + devpts + /dev/shm is a dev mount");
        assertEquals("/dev/mqueue", spec.at("/namespaces/mount/mounts/2/target").asText());
        assertEquals(dir.resolve("data").toString(), spec.at("/namespaces/mount/mounts/4/source").asText());
        assertTrue(spec.at("/namespaces/mount/mounts/4/readonly").asBoolean());
        assertEquals("[\"CAP_KILL\",\"CAP_NET_BIND_SERVICE\",\"CAP_AUDIT_WRITE\"]", spec.at("/process/capabilities").toString());
        assertEquals("{\"TERM\":\"xterm\"}", spec.at("/process/env").toString(), "PATH is the spec's default");
        assertEquals("unconfined", spec.at("/process/seccomp").asText());
        assertFalse(spec.get("namespaces").has("user"));
        // and it is a spec the loader reads back
        ExportFixtures.model(dir.resolve("web.yaml"), OciImport.yaml((com.fasterxml.jackson.databind.node.ObjectNode) spec), 0);
    }

    @Test
    void linuxResourcesBecomeTheResourcesSectionAndTheRestIsAWarningAtItsKey() throws Exception {
        String config = """
                {
                  "ociVersion": "1.1.0",
                  "process": {"args": ["/bin/true"], "cwd": "/"},
                  "root": {"path": "rootfs"},
                  "linux": {
                    "resources": {
                      "memory": {"limit": 2147483648, "swap": 3221225472, "reservation": 1073741824},
                      "pids": {"limit": 512},
                      "cpu": {"shares": 512, "quota": 150000, "period": 100000, "cpus": "0-1"},
                      "blockIO": {"weight": 500}
                    }
                  }
                }
                """;
        OciImport.Result r = OciImport.read(config.getBytes(StandardCharsets.UTF_8), "config.json", dir, "lim", 0, 0, ExportFixtures.profiles());
        assertFalse(r.hasErrors(), r.diagnostics().toString());
        assertEquals("{\"memory\":\"2G\",\"memorySwap\":\"3G\",\"pids\":512,\"cpus\":1.5,\"cpuWeight\":50}", r.spec().get("resources").toString());
        List<String> unmapped = r.diagnostics().stream().filter(d -> d.code().equals("import.unmapped"))
                .map(d -> d.location().line() + ":" + d.location().column() + " " + d.message()).toList();
        assertEquals(List.of("7:59 linux.resources.memory.reservation has no spec equivalent; left out",
                "9:65 linux.resources.cpu.cpus has no spec equivalent; left out",
                "10:7 linux.resources.blockIO has no spec equivalent; left out"), unmapped);
        // swap twice the limit is up's default: left out; -1 is no swap limit
        String defaults = config.replace("\"swap\": 3221225472", "\"swap\": 4294967296");
        assertFalse(OciImport.read(defaults.getBytes(StandardCharsets.UTF_8), "config.json", dir, "lim", 0, 0, ExportFixtures.profiles())
                .spec().get("resources").has("memorySwap"));
        String unlimited = config.replace("\"swap\": 3221225472", "\"swap\": -1");
        assertEquals(-1, OciImport.read(unlimited.getBytes(StandardCharsets.UTF_8), "config.json", dir, "lim", 0, 0, ExportFixtures.profiles())
                .spec().get("resources").get("memorySwap").asInt());
    }

    @Test
    void brokenJsonIsOneLocatedError() {
        OciImport.Result r = OciImport.read("{\n  \"process\": [1,\n}".getBytes(StandardCharsets.UTF_8), "config.json", dir, "x", 0, 0,
                ExportFixtures.profiles());
        assertTrue(r.hasErrors());
        assertEquals("import.not-json", r.diagnostics().get(0).code());
        assertEquals(3, r.diagnostics().get(0).location().line());
    }

    @Test
    void sizesComeBackInTheSpecsUnits() {
        assertEquals("16M", OciImport.size("16777216"));
        assertEquals("64M", OciImport.size("65536k"));
        assertEquals("64K", OciImport.size("65536"));
        assertEquals("1000", OciImport.size("1000"));
        assertEquals("2G", OciImport.size("2g"));
    }
}
