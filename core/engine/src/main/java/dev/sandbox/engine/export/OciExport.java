package dev.sandbox.engine.export;

import dev.sandbox.api.SystemPaths;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.sandbox.api.Diagnostic;
import dev.sandbox.api.SpecNode;
import dev.sandbox.engine.pipeline.Capabilities;
import dev.sandbox.engine.pipeline.ResourcesSection;
import dev.sandbox.engine.review.EffectiveSpec;
import dev.sandbox.engine.review.EffectiveSpec.IdRange;
import dev.sandbox.engine.review.EffectiveSpec.Mount;
import dev.sandbox.engine.review.EffectiveSpec.Namespace;
import dev.sandbox.engine.review.EffectiveSpec.NamespaceMode;
import java.io.IOException;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * A spec, defaults applied ({@link EffectiveSpec}), as an OCI runtime bundle's {@code config.json}
 * (runtime-spec 1.1), the way runc's {@code libcontainer/specconv} turns one config into the other: one
 * converter, every field with an OCI equivalent mapped, everything else a located warning that says what
 * to use instead. docs/export.md has the table.
 */
public final class OciExport {

    public static final String OCI_VERSION = "1.1.0";
    /** Annotations that keep what OCI has no field for, so {@code sandbox import} can restore it. */
    public static final String ANNOTATION_NAME = "dev.sandbox.name";
    public static final String ANNOTATION_ROOT = "dev.sandbox.root";
    public static final String ANNOTATION_INIT = "dev.sandbox.pid.init";
    public static final String ANNOTATION_SECCOMP = "dev.sandbox.seccomp";
    public static final String ANNOTATION_CRUN_TIMENS = "run.oci.timens_offset";
    static final String ROOTFS = "rootfs";
    static final ObjectMapper JSON = new ObjectMapper();

    /** OCI's namespace type names, by ours. */
    static final Map<String, String> NAMESPACE_TYPES = Map.of("user", "user", "mount", "mount", "pid", "pid", "uts", "uts", "ipc", "ipc",
            "net", "network", "cgroup", "cgroup", "time", "time");

    /**
     * The bundle: {@code config} for {@code config.json}; {@code rootfsDirs}/{@code rootfsFiles}, paths
     * inside, to create under {@code rootfs/} when the root is a directory of the bundle (a tmpfs root).
     */
    public record Result(ObjectNode config, List<Diagnostic> diagnostics, boolean bundleRootfs, List<String> rootfsDirs, List<String> rootfsFiles,
            Map<String, String> rootfsLinks) {
        public boolean hasErrors() {
            return diagnostics.stream().anyMatch(Diagnostic::isError);
        }
    }

    private final EffectiveSpec e;
    private final Path baseDir;
    private final SeccompProfiles profiles;
    private final DockerSeccomp.Target target;
    private final List<Diagnostic> diagnostics = new ArrayList<>();
    private final List<String> rootfsDirs = new ArrayList<>();
    private final List<String> rootfsFiles = new ArrayList<>();
    private final Map<String, String> rootfsLinks = new LinkedHashMap<>();
    /** The host's root directory, whose entries a kept host root is made of. */
    private Path hostRoot = Path.of("/");

    private OciExport(EffectiveSpec e, Path baseDir, SeccompProfiles profiles, DockerSeccomp.Target target) {
        this.e = e;
        this.baseDir = baseDir;
        this.profiles = profiles;
        this.target = target;
    }

    /**
     * The config of {@code e}; relative host paths resolve against {@code baseDir} (the spec file's
     * directory). {@code goArch}/{@code kernel}: what the seccomp profile is converted for (this host's).
     */
    public static Result export(EffectiveSpec e, Path baseDir, SeccompProfiles profiles, String goArch, int[] kernel) {
        Set<String> bounding = new LinkedHashSet<>(e.capabilitiesAll() ? Capabilities.names() : e.capabilities());
        OciExport x = new OciExport(e, baseDir, profiles, new DockerSeccomp.Target(goArch, kernel, bounding));
        ObjectNode config = x.build();
        return new Result(config, List.copyOf(x.diagnostics), x.bundleRootfs(), List.copyOf(x.rootfsDirs), List.copyOf(x.rootfsFiles),
                Map.copyOf(x.rootfsLinks));
    }

