package dev.sandbox.engine.review;

import dev.sandbox.api.SpecNode;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A spec with its defaults applied: what the sandbox will be, independent of this host (no host checks,
 * no joins resolved). Built from the {@link SpecNode} API only, so it does not depend on how the YAML
 * was loaded. Two of them are compared by {@link SpecReview}.
 *
 * <p>The defaults are those of docs/spec.md and docs/security.md: a namespace that is absent stays the
 * caller's (the host's); an omitted uid map maps 0 to the caller; {@code readonly} is false;
 * {@code loopback} true; {@code noNewPrivileges} true; {@code seccomp} {@code default}; omitted
 * capabilities are {@link DefaultCapabilities}.
 */
public final class EffectiveSpec {

    /** The namespace types the engine knows, in clone order; other sections (plugins) follow as written. */
    public static final List<String> KNOWN_NAMESPACES = List.of("user", "mount", "pid", "uts", "ipc", "net", "cgroup", "time");

    public enum NamespaceMode { NEW, JOIN, HOST }

    public record Namespace(NamespaceMode mode, String joinTarget) {
        String describe() {
            return switch (mode) {
                case NEW -> "new";
                case JOIN -> "join " + joinTarget;
                case HOST -> "the caller's (not isolated)";
            };
        }
    }

    public record IdRange(long inside, long outside, long count) {
        boolean maps(long id) {
            return id >= inside && id - inside < count;
        }

        @Override
        public String toString() {
            return inside + "->" + outside + " x" + count;
        }
    }

    /** One mount entry; {@code writable} is what a bind or overlay lets the sandbox write through to the host. */
    public record Mount(String type, String source, String target, boolean readonly, String propagation, String describe, SpecNode node) {
        /** A bind, or an overlay: host directories seen (and, with {@code upper}, written) through the mount. */
        public boolean hostFacing() {
            return type.equals("bind") || type.equals("overlay");
        }
    }

    /** A value and whether it is the default (not written in the spec). */
    public record Setting(String value, boolean defaulted) {
        @Override
        public String toString() {
            return defaulted ? value + " (default)" : value;
        }
    }

    final long callerUid;
    final long callerGid;
    /** The spec tree this model was built from: exporters read details (options, locations) through it. */
    SpecNode spec;
    SpecNode rootNode;
    String rootPropagation;
    long gid;
    List<Long> groups = List.of();
    List<String> command = List.of();
    final Map<String, String> env = new LinkedHashMap<>();
    String cwd = "/";
    final Map<String, Namespace> namespaces = new LinkedHashMap<>();
    final List<IdRange> uidMap = new ArrayList<>();
    final List<IdRange> gidMap = new ArrayList<>();
    String root = "host";
    boolean readonlyRoot;
    /** {@code namespaces.mount.systemPaths}: {@code default} (docker's read-only and masked /proc, /sys paths) or {@code unconfined}. */
    String systemPaths = "default";
    /** By change-list key: {@code namespaces.mount.mounts[/target]} ({@code #2} for a second mount on the same target). */
    final Map<String, Mount> mounts = new LinkedHashMap<>();
    final Set<String> masks = new LinkedHashSet<>();
    final Set<String> readonlyPaths = new LinkedHashSet<>();
    final Map<String, String> links = new LinkedHashMap<>();
    final List<String> ports = new ArrayList<>();
    String netMode;
    long uid;
    boolean capsAll;
    List<String> capabilities = List.of();
    boolean noNewPrivileges = true;
    String seccomp = "default";
    final Map<String, String> resources = new LinkedHashMap<>();
    /** Every setting, by key, in a stable order: what the change list compares. */
    final Map<String, Setting> settings = new LinkedHashMap<>();

    private EffectiveSpec(long callerUid, long callerGid) {
        this.callerUid = callerUid;
        this.callerGid = callerGid;
    }

