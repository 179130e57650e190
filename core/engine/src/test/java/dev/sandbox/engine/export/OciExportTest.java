package dev.sandbox.engine.export;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.sandbox.api.Diagnostic;
import dev.sandbox.engine.review.EffectiveSpec;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The OCI mapping of every key (docs/export.md's table), and the located warnings for what has no OCI field. */
class OciExportTest {

    static final ObjectMapper JSON = new ObjectMapper();

    @TempDir Path dir;

    OciExport.Result rich() throws Exception {
        Files.writeString(dir.resolve("profile.json"), DockerSeccompTest.PROFILE);
        EffectiveSpec e = ExportFixtures.model(dir.resolve("rich.yaml"), ExportFixtures.RICH, 0);
        return OciExport.export(e, dir, ExportFixtures.profiles(), "amd64", new int[] {6, 1});
    }

    static List<String> strings(JsonNode list) {
        List<String> out = new ArrayList<>();
        list.forEach(n -> out.add(n.isObject() ? n.toString() : n.asText()));
        return out;
    }

    static JsonNode mount(JsonNode config, String destination) {
        for (JsonNode m : config.get("mounts")) if (m.get("destination").asText().equals(destination)) return m;
        throw new AssertionError("no mount on " + destination + " in " + config.get("mounts"));
    }

    @Test
    void resourcesBecomeLinuxResourcesInTheSandboxsCgroupAsRootOnly() throws Exception {
        String yaml = "apiVersion: sandbox/v1\nkind: Sandbox\nname: lim\nprocess:\n  command: [/bin/true]\n"
                + "resources:\n  memory: 2G\n  pids: 512\n  cpus: 0.5\n  cpuWeight: 50\n";
        OciExport.Result r = OciExport.export(ExportFixtures.model(dir.resolve("lim.yaml"), yaml, 0), dir, ExportFixtures.profiles());
        JsonNode linux = r.config().get("linux");
        // swap: docker's memorySwap, omitted in the spec: as much swap as memory (up does the same)
        assertEquals("{\"memory\":{\"limit\":2147483648,\"swap\":4294967296},\"pids\":{\"limit\":512},"
                + "\"cpu\":{\"shares\":512,\"quota\":50000,\"period\":100000}}", linux.get("resources").toString());
        assertEquals("/sandbox/lim", linux.get("cgroupsPath").asText());
        assertEquals(List.of("export.oci-cpu-weight 10:14"), r.diagnostics().stream().filter(d -> d.path().startsWith("resources"))
                .map(d -> d.code() + " " + d.location().line() + ":" + d.location().column()).toList());
        OciExport.Result rootless = OciExport.export(ExportFixtures.model(dir.resolve("lim.yaml"), yaml, 1000), dir, ExportFixtures.profiles());
        assertFalse(rootless.config().get("linux").has("resources"));
        assertTrue(rootless.diagnostics().stream().anyMatch(d -> d.code().equals("export.oci-resources-rootless")), rootless.diagnostics().toString());
    }

    @Test
    void processUserCapabilitiesAndNoNewPrivileges() throws Exception {
        JsonNode c = rich().config();
        assertEquals("1.1.0", c.get("ociVersion").asText());
        JsonNode p = c.get("process");
        assertEquals(List.of("/bin/app", "--flag"), strings(p.get("args")));
        assertEquals(List.of("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/", "A=1", "B=two"), strings(p.get("env")));
        assertEquals("/work", p.get("cwd").asText());
        assertEquals(1000, p.get("user").get("uid").asInt());
        assertEquals(1000, p.get("user").get("gid").asInt());
        assertEquals(List.of("10", "20"), strings(p.get("user").get("additionalGids")));
        for (String set : List.of("bounding", "effective", "inheritable", "permitted", "ambient")) {
            // uid 1000: the kept capabilities are also ambient, as the runtime raises them, or execve would clear them
            assertEquals(List.of("CAP_CHOWN", "CAP_NET_BIND_SERVICE"), strings(p.get("capabilities").get(set)), set);
        }
        assertFalse(p.get("noNewPrivileges").asBoolean());
        assertFalse(p.get("terminal").asBoolean());
    }

    @Test
    void namespacesMapsHostnameAndTimeOffsets() throws Exception {
        JsonNode c = rich().config();
        JsonNode linux = c.get("linux");
        assertEquals(List.of("{\"type\":\"user\"}", "{\"type\":\"mount\"}", "{\"type\":\"pid\"}", "{\"type\":\"uts\"}", "{\"type\":\"ipc\"}",
                "{\"type\":\"network\"}", "{\"type\":\"cgroup\"}", "{\"type\":\"time\"}"), strings(linux.get("namespaces")));
        assertEquals("[{\"containerID\":0,\"hostID\":100000,\"size\":65536}]", linux.get("uidMappings").toString());
        assertEquals("[{\"containerID\":0,\"hostID\":100000,\"size\":65536}]", linux.get("gidMappings").toString());
        assertEquals("rich-box", c.get("hostname").asText());
        assertEquals("lab.test", c.get("domainname").asText());
        // -1.5 s is -2 s + 500000000 ns: nanoseconds are never negative
        assertEquals("{\"monotonic\":{\"secs\":-2,\"nanosecs\":500000000},\"boottime\":{\"secs\":3600,\"nanosecs\":0}}", linux.get("timeOffsets").toString());
        assertEquals("monotonic -2 500000000\nboottime 3600 0", c.get("annotations").get(OciExport.ANNOTATION_CRUN_TIMENS).asText());
        assertFalse(linux.has("cgroupsPath"), "a joined cgroup namespace: no cgroup of the sandbox's own");
    }

    @Test
    void withSystemPathsUnconfinedOnlyTheSpecsOwnMasksAndReadonlyPathsAreExported() throws Exception {
        EffectiveSpec e = ExportFixtures.model(dir.resolve("unconfined.yaml"), "apiVersion: sandbox/v1\nkind: Sandbox\nname: unconf\nnamespaces:\n"
                + "  mount:\n    root: {type: tmpfs}\n    systemPaths: unconfined\n    mounts:\n      - {type: proc, target: /proc}\n"
                + "    masks: [/etc/shadow]\n  pid: {}\nprocess:\n  command: [/bin/true]\n", 0);
        JsonNode linux = OciExport.export(e, dir, ExportFixtures.profiles(), "amd64", new int[] {6, 1}).config().get("linux");
        assertEquals(List.of("/etc/shadow"), strings(linux.get("maskedPaths")));
        assertFalse(linux.has("readonlyPaths"));
    }

    @Test
    void rootMountsMasksAndReadonlyPaths() throws Exception {
        OciExport.Result r = rich();
        JsonNode c = r.config();
        assertEquals("rootfs", c.get("root").get("path").asText());
        assertTrue(c.get("root").get("readonly").asBoolean());
        assertEquals("rslave", c.get("linux").get("rootfsPropagation").asText());
        // docker's default system paths first (a proc at /proc and a sysfs at /sys), as `up` applies them, then the spec's own
        List<String> masked = new java.util.ArrayList<>();
        dev.sandbox.api.SystemPaths.PROC_MASKED.forEach(p -> masked.add("/proc/" + p));
        dev.sandbox.api.SystemPaths.SYS_MASKED.forEach(p -> masked.add("/sys/" + p));
        masked.add("/etc/shadow");
        assertEquals(masked, strings(c.get("linux").get("maskedPaths")));
        assertEquals(List.of("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"), strings(c.get("linux").get("readonlyPaths")),
                "the spec's /proc/sys is one of the defaults: not repeated");
        assertEquals("{\"destination\":\"/usr\",\"type\":\"bind\",\"source\":\"/usr\",\"options\":[\"rbind\",\"nodev\",\"rro\",\"rslave\"]}",
                mount(c, "/usr").toString());
        assertEquals(List.of("rbind", "rshared"), strings(mount(c, "/data").get("options")));
        assertEquals(dir.resolve("data").toString(), mount(c, "/data").get("source").asText(), "relative to the spec's directory");
        assertEquals(List.of("nosuid", "nodev", "noexec", "size=16777216", "mode=0700"), strings(mount(c, "/tmp").get("options")));
        assertEquals(List.of("nosuid", "nodev", "noexec"), strings(mount(c, "/proc").get("options")));
        assertEquals(List.of("nosuid", "nodev", "noexec", "ro"), strings(mount(c, "/sys").get("options")));
        assertEquals("tmpfs", mount(c, "/dev").get("type").asText());
        assertEquals("devpts", mount(c, "/dev/pts").get("type").asText());
        assertEquals("tmpfs", mount(c, "/dev/shm").get("type").asText());
        assertEquals("mqueue", mount(c, "/dev/mqueue").get("type").asText());
        assertEquals(List.of("lowerdir=" + dir.resolve("l1") + ":" + dir.resolve("l2"), "upperdir=" + dir.resolve("up"), "workdir=" + dir.resolve("wk")),
                strings(mount(c, "/ovl").get("options")));
        List<String> order = strings(c.get("mounts")).stream().map(s -> s.replaceAll(".*\"destination\":\"([^\"]*)\".*", "$1")).toList();
        assertEquals(List.of("/usr", "/data", "/tmp", "/proc", "/sys", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/ovl"), order, "spec order");
        assertTrue(r.bundleRootfs());
        assertTrue(r.rootfsDirs().containsAll(List.of("/usr", "/data", "/tmp", "/proc", "/dev", "/ovl")), r.rootfsDirs().toString());
    }

    @Test
    void whatHasNoOciFieldIsALocatedWarningThatSaysWhatToUseInstead() throws Exception {
        OciExport.Result r = rich();
        assertFalse(r.hasErrors(), r.diagnostics().toString());
        Map<String, Diagnostic> byCode = r.diagnostics().stream().collect(Collectors.toMap(Diagnostic::code, d -> d, (a, b) -> a));
        assertEquals(List.of("export.oci-init", "export.oci-join-sandbox", "export.oci-link", "export.oci-loopback", "export.oci-tmpfs-root"),
                byCode.keySet().stream().sorted().toList());
        assertEquals("rich.yaml:28:13", at(byCode.get("export.oci-link")));
        assertTrue(byCode.get("export.oci-link").hint().contains("CNI"), byCode.get("export.oci-link").hint());
        assertEquals("rich.yaml:29:18", at(byCode.get("export.oci-join-sandbox")));
        assertTrue(byCode.get("export.oci-join-sandbox").hint().contains("/proc/PID/ns/cgroup"));
        assertEquals("rich.yaml:23:15", at(byCode.get("export.oci-init")));
        assertTrue(byCode.get("export.oci-init").hint().contains("tini"));
        assertTrue(byCode.get("export.oci-tmpfs-root").message().contains("size limit is lost"));
    }

    static String at(Diagnostic d) {
        return d.location().file() + ":" + d.location().line() + ":" + d.location().column();
    }

    @Test
    void seccompDefaultIsTheBuiltInProfileConvertedForTheKeptCapabilitiesWithTheTerminalRule() throws Exception {
        String yaml = ExportFixtures.read(ExportFixtures.EXAMPLES.resolve("hello.yaml"));
        EffectiveSpec e = ExportFixtures.model(ExportFixtures.EXAMPLES.resolve("hello.yaml"), yaml, 0);
        JsonNode seccomp = OciExport.export(e, ExportFixtures.EXAMPLES, ExportFixtures.profiles(), "amd64", new int[] {6, 1}).config()
                .get("linux").get("seccomp");
        assertEquals("SCMP_ACT_ERRNO", seccomp.get("defaultAction").asText());
        List<String> names = DockerSeccompTest.names((com.fasterxml.jackson.databind.node.ObjectNode) seccomp);
        assertFalse(names.contains("mount"), "the default capabilities don't include CAP_SYS_ADMIN");
        assertTrue(names.stream().filter(n -> n.equals("ioctl")).count() > 1, "ioctl is allowed by the masked rules: " + names);
    }

    @Test
    void unconfinedHasNoSeccompAndAMissingBuiltInProfileIsAnError() throws Exception {
        String yaml = ExportFixtures.read(ExportFixtures.EXAMPLES.resolve("hello.yaml"));
        EffectiveSpec unconfined = ExportFixtures.model(dir.resolve("u.yaml"), yaml.replace("cwd: /", "cwd: /\n  seccomp: unconfined"), 0);
        assertFalse(OciExport.export(unconfined, dir, ExportFixtures.profiles(), "amd64", new int[] {6, 1}).config().get("linux").has("seccomp"));
        EffectiveSpec e = ExportFixtures.model(dir.resolve("d.yaml"), yaml, 0);
        OciExport.Result r = OciExport.export(e, dir, Optional::empty, "amd64", new int[] {6, 1});
        assertTrue(r.hasErrors());
        assertEquals("export.seccomp-built-in-missing", r.diagnostics().get(r.diagnostics().size() - 1).code());
    }

    @Test
    void aHostRootBecomesTheHostsTopLevelDirectoriesBoundOnAnEmptyRootfs() throws Exception {
        String yaml = ExportFixtures.read(ExportFixtures.EXAMPLES.resolve("time-travel.yaml"));
        EffectiveSpec e = ExportFixtures.model(ExportFixtures.EXAMPLES.resolve("time-travel.yaml"), yaml, 0);
        OciExport.Result r = OciExport.export(e, ExportFixtures.EXAMPLES, ExportFixtures.profiles(), "amd64", new int[] {6, 1});
        JsonNode c = r.config();
        assertEquals("rootfs", c.get("root").get("path").asText());
        assertEquals("host", c.get("annotations").get(OciExport.ANNOTATION_ROOT).asText());
        assertEquals(List.of("rbind", "rslave"), strings(mount(c, "/usr").get("options")));
        assertTrue(strings(c.get("mounts")).stream().noneMatch(m -> m.contains("\"destination\":\"/proc\",\"type\":\"bind\"")),
                "the spec mounts its own proc: the host's isn't bound");
        assertEquals("proc", mount(c, "/proc").get("type").asText());
        assertTrue(r.diagnostics().stream().anyMatch(d -> d.code().equals("export.oci-host-root")));
        if (Files.isSymbolicLink(Path.of("/bin"))) assertEquals(Files.readSymbolicLink(Path.of("/bin")).toString(), r.rootfsLinks().get("/bin"));
    }

    @Test
    void theBundleHoldsConfigJsonAndTheMountPoints() throws Exception {
        OciExport.Result r = rich();
        Path bundle = dir.resolve("bundle");
        OciExport.writeBundle(r, bundle);
        assertEquals(JSON.readTree(JSON.writeValueAsString(r.config())), JSON.readTree(bundle.resolve("config.json").toFile()));
        for (String d : List.of("usr", "data", "tmp", "proc", "sys", "dev", "ovl")) assertTrue(Files.isDirectory(bundle.resolve("rootfs").resolve(d)), d);
    }

    @Test
    void aRootlessExportMapsTheCallerAndHasNoCgroupPathAsUpHasNoCgroupOfItsOwn() throws Exception {
        Path hello = ExportFixtures.EXAMPLES.resolve("hello.yaml");
        JsonNode root = OciExport.export(ExportFixtures.model(hello, ExportFixtures.read(hello), 0), hello.getParent(), ExportFixtures.profiles(),
                "amd64", new int[] {6, 1}).config();
        assertEquals("/sandbox/hello", root.get("linux").get("cgroupsPath").asText());
        JsonNode user = OciExport.export(ExportFixtures.model(hello, ExportFixtures.read(hello), 1000), hello.getParent(), ExportFixtures.profiles(),
                "amd64", new int[] {6, 1}).config();
        assertFalse(user.get("linux").has("cgroupsPath"));
        assertEquals("[{\"containerID\":0,\"hostID\":1000,\"size\":1}]", user.get("linux").get("uidMappings").toString());
    }

    @Test
    void sizesAndModes() {
        assertEquals(16L << 20, OciExport.bytes("16M"));
        assertEquals(512L << 10, OciExport.bytes("512k"));
        assertEquals(2L << 30, OciExport.bytes("2G"));
        assertEquals(1048576, OciExport.bytes("1048576"));
        assertEquals("0700", OciExport.mode("700"));
        assertEquals("1777", OciExport.mode("1777"));
        assertEquals("0755", OciExport.mode("0755"));
    }
}
