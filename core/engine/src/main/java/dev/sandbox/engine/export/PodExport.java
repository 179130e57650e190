package dev.sandbox.engine.export;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLGenerator;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import dev.sandbox.api.Diagnostic;
import dev.sandbox.api.Location;
import dev.sandbox.api.SpecNode;
import dev.sandbox.engine.review.EffectiveSpec;
import dev.sandbox.engine.review.EffectiveSpec.Mount;
import dev.sandbox.engine.review.EffectiveSpec.NamespaceMode;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A spec, defaults applied, as a Kubernetes Pod (core/v1) with one container: the security context,
 * the caller's namespaces kept as host namespaces, binds as hostPath volumes and tmpfs as memory-backed
 * emptyDirs. A spec names no image: {@code --image}, or a placeholder with a warning. What the Pod API
 * can't express is a located warning (docs/export.md).
 */
public final class PodExport {

    public static final String IMAGE_PLACEHOLDER = "REPLACE-ME/image-with-the-target:tag";

    /** The file systems a container runtime mounts in every container by itself, at these paths. */
    private static final Map<String, String> RUNTIME_MOUNTS = Map.of("proc", "/proc", "sysfs", "/sys", "dev", "/dev", "devpts", "/dev/pts",
            "mqueue", "/dev/mqueue");

    public record Result(ObjectNode pod, List<Diagnostic> diagnostics) {}

    private final EffectiveSpec e;
    private final Path baseDir;
    private final List<Diagnostic> diagnostics = new ArrayList<>();

    private PodExport(EffectiveSpec e, Path baseDir) {
        this.e = e;
        this.baseDir = baseDir;
    }

    public static Result export(EffectiveSpec e, Path baseDir, String image) {
        PodExport x = new PodExport(e, baseDir);
        ObjectNode pod = x.build(image);
        return new Result(pod, List.copyOf(x.diagnostics));
    }

    /** The manifest as YAML. */
    public static String yaml(ObjectNode pod) {
        YAMLMapper yaml = new YAMLMapper(YAMLFactory.builder().disable(YAMLGenerator.Feature.WRITE_DOC_START_MARKER)
                .enable(YAMLGenerator.Feature.MINIMIZE_QUOTES).enable(YAMLGenerator.Feature.ALWAYS_QUOTE_NUMBERS_AS_STRINGS).build());
        try {
            return yaml.writeValueAsString(pod);
        } catch (JsonProcessingException ex) {
            throw new UncheckedIOException(ex);
        }
    }

    private ObjectNode build(String image) {
        ObjectNode pod = JsonNodeFactory.instance.objectNode();
        pod.put("apiVersion", "v1");
        pod.put("kind", "Pod");
        String name = dnsName(e.name(), true);
        if (!name.equals(e.name())) {
            warn("export.k8s-name", "the name " + e.name() + " is not a valid Pod name: the Pod is called " + name, e.spec().get("name"),
                    "Pod names are lower-case letters, digits, '-' and '.'");
        }
        ObjectNode metadata = pod.putObject("metadata");
        metadata.put("name", name);
        metadata.putObject("annotations").put("dev.sandbox.exported-from", e.name());
        ObjectNode spec = pod.putObject("spec");
        spec.put("restartPolicy", "Never");
        namespaces(spec);
        ObjectNode container = spec.putArray("containers").addObject();
        container.put("name", dnsName(e.name(), false));
        if (image == null || image.isBlank()) {
            container.put("image", IMAGE_PLACEHOLDER);
            warn("export.k8s-image", "a Pod needs a container image and the spec has none: the manifest says " + IMAGE_PLACEHOLDER,
                    e.spec().get("process"), "pass --image, an image holding " + (e.command().isEmpty() ? "the command" : e.command().get(0))
                            + " and what it needs (the files the spec binds from the host, e.g. /usr, come from the image)");
        } else {
            container.put("image", image);
        }
        ArrayNode command = container.putArray("command");
        e.command().forEach(command::add);
        if (!e.env().isEmpty()) {
            ArrayNode env = container.putArray("env");
            e.env().forEach((k, v) -> env.addObject().put("name", k).put("value", v));
        }
        container.put("workingDir", e.cwd());
        resources(container);
        container.set("securityContext", securityContext(spec));
        volumes(spec, container);
        return pod;
    }