    /** The model of a spec tree (the root map) as the caller {@code callerUid} would run it. */
    public static EffectiveSpec of(SpecNode root, long callerUid, long callerGid) {
        EffectiveSpec e = new EffectiveSpec(callerUid, callerGid);
        e.spec = root;
        e.build(root, callerGid);
        return e;
    }

    public Map<String, Setting> settings() {
        return settings;
    }

    public Namespace namespace(String type) {
        return namespaces.getOrDefault(type, new Namespace(NamespaceMode.HOST, null));
    }

    /** The sandbox's uid 0 is the host's root: a new user namespace maps inside 0 to outside 0, or none is created by a root caller. */
    public boolean rootIsHostRoot() {
        Namespace user = namespace("user");
        if (user.mode() == NamespaceMode.NEW) {
            return uidMap.stream().anyMatch(r -> r.maps(0) && r.outside() + (0 - r.inside()) == 0);
        }
        return user.mode() == NamespaceMode.HOST && callerUid == 0;
    }

    // ------------------------------------------------------------------- accessors (export, import)

    /** Who the model is for: the uid that would run the sandbox. */
    public long callerUid() {
        return callerUid;
    }

    /** The spec tree the model was built from. */
    public SpecNode spec() {
        return spec;
    }

    /** The section {@code namespaces.<type>} as written (MISSING when absent). */
    public SpecNode section(String type) {
        return spec.get("namespaces").get(type);
    }

    public String name() {
        return spec.get("name").text("");
    }

    public List<IdRange> uidMap() {
        return List.copyOf(uidMap);
    }

    public List<IdRange> gidMap() {
        return List.copyOf(gidMap);
    }

    /** {@code namespaces.mount.root} as written (MISSING: the host's root is kept). */
    /** Whether docker's default read-only and masked system paths apply ({@code systemPaths} is not {@code unconfined}). */
    public boolean systemPathsConfined() {
        return !systemPaths.equals("unconfined");
    }

    public SpecNode rootNode() {
        return rootNode == null ? spec.get("namespaces").get("mount").get("root") : rootNode;
    }

    public boolean readonlyRoot() {
        return readonlyRoot;
    }

    /** The root's propagation, defaults applied ({@code rprivate} with a root, {@code rslave} without); null without a new mount namespace. */
    public String rootPropagation() {
        return rootPropagation;
    }

    /** The mounts in spec order. */
    public List<Mount> mounts() {
        return List.copyOf(mounts.values());
    }

    public List<String> masks() {
        return List.copyOf(masks);
    }

    public List<String> readonlyPaths() {
        return List.copyOf(readonlyPaths);
    }

    /** The uid the target runs as (defaults applied). */
    public long uid() {
        return uid;
    }

    /** The gid the target runs as (defaults applied). */
    public long gid() {
        return gid;
    }

    public List<Long> groups() {
        return groups;
    }

    public List<String> command() {
        return command;
    }

    /** {@code process.env} as written; the clean base environment is added by whoever runs it. */
    public Map<String, String> env() {
        return env;
    }

    public String cwd() {
        return cwd;
    }

    /** {@code capabilities: all}: every capability kept. */
    public boolean capabilitiesAll() {
        return capsAll;
    }

    /** The capabilities kept (defaults applied), CAP_ names in number order; meaningless when {@link #capabilitiesAll()}. */
    public List<String> capabilities() {
        return capabilities;
    }

    public boolean noNewPrivileges() {
        return noNewPrivileges;
    }

    /** {@code default}, {@code unconfined} or a profile path as written (relative to the spec file). */
    public String seccomp() {
        return seccomp;
    }

    // ------------------------------------------------------------------------------------- building

