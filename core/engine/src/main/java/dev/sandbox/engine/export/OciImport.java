package dev.sandbox.engine.export;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLGenerator;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import dev.sandbox.api.Diagnostic;
import dev.sandbox.api.Location;
import dev.sandbox.engine.pipeline.ResourcesSection;
import dev.sandbox.engine.review.DefaultCapabilities;
import java.io.IOException;
import java.math.BigDecimal;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * An OCI runtime bundle's {@code config.json} read back into a spec: the reverse of {@link OciExport}
 * for runc/podman users moving to declarative specs. Every field without a spec equivalent is a
 * warning located in config.json ({@code line:col}). The annotations {@link OciExport} writes restore
 * what OCI has no field for (a tmpfs root, {@code pid.init}, the name).
 */
public final class OciImport {

    /** The spec (a map, in the order the spec reference uses) and, when the profile had to be kept as a file, the seccomp profile to write. */
    public record Result(ObjectNode spec, Optional<ObjectNode> seccompProfile, List<Diagnostic> diagnostics) {
        public boolean hasErrors() {
            return diagnostics.stream().anyMatch(Diagnostic::isError);
        }
    }

    private static final JsonFactory FACTORY = JsonFactory.builder()
            .streamReadConstraints(StreamReadConstraints.builder().maxNestingDepth(64).build()).build();
    private static final ObjectMapper JSON = new ObjectMapper(FACTORY);
    private static final Map<String, String> OUR_TYPES = Map.of("user", "user", "mount", "mount", "pid", "pid", "uts", "uts", "ipc", "ipc",
            "network", "net", "cgroup", "cgroup", "time", "time");
    private static final Set<String> FLAG_OPTIONS = Set.of("nosuid", "nodev", "noexec");
    private static final Set<String> PROPAGATIONS = Set.of("shared", "slave", "private", "unbindable", "rshared", "rslave", "rprivate", "runbindable");
    static final String PATH_DEFAULT = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    private final String file;
    private final Map<String, int[]> where;
    private final Path bundleDir;
    private final long callerUid;
    private final long callerGid;
    private final SeccompProfiles profiles;
    private final List<Diagnostic> diagnostics = new ArrayList<>();
    private ObjectNode seccompFile;

    private OciImport(String file, Map<String, int[]> where, Path bundleDir, long callerUid, long callerGid, SeccompProfiles profiles) {
        this.file = file;
        this.where = where;
        this.bundleDir = bundleDir;
        this.callerUid = callerUid;
        this.callerGid = callerGid;
        this.profiles = profiles;
    }

    /**
     * Reads {@code bytes} (config.json named {@code file}, in {@code bundleDir}); {@code fallbackName}
     * names the sandbox when the config has no {@code dev.sandbox.name} annotation.
     */
    public static Result read(byte[] bytes, String file, Path bundleDir, String fallbackName, long callerUid, long callerGid, SeccompProfiles profiles) {
        Map<String, int[]> where = new HashMap<>();
        JsonNode config;
        try {
            try (JsonParser p = FACTORY.createParser(bytes)) {
                for (JsonToken t = p.nextToken(); t != null; t = p.nextToken()) {
                    if (t == JsonToken.END_ARRAY || t == JsonToken.END_OBJECT) continue;
                    JsonLocation at = p.currentTokenLocation();
                    String pointer = p.getParsingContext().pathAsPointer().toString();
                    where.putIfAbsent(pointer, new int[] {at.getLineNr(), at.getColumnNr()});
                }
            }
            config = JSON.readTree(bytes);
        } catch (IOException e) {
            String message = e instanceof com.fasterxml.jackson.core.JsonProcessingException j ? j.getOriginalMessage() : e.getMessage();
            JsonLocation at = e instanceof com.fasterxml.jackson.core.JsonProcessingException j ? j.getLocation() : null;
            return new Result(JsonNodeFactory.instance.objectNode(), Optional.empty(), List.of(Diagnostic.error("import.not-json",
                    "not valid JSON: " + message, "", new Location(file, at == null ? 0 : at.getLineNr(), at == null ? 0 : at.getColumnNr()),
                    "give the config.json of an OCI bundle")));
        }
        OciImport x = new OciImport(file, where, bundleDir, callerUid, callerGid, profiles);
        if (!config.isObject()) {
            x.error("", "import.not-an-object", "config.json must be a JSON object", "give the config.json of an OCI bundle");
            return new Result(JsonNodeFactory.instance.objectNode(), Optional.empty(), x.diagnostics);
        }
        ObjectNode spec = x.build(config, fallbackName);
        return new Result(spec, Optional.ofNullable(x.seccompFile), List.copyOf(x.diagnostics));
    }

