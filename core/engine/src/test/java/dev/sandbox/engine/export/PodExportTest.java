package dev.sandbox.engine.export;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.DynamicTest.dynamicTest;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import dev.sandbox.api.Diagnostic;
import dev.sandbox.engine.review.EffectiveSpec;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.SecurityContext;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeMount;
import java.lang.reflect.Method;
import java.math.BigDecimal;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Pod manifests read back into the fabric8 model of the Kubernetes API (core/v1): an unknown field
 * anywhere fails (FAIL_ON_UNKNOWN_PROPERTIES, and no model object may have collected
 * additionalProperties), and the fields are checked on the model, not on the text.
 */
class PodExportTest {

    static final YAMLMapper STRICT = (YAMLMapper) new YAMLMapper().enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);

    @TempDir Path dir;

    static Pod read(String yaml) throws Exception {
        Pod pod = STRICT.readValue(yaml, Pod.class);
        List<String> unknown = new ArrayList<>();
        noAdditionalProperties(pod, "pod", unknown, new IdentityHashMap<>());
        assertEquals(List.of(), unknown, "fields the Kubernetes API doesn't have:\n" + yaml);
        return pod;
    }

    /** Walks the model's getters: fabric8 keeps unknown fields in getAdditionalProperties() instead of failing. */
    static void noAdditionalProperties(Object o, String path, List<String> out, IdentityHashMap<Object, Boolean> seen) throws Exception {
        if (o == null || seen.put(o, true) != null) return;
        if (o instanceof Collection<?> c) {
            int i = 0;
            for (Object e : c) noAdditionalProperties(e, path + "[" + i++ + "]", out, seen);
            return;
        }
        if (o instanceof Map<?, ?> m) {
            for (Map.Entry<?, ?> e : m.entrySet()) noAdditionalProperties(e.getValue(), path + "." + e.getKey(), out, seen);
            return;
        }
        if (!o.getClass().getName().startsWith("io.fabric8.")) return;
        for (Method g : o.getClass().getMethods()) {
            if (g.getParameterCount() != 0 || !g.getName().startsWith("get") || g.getDeclaringClass() == Object.class) continue;
            Object v = g.invoke(o);
            if (g.getName().equals("getAdditionalProperties")) {
                if (v instanceof Map<?, ?> extra && !extra.isEmpty()) out.add(path + ": " + extra.keySet());
            } else {
                noAdditionalProperties(v, path + "." + g.getName().substring(3), out, seen);
            }
        }
    }

    @TestFactory
    Stream<DynamicTest> theManifestOfEveryExampleIsAValidPod() {
        return ExportFixtures.examples().stream().map(example -> dynamicTest(example.getFileName().toString(), () -> {
            EffectiveSpec e = ExportFixtures.model(example, ExportFixtures.read(example), 0);
            PodExport.Result r = PodExport.export(e, example.getParent(), "registry.example/app:1");
            Pod pod = read(PodExport.yaml(r.pod()));
            assertEquals("v1", pod.getApiVersion());
            assertEquals("Pod", pod.getKind());
            assertEquals(e.name(), pod.getMetadata().getName());
            Container c = pod.getSpec().getContainers().get(0);
            assertEquals("registry.example/app:1", c.getImage());
            assertEquals(e.command(), c.getCommand());
            assertEquals(!e.noNewPrivileges(), c.getSecurityContext().getAllowPrivilegeEscalation());
            assertFalse(r.diagnostics().stream().anyMatch(Diagnostic::isError));
        }));
    }

    @Test
    void theRichSpecMapsEveryFieldThePodApiHas() throws Exception {
        Files.writeString(dir.resolve("profile.json"), DockerSeccompTest.PROFILE);
        Files.createDirectories(dir.resolve("data"));
        EffectiveSpec e = ExportFixtures.model(dir.resolve("rich.yaml"), ExportFixtures.RICH, 0);
        PodExport.Result r = PodExport.export(e, dir, null);
        Pod pod = read(PodExport.yaml(r.pod()));
        var spec = pod.getSpec();
        assertEquals(Boolean.FALSE, spec.getHostUsers(), "a user namespace");
        assertEquals("rich-box", spec.getHostname());
        assertNull(spec.getHostPID());
        assertNull(spec.getHostNetwork());
        assertNull(spec.getHostIPC());
        assertEquals(Boolean.TRUE, spec.getShareProcessNamespace(), "pid.init");
        assertEquals("Never", spec.getRestartPolicy());
        assertEquals(List.of(10L, 20L), spec.getSecurityContext().getSupplementalGroups());
        Container c = spec.getContainers().get(0);
        assertEquals(PodExport.IMAGE_PLACEHOLDER, c.getImage());
        assertEquals(List.of("/bin/app", "--flag"), c.getCommand());
        assertEquals(List.of(new EnvVar("A", "1", null), new EnvVar("B", "two", null)), c.getEnv());
        assertEquals("/work", c.getWorkingDir());
        SecurityContext sc = c.getSecurityContext();
        assertEquals(List.of("ALL"), sc.getCapabilities().getDrop());
        assertEquals(List.of("CHOWN", "NET_BIND_SERVICE"), sc.getCapabilities().getAdd());
        assertEquals(Boolean.TRUE, sc.getReadOnlyRootFilesystem());
        assertEquals(1000L, sc.getRunAsUser());
        assertEquals(1000L, sc.getRunAsGroup());
        assertEquals(Boolean.TRUE, sc.getAllowPrivilegeEscalation(), "noNewPrivileges: false");
        assertEquals("Localhost", sc.getSeccompProfile().getType());
        assertEquals("sandbox/profile.json", sc.getSeccompProfile().getLocalhostProfile());
        Map<String, Volume> volumes = new java.util.HashMap<>();
        spec.getVolumes().forEach(v -> volumes.put(v.getName(), v));
        Map<String, VolumeMount> mounts = new java.util.HashMap<>();
        c.getVolumeMounts().forEach(m -> mounts.put(m.getMountPath(), m));
        assertEquals(Set.of("/usr", "/data", "/tmp"), mounts.keySet(), "proc, sysfs, dev and mqueue come from the runtime; overlay has no volume");
        Volume usr = volumes.get(mounts.get("/usr").getName());
        assertEquals("/usr", usr.getHostPath().getPath());
        assertEquals("Directory", usr.getHostPath().getType());
        assertEquals(Boolean.TRUE, mounts.get("/usr").getReadOnly());
        assertEquals("HostToContainer", mounts.get("/usr").getMountPropagation(), "a bind is a slave of the host's mount");
        assertEquals(dir.resolve("data").toString(), volumes.get(mounts.get("/data").getName()).getHostPath().getPath());
        assertEquals("Bidirectional", mounts.get("/data").getMountPropagation());
        Volume tmp = volumes.get(mounts.get("/tmp").getName());
        assertEquals("Memory", tmp.getEmptyDir().getMedium());
        assertEquals(new BigDecimal(16L << 20), Quantity.getAmountInBytes(tmp.getEmptyDir().getSizeLimit()));
        List<String> codes = r.diagnostics().stream().map(Diagnostic::code).sorted().distinct().toList();
        assertEquals(List.of("export.k8s-bidirectional", "export.k8s-domainname", "export.k8s-id-map", "export.k8s-image", "export.k8s-init",
                "export.k8s-join", "export.k8s-link", "export.k8s-masks", "export.k8s-mount", "export.k8s-mount-options", "export.k8s-readonly-paths",
                "export.k8s-seccomp-localhost", "export.k8s-time", "export.k8s-tmpfs-mode"), codes);
        Diagnostic image = r.diagnostics().stream().filter(d -> d.code().equals("export.k8s-image")).findFirst().orElseThrow();
        assertTrue(image.hint().contains("--image"), image.hint());
    }

    @Test
    void theCallersNamespacesBecomeHostNamespacesWithAWarningAndDefaultSeccompIsRuntimeDefault() throws Exception {
        Path veth = ExportFixtures.EXAMPLES.resolve("veth-lab.yaml");
        EffectiveSpec e = ExportFixtures.model(veth, ExportFixtures.read(veth), 0);
        PodExport.Result r = PodExport.export(e, veth.getParent(), "x/y:z");
        Pod pod = read(PodExport.yaml(r.pod()));
        assertNull(pod.getSpec().getHostPID(), "veth-lab has a pid namespace");
        assertEquals(Boolean.TRUE, pod.getSpec().getHostIPC(), "and no ipc namespace");
        assertNull(pod.getSpec().getHostUsers(), "no user namespace: the default (the host's users)");
        assertEquals("RuntimeDefault", pod.getSpec().getContainers().get(0).getSecurityContext().getSeccompProfile().getType());
        assertEquals(0L, pod.getSpec().getContainers().get(0).getSecurityContext().getRunAsUser());
        Diagnostic host = r.diagnostics().stream().filter(d -> d.code().equals("export.k8s-host-namespace")).findFirst().orElseThrow();
        assertTrue(host.message().contains("hostIPC"), host.message());
        int namespacesLine = ExportFixtures.read(veth).lines().toList().indexOf("namespaces:") + 1;
        assertEquals(namespacesLine, host.location().line(), "at the key namespaces");
        assertTrue(r.diagnostics().stream().anyMatch(d -> d.code().equals("export.k8s-link") && d.hint().contains("CNI")));
    }

    @Test
    void memoryAndCpusBecomeTheContainersLimitsTheRestIsAWarningAtItsKey() throws Exception {
        Path limits = ExportFixtures.EXAMPLES.resolve("build-with-limits.yaml");
        EffectiveSpec e = ExportFixtures.model(limits, ExportFixtures.read(limits), 0);
        PodExport.Result r = PodExport.export(e, limits.getParent(), "x/y:z");
        Pod pod = read(PodExport.yaml(r.pod()));
        var l = pod.getSpec().getContainers().get(0).getResources().getLimits();
        assertEquals("2Gi", l.get("memory").toString());
        assertEquals("1500m", l.get("cpu").toString());
        assertEquals(List.of("resources.memorySwap", "resources.pids", "resources.cpuWeight").stream().sorted().toList(),
                r.diagnostics().stream().filter(d -> d.code().equals("export.k8s-unmapped")).map(Diagnostic::path).sorted().toList());
    }

    @Test
    void theCheckRejectsAFieldTheApiDoesntHave() {
        // hostUser (for hostUsers) and a misplaced key: the model must notice both, or the checks above prove nothing
        for (String yaml : List.of("apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec: {hostUser: false, containers: []}\n",
                "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec: {containers: [{name: c, image: i, securityContext: {seccomp: {}}}]}\n")) {
            org.junit.jupiter.api.Assertions.assertThrows(Throwable.class, () -> read(yaml), yaml);
        }
    }

    @Test
    void namesAndQuantities() {
        assertEquals("hermetic-build", PodExport.dnsName("hermetic_build", false));
        assertEquals("a.b", PodExport.dnsName("a.b", true));
        assertEquals("a-b", PodExport.dnsName("a.b", false));
        assertEquals("64Mi", PodExport.quantity(64L << 20));
        assertEquals("1Gi", PodExport.quantity(1L << 30));
        assertEquals("1000", PodExport.quantity(1000));
    }
}