    private void build(SpecNode root, long callerGid) {
        SpecNode ns = root.get("namespaces");
        List<String> types = new ArrayList<>(KNOWN_NAMESPACES);
        for (String key : ns.fields().keySet()) if (!types.contains(key)) types.add(key);
        for (String type : types) {
            SpecNode section = ns.get(type);
            Namespace n;
            if (section.isMissing()) n = new Namespace(NamespaceMode.HOST, null);
            else if (section.has("join")) n = new Namespace(NamespaceMode.JOIN, joinTarget(section.get("join")));
            else n = new Namespace(NamespaceMode.NEW, null);
            if (section.isPresent() || KNOWN_NAMESPACES.contains(type)) {
                namespaces.put(type, n);
                put("namespaces." + type, n.describe(), section.isMissing());
            }
        }
        user(ns.get("user"), callerGid);
        mount(ns.get("mount"));
        net(ns.get("net"));
        for (String type : types) {
            if (!type.equals("user") && !type.equals("mount") && !type.equals("net") && namespace(type).mode() == NamespaceMode.NEW) {
                generic("namespaces." + type, ns.get(type), Set.of());
            }
        }
        ports(root.get("ports"));
        process(root.get("process"), ns);
        resources(root.get("resources"), "resources");
        resources(ns.get("cgroup").get("resources"), "namespaces.cgroup.resources");
        for (Map.Entry<String, SpecNode> f : root.fields().entrySet()) {
            // top-level keys this model doesn't know yet (a newer schema): compared as written
            if (!Set.of("apiVersion", "kind", "namespaces", "process", "ports", "resources").contains(f.getKey()) && !f.getKey().startsWith("x-")) {
                generic(f.getKey(), f.getValue(), Set.of());
            }
        }
    }

    private static String joinTarget(SpecNode join) {
        if (join.has("sandbox")) return "sandbox " + join.get("sandbox").text();
        if (join.has("path")) return join.get("path").text();
        return join.fields().toString();
    }

    private void user(SpecNode user, long callerGid) {
        if (namespace("user").mode() != NamespaceMode.NEW) return;
        ranges(user.get("uidMap"), uidMap, callerUid);
        ranges(user.get("gidMap"), gidMap, callerGid);
        put("namespaces.user.uidMap", String.join(", ", uidMap.stream().map(IdRange::toString).toList()), user.get("uidMap").isMissing());
        put("namespaces.user.gidMap", String.join(", ", gidMap.stream().map(IdRange::toString).toList()), user.get("gidMap").isMissing());
        if (user.has("setgroups")) put("namespaces.user.setgroups", user.get("setgroups").text(), false);
    }

    private static void ranges(SpecNode list, List<IdRange> out, long callerId) {
        if (list.kind() != SpecNode.Kind.LIST) {
            out.add(new IdRange(0, callerId, 1));
            return;
        }
        for (SpecNode r : list.elements()) {
            out.add(new IdRange(r.get("inside").longValue(0), r.get("outside").longValue(0), r.get("count").longValue(0)));
        }
    }