    /** {@link #export} for this host. */
    public static Result export(EffectiveSpec e, Path baseDir, SeccompProfiles profiles) {
        DockerSeccomp.Target host = DockerSeccomp.Target.host(Set.of());
        return export(e, baseDir, profiles, host.goArch(), host.kernel());
    }

    /** Writes {@code config.json} (and {@code rootfs/} with the mount points, for a tmpfs root) into {@code dir}, which must be empty or absent. */
    public static void writeBundle(Result r, Path dir) throws IOException {
        Files.createDirectories(dir);
        if (r.bundleRootfs()) {
            Path rootfs = dir.resolve(ROOTFS);
            Files.createDirectories(rootfs);
            for (Map.Entry<String, String> l : r.rootfsLinks().entrySet()) {
                Path link = inside(rootfs, l.getKey());
                if (!Files.exists(link, java.nio.file.LinkOption.NOFOLLOW_LINKS)) Files.createSymbolicLink(link, Path.of(l.getValue()));
            }
            for (String d : r.rootfsDirs()) {
                Path p = inside(rootfs, d);
                if (!Files.isSymbolicLink(p) && !Files.isSymbolicLink(p.getParent())) Files.createDirectories(p);
            }
            for (String f : r.rootfsFiles()) {
                Path p = inside(rootfs, f);
                if (Files.isSymbolicLink(p.getParent())) continue;
                Files.createDirectories(p.getParent());
                if (!Files.exists(p)) Files.createFile(p);
            }
        }
        Files.writeString(dir.resolve("config.json"), JSON.writerWithDefaultPrettyPrinter().writeValueAsString(r.config()) + "\n");
    }

    private static Path inside(Path rootfs, String path) {
        Path p = rootfs.resolve(path.replaceFirst("^/+", "")).normalize();
        if (!p.startsWith(rootfs)) throw new IllegalArgumentException(path + " leaves the bundle's rootfs");
        return p;
    }

    private boolean bundleRootfs() {
        return e.namespace("mount").mode() != NamespaceMode.NEW || !e.rootNode().get("type").text("tmpfs").equals("bind");
    }

    // --------------------------------------------------------------------------------------- build

    private ObjectNode build() {
        ObjectNode c = JsonNodeFactory.instance.objectNode();
        c.put("ociVersion", OCI_VERSION);
        ObjectNode annotations = JsonNodeFactory.instance.objectNode();
        annotations.put(ANNOTATION_NAME, e.name());
        c.set("process", process());
        c.set("root", root(annotations));
        SpecNode uts = e.section("uts");
        if (e.namespace("uts").mode() == NamespaceMode.NEW) {
            uts.get("hostname").optText().ifPresent(h -> c.put("hostname", h));
            uts.get("domainname").optText().ifPresent(d -> c.put("domainname", d));
        }
        c.set("mounts", mounts());
        ObjectNode linux = c.putObject("linux");
        linux(linux, annotations);
        // default, unconfined, or "profile": import compares the profile itself, the path would only tie the bundle to this machine
        annotations.put(ANNOTATION_SECCOMP, e.seccomp().equals("default") || e.seccomp().equals("unconfined") ? e.seccomp() : "profile");
        c.set("annotations", annotations);
        return c;
    }