    /** The spec as YAML with the schema line editors use. */
    public static String yaml(ObjectNode spec) {
        YAMLMapper yaml = new YAMLMapper(YAMLFactory.builder().disable(YAMLGenerator.Feature.WRITE_DOC_START_MARKER)
                .enable(YAMLGenerator.Feature.MINIMIZE_QUOTES).enable(YAMLGenerator.Feature.ALWAYS_QUOTE_NUMBERS_AS_STRINGS)
                .enable(YAMLGenerator.Feature.INDENT_ARRAYS_WITH_INDICATOR).build());
        try {
            return "# yaml-language-server: $schema=https://sandbox.dev/schemas/sandbox.schema.json\n# imported from an OCI config.json by sandbox import\n"
                    + yaml.writeValueAsString(spec);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    // --------------------------------------------------------------------------------------- build

    private ObjectNode build(JsonNode c, String fallbackName) {
        ObjectNode spec = JsonNodeFactory.instance.objectNode();
        spec.put("apiVersion", "sandbox/v1");
        spec.put("kind", "Sandbox");
        JsonNode annotations = c.path("annotations");
        String name = annotations.path(OciExport.ANNOTATION_NAME).asText(fallbackName);
        spec.put("name", validName(name));
        ObjectNode namespaces = spec.putObject("namespaces");
        Set<String> created = new LinkedHashSet<>();
        JsonNode nsList = c.path("linux").path("namespaces");
        for (int i = 0; i < nsList.size(); i++) {
            JsonNode n = nsList.get(i);
            String ours = OUR_TYPES.get(n.path("type").asText());
            if (ours == null) {
                warn("/linux/namespaces/" + i + "/type", "import.unknown-namespace", "namespace type " + n.path("type").asText() + " is unknown; left out", null);
                continue;
            }
            ObjectNode section = namespaces.putObject(ours);
            if (n.hasNonNull("path")) section.putObject("join").put("path", n.get("path").asText());
            else created.add(ours);
        }
        user(c, namespaces, created);
        mount(c, namespaces, created, annotations);
        pid(namespaces, created, annotations);
        uts(c, namespaces, created);
        time(c, namespaces, created);
        ObjectNode ordered = JsonNodeFactory.instance.objectNode();
        for (String type : List.of("user", "mount", "pid", "uts", "ipc", "net", "cgroup", "time")) {
            if (namespaces.has(type)) ordered.set(type, namespaces.get(type));
        }
        spec.set("namespaces", ordered);
        process(c, spec, created);
        seccomp(c, (ObjectNode) spec.get("process"), annotations);
        resources(c, spec);
        leftovers(c);
        return spec;
    }

    private void user(JsonNode c, ObjectNode namespaces, Set<String> created) {
        JsonNode linux = c.path("linux");
        if (!created.contains("user")) {
            for (String key : List.of("uidMappings", "gidMappings")) {
                if (linux.path(key).size() > 0) warn("/linux/" + key, "import.mappings-without-user-namespace", key + " without a new user namespace; left out", null);
            }
            return;
        }
        ObjectNode user = (ObjectNode) namespaces.get("user");
        mapping(linux.path("uidMappings"), "uidMap", callerUid, user);
        mapping(linux.path("gidMappings"), "gidMap", callerGid, user);
    }

    private static void mapping(JsonNode list, String key, long callerId, ObjectNode user) {
        if (list.size() == 1 && list.get(0).path("containerID").asLong() == 0 && list.get(0).path("hostID").asLong() == callerId
                && list.get(0).path("size").asLong() == 1) {
            return; // the spec's default map for this caller
        }
        if (list.isEmpty()) return;
        ArrayNode out = user.putArray(key);
        for (JsonNode m : list) {
            out.addObject().put("inside", m.path("containerID").asLong()).put("outside", m.path("hostID").asLong()).put("count", m.path("size").asLong());
        }
    }

    private void mount(JsonNode c, ObjectNode namespaces, Set<String> created, JsonNode annotations) {
        if (!created.contains("mount")) {
            if (namespaces.has("mount")) warn("/linux/namespaces", "import.joined-mount-namespace", "a joined mount namespace: root and mounts are left out", null);
            return;
        }
        ObjectNode mount = (ObjectNode) namespaces.get("mount");
        String rootKind = annotations.path(OciExport.ANNOTATION_ROOT).asText("");
        String rootPath = c.path("root").path("path").asText("");
        boolean hasRoot;
        if (rootKind.equals("tmpfs")) {
            mount.putObject("root").put("type", "tmpfs");
            hasRoot = true;
        } else if (rootKind.equals("host") || rootPath.equals("/")) {
            hasRoot = false;
        } else {
            Path root = bundleDir.resolve(rootPath).normalize();
            mount.putObject("root").put("type", "bind").put("source", root.toString());
            hasRoot = true;
        }
        if (c.path("root").path("readonly").asBoolean(false)) mount.put("readonlyRoot", true);
        String propagation = c.path("linux").path("rootfsPropagation").asText("");
        if (!propagation.isEmpty() && !propagation.equals(hasRoot ? "rprivate" : "rslave")) mount.put("rootPropagation", propagation);
        ArrayNode mounts = JsonNodeFactory.instance.arrayNode();
        JsonNode list = c.path("mounts");
        for (int i = 0; i < list.size(); i++) {
            JsonNode m = list.get(i);
            String at = "/mounts/" + i;
            String type = m.path("type").asText("");
            String dest = m.path("destination").asText("");
            List<String> options = new ArrayList<>();
            m.path("options").forEach(o -> options.add(o.asText()));
            boolean bind = type.equals("bind") || options.contains("bind") || options.contains("rbind");
            if (bind && rootKind.equals("host") && options.equals(List.of("rbind", "rslave")) && dest.equals(m.path("source").asText())
                    && dest.lastIndexOf('/') == 0) {
                continue; // a top-level host directory of an exported "keep the host's root"
            }
            // our dev: a tmpfs on /dev followed by devpts on /dev/pts and a tmpfs on /dev/shm
            if (type.equals("tmpfs") && i + 2 < list.size() && list.get(i + 1).path("destination").asText().equals(dest + "/pts")
                    && list.get(i + 1).path("type").asText().equals("devpts") && list.get(i + 2).path("destination").asText().equals(dest + "/shm")) {
                ObjectNode d = mounts.addObject().put("type", "dev").put("target", dest);
                options.stream().filter(o -> o.equals("noexec") || o.equals("nodev")).forEach(o -> d.withArray("options").add(o));
                i += 2;
                continue;
            }
            ObjectNode o = JsonNodeFactory.instance.objectNode();
            List<String> flags = new ArrayList<>();
            boolean readonly = false;
            String prop = null;
            for (String opt : options) {
                if (opt.equals("ro") || opt.equals("rro")) readonly = true;
                else if (PROPAGATIONS.contains(opt)) prop = opt;
                else if (FLAG_OPTIONS.contains(opt)) flags.add(opt);
            }
            if (bind) {
                o.put("type", "bind");
                o.put("source", bundleDir.resolve(m.path("source").asText()).normalize().toString());
                o.put("target", dest);
                if (readonly) o.put("readonly", true);
                if (prop != null && !prop.equals("rslave")) o.put("propagation", prop);
                if (!options.contains("rbind")) {
                    warn(at + "/options", "import.bind-not-recursive", "a bind without rbind: the sandbox binds recursively", null);
                }
                unknown(options, Set.of("bind", "rbind", "ro", "rro", "rw"), at);
                flags.forEach(f -> o.withArray("options").add(f));
            } else {
                switch (type) {
                    case "tmpfs" -> {
                        o.put("type", "tmpfs").put("target", dest);
                        String mode = "1777";
                        for (String opt : options) {
                            if (opt.startsWith("size=")) o.put("size", size(opt.substring(5)));
                            else if (opt.startsWith("mode=")) mode = OciExport.mode(opt.substring(5));
                        }
                        if (!mode.equals("1777")) o.put("mode", mode);
                        if (readonly) o.put("readonly", true);
                        flags.stream().filter(f -> f.equals("noexec")).forEach(f -> o.withArray("options").add(f));
                        notAdded(flags, List.of("nosuid", "nodev"), at);
                        unknown(options, Set.of("ro", "rw", "strictatime"), at, "size=", "mode=");
                    }
                    case "proc", "sysfs", "mqueue", "devpts" -> {
                        o.put("type", type).put("target", dest);
                        if (readonly) o.put("readonly", true);
                        notAdded(flags, type.equals("devpts") ? List.of("nosuid", "noexec") : List.of("nosuid", "nodev", "noexec"), at);
                        unknown(options, Set.of("ro", "rw", "newinstance"), at, "ptmxmode=", "mode=", "gid=");
                    }
                    case "overlay" -> {
                        o.put("type", "overlay").put("target", dest);
                        for (String opt : options) {
                            if (opt.startsWith("lowerdir=")) {
                                ArrayNode lower = o.putArray("lower");
                                for (String l : opt.substring(9).split(":")) lower.add(l);
                            } else if (opt.startsWith("upperdir=")) o.put("upper", opt.substring(9));
                            else if (opt.startsWith("workdir=")) o.put("work", opt.substring(8));
                        }
                        if (readonly && o.has("upper")) o.put("readonly", true);
                        flags.forEach(f -> o.withArray("options").add(f));
                        unknown(options, Set.of("ro", "rw"), at, "lowerdir=", "upperdir=", "workdir=");
                    }
                    default -> {
                        warn(at, "import.mount-type", "a mount of type " + type + " on " + dest + " has no spec equivalent; left out",
                                "the spec mounts bind, tmpfs, proc, sysfs, devpts, mqueue, overlay and dev");
                        continue;
                    }
                }
                if (prop != null) o.put("propagation", prop);
            }
            mounts.add(o);
        }
        if (!mounts.isEmpty()) mount.set("mounts", mounts);
        strings(c.path("linux").path("maskedPaths"), mount, "masks");
        strings(c.path("linux").path("readonlyPaths"), mount, "readonlyPaths");
    }

    private void unknown(List<String> options, Set<String> known, String at, String... prefixes) {
        for (String o : options) {
            if (known.contains(o) || FLAG_OPTIONS.contains(o) || PROPAGATIONS.contains(o)) continue;
            boolean prefixed = false;
            for (String p : prefixes) prefixed |= o.startsWith(p);
            if (!prefixed) warn(at + "/options", "import.mount-option", "the mount option " + o + " has no spec equivalent; left out", null);
        }
    }

    private void notAdded(List<String> flags, List<String> ours, String at) {
        List<String> missing = ours.stream().filter(f -> !flags.contains(f)).toList();
        if (!missing.isEmpty()) {
            warn(at + "/options", "import.mount-flag-added", "the sandbox mounts this file system " + String.join(",", ours) + ": without "
                    + String.join(",", missing) + " here, the imported spec is stricter", null);
        }
    }

    private static void strings(JsonNode list, ObjectNode into, String key) {
        if (list.isEmpty()) return;
        ArrayNode a = into.putArray(key);
        list.forEach(p -> a.add(p.asText()));
    }

    private void pid(ObjectNode namespaces, Set<String> created, JsonNode annotations) {
        if (created.contains("pid") && annotations.path(OciExport.ANNOTATION_INIT).asText("").equals("true")) {
            ((ObjectNode) namespaces.get("pid")).put("init", true);
        }
    }

    private void uts(JsonNode c, ObjectNode namespaces, Set<String> created) {
        for (String key : List.of("hostname", "domainname")) {
            if (!c.hasNonNull(key)) continue;
            if (created.contains("uts")) ((ObjectNode) namespaces.get("uts")).put(key, c.get(key).asText());
            else warn("/" + key, "import.name-without-uts", key + " without a new uts namespace; left out", "add {\"type\": \"uts\"} to linux.namespaces");
        }
    }

    private void time(JsonNode c, ObjectNode namespaces, Set<String> created) {
        JsonNode offsets = c.path("linux").path("timeOffsets");
        if (offsets.isMissingNode() || offsets.isEmpty()) return;
        if (!created.contains("time")) {
            warn("/linux/timeOffsets", "import.offsets-without-time", "timeOffsets without a new time namespace; left out", null);
            return;
        }
        ObjectNode o = ((ObjectNode) namespaces.get("time")).putObject("offsets");
        offsets.fields().forEachRemaining(f -> {
            BigDecimal v = BigDecimal.valueOf(f.getValue().path("secs").asLong()).add(BigDecimal.valueOf(f.getValue().path("nanosecs").asLong(), 9))
                    .stripTrailingZeros();
            if (v.scale() <= 0) o.put(f.getKey(), v.longValueExact());
            else o.put(f.getKey(), v);
        });
    }

    private void process(JsonNode c, ObjectNode spec, Set<String> created) {
        JsonNode p = c.path("process");
        ObjectNode out = spec.putObject("process");
        ArrayNode command = out.putArray("command");
        p.path("args").forEach(a -> command.add(a.asText()));
        if (command.isEmpty()) error("/process/args", "import.no-command", "process.args is missing or empty", "a spec needs process.command");
        long uid = p.path("user").path("uid").asLong(0);
        long gid = p.path("user").path("gid").asLong(0);
        ObjectNode env = JsonNodeFactory.instance.objectNode();
        for (JsonNode e : p.path("env")) {
            String s = e.asText();
            int eq = s.indexOf('=');
            if (eq <= 0) continue;
            String k = s.substring(0, eq);
            String v = s.substring(eq + 1);
            if (k.equals("PATH") && v.equals(PATH_DEFAULT) || k.equals("HOME") && v.equals(uid == 0 ? "/root" : "/")) continue; // the spec's clean base
            env.put(k, v);
        }
        if (!env.isEmpty()) out.set("env", env);
        String cwd = p.path("cwd").asText("/");
        if (!cwd.equals("/")) out.put("cwd", cwd);
        boolean switchIdentity = created.contains("user");
        if (uid != (switchIdentity ? 0 : callerUid) || gid != (switchIdentity ? 0 : callerGid) || p.path("user").path("additionalGids").size() > 0) {
            ObjectNode user = out.putObject("user");
            user.put("uid", uid);
            user.put("gid", gid);
            if (p.path("user").path("additionalGids").size() > 0) user.set("groups", p.path("user").get("additionalGids").deepCopy());
        }
        capabilities(p, out, uid, created.contains("net"));
        if (!p.path("noNewPrivileges").asBoolean(false)) out.put("noNewPrivileges", false);
        if (p.path("terminal").asBoolean(false)) {
            warn("/process/terminal", "import.terminal", "terminal: true has no spec key: the target uses the caller's terminal when it has one", null);
        }
        for (String key : List.of("rlimits", "apparmorProfile", "selinuxLabel", "oomScoreAdj", "consoleSize", "scheduler", "ioPriority", "user/umask")) {
            String ptr = "/process/" + key;
            if (!c.at(ptr).isMissingNode() && !c.at(ptr).isNull()) {
                warn(ptr, "import.unmapped", "process." + key.replace('/', '.') + " has no spec equivalent; left out", null);
            }
        }
    }

    private void capabilities(JsonNode p, ObjectNode out, long uid, boolean newNet) {
        JsonNode caps = p.path("capabilities");
        List<String> bounding = names(caps.path("bounding"));
        for (String set : List.of("effective", "permitted", "inheritable")) {
            if (caps.has(set) && !new LinkedHashSet<>(names(caps.path(set))).equals(new LinkedHashSet<>(bounding))) {
                warn("/process/capabilities/" + set, "import.capability-sets-differ", "the " + set + " set differs from the bounding set: the spec"
                        + " keeps one list in every set (the bounding set's)", null);
            }
        }
        List<String> ambient = names(caps.path("ambient"));
        if (!ambient.isEmpty() && uid == 0) {
            warn("/process/capabilities/ambient", "import.capability-sets-differ", "ambient capabilities for uid 0 are dropped: uid 0 keeps"
                    + " its capabilities across execve without them", null);
        }
        List<String> kept = DefaultCapabilities.sorted(bounding);
        if (kept.equals(DefaultCapabilities.forUid(uid, newNet))) return; // the spec's default
        ArrayNode a = out.putArray("capabilities");
        kept.forEach(a::add);
    }

    private static List<String> names(JsonNode list) {
        List<String> out = new ArrayList<>();
        list.forEach(n -> out.add(n.asText()));
        return out;
    }

    private void seccomp(JsonNode c, ObjectNode process, JsonNode annotations) {
        JsonNode profile = c.path("linux").path("seccomp");
        if (profile.isMissingNode() || profile.isNull()) {
            process.put("seccomp", "unconfined");
            return;
        }
        // the built-in profile, converted the same way: then the spec says "default"
        try {
            Optional<byte[]> builtIn = profiles.builtIn();
            if (builtIn.isPresent()) {
                Set<String> caps = new LinkedHashSet<>(DefaultCapabilities.sorted(names(c.path("process").path("capabilities").path("bounding"))));
                DockerSeccomp.Target host = DockerSeccomp.Target.host(caps);
                ObjectNode ours = DockerSeccomp.toOci(JSON.readTree(builtIn.get()), host);
                DockerSeccomp.denyTerminalInjection(ours);
                // through JSON text: numbers read back are ints where the converter wrote longs
                if (JSON.readTree(JSON.writeValueAsBytes(ours)).equals(profile)) return; // default
            }
        } catch (IOException | DockerSeccomp.ProfileException e) {
            // not comparable: kept as a file below
        }
        seccompFile = (ObjectNode) profile.deepCopy();
        process.put("seccomp", "PROFILE"); // the caller names the file
        if (annotations.path(OciExport.ANNOTATION_SECCOMP).asText("").equals("default")) {
            warn("/linux/seccomp", "import.seccomp-changed", "the profile was exported as sandbox's default but differs from this build's (another"
                    + " architecture, kernel or version): kept as a profile file", null);
        }
    }

    /** Where the spec should point {@code process.seccomp} when a profile file is written. */
    public static void nameSeccompFile(ObjectNode spec, String relativePath) {
        ((ObjectNode) spec.get("process")).put("seccomp", relativePath);
    }

    /**
     * {@code linux.resources} → {@code resources}: memory.limit, memory.swap (docker's memorySwap; left out when it is
     * up's default, twice the limit), pids.limit, cpu.quota/period as cpus, cpu.shares as cpuWeight (shares × 100 /
     * 1024, the inverse of export's conversion). Every other key is a located warning.
     */
    private void resources(JsonNode c, ObjectNode spec) {
        JsonNode r = c.path("linux").path("resources");
        if (!r.isObject()) return;
        ObjectNode out = JsonNodeFactory.instance.objectNode();
        JsonNode m = r.path("memory");
        long limit = m.path("limit").asLong(0);
        if (limit > 0) putBytes(out, "memory", limit);
        if (m.has("swap")) {
            long swap = m.get("swap").asLong(0);
            if (swap == -1) out.put("memorySwap", -1);
            else if (swap > 0 && swap != 2 * limit) putBytes(out, "memorySwap", swap);
        }
        long pids = r.path("pids").path("limit").asLong(0);
        if (pids > 0) out.put("pids", pids); // 0 and -1: no limit
        JsonNode cpu = r.path("cpu");
        long quota = cpu.path("quota").asLong(0), period = cpu.path("period").asLong(ResourcesSection.CPU_PERIOD_US);
        if (quota > 0 && period > 0) {
            out.put("cpus", BigDecimal.valueOf(quota).divide(BigDecimal.valueOf(period), 6, java.math.RoundingMode.HALF_UP).stripTrailingZeros());
        }
        long shares = cpu.path("shares").asLong(0);
        if (shares > 0) out.put("cpuWeight", Math.max(1, Math.min(10000, Math.round(shares * 100 / 1024.0))));
        Map<String, Set<String>> mapped = Map.of("memory", Set.of("limit", "swap"), "pids", Set.of("limit"), "cpu", Set.of("quota", "period", "shares"));
        r.fieldNames().forEachRemaining(key -> {
            JsonNode v = r.get(key);
            if (v.isNull() || v.isContainerNode() && v.isEmpty()) return;
            if (!mapped.containsKey(key)) {
                warn("/linux/resources/" + key, "import.unmapped", "linux.resources." + key + " has no spec equivalent; left out", null);
                return;
            }
            v.fieldNames().forEachRemaining(sub -> {
                if (!mapped.get(key).contains(sub) && !v.get(sub).isNull()) {
                    warn("/linux/resources/" + key + "/" + sub, "import.unmapped", "linux.resources." + key + "." + sub
                            + " has no spec equivalent; left out", null);
                }
            });
        });
        if (!out.isEmpty()) spec.set("resources", out);
    }

    /** Bytes as the spec writes them: 2G when a binary unit divides them, else the number. */
    private static void putBytes(ObjectNode out, String key, long bytes) {
        String human = ResourcesSection.human(bytes);
        if (human.equals(Long.toString(bytes))) out.put(key, bytes);
        else out.put(key, human);
    }

    private void leftovers(JsonNode c) {
        for (String key : List.of("hooks", "solaris", "windows", "vm", "zos")) {
            if (c.has(key)) warn("/" + key, "import.unmapped", key + " has no spec equivalent; left out",
                    key.equals("hooks") ? "run what the hooks do before 'sandbox up', or in the command" : null);
        }
        JsonNode linux = c.path("linux");
        for (String key : List.of("devices", "sysctl", "intelRdt", "personality", "mountLabel", "seccompProfile", "memoryPolicy")) {
            if (linux.has(key) && !(linux.get(key).isContainerNode() && linux.get(key).isEmpty())) {
                warn("/linux/" + key, "import.unmapped", "linux." + key + " has no spec equivalent; left out", null);
            }
        }
        String cgroups = linux.path("cgroupsPath").asText("");
        if (!cgroups.isEmpty() && !cgroups.startsWith("/sandbox/")) {
            warn("/linux/cgroupsPath", "import.cgroups-path", "cgroupsPath " + cgroups + " is not kept: the sandbox's cgroup is <cgroupfs>/sandbox/<name>", null);
        }
        if (c.has("annotations")) {
            c.get("annotations").fieldNames().forEachRemaining(k -> {
                if (!k.startsWith("dev.sandbox.") && !k.equals(OciExport.ANNOTATION_CRUN_TIMENS)) {
                    warn("/annotations/" + k.replace("~", "~0").replace("/", "~1"), "import.annotation", "the annotation " + k + " is not kept", null);
                }
            });
        }
    }

    // ------------------------------------------------------------------------------------- helpers

    /** A size in bytes as the spec writes it: {@code 64M} when whole, else bytes. */
    static String size(String value) {
        long bytes;
        try {
            bytes = OciExport.bytes(value);
        } catch (NumberFormatException e) {
            return value;
        }
        if (bytes > 0 && bytes % (1L << 30) == 0) return (bytes >> 30) + "G";
        if (bytes > 0 && bytes % (1L << 20) == 0) return (bytes >> 20) + "M";
        if (bytes > 0 && bytes % (1L << 10) == 0) return (bytes >> 10) + "K";
        return String.valueOf(bytes);
    }

    static String validName(String name) {
        String n = name.toLowerCase(java.util.Locale.ROOT).replaceAll("[^a-z0-9_.-]", "-").replaceAll("^[^a-z0-9]+", "");
        if (n.length() > 63) n = n.substring(0, 63);
        return n.isEmpty() ? "imported" : n;
    }

    private Location at(String pointer) {
        String p = pointer;
        while (true) {
            int[] lc = where.get(p);
            if (lc != null) return new Location(file, lc[0], lc[1]);
            if (p.isEmpty()) return new Location(file, 0, 0);
            p = p.substring(0, p.lastIndexOf('/'));
        }
    }

    private void warn(String pointer, String code, String message, String hint) {
        diagnostics.add(Diagnostic.warning(code, message, pointer, at(pointer), hint));
    }

    private void error(String pointer, String code, String message, String hint) {
        diagnostics.add(Diagnostic.error(code, message, pointer, at(pointer), hint));
    }
}