    /**
     * {@code resources}: memory and cpus become the container's {@code resources.limits} (Kubernetes' units: Mi/Gi,
     * millicores; the requests default to the limits). A Pod has no field for the rest: pids (a kubelet setting,
     * podPidsLimit), memorySwap (the node's swap behaviour) and cpuWeight (the kubelet derives shares from requests).
     */
    private void resources(ObjectNode container) {
        SpecNode r = e.spec().get("resources");
        if (!r.isPresent()) return;
        dev.sandbox.engine.pipeline.ResourcesSection.Limits l = dev.sandbox.engine.pipeline.ResourcesSection.limits(r);
        ObjectNode limits = JsonNodeFactory.instance.objectNode();
        l.memory().ifPresent(m -> {
            String human = dev.sandbox.engine.pipeline.ResourcesSection.human(m);
            limits.put("memory", human.matches("\\d+[KMGTP]") ? human + "i" : Long.toString(m));
        });
        l.cpus().ifPresent(c -> limits.put("cpu", c.multiply(java.math.BigDecimal.valueOf(1000)).setScale(0, java.math.RoundingMode.HALF_UP) + "m"));
        if (!limits.isEmpty()) container.putObject("resources").set("limits", limits);
        for (String key : List.of("pids", "memorySwap", "cpuWeight")) {
            SpecNode at = r.get(key);
            if (!at.isPresent()) continue;
            warn("export.k8s-unmapped", "resources." + key + " has no container field in a Pod; left out", at, switch (key) {
                case "pids" -> "the node's kubelet limits pids per Pod (podPidsLimit)";
                case "memorySwap" -> "swap is the node's setting (memorySwap.swapBehavior of the kubelet)";
                default -> "the kubelet derives CPU weight from resources.requests.cpu";
            });
        }
    }

    private void namespaces(ObjectNode spec) {
        SpecNode all = e.spec().get("namespaces");
        for (String[] host : new String[][] {{"pid", "hostPID"}, {"net", "hostNetwork"}, {"ipc", "hostIPC"}}) {
            if (e.namespace(host[0]).mode() == NamespaceMode.HOST) {
                spec.put(host[1], true);
                // located at the key "namespaces": the absent section has no place of its own
                diagnostics.add(Diagnostic.warning("export.k8s-host-namespace", "the spec keeps the caller's " + host[0] + " namespace: the Pod"
                        + " gets " + host[1] + ": true, the node's " + host[0] + " namespace (clusters often forbid it)", "namespaces",
                        e.spec().keyLocation("namespaces"), "add namespaces." + host[0] + ": {} to the spec if the target doesn't need the host's"));
            }
        }
        for (String type : EffectiveSpec.KNOWN_NAMESPACES) {
            if (e.namespace(type).mode() != NamespaceMode.JOIN) continue;
            SpecNode join = e.section(type).get("join");
            warn("export.k8s-join", "joining a " + type + " namespace (" + (join.has("path") ? join.get("path").text() : "sandbox "
                    + join.get("sandbox").text()) + ") has no Pod equivalent: the Pod gets its own", join,
                    "put the containers that must share it in one Pod (they share net, ipc and, with shareProcessNamespace, pid)");
        }
        if (e.namespace("user").mode() == NamespaceMode.NEW) {
            spec.put("hostUsers", false);
            SpecNode user = e.section("user");
            if (user.has("uidMap") || user.has("gidMap")) {
                warn("export.k8s-id-map", "the Pod gets a user namespace (hostUsers: false), but the kubelet chooses its id map: the spec's"
                        + " uidMap/gidMap are not kept", user.has("uidMap") ? user.get("uidMap") : user.get("gidMap"),
                        "make files the target writes on hostPath volumes writable for the ids the kubelet picks");
            }
        }
        SpecNode uts = e.section("uts");
        if (e.namespace("uts").mode() == NamespaceMode.NEW) {
            uts.get("hostname").optText().ifPresent(h -> {
                String label = dnsName(h, false);
                spec.put("hostname", label);
                if (!label.equals(h)) {
                    warn("export.k8s-hostname", "a Pod's hostname is one DNS label: " + h + " becomes " + label, uts.get("hostname"),
                            "use spec.subdomain (with a headless Service) for the rest of the name");
                }
            });
            uts.get("domainname").optText().ifPresent(d -> warn("export.k8s-domainname", "the NIS domain name " + d + " has no Pod equivalent",
                    uts.get("domainname"), "set it from the command (domainname " + d + ") if the target reads it"));
        }
        SpecNode init = e.section("pid").get("init");
        if (e.namespace("pid").mode() == NamespaceMode.NEW && init.bool(false)) {
            spec.put("shareProcessNamespace", true);
            warn("export.k8s-init", "pid.init becomes shareProcessNamespace: true: the Pod's pause container is PID 1 and reaps orphans"
                    + " (the target is not PID 2, and other containers of the Pod see its processes)", init, null);
        }
        if (e.namespace("time").mode() == NamespaceMode.NEW) {
            warn("export.k8s-time", "a time namespace has no Pod equivalent: the clock offsets are lost", e.section("time"),
                    "offset the clocks in the target itself (e.g. faketime), or run it with an OCI runtime that supports timeOffsets");
        }
        for (SpecNode link : e.section("net").get("links").elements()) {
            warn("export.k8s-link", "the veth link " + link.get("name").text() + " has no Pod equivalent: the cluster's network plugin gives the"
                    + " Pod its interface and address", link, "use a Service or, for more interfaces, Multus with a CNI plugin");
        }
        for (Map.Entry<String, SpecNode> f : all.fields().entrySet()) {
            if (!EffectiveSpec.KNOWN_NAMESPACES.contains(f.getKey())) {
                warn("export.k8s-plugin-section", "the section namespaces." + f.getKey() + " (a plugin's) has no Pod equivalent; left out",
                        f.getValue(), null);
            }
        }
    }