    private void mount(SpecNode mount) {
        if (namespace("mount").mode() != NamespaceMode.NEW) return;
        SpecNode r = mount.get("root");
        rootNode = r;
        rootPropagation = mount.get("rootPropagation").text(r.isPresent() ? "rprivate" : "rslave");
        if (r.isPresent()) {
            String type = r.get("type").text("tmpfs");
            root = type.equals("bind") ? "bind " + r.get("source").text() : type + (r.has("size") ? " size=" + r.get("size").text() : "");
        }
        put("namespaces.mount.root", root.equals("host") ? "the host's root (a private copy of its mounts)" : root, r.isMissing());
        readonlyRoot = mount.get("readonlyRoot").bool(false);
        put("namespaces.mount.readonlyRoot", String.valueOf(readonlyRoot), !mount.has("readonlyRoot"));
        put("namespaces.mount.rootPropagation", mount.get("rootPropagation").text(r.isPresent() ? "rprivate" : "rslave"), !mount.has("rootPropagation"));
        systemPaths = mount.get("systemPaths").text("default");
        put("namespaces.mount.systemPaths", systemPaths, !mount.has("systemPaths"));
        Map<String, Integer> seen = new LinkedHashMap<>();
        for (SpecNode m : mount.get("mounts").elements()) {
            String type = m.get("type").text("");
            String target = normal(m.get("target").text(""));
            boolean ro = m.get("readonly").bool(false);
            if (type.equals("overlay")) ro = ro || !m.has("upper"); // without upper an overlay is read-only
            StringBuilder d = new StringBuilder(type);
            if (m.has("source")) d.append(' ').append(m.get("source").text());
            if (type.equals("overlay")) {
                d.append(" lower=").append(m.get("lower").kind() == SpecNode.Kind.LIST
                        ? String.join(":", m.get("lower").elements().stream().map(SpecNode::text).toList()) : m.get("lower").text(""));
                if (m.has("upper")) d.append(" upper=").append(m.get("upper").text());
            }
            d.append(ro ? ", readonly" : ", writable");
            String propagation = m.get("propagation").text("");
            if (!propagation.isEmpty()) d.append(", propagation ").append(propagation);
            if (m.get("options").kind() == SpecNode.Kind.LIST) {
                d.append(", ").append(String.join(",", m.get("options").elements().stream().map(SpecNode::text).sorted().toList()));
            }
            if (m.has("size")) d.append(", size ").append(m.get("size").text());
            if (m.has("mode")) d.append(", mode ").append(m.get("mode").text());
            int n = seen.merge(target, 1, Integer::sum);
            String key = "namespaces.mount.mounts[" + target + "]" + (n > 1 ? "#" + n : "");
            String source = type.equals("overlay") ? d.toString() : m.get("source").text("");
            mounts.put(key, new Mount(type, source, target, ro, propagation, d.toString(), m));
            put(key, d.toString(), false);
        }
        for (SpecNode p : mount.get("masks").elements()) masks.add(normal(p.text()));
        for (SpecNode p : mount.get("readonlyPaths").elements()) readonlyPaths.add(normal(p.text()));
        masks.forEach(p -> put("namespaces.mount.masks[" + p + "]", "masked", false));
        readonlyPaths.forEach(p -> put("namespaces.mount.readonlyPaths[" + p + "]", "read-only", false));
    }

    private void net(SpecNode net) {
        if (namespace("net").mode() != NamespaceMode.NEW) return;
        put("namespaces.net.loopback", String.valueOf(net.get("loopback").bool(true)), !net.has("loopback"));
        if (net.has("mode")) {
            netMode = net.get("mode").text();
            put("namespaces.net.mode", netMode, false);
        }
        int i = 0;
        for (SpecNode l : net.get("links").elements()) {
            String name = l.get("name").text("#" + i);
            StringBuilder d = new StringBuilder(l.get("type").text("veth"));
            d.append(", host end ").append(l.get("hostName").text("sb-<name>-" + i));
            if (l.has("address")) d.append(", address ").append(listText(l.get("address")));
            if (l.has("hostAddress")) d.append(", host address ").append(listText(l.get("hostAddress")));
            if (l.has("gateway")) d.append(", gateway ").append(l.get("gateway").text());
            if (l.has("mtu")) d.append(", mtu ").append(l.get("mtu").text());
            if (l.has("mac")) d.append(", mac ").append(l.get("mac").text());
            links.put(name, d.toString());
            put("namespaces.net.links[" + name + "]", d.toString(), false);
            i++;
        }
        if (net.has("ports")) ports(net.get("ports"));
    }

    private void ports(SpecNode list) {
        for (SpecNode p : list.elements()) {
            String text = p.kind() == SpecNode.Kind.MAP ? flat(p) : p.text();
            ports.add(text);
            put("ports[" + text + "]", "published", false);
        }
    }