    private ObjectNode process() {
        ObjectNode p = JsonNodeFactory.instance.objectNode();
        p.put("terminal", false);
        ObjectNode user = p.putObject("user");
        user.put("uid", e.uid());
        user.put("gid", e.gid());
        if (!e.groups().isEmpty()) {
            ArrayNode g = user.putArray("additionalGids");
            e.groups().forEach(g::add);
        }
        ArrayNode args = p.putArray("args");
        e.command().forEach(args::add);
        // the clean environment the runtime gives every target (docs/spec.md), then the spec's entries
        Map<String, String> env = new LinkedHashMap<>();
        env.put("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        env.put("HOME", e.uid() == 0 ? "/root" : "/");
        env.putAll(e.env());
        ArrayNode envs = p.putArray("env");
        env.forEach((k, v) -> envs.add(k + "=" + v));
        p.put("cwd", e.cwd());
        List<String> caps = e.capabilitiesAll() ? Capabilities.names() : e.capabilities();
        ObjectNode c = p.putObject("capabilities");
        for (String set : List.of("bounding", "effective", "inheritable", "permitted")) {
            ArrayNode a = c.putArray(set);
            caps.forEach(a::add);
        }
        // Why ambient for a uid other than 0: as the runtime does, so the kept capabilities survive execve
        ArrayNode ambient = c.putArray("ambient");
        if (e.uid() != 0) caps.forEach(ambient::add);
        p.put("noNewPrivileges", e.noNewPrivileges());
        return p;
    }

    private ObjectNode root(ObjectNode annotations) {
        ObjectNode r = JsonNodeFactory.instance.objectNode();
        SpecNode root = e.rootNode();
        if (e.namespace("mount").mode() != NamespaceMode.NEW || root.isMissing()) {
            r.put("path", ROOTFS);
            annotations.put(ANNOTATION_ROOT, "host");
            warn("export.oci-host-root", "keeping the host's root has no OCI equivalent (runc and crun can't pivot into \"/\" itself): the bundle's"
                    + " rootfs/ holds the host's top-level symlinks, and each top-level directory of the host is bound on it (rbind, rslave) at"
                    + " export time", "namespaces.mount.root", e.namespace("mount").mode() == NamespaceMode.NEW ? e.section("mount") : e.spec(),
                    "re-export when the host's top-level directories change, or give the spec a root");
            if (e.namespace("mount").mode() != NamespaceMode.NEW) {
                warn("export.oci-mount-namespace-added", "OCI runtimes always create a mount namespace: the bundle has one, with the host's root"
                        + " as its root", "namespaces", e.spec().get("namespaces"), "nothing to do unless the target must see mounts made on the host later");
            }
        } else if (root.get("type").text("tmpfs").equals("bind")) {
            r.put("path", abs(root.get("source").text()).toString());
            annotations.put(ANNOTATION_ROOT, "bind");
        } else {
            r.put("path", ROOTFS);
            annotations.put(ANNOTATION_ROOT, "tmpfs");
            warn("export.oci-tmpfs-root", "the tmpfs root becomes the bundle's directory " + ROOTFS + "/ (holding the mount points):"
                    + " what the target writes to / lands on the disk under the bundle" + (root.has("size") ? ", and its size limit is lost" : ""),
                    root.path(), root, "mount a tmpfs on the paths the target writes to, or make the root read-only (readonlyRoot: true)");
        }
        r.put("readonly", e.readonlyRoot());
        return r;
    }

    private ArrayNode mounts() {
        ArrayNode out = JsonNodeFactory.instance.arrayNode();
        if (e.namespace("mount").mode() != NamespaceMode.NEW || e.rootNode().isMissing()) hostRootMounts(out);
        if (e.namespace("mount").mode() != NamespaceMode.NEW) return out;
        for (Mount m : e.mounts()) {
            SpecNode n = m.node();
            List<String> options = new ArrayList<>();
            n.get("options").elements().forEach(o -> options.add(o.text()));
            String propagation = m.propagation();
            switch (m.type()) {
                case "bind" -> {
                    Path source = abs(n.get("source").text());
                    options.add(0, "rbind");
                    // Why rslave by default: a bind is a slave of the host's mount in the sandbox (the
                    // host's / is made rslave first); OCI runtimes make it rprivate unless told
                    if (propagation.isEmpty()) propagation = "rslave";
                    // Why rro: the sandbox makes a read-only bind read-only with its submounts (mount_setattr AT_RECURSIVE)
                    if (m.readonly()) options.add("rro");
                    out.add(mount(m.target(), "bind", source.toString(), options, propagation));
                    if (Files.isRegularFile(source) || (Files.exists(source) && !Files.isDirectory(source))) rootfsFiles.add(m.target());
                    else rootfsDirs.add(m.target());
                    continue;
                }
                case "tmpfs" -> {
                    options.addAll(0, List.of("nosuid", "nodev"));
                    n.get("size").optText().ifPresent(s -> options.add("size=" + bytes(s)));
                    options.add("mode=" + mode(n.get("mode").text("1777")));
                }
                case "proc", "sysfs", "mqueue" -> options.addAll(0, List.of("nosuid", "nodev", "noexec"));
                case "devpts" -> options.addAll(0, List.of("nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"));
                case "overlay" -> {
                    List<String> lower = n.get("lower").kind() == SpecNode.Kind.LIST
                            ? n.get("lower").elements().stream().map(l -> abs(l.text()).toString()).toList() : List.of(abs(n.get("lower").text()).toString());
                    options.add("lowerdir=" + String.join(":", lower));
                    n.get("upper").optText().ifPresent(u -> options.add("upperdir=" + abs(u)));
                    n.get("work").optText().ifPresent(w -> options.add("workdir=" + abs(w)));
                }
                case "dev" -> {
                    dev(m, out);
                    continue;
                }
                default -> {
                    warn("export.oci-unknown-mount-type", "a mount of type " + m.type() + " has no OCI equivalent here; left out", n.path(), n,
                            "add it to config.json's mounts by hand");
                    continue;
                }
            }
            if (m.readonly()) options.add("ro");
            out.add(mount(m.target(), m.type(), m.type(), options, propagation));
            rootfsDirs.add(m.target());
        }
        return out;
    }

    /**
     * The host's root as OCI runtimes can take it: its top-level symlinks recreated in rootfs/ and its
     * top-level directories bound recursively as slaves (what the sandbox sees: a copy of the host's
     * mount tree that receives the host's later mounts). /proc is left to the spec's own proc mount.
     */
    private void hostRootMounts(ArrayNode out) {
        boolean specProc = e.namespace("mount").mode() == NamespaceMode.NEW && e.mounts().stream().anyMatch(m -> m.target().equals("/proc"));
        List<Path> entries;
        try (var list = Files.list(hostRoot)) {
            entries = list.sorted().toList();
        } catch (IOException ex) {
            error("export.oci-host-root-unreadable", "cannot list the host's root " + hostRoot + ": " + ex.getMessage(), "namespaces.mount.root",
                    e.spec(), "give the spec a root");
            return;
        }
        for (Path entry : entries) {
            String name = "/" + entry.getFileName();
            if (Files.isSymbolicLink(entry)) {
                try {
                    rootfsLinks.put(name, Files.readSymbolicLink(entry).toString());
                } catch (IOException ex) {
                    // an unreadable link is left out, as a file would be
                }
            } else if (Files.isDirectory(entry) && !(name.equals("/proc") && specProc) && !name.equals("/lost+found")) {
                out.add(mount(name, "bind", entry.toString(), List.of("rbind"), "rslave"));
                rootfsDirs.add(name);
            }
        }
    }

    /** Our minimal /dev as OCI runtimes build theirs: a tmpfs, a devpts and a /dev/shm; the runtime adds null, zero, full, random, urandom, tty, ptmx and the fd links. */
    private void dev(Mount m, ArrayNode out) {
        String t = m.target();
        List<String> options = new ArrayList<>(List.of("nosuid", "strictatime", "mode=0755", "size=65536k"));
        m.node().get("options").elements().forEach(o -> options.add(o.text()));
        out.add(mount(t, "tmpfs", "tmpfs", options, m.propagation()));
        out.add(mount(t + "/pts", "devpts", "devpts", List.of("nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"), ""));
        out.add(mount(t + "/shm", "tmpfs", "shm", List.of("nosuid", "nodev", "noexec", "mode=1777", "size=65536k"), ""));
        rootfsDirs.add(t);
        if (!t.equals("/dev")) {
            warn("export.oci-dev-elsewhere", "a dev mount on " + t + ": OCI runtimes create their device nodes in /dev only", m.node().path(), m.node(),
                    "mount dev on /dev");
        }
        if (m.readonly()) {
            warn("export.oci-dev-readonly", "a read-only dev has no OCI equivalent (the runtime creates its device nodes after mounting /dev): the /dev"
                    + " tmpfs stays writable", m.node().path(), m.node(), "drop readonly from the dev mount");
        }
    }

    private static ObjectNode mount(String destination, String type, String source, List<String> options, String propagation) {
        ObjectNode o = JsonNodeFactory.instance.objectNode();
        o.put("destination", destination);
        o.put("type", type);
        o.put("source", source);
        ArrayNode a = o.putArray("options");
        options.forEach(a::add);
        if (propagation != null && !propagation.isEmpty()) a.add(propagation);
        return o;
    }

    private void linux(ObjectNode linux, ObjectNode annotations) {
        Namespace user = e.namespace("user");
        if (user.mode() == NamespaceMode.NEW) {
            linux.set("uidMappings", mappings(e.uidMap()));
            linux.set("gidMappings", mappings(e.gidMap()));
            SpecNode setgroups = e.section("user").get("setgroups");
            if (setgroups.isPresent()) {
                warn("export.oci-setgroups", "setgroups: " + setgroups.text() + " has no OCI field: the runtime decides (runc and crun allow"
                        + " setgroups when they write the gid map as root)", setgroups.path(), setgroups, "remove it, or check groups inside");
            }
        }
        ArrayNode namespaces = linux.putArray("namespaces");
        for (String type : EffectiveSpec.KNOWN_NAMESPACES) {
            Namespace ns = e.namespace(type);
            SpecNode section = e.section(type);
            if (ns.mode() == NamespaceMode.HOST) {
                if (type.equals("mount")) namespaces.addObject().put("type", "mount");
                continue;
            }
            ObjectNode o = namespaces.addObject();
            o.put("type", NAMESPACE_TYPES.get(type));
            if (ns.mode() == NamespaceMode.JOIN) {
                SpecNode join = section.get("join");
                if (join.has("path")) {
                    o.put("path", join.get("path").text());
                } else {
                    warn("export.oci-join-sandbox", "join: {sandbox: " + join.get("sandbox").text() + "} has no OCI equivalent: the bundle creates"
                            + " a new " + type + " namespace instead", join.path(), join,
                            "set this namespace's \"path\" in config.json to /proc/PID/ns/" + nsFile(type) + " of a process of the sandbox '"
                                    + join.get("sandbox").text() + "' (or of the container to share it with)");
                }
            }
        }
        for (Map.Entry<String, SpecNode> f : e.spec().get("namespaces").fields().entrySet()) {
            if (!NAMESPACE_TYPES.containsKey(f.getKey())) {
                warn("export.oci-plugin-section", "the section namespaces." + f.getKey() + " (a plugin's) has no OCI equivalent; left out",
                        f.getValue().path(), f.getValue(), "provide what the plugin does with an OCI hook or the runtime's own configuration");
            }
        }
        pid(annotations);
        net();
        time(linux, annotations);
        // docker's default system paths, as `up` applies them (the mount plugin; dev.sandbox.api.SystemPaths) to the /proc and /sys
        // the target sees: a proc or sysfs mounted there, or the host's with no root of its own
        List<String> masked = new ArrayList<>();
        List<String> readonly = new ArrayList<>();
        if (e.systemPathsConfined()) {
            boolean hostRoot = e.rootNode().isMissing();
            if (hostRoot || e.mounts().stream().anyMatch(m -> m.type().equals("proc") && m.target().equals("/proc"))) {
                SystemPaths.PROC_READONLY.forEach(p -> readonly.add("/proc/" + p));
                SystemPaths.PROC_MASKED.forEach(p -> masked.add("/proc/" + p));
            }
            if (hostRoot || e.mounts().stream().anyMatch(m -> m.type().equals("sysfs") && m.target().equals("/sys"))) {
                SystemPaths.SYS_MASKED.forEach(p -> masked.add("/sys/" + p));
            }
        }
        e.masks().stream().filter(p -> !masked.contains(p)).forEach(masked::add);
        e.readonlyPaths().stream().filter(p -> !readonly.contains(p)).forEach(readonly::add);
        if (!masked.isEmpty()) {
            ArrayNode a = linux.putArray("maskedPaths");
            masked.forEach(a::add);
        }
        if (!readonly.isEmpty()) {
            ArrayNode a = linux.putArray("readonlyPaths");
            readonly.forEach(a::add);
        }
        if (e.namespace("mount").mode() == NamespaceMode.NEW) linux.put("rootfsPropagation", e.rootPropagation());
        else linux.put("rootfsPropagation", "rslave");
        // Why only for root: as under up, a rootless caller gets no cgroup of its own (rootless runc fails creating one on cgroup v1)
        if (e.namespace("cgroup").mode() == NamespaceMode.NEW && e.callerUid() == 0) linux.put("cgroupsPath", "/sandbox/" + e.name());
        resources(linux);
        seccomp(linux);
    }

    /**
     * {@code resources} → {@code linux.resources} and the cgroup they apply to. OCI's {@code memory.swap} is docker's
     * memorySwap (memory plus swap); omitted, up gives as much swap as memory, so the bundle says so. OCI has no CPU
     * weight, only v1's shares: cpuWeight goes out as {@code shares = weight × 1024 / 100} (docs/spec.md, resources).
     * Rootless: left out, as up applies none without a cgroup of its own.
     */
    private void resources(ObjectNode linux) {
        SpecNode r = e.spec().get("resources");
        if (!r.isPresent()) return;
        ResourcesSection.Limits l = ResourcesSection.limits(r);
        if (!l.any()) return;
        if (e.callerUid() != 0) {
            warn("export.oci-resources-rootless", "resources: as under up, a rootless caller gets no cgroup of its own, so the limits are"
                    + " left out (a rootless runtime without a delegated cgroup fails on them)", r.path(), r, "export as root, or use process.rlimits");
            return;
        }
        ObjectNode out = linux.putObject("resources");
        if (l.memory().isPresent() || l.memorySwap().isPresent()) {
            ObjectNode m = out.putObject("memory");
            l.memory().ifPresent(v -> m.put("limit", v));
            if (l.memorySwap().isPresent()) m.put("swap", l.memorySwap().getAsLong());
            else m.put("swap", 2 * l.memory().getAsLong());
        }
        l.pids().ifPresent(v -> out.putObject("pids").put("limit", v));
        if (l.cpus().isPresent() || l.cpuWeight().isPresent()) {
            ObjectNode cpu = out.putObject("cpu");
            l.cpuWeight().ifPresent(w -> {
                long shares = ResourcesSection.sharesFromWeight(w);
                cpu.put("shares", shares);
                SpecNode at = r.get("cpuWeight");
                warn("export.oci-cpu-weight", "cpuWeight " + w + " becomes cpu.shares " + shares + " (weight × 1024 / 100): OCI has only"
                        + " cgroup v1's shares, and on cgroup v2 the runtime converts them back with its own formula (runc before 1.3:"
                        + " 1 + (shares - 2) × 9999 / 262142, so 1024 shares are weight 39)", at.path(), at,
                        "check cpu.weight in the container's cgroup, or leave cpuWeight out");
            });
            l.cpus().ifPresent(c -> {
                cpu.put("quota", ResourcesSection.quotaUs(c));
                cpu.put("period", ResourcesSection.CPU_PERIOD_US);
            });
        }
        if (!linux.has("cgroupsPath")) linux.put("cgroupsPath", "/sandbox/" + e.name());
    }

    private static String nsFile(String type) {
        return type.equals("mount") ? "mnt" : type;
    }

    private static ArrayNode mappings(List<IdRange> ranges) {
        ArrayNode a = JsonNodeFactory.instance.arrayNode();
        for (IdRange r : ranges) {
            ObjectNode o = a.addObject();
            o.put("containerID", r.inside());
            o.put("hostID", r.outside());
            o.put("size", r.count());
        }
        return a;
    }

    private void pid(ObjectNode annotations) {
        SpecNode init = e.section("pid").get("init");
        if (e.namespace("pid").mode() == NamespaceMode.NEW && init.bool(false)) {
            annotations.put(ANNOTATION_INIT, "true");
            warn("export.oci-init", "pid.init has no OCI equivalent: the runtime runs the command itself as PID 1", init.path(), init,
                    "put an init in front of the command (process.args: [\"/usr/bin/tini\", \"--\", ...]), or use the engine's --init"
                            + " (podman run --init, docker run --init)");
        }
    }

    private void net() {
        if (e.namespace("net").mode() != NamespaceMode.NEW) return;
        SpecNode net = e.section("net");
        if (net.has("loopback") && !net.get("loopback").bool(true)) {
            warn("export.oci-loopback", "loopback: false has no OCI equivalent: runc and crun bring lo up in a new network namespace",
                    net.get("loopback").path(), net.get("loopback"), "take lo down from the command if it must be down");
        }
        for (SpecNode link : net.get("links").elements()) {
            warn("export.oci-link", "the " + link.get("type").text("veth") + " link " + link.get("name").text() + " has no OCI equivalent: an OCI"
                    + " runtime creates no network interfaces", link.path(), link,
                    "let the engine create it: a CNI plugin (bridge or ptp with host-local IPAM for "
                            + String.join(", ", link.get("address").kind() == SpecNode.Kind.LIST
                            ? link.get("address").elements().stream().map(SpecNode::text).toList() : List.of(link.get("address").text("its address")))
                            + "), podman's --network, or an OCI createRuntime hook");
        }
    }

    private void time(ObjectNode linux, ObjectNode annotations) {
        if (e.namespace("time").mode() != NamespaceMode.NEW) return;
        SpecNode offsets = e.section("time").get("offsets");
        ObjectNode t = JsonNodeFactory.instance.objectNode();
        for (String clock : List.of("monotonic", "boottime")) {
            SpecNode v = offsets.get(clock);
            if (v.isMissing()) continue;
            BigDecimal seconds = new BigDecimal(v.text());
            BigDecimal whole = seconds.setScale(0, RoundingMode.FLOOR);
            long nanos = seconds.subtract(whole).movePointRight(9).setScale(0, RoundingMode.HALF_UP).longValueExact();
            ObjectNode o = t.putObject(clock);
            o.put("secs", whole.longValueExact());
            o.put("nanosecs", nanos);
        }
        if (t.isEmpty()) return;
        linux.set("timeOffsets", t);
        // Why also an annotation: crun 1.8 (Debian 12) reads only its own run.oci.timens_offset (written as it is
        // to /proc/self/timens_offsets), not runtime-spec 1.1's linux.timeOffsets
        List<String> lines = new ArrayList<>();
        t.fields().forEachRemaining(f -> lines.add(f.getKey() + " " + f.getValue().get("secs").asLong() + " " + f.getValue().get("nanosecs").asLong()));
        annotations.put(ANNOTATION_CRUN_TIMENS, String.join("\n", lines));
    }

    private void seccomp(ObjectNode linux) {
        String mode = e.seccomp();
        if (mode.equals("unconfined")) return;
        SpecNode where = e.spec().get("process").get("seccomp");
        JsonNode profile;
        String label;
        try {
            if (mode.equals("default")) {
                Optional<byte[]> bytes = profiles.builtIn();
                if (bytes.isEmpty()) {
                    error("export.seccomp-built-in-missing", "this build of sandbox doesn't ship the built-in seccomp profile", "process.seccomp",
                            where, "set process.seccomp to a profile file, or to unconfined");
                    return;
                }
                profile = JSON.readTree(bytes.get());
                label = "the built-in profile";
            } else {
                Path file = abs(mode);
                profile = JSON.readTree(profiles.read(file));
                label = file.toString();
            }
        } catch (IOException ex) {
            error("export.seccomp-unreadable", "cannot read the seccomp profile " + mode + ": " + ex.getMessage(), "process.seccomp", where,
                    "check the path (relative to the spec file) and that it is JSON");
            return;
        }
        try {
            ObjectNode oci = DockerSeccomp.toOci(profile, target);
            if (mode.equals("default") && !DockerSeccomp.denyTerminalInjection(oci)) {
                warn("export.seccomp-tiocsti", "the built-in profile could not be given its TIOCSTI/TIOCLINUX rule", "process.seccomp", where, null);
            }
            linux.set("seccomp", oci);
        } catch (DockerSeccomp.ProfileException ex) {
            error("export.seccomp-profile", label + (ex.pointer().isEmpty() ? "" : " at " + ex.pointer()) + ": " + ex.getMessage(), "process.seccomp",
                    where, "fix the profile (docker's seccomp JSON format)");
        }
    }

    // ------------------------------------------------------------------------------------- helpers

    private Path abs(String path) {
        return baseDir.resolve(path).normalize();
    }

    /** A size as the spec writes it ({@code 64M}, {@code 512k}, bytes) in bytes. */
    static long bytes(String size) {
        String s = size.trim();
        char unit = Character.toUpperCase(s.charAt(s.length() - 1));
        int shift = switch (unit) {
            case 'K' -> 10;
            case 'M' -> 20;
            case 'G' -> 30;
            default -> 0;
        };
        return Long.parseLong(shift == 0 ? s : s.substring(0, s.length() - 1)) << shift;
    }

    /** A mode as four octal digits. */
    static String mode(String mode) {
        String m = mode.replaceFirst("^0+(?=.)", "");
        return "0".repeat(Math.max(0, 4 - m.length())) + m;
    }

    private void warn(String code, String message, String path, SpecNode at, String hint) {
        diagnostics.add(Diagnostic.warning(code, message, path, at.location(), hint));
    }

    private void error(String code, String message, String path, SpecNode at, String hint) {
        diagnostics.add(Diagnostic.error(code, message, path, at.location(), hint));
    }
}