    private ObjectNode securityContext(ObjectNode spec) {
        ObjectNode sc = JsonNodeFactory.instance.objectNode();
        ObjectNode caps = sc.putObject("capabilities");
        caps.putArray("drop").add("ALL");
        ArrayNode add = caps.putArray("add");
        SpecNode capsNode = e.spec().get("process").get("capabilities");
        if (e.capabilitiesAll()) {
            add.add("ALL");
            warn("export.k8s-capabilities-all", "capabilities: all becomes add: [ALL]; the masks and read-only paths of the spec don't hold with it"
                    + " either", capsNode, "list the capabilities the target needs");
        } else {
            e.capabilities().forEach(c -> add.add(c.substring("CAP_".length())));
        }
        if (add.isEmpty()) caps.remove("add");
        sc.put("readOnlyRootFilesystem", e.readonlyRoot());
        sc.put("runAsUser", e.uid());
        sc.put("runAsGroup", e.gid());
        if (e.uid() != 0) sc.put("runAsNonRoot", true);
        sc.put("allowPrivilegeEscalation", !e.noNewPrivileges());
        ObjectNode seccomp = sc.putObject("seccompProfile");
        switch (e.seccomp()) {
            case "default" -> {
                seccomp.put("type", "RuntimeDefault");
                warn("export.k8s-seccomp-default", "seccomp default becomes RuntimeDefault: the container runtime's profile (docker's rules in"
                        + " containerd and CRI-O), without sandbox's TIOCSTI/TIOCLINUX rule", e.spec().get("process").get("seccomp").isPresent()
                        ? e.spec().get("process").get("seccomp") : e.spec().get("process"),
                        "the target has no terminal of the caller's in a Pod, so TIOCSTI can't reach one");
            }
            case "unconfined" -> seccomp.put("type", "Unconfined");
            default -> {
                String file = Path.of(e.seccomp()).getFileName().toString();
                seccomp.put("type", "Localhost");
                seccomp.put("localhostProfile", "sandbox/" + file);
                warn("export.k8s-seccomp-localhost", "the profile " + e.seccomp() + " becomes a Localhost profile sandbox/" + file,
                        e.spec().get("process").get("seccomp"), "copy " + baseDir.resolve(e.seccomp()).normalize()
                                + " to <kubelet root>/seccomp/sandbox/" + file + " on every node (/var/lib/kubelet/seccomp by default)");
            }
        }
        if (!e.groups().isEmpty()) {
            ArrayNode groups = JsonNodeFactory.instance.arrayNode();
            e.groups().forEach(groups::add);
            spec.putObject("securityContext").set("supplementalGroups", groups);
        }
        return sc;
    }