    private void process(SpecNode process, SpecNode ns) {
        SpecNode user = process.get("user");
        boolean newUserNs = namespace("user").mode() == NamespaceMode.NEW;
        boolean joinsUser = namespace("user").mode() == NamespaceMode.JOIN;
        boolean switchIdentity = user.isPresent() || newUserNs;
        uid = switchIdentity ? user.get("uid").longValue(0) : callerUid;
        gid = switchIdentity ? user.get("gid").longValue(0) : callerGid;
        groups = user.get("groups").elements().stream().map(g -> g.longValue(0)).toList();
        command = process.get("command").elements().stream().map(SpecNode::text).toList();
        cwd = process.get("cwd").text("/");
        put("process.command", listText(process.get("command")), false);
        for (Map.Entry<String, SpecNode> e : process.get("env").fields().entrySet()) {
            env.put(e.getKey(), e.getValue().text());
            put("process.env." + e.getKey(), e.getValue().text(), false);
        }
        put("process.cwd", process.get("cwd").text("/"), !process.has("cwd"));
        put("process.uid", String.valueOf(uid), !user.has("uid"));
        if (user.has("gid")) put("process.gid", user.get("gid").text(), false);
        if (user.has("groups")) put("process.groups", listText(user.get("groups")), false);
        boolean privileged = callerUid == 0 || newUserNs || joinsUser;
        SpecNode caps = process.get("capabilities");
        if (caps.kind() == SpecNode.Kind.STRING && caps.text().equalsIgnoreCase("all")) {
            capsAll = true;
            put("process.capabilities", "all", false);
        } else if (caps.kind() == SpecNode.Kind.LIST) {
            capabilities = privileged ? DefaultCapabilities.sorted(caps.elements().stream().map(SpecNode::text).toList()) : List.of();
            put("process.capabilities", capabilities.isEmpty() ? "none" : String.join(", ", capabilities), false);
        } else {
            boolean newNet = namespace("net").mode() == NamespaceMode.NEW;
            capabilities = privileged ? DefaultCapabilities.forUid(uid, newNet) : List.of();
            put("process.capabilities", capabilities.isEmpty() ? "none" : String.join(", ", capabilities), true);
        }
        noNewPrivileges = process.get("noNewPrivileges").bool(true);
        put("process.noNewPrivileges", String.valueOf(noNewPrivileges), !process.has("noNewPrivileges"));
        seccomp = process.get("seccomp").text("default");
        put("process.seccomp", seccomp, !process.has("seccomp"));
    }

    private void resources(SpecNode section, String prefix) {
        for (Map.Entry<String, SpecNode> e : section.fields().entrySet()) {
            String value = e.getValue().kind() == SpecNode.Kind.MAP || e.getValue().kind() == SpecNode.Kind.LIST ? flat(e.getValue()) : e.getValue().text();
            resources.put(e.getKey(), value);
            put(prefix + "." + e.getKey(), value, false);
        }
    }

    private void generic(String prefix, SpecNode node, Set<String> skip) {
        switch (node.kind()) {
            case MAP -> node.fields().forEach((k, v) -> {
                if (!skip.contains(k)) generic(prefix + "." + k, v, Set.of());
            });
            case LIST -> {
                List<SpecNode> el = node.elements();
                for (int i = 0; i < el.size(); i++) generic(prefix + "[" + i + "]", el.get(i), Set.of());
            }
            case MISSING -> { }
            default -> put(prefix, node.text(), false);
        }
    }

    private void put(String key, String value, boolean defaulted) {
        settings.put(key, new Setting(value, defaulted));
    }

    static String normal(String path) {
        String p = path;
        while (p.length() > 1 && p.endsWith("/")) p = p.substring(0, p.length() - 1);
        return p;
    }

    private static String listText(SpecNode node) {
        if (node.kind() != SpecNode.Kind.LIST) return node.text();
        return "[" + String.join(", ", node.elements().stream().map(SpecNode::text).toList()) + "]";
    }

    private static String flat(SpecNode node) {
        if (node.kind() == SpecNode.Kind.MAP) {
            List<String> parts = new ArrayList<>();
            node.fields().forEach((k, v) -> parts.add(k + "=" + flat(v)));
            return "{" + String.join(", ", parts) + "}";
        }
        if (node.kind() == SpecNode.Kind.LIST) return "[" + String.join(", ", node.elements().stream().map(EffectiveSpec::flat).toList()) + "]";
        return node.text();
    }
}
