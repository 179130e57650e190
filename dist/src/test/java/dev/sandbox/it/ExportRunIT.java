package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;
import static org.junit.jupiter.api.DynamicTest.dynamicTest;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.sandbox.api.SpecNode;
import dev.sandbox.engine.spec.LoadedSpec;
import dev.sandbox.engine.spec.SpecLoader;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * Issue 13, "it runs": every example without links is exported with {@code sandbox export --format oci}
 * and run by runc and by crun; a probe run both ways — under {@code sandbox up} and under the OCI
 * runtime — must see the same hostname, uid/gid map, capabilities (CapPrm/CapEff/CapBnd/CapAmb),
 * no_new_privs, seccomp mode, time offsets, mount table (mount point, file system, ro/rw) and masked
 * paths, and the example's own command and {@code exit 7} end with the same status.
 *
 * <p>What legitimately differs is normalized, and docs/export.md says why: the file system of {@code /}
 * (a tmpfs under {@code up}, the bundle's directory under the runtimes); the order of the device nodes
 * runc/crun bind into /dev; how a mask is made (an empty read-only tmpfs file under {@code up}, a bind of
 * /dev/null under the runtimes), so a masked path is compared by its content (empty) and presence, not by
 * its mount's file system. For a spec that keeps the host's root, only the spec's own mounts are compared
 * (as a set): the rest is the host's tree, which the bundle binds per top-level directory — runc copies
 * each recursively (also the bundle's own mounts when the bundle lies under a bound directory), crun
 * 1.8 in a user namespace binds without the submounts (no /dev/pts, no /sys/fs/cgroup), and under
 * {@code up} the host's /proc lies under the new one.
 *
 * <p>How the runtimes are run here: crun refuses a hybrid cgroup host whose cgroup2 hierarchy has a
 * controller (hugetlb here) even with {@code --cgroup-manager=disabled}; it runs in a private mount
 * namespace in which {@code /sys/fs/cgroup/unified} is unmounted, so it sees cgroup v1 and, with the
 * manager disabled, touches no cgroup. runc needs no {@code --no-pivot}: pivot_root only fails on a root
 * in the initramfs (rootfs), and the bundles' roots are on a disk. Debian's runc 1.1 knows no time
 * namespace ({@code runc features}), so the time example runs under crun only. Each run has its own state
 * directory ({@code --root}) and container id; the config's cgroupsPath is renamed so a concurrent
 * {@code sandbox up} of the same example doesn't share its cgroup.
 */
class ExportRunIT {

    static final ObjectMapper JSON = new ObjectMapper();

    /** Prints what the comparison reads; the masked paths are its arguments. */
    static final String PROBE = String.join("\n",
            "echo \"hostname=$(hostname)\"",
            "echo \"uid_map=$(tr -s ' ' < /proc/self/uid_map | sed 's/^ //' | tr '\\n' ';')\"",
            "echo \"gid_map=$(tr -s ' ' < /proc/self/gid_map | sed 's/^ //' | tr '\\n' ';')\"",
            "grep -E '^(CapEff|CapBnd|CapPrm|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status | tr -d '\\t ' | sed 's/:/=/'",
            "if [ -r /proc/self/timens_offsets ]; then tr -s ' ' < /proc/self/timens_offsets | sed 's/^/timens=/'; fi",
            // no awk: Debian's is a link through /etc/alternatives, which most examples don't bind
            "sed 's/^/mountinfo=/' /proc/self/mountinfo",
            "for p in \"$@\"; do echo \"mask=$p $(cat \"$p\" 2>/dev/null | wc -c)\"; done");

    /** Examples whose own command can't run as it is here (interactive ones): the command both ways instead. */
    static final Map<String, List<String>> RUN_WITH = ExamplesIT.RUN_WITH;

    enum Runtime { runc, crun }

    private static SpecDir work;

    @BeforeAll
    static void dirs() {
        work = new SpecDir();
    }

    @AfterAll
    static void removeDirs() {
        if (work != null) work.close();
    }

    @TestFactory
    Stream<DynamicTest> everyExampleWithoutLinksRunsUnderRuncAndCrunAsUnderUp() {
        List<DynamicTest> tests = new ArrayList<>();
        for (Path example : ExamplesIT.examples()) {
            LoadedSpec spec = new SpecLoader().load(example);
            if (spec.root().get("namespaces").get("net").get("links").elements().size() > 0) continue;
            for (Runtime runtime : Runtime.values()) {
                tests.add(dynamicTest(example.getFileName() + " under " + runtime, example.toUri(), () -> check(example, spec, runtime)));
            }
        }
        assertTrue(tests.size() >= 8, "at least four examples without links, each under two runtimes: " + tests.size());
        return tests.stream();
    }

    private void check(Path example, LoadedSpec spec, Runtime runtime) throws Exception {
        assumeTrue(Cli.isRoot(), "runs the examples as root, like CI");
        assumeTrue(onPath(runtime.name()), runtime + " is not installed (.ci/run installs the Debian package)");
        SpecNode root = spec.root();
        boolean time = root.get("namespaces").has("time");
        if (time) {
            assumeTrue(Files.exists(Path.of("/proc/self/ns/time")), "this kernel has no time namespaces (Linux 5.6+)");
            if (runtime == Runtime.runc) assumeTrue(runcKnowsTime(), "this runc predates time namespaces (runc features lists no \"time\"): crun only");
        }
        String name = root.get("name").text();
        SpecNode mount = root.get("namespaces").get("mount");
        List<String> masks = new ArrayList<>();
        // docker's default masks come with a proc at /proc or a sysfs at /sys (both up and the export apply them), then the spec's own
        if (!mount.get("systemPaths").text("default").equals("unconfined")) {
            List<SpecNode> mounts = mount.get("mounts").elements();
            if (mounts.stream().anyMatch(m -> m.get("type").text("").equals("proc") && m.get("target").text("").equals("/proc"))) {
                dev.sandbox.api.SystemPaths.PROC_MASKED.forEach(p -> masks.add("/proc/" + p));
            }
            if (mounts.stream().anyMatch(m -> m.get("type").text("").equals("sysfs") && m.get("target").text("").equals("/sys"))) {
                dev.sandbox.api.SystemPaths.SYS_MASKED.forEach(p -> masks.add("/sys/" + p));
            }
        }
        mount.get("masks").elements().stream().map(SpecNode::text).filter(p -> !masks.contains(p)).forEach(masks::add);
        List<String> probe = new ArrayList<>(List.of("/bin/sh", "-c", PROBE, "probe"));
        probe.addAll(masks);
        Map<String, String> env = Map.of("HOME", work.dir.toString(), "SANDBOX_NO_CACHE", "1");

        // 1. the same probe under sandbox up
        List<String> upArgs = new ArrayList<>(List.of("up", example.toString(), "--"));
        upArgs.addAll(probe);
        Cli.Result up = Cli.run(List.of(), env, upArgs.toArray(String[]::new));
        assertEquals(0, up.exit(), "sandbox up " + example.getFileName() + " with the probe\n" + up);

        // 2. the bundle
        String id = "sbx-export-it-" + name + "-" + ProcessHandle.current().pid() + "-" + runtime;
        Path bundle = work.dir.resolve(id);
        Cli.Result export = Cli.run(List.of(), env, "export", "--format", "oci", example.toString(), bundle.toString());
        assertEquals(0, export.exit(), "sandbox export " + example.getFileName() + "\n" + export);
        Path state = work.dir.resolve(id + ".state");
        Files.createDirectories(state);
        String cgroupParent = "sandbox-export-it";
        try {
            ObjectNode config = (ObjectNode) JSON.readTree(bundle.resolve("config.json").toFile());
            if (config.path("linux").has("cgroupsPath")) ((ObjectNode) config.get("linux")).put("cgroupsPath", "/" + cgroupParent + "/" + id);
            List<String> own = RUN_WITH.containsKey(example.getFileName().toString())
                    ? RUN_WITH.get(example.getFileName().toString()).subList(1, RUN_WITH.get(example.getFileName().toString()).size())
                    : args(config);

            Run inRuntime = run(runtime, bundle, state, id, config, probe);
            assertEquals(0, inRuntime.exit(), runtime + " run of the probe\n" + inRuntime);
            // a spec that keeps the host's root: only its own mounts are compared (see the class comment)
            List<String> targets = root.get("namespaces").get("mount").has("root") ? null
                    : root.get("namespaces").get("mount").get("mounts").elements().stream().map(m -> m.get("target").text()).toList();
            Map<String, List<String>> expected = observations(up.out(), targets);
            Map<String, List<String>> actual = observations(inRuntime.out(), targets);
            assertTrue(expected.containsKey("CapEff") && expected.containsKey("mount") && expected.containsKey("uid_map"), "the probe ran: " + up);
            assertEquals(expected, actual, "sandbox up (expected) and " + runtime + " (actual) see the same; raw output under " + runtime + ":\n"
                    + inRuntime.out() + "\nunder up:\n" + up.out());
            if (!masks.isEmpty()) {
                for (String m : masks) {
                    assertTrue(actual.getOrDefault("mask", List.of()).contains(m + " 0"), m + " is masked (empty) under " + runtime + ": " + actual);
                }
            }

            // 3. the example's own command, and a failing one: the same exit status both ways
            for (List<String> command : List.of(own, List.of("/bin/sh", "-c", "exit 7"))) {
                List<String> a = new ArrayList<>(List.of("up", example.toString(), "--"));
                a.addAll(command);
                Cli.Result upRun = Cli.run(List.of(), env, a.toArray(String[]::new));
                Run rtRun = run(runtime, bundle, state, id, config, command);
                assertEquals(upRun.exit(), rtRun.exit(), String.join(" ", command) + ": exit status under up and under " + runtime + "\n" + upRun
                        + "\n" + rtRun);
            }
        } finally {
            cleanUp(runtime, state, id, bundle, cgroupParent);
        }
    }

    private static List<String> args(JsonNode config) {
        List<String> out = new ArrayList<>();
        config.path("process").path("args").forEach(a -> out.add(a.asText()));
        return out;
    }

    /** What the probe printed, by key; mount lines normalized for what legitimately differs (see the class comment), then sorted. */
    static Map<String, List<String>> observations(String out, List<String> onlyTargets) {
        Map<String, List<String>> map = new TreeMap<>();
        List<String> masked = new ArrayList<>();
        for (String line : out.split("\n")) {
            int eq = line.indexOf('=');
            if (eq > 0 && line.startsWith("mask=")) masked.add(line.substring(5, line.lastIndexOf(' ')));
        }
        for (String line : out.split("\n")) {
            int eq = line.indexOf('=');
            if (eq <= 0) continue;
            String key = line.substring(0, eq);
            String value = line.substring(eq + 1);
            if (key.equals("mountinfo")) {
                // ID PARENT MAJ:MIN ROOT MOUNT-POINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER-OPTIONS
                String[] f = value.split(" ");
                int dash = java.util.Arrays.asList(f).indexOf("-");
                String point = f[4].replace("\\040", " ");
                String ro = f[5].split(",")[0];
                key = "mount";
                if (point.equals("/")) value = "/ (root) " + ro;
                else if (masked.contains(point)) value = point + " (masked)";
                else value = point + " " + f[dash + 1] + " " + ro;
                if (onlyTargets != null && onlyTargets.stream().noneMatch(t -> point.equals(t) || point.startsWith(t + "/"))) continue;
            }
            map.computeIfAbsent(key, k -> new ArrayList<>()).add(value);
        }
        if (onlyTargets != null) map.computeIfPresent("mount", (k, l) -> new ArrayList<>(new java.util.TreeSet<>(l)));
        map.values().forEach(l -> l.sort(null));
        return map;
    }

    record Run(int exit, String out, String err) {
        @Override
        public String toString() {
            return "exit " + exit + "\n--- stdout\n" + out + "--- stderr\n" + err;
        }
    }

    /** One container run of the bundle with {@code command} as process.args. */
    private static Run run(Runtime runtime, Path bundle, Path state, String id, ObjectNode config, List<String> command) throws Exception {
        ObjectNode c = config.deepCopy();
        ArrayNode a = ((ObjectNode) c.get("process")).putArray("args");
        command.forEach(a::add);
        Files.writeString(bundle.resolve("config.json"), JSON.writeValueAsString(c));
        List<String> cmd = switch (runtime) {
            case runc -> List.of("runc", "--root", state.toString(), "run", "--bundle", bundle.toString(), id);
            case crun -> crun(state, "run", "--bundle", bundle.toString(), id);
        };
        try {
            return exec(cmd);
        } finally {
            exec(deleteCommand(runtime, state, id)); // the next run reuses the id
        }
    }

    /**
     * crun in a private mount namespace without the cgroup2 mount of a hybrid host (it refuses a hybrid
     * host whose cgroup2 has a controller, manager or not); nothing leaves that namespace.
     */
    private static List<String> crun(Path state, String... args) {
        List<String> cmd = new ArrayList<>(List.of("unshare", "--mount", "--propagation", "private", "sh", "-c",
                "if mountpoint -q /sys/fs/cgroup/unified; then umount /sys/fs/cgroup/unified || exit 125; fi; exec crun --root \"$0\""
                        + " --cgroup-manager=disabled \"$@\"", state.toString()));
        cmd.addAll(List.of(args));
        return cmd;
    }

    private static List<String> deleteCommand(Runtime runtime, Path state, String id) {
        return runtime == Runtime.runc ? List.of("runc", "--root", state.toString(), "delete", "--force", id) : crun(state, "delete", "--force", id);
    }

    private static Run exec(List<String> cmd) throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        Path out = Files.createTempFile("sandbox-it-rt", ".out");
        Path err = Files.createTempFile("sandbox-it-rt", ".err");
        try {
            pb.redirectOutput(out.toFile()).redirectError(err.toFile());
            Process p = pb.start();
            if (!p.waitFor(60, TimeUnit.SECONDS)) {
                p.destroyForcibly().waitFor();
                fail(String.join(" ", cmd) + " did not finish in 60 s");
            }
            return new Run(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8), Files.readString(err, StandardCharsets.UTF_8));
        } finally {
            Files.deleteIfExists(out);
            Files.deleteIfExists(err);
        }
    }

    /** Deletes the container, its state dir, its cgroups (runc leaves the parent) and the bundle, in that order. */
    private static void cleanUp(Runtime runtime, Path state, String id, Path bundle, String cgroupParent) throws Exception {
        exec(deleteCommand(runtime, state, id));
        try (Stream<Path> hierarchies = Files.list(Path.of("/sys/fs/cgroup"))) {
            for (Path h : hierarchies.toList()) {
                Path parent = h.resolve(cgroupParent);
                Files.deleteIfExists(parent.resolve(id));
                try {
                    Files.deleteIfExists(parent); // rmdir: only when no other run's cgroup is in it
                } catch (java.nio.file.FileSystemException busy) {
                    // another run of this test still uses it
                }
            }
        }
        // Why check before deleting: a rootfs with a host directory still mounted on it would be walked into
        String mounts = Files.readString(Path.of("/proc/self/mountinfo"));
        if (mounts.contains(" " + bundle)) fail("something is still mounted under " + bundle + "; not removed");
        deleteTree(state);
        deleteTree(bundle);
    }

    private static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) return;
        try (Stream<Path> walk = Files.walk(dir)) { // does not follow the rootfs's symlinks
            for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        }
    }

    private static boolean onPath(String program) {
        for (String dir : System.getenv().getOrDefault("PATH", "/usr/bin:/bin").split(":")) {
            if (Files.isExecutable(Path.of(dir, program))) return true;
        }
        return false;
    }

    private static boolean runcKnowsTime() throws Exception {
        Run features = exec(List.of("runc", "features"));
        if (features.exit() != 0) return false;
        JsonNode f = JSON.readTree(features.out());
        for (JsonNode ns : f.path("linux").path("namespaces")) if (ns.asText().equals("time")) return true;
        return false;
    }
}