    private void volumes(ObjectNode spec, ObjectNode container) {
        SpecNode mount = e.section("mount");
        SpecNode root = e.rootNode();
        if (e.namespace("mount").mode() == NamespaceMode.NEW && root.isPresent() && root.get("type").text("tmpfs").equals("bind")) {
            warn("export.k8s-bind-root", "a container's root is its image: the bind root " + root.get("source").text() + " is not kept", root,
                    "build an image from that directory (e.g. a Dockerfile FROM scratch with COPY) and pass it with --image");
        }
        ArrayNode volumes = JsonNodeFactory.instance.arrayNode();
        ArrayNode mounts = JsonNodeFactory.instance.arrayNode();
        int i = 0;
        for (Mount m : e.mounts()) {
            SpecNode n = m.node();
            String volume = dnsName("v" + i++ + "-" + m.target().replaceAll("[^A-Za-z0-9]+", "-"), false);
            switch (m.type()) {
                case "bind" -> {
                    Path source = baseDir.resolve(n.get("source").text()).normalize();
                    ObjectNode v = volumes.addObject();
                    v.put("name", volume);
                    ObjectNode hostPath = v.putObject("hostPath");
                    hostPath.put("path", source.toString());
                    hostPath.put("type", Files.isDirectory(source) ? "Directory" : Files.exists(source) ? "File" : "DirectoryOrCreate");
                }
                case "tmpfs" -> {
                    ObjectNode v = volumes.addObject();
                    v.put("name", volume);
                    ObjectNode emptyDir = v.putObject("emptyDir");
                    emptyDir.put("medium", "Memory");
                    n.get("size").optText().ifPresent(s -> emptyDir.put("sizeLimit", quantity(OciExport.bytes(s))));
                    if (n.has("mode")) {
                        warn("export.k8s-tmpfs-mode", "an emptyDir has no mode: mode " + n.get("mode").text() + " is not kept (emptyDirs are 0777)",
                                n.get("mode"), "chmod it from the command if the mode matters");
                    }
                }
                default -> {
                    if (m.target().equals(RUNTIME_MOUNTS.get(m.type()))) continue; // the container runtime mounts it itself
                    warn("export.k8s-mount", "a " + m.type() + " mount on " + m.target() + " has no Pod volume equivalent; left out", n,
                            m.type().equals("overlay") ? "put the layers into the image" : "the container runtime mounts proc, sysfs, /dev, devpts and"
                                    + " mqueue at their usual paths only");
                    continue;
                }
            }
            ObjectNode vm = mounts.addObject();
            vm.put("name", volume);
            vm.put("mountPath", m.target());
            if (m.readonly()) vm.put("readOnly", true);
            String p = m.propagation();
            if (m.type().equals("bind")) {
                if (p.isEmpty() || p.endsWith("slave")) vm.put("mountPropagation", "HostToContainer");
                else if (p.endsWith("shared")) {
                    vm.put("mountPropagation", "Bidirectional");
                    warn("export.k8s-bidirectional", "propagation " + p + " becomes Bidirectional, which Kubernetes allows only in a privileged"
                            + " container", n.get("propagation"), "use rslave unless mounts must flow back to the host");
                } else vm.put("mountPropagation", "None");
            }
            List<String> options = n.get("options").elements().stream().map(SpecNode::text).toList();
            if (!options.isEmpty()) {
                warn("export.k8s-mount-options", "a Pod volume has no mount options: " + String.join(", ", options) + " on " + m.target()
                        + " are not kept", n.get("options"), null);
            }
        }
        if (!volumes.isEmpty()) spec.set("volumes", volumes);
        if (!mounts.isEmpty()) container.set("volumeMounts", mounts);
        if (!e.masks().isEmpty()) {
            warn("export.k8s-masks", "masks have no Pod equivalent (the runtime masks its own list of /proc and /sys paths): "
                    + String.join(", ", e.masks()) + " stay visible", mount.get("masks"), "leave those files out of the image and the volumes");
        }
        if (!e.readonlyPaths().isEmpty()) {
            warn("export.k8s-readonly-paths", "readonlyPaths have no Pod equivalent (the runtime makes its own list read-only): "
                    + String.join(", ", e.readonlyPaths()) + " stay writable where they are", mount.get("readonlyPaths"),
                    "mount those paths from read-only volumes, or use readOnlyRootFilesystem");
        }
    }

    /** A byte count as a Kubernetes quantity: {@code 64Mi}, {@code 1Gi}, or bytes. */
    static String quantity(long bytes) {
        String[] units = {"Gi", "Mi", "Ki"};
        int[] shifts = {30, 20, 10};
        for (int i = 0; i < units.length; i++) {
            if (bytes % (1L << shifts[i]) == 0 && bytes >= 1L << shifts[i]) return (bytes >> shifts[i]) + units[i];
        }
        return String.valueOf(bytes);
    }

    /** A DNS subdomain ({@code dots}) or label: lower case, [a-z0-9-.], at most 63, alphanumeric at both ends. */
    static String dnsName(String s, boolean dots) {
        String out = s.toLowerCase(Locale.ROOT).replaceAll(dots ? "[^a-z0-9.-]" : "[^a-z0-9-]", "-");
        if (out.length() > 63) out = out.substring(0, 63);
        out = out.replaceAll("^[^a-z0-9]+", "").replaceAll("[^a-z0-9]+$", "");
        return out.isEmpty() ? "sandbox" : out;
    }

    private void warn(String code, String message, SpecNode at, String hint) {
        Location where = at.location();
        diagnostics.add(Diagnostic.warning(code, message, at.path(), where, hint));
    }
}
