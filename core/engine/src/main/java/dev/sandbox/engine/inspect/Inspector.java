package dev.sandbox.engine.inspect;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.sandbox.api.Stage;
import dev.sandbox.api.Step;
import dev.sandbox.engine.runtime.PlanText;
import dev.sandbox.engine.runtime.SandboxState;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * {@code sandbox inspect}: one JSON document about a sandbox, from its state.json, its plan file, the
 * target's {@code /proc/<pid>/} files and its cgroups' control files ({@link CgroupResources}) (docs/cli.md, "inspect"): what {@code lsns}, {@code nsenter},
 * {@code /proc/PID/ns/*} and the ioctl_ns(2) ioctls show, in one place.
 */
public final class Inspector {

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    /** The ioctls, bound on first use (JNR code generation costs 100–150 ms; a finished sandbox needs none). */
    private NsIoctl ioctl;
    private String ioctlError;

    /** The document, pretty-printed. */
    public String inspect(SandboxState state) {
        try {
            return JSON.writeValueAsString(document(state)) + "\n";
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    public ObjectNode document(SandboxState state) {
        ObjectNode out = JSON.createObjectNode();
        SandboxState.Liveness live = state.liveness();
        boolean running = live == SandboxState.Liveness.RUNNING;
        out.put("name", state.name());
        out.put("status", switch (live) {
            case RUNNING -> "running";
            case STARTING -> "creating";
            case DEAD -> "dead";
            case FINISHED -> state.status();
        });
        out.put("runtimeDir", state.dir().toString());
        if (state.exitStatus() != null) out.put("exitStatus", state.exitStatus());
        else out.putNull("exitStatus");
        out.put("detached", state.detached());
        time(out, "created", state.createdMs());
        time(out, "started", state.startedMs());
        time(out, "finished", state.finishedMs());

        ObjectNode monitor = out.putObject("monitor");
        if (state.monitor() != null) {
            monitor.put("pid", state.monitor().pid());
            monitor.put("startTime", state.monitor().startTime());
            monitor.put("alive", state.monitor().alive());
        }
        ObjectNode target = out.putObject("target");
        long pid = state.target() == null ? 0 : state.target().pid();
        if (state.target() != null) {
            target.put("pid", pid);
            target.put("startTime", state.target().startTime());
            bootTime().ifPresent(btime -> target.put("startedAt", Instant.ofEpochMilli(btime * 1000 + state.target().startTime() * 10).toString()));
            target.put("alive", running);
            if (running) {
                List<Long> nspid = nspid(pid);
                ArrayNode a = target.putArray("nspid");
                nspid.forEach(a::add);
                if (!nspid.isEmpty()) target.put("insidePid", nspid.get(nspid.size() - 1));
            }
        }

        Optional<PlanText> plan = readPlan(state.dir().resolve("plan"));
        Map<String, String> modes = plan.map(Inspector::modes).orElse(Map.of());
        ArrayNode nss = out.putArray("namespaces");
        for (String type : SandboxState.NS_TYPES) {
            Long inode = state.namespaces().get(type);
            Path file = Path.of("/proc", Long.toString(pid), "ns", type);
            if (running) inode = SandboxState.inode(file).orElse(inode);
            if (inode == null) continue;
            ObjectNode ns = nss.addObject();
            ns.put("type", type);
            ns.put("inode", inode);
            ns.put("mode", modes.getOrDefault(type, "inherited"));
            if (running) ioctls(ns, type, file);
        }
        if (running) {
            out.set("uidMap", idMap(Path.of("/proc", Long.toString(pid), "uid_map")));
            out.set("gidMap", idMap(Path.of("/proc", Long.toString(pid), "gid_map")));
        }
        ObjectNode cgroup = out.putObject("cgroup");
        cgroup.put("path", state.cgroup());
        if (running) {
            ArrayNode lines = cgroup.putArray("proc");
            lines(Path.of("/proc", Long.toString(pid), "cgroup")).forEach(lines::add);
        }
        if (running) out.set("mounts", mounts(Path.of("/proc", Long.toString(pid), "mountinfo")));
        ArrayNode links = out.putArray("links");
        plan.ifPresent(p -> p.steps().stream().filter(s -> s.stage() == Stage.CONNECT && s.op().equals("veth")).forEach(s -> {
            ObjectNode l = links.addObject();
            l.put("type", "veth");
            l.put("name", s.arg("name").orElse(null));
            l.put("hostName", s.arg("hostName").orElse(null));
            ArrayNode addresses = l.putArray("addresses");
            s.all("address").forEach(addresses::add);
            ArrayNode host = l.putArray("hostAddresses");
            s.all("hostAddress").forEach(host::add);
            s.arg("gateway").ifPresent(g -> l.put("gateway", g));
            s.arg("mtu").ifPresent(m -> l.put("mtu", Long.parseLong(m)));
            s.arg("mac").ifPresent(m -> l.put("mac", m));
        }));
        LabLinks.of(state, running, pid).ifPresent(lab -> out.set("lab", lab)); // a lab's node or the lab (docs/labs.md)
        Optional<ObjectNode> resources = plan.flatMap(p -> CgroupResources.of(p, running));
        if (resources.isPresent()) out.set("resources", resources.get());
        else out.putNull("resources");
        ObjectNode spec = out.putObject("spec");
        spec.put("path", state.spec());
        spec.put("sha256", state.specSha256());
        if (state.git() != null) spec.set("git", git(state));
        else spec.putNull("git");
        ObjectNode planNode = out.putObject("plan");
        Path planFile = state.dir().resolve("plan");
        planNode.put("path", planFile.toString());
        planNode.put("sha256", sha256(planFile));
        planNode.put("steps", plan.map(p -> p.steps().size()).orElse(0));
        if (ioctlError != null) out.put("warning", "the ioctl_ns(2) values are missing: " + ioctlError);
        return out;
    }

    /** The recorded git origin resolved now with JGit (docs/git.md, "Provenance"); what can't be resolved is an {@code error}. */
    static ObjectNode git(SandboxState state) {
        SandboxState.Git g = state.git();
        ObjectNode o = JSON.createObjectNode();
        // a spec read from REV:path is recorded as written: the revision is what comes before the first ':'
        Optional<String> revision = g.commit() != null && state.spec() != null && state.spec().indexOf(':') > 0
                ? Optional.of(state.spec().substring(0, state.spec().indexOf(':'))) : Optional.empty();
        try {
            dev.sandbox.engine.provenance.ProvenanceResolver.json(dev.sandbox.engine.provenance.ProvenanceResolver.resolve(
                    Path.of(g.repository()), g.path(), g.blob(), revision, Optional.ofNullable(g.commit())), o);
        } catch (IOException | RuntimeException e) {
            o.put("repository", g.repository());
            o.put("path", g.path());
            o.put("blob", g.blob());
            o.put("error", "cannot resolve it in the repository " + g.repository() + ": " + e.getMessage());
        }
        return o;
    }

    /** created or joined, from the plan: unshare-user and the clone flags create, join steps join; the rest is inherited. */
    static Map<String, String> modes(PlanText plan) {
        Map<String, String> out = new LinkedHashMap<>();
        Map<String, String> flags = Map.of("CLONE_NEWNS", "mnt", "CLONE_NEWUTS", "uts", "CLONE_NEWIPC", "ipc", "CLONE_NEWNET", "net",
                "CLONE_NEWPID", "pid", "CLONE_NEWCGROUP", "cgroup");
        for (Step s : plan.steps()) {
            if (s.stage() == Stage.ENTER && s.op().equals("unshare-user")) out.put("user", "created");
            if (s.stage() == Stage.ENTER && s.op().equals("join")) s.arg("type").ifPresent(t -> out.put(t, "joined"));
            if (s.stage() == Stage.CLONE && s.op().equals("unshare")) s.arg("type").ifPresent(t -> out.put(t, "created"));
            if (s.stage() == Stage.CLONE && s.op().equals("clone")) {
                for (String f : s.arg("flags").orElse("").split("\\|")) {
                    if (flags.containsKey(f)) out.put(flags.get(f), "created");
                }
            }
        }
        return out;
    }

    private void ioctls(ObjectNode ns, String type, Path file) {
        NsIoctl io = ioctl();
        if (io == null) return;
        answer(ns, "owner", io.owner(file));
        if (type.equals("pid") || type.equals("user")) answer(ns, "parent", io.parent(file));
        if (type.equals("user")) {
            NsIoctl.Answer uid = io.ownerUid(file);
            if (uid.value() != null) ns.put("ownerUid", uid.value());
            else ns.put("ownerUidError", uid.error());
        }
    }

    private static void answer(ObjectNode ns, String key, NsIoctl.Answer a) {
        if (a.inode() != null) ns.put(key, a.inode());
        else {
            ns.putNull(key);
            ns.put(key + "Error", a.error());
        }
    }

    private NsIoctl ioctl() {
        if (ioctl == null && ioctlError == null) {
            try {
                ioctl = NsIoctl.load();
            } catch (IllegalStateException e) {
                ioctlError = e.getMessage();
            }
        }
        return ioctl;
    }

    private static void time(ObjectNode out, String key, Long ms) {
        if (ms == null) out.putNull(key);
        else out.put(key, Instant.ofEpochMilli(ms).toString());
    }

    /** NSpid of /proc/PID/status: the pid in each pid namespace, the host's first, the innermost last. */
    static List<Long> nspid(long pid) {
        for (String line : lines(Path.of("/proc", Long.toString(pid), "status"))) {
            if (line.startsWith("NSpid:")) {
                return java.util.Arrays.stream(line.substring(6).trim().split("\\s+")).map(Long::parseLong).toList();
            }
        }
        return List.of();
    }

    private static ArrayNode idMap(Path file) {
        ArrayNode out = JSON.createArrayNode();
        for (String line : lines(file)) {
            String[] f = line.trim().split("\\s+");
            if (f.length != 3) continue;
            ObjectNode m = out.addObject();
            m.put("inside", Long.parseLong(f[0]));
            m.put("outside", Long.parseLong(f[1]));
            m.put("count", Long.parseLong(f[2]));
        }
        return out;
    }

    /** /proc/PID/mountinfo (proc(5)): id, parent, major:minor, root, mount point, options, optional fields, -, type, source, super options. */
    static ArrayNode mounts(Path file) {
        ArrayNode out = JSON.createArrayNode();
        for (String line : lines(file)) {
            String[] f = line.split(" ");
            int dash = java.util.Arrays.asList(f).indexOf("-");
            if (f.length < 10 || dash < 6 || dash + 3 > f.length) continue;
            ObjectNode m = out.addObject();
            m.put("id", Long.parseLong(f[0]));
            m.put("parent", Long.parseLong(f[1]));
            m.put("mountPoint", unescape(f[4]));
            m.put("root", unescape(f[3]));
            m.put("fsType", f[dash + 1]);
            m.put("source", unescape(f[dash + 2]));
            m.put("options", f[5]);
            if (dash > 6) m.put("propagation", String.join(" ", java.util.Arrays.asList(f).subList(6, dash)));
        }
        return out;
    }

    /** mountinfo writes space, tab, newline and backslash as \040 \011 \012 \134. */
    private static String unescape(String s) {
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\\' && i + 3 < s.length() + 0 && s.substring(i + 1, i + 4).chars().allMatch(ch -> ch >= '0' && ch <= '7')) {
                out.append((char) Integer.parseInt(s.substring(i + 1, i + 4), 8));
                i += 3;
            } else {
                out.append(c);
            }
        }
        return out.toString();
    }

    private static Optional<Long> bootTime() {
        for (String line : lines(Path.of("/proc/stat"))) {
            if (line.startsWith("btime ")) return Optional.of(Long.parseLong(line.substring(6).trim()));
        }
        return Optional.empty();
    }

    private static Optional<PlanText> readPlan(Path file) {
        try {
            return PlanText.parse(Files.readString(file, StandardCharsets.UTF_8));
        } catch (IOException | RuntimeException e) {
            return Optional.empty();
        }
    }

    private static String sha256(Path file) {
        try (InputStream in = Files.newInputStream(file)) {
            byte[] d = MessageDigest.getInstance("SHA-256").digest(in.readAllBytes());
            StringBuilder hex = new StringBuilder(64);
            for (byte b : d) hex.append(Character.forDigit((b >> 4) & 15, 16)).append(Character.forDigit(b & 15, 16));
            return hex.toString();
        } catch (IOException | NoSuchAlgorithmException e) {
            return null;
        }
    }

    /** A /proc file's lines (read as a stream: JDK 17's Files.readString trusts st_size, which is 0 there). */
    private static List<String> lines(Path file) {
        try {
            return Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (IOException | RuntimeException e) {
            return List.of();
        }
    }
}
