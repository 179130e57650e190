package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * {@code sandbox inspect NAME} (issue 9): the namespaces it reports are those {@code stat -L /proc/PID/ns/*}
 * shows, their owners and parents are those of the ioctl_ns(2) ioctls (checked against the host's own
 * namespaces and the sandbox's user namespace), and the provenance digests are those of the files.
 */
class InspectIT {

    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void inspectShowsTheNamespacesTheirOwnersAndParentsAsTheKernelDoes() throws Exception {
        assumeTrue(Cli.isRoot(), "the root runtime dir /run/sandbox, a cgroup and a veth (like CI)");
        String name = "ex-inspect";
        try (SpecDir specs = new SpecDir()) {
            Path spec = specs.spec(name + ".yaml", Specs.isolated("""
                    net:
                      links:
                        - {type: veth, name: eth0, hostName: ex-insp0, address: 198.18.3.2/24, hostAddress: 198.18.3.1/24}
                    """, "[/bin/sh, -c, 'echo ready; exec sleep 120']").replace("  net: {}\n", ""));
            LaunchedSandbox up = LaunchedSandbox.start("up", "--stop-timeout", "1", spec.toString());
            try {
                up.awaitOut("ready", Duration.ofSeconds(60));
                long pid = NamespacesIT.sandboxPid(name);
                Cli.Result r = Cli.run("inspect", name);
                assertEquals(0, r.exit(), r::toString);
                JsonNode doc = JSON.readTree(r.out());
                assertEquals("running", doc.path("status").asText(), r::toString);
                assertEquals(pid, doc.path("target").path("pid").asLong(), r::toString);
                assertEquals(1, doc.path("target").path("insidePid").asLong(), "the target is pid 1 of its pid namespace\n" + r);

                Map<String, JsonNode> byType = new HashMap<>();
                doc.path("namespaces").forEach(ns -> byType.put(ns.path("type").asText(), ns));
                long sandboxUser = inode("/proc/" + pid + "/ns/user");
                for (String type : NamespacesIT.TYPES) {
                    JsonNode ns = byType.get(type);
                    assertNotNull(ns, type + " is missing\n" + r);
                    assertEquals(inode("/proc/" + pid + "/ns/" + type), ns.path("inode").asLong(), type + ": not the inode stat -L shows\n" + r);
                    assertEquals(type.equals("time") ? "inherited" : "created", ns.path("mode").asText(), type + "\n" + r);
                    if (!type.equals("user") && !type.equals("time")) {
                        assertEquals(sandboxUser, ns.path("owner").asLong(), type + " is owned by the sandbox's user namespace\n" + r);
                    }
                }
                long hostUser = inode("/proc/self/ns/user");
                assertEquals(hostUser, byType.get("user").path("owner").asLong(), r::toString);
                assertEquals(hostUser, byType.get("user").path("parent").asLong(), r::toString);
                assertEquals(0, byType.get("user").path("ownerUid").asLong(), "root created it\n" + r);
                assertEquals(inode("/proc/self/ns/pid"), byType.get("pid").path("parent").asLong(), "the pid namespace's parent is ours\n" + r);
                assertEquals(hostUser, byType.get("time").path("owner").asLong(), r::toString);

                assertEquals(0, doc.path("uidMap").get(0).path("inside").asLong(), r::toString);
                assertTrue(doc.path("cgroup").path("path").asText().endsWith("/sandbox/" + name), r::toString);
                boolean tmpfsRoot = false;
                for (JsonNode m : doc.path("mounts")) tmpfsRoot |= m.path("mountPoint").asText().equals("/") && m.path("fsType").asText().equals("tmpfs");
                assertTrue(tmpfsRoot, "the mounts are the target's (a tmpfs root)\n" + r);
                JsonNode link = doc.path("links").get(0);
                assertEquals("eth0", link.path("name").asText(), r::toString);
                assertEquals("ex-insp0", link.path("hostName").asText(), r::toString);
                assertEquals("198.18.3.2/24", link.path("addresses").get(0).asText(), r::toString);

                assertEquals(spec.toAbsolutePath().toString(), doc.path("spec").path("path").asText(), r::toString);
                assertEquals(sha256(spec), doc.path("spec").path("sha256").asText(), r::toString);
                assertEquals(sha256(Path.of("/run/sandbox", name, "plan")), doc.path("plan").path("sha256").asText(), r::toString);
            } finally {
                up.close();
                ItHost.assertNothingLeftOf(name);
            }
        }
    }

    @Test
    void anUnknownNameIsOneLineWithASuggestionAndExit1() {
        Cli.Result r = Cli.run("inspect", "ex-no-such-sandbox");
        assertEquals(1, r.exit(), r::toString);
        assertEquals(1, r.err().lines().count(), r::toString);
        assertTrue(r.err().startsWith("sandbox: inspect ex-no-such-sandbox: no sandbox named 'ex-no-such-sandbox'"), r::toString);
        assertEquals("", r.out(), r::toString);
    }

    @Test
    void rootlessInspectShowsTheUsersUidAsOwner() throws Exception {
        assumeTrue(Cli.isRoot(), "creating the test user needs root");
        ExecIT.Rootless user = ExecIT.Rootless.get();
        assumeTrue(user != null, "runuser is missing");
        Path spec = user.spec("ex-insp-rl", "namespaces:\n  user: {}\n  mount:\n    root: {type: tmpfs}\n    mounts:\n"
                + Specs.SYSTEM_MOUNTS + "  pid: {}\n  net: {}\nprocess:\n  command: [/bin/sh, -c, 'echo ready; exec sleep 120']\n");
        LaunchedSandbox up = LaunchedSandbox.start(user.prefix(), user.dist(), Map.of(), "up", "--stop-timeout", "1", spec.toString());
        Path rt = Path.of("/tmp", "sandbox-" + user.uid(), "ex-insp-rl");
        try {
            up.awaitOut("ready", Duration.ofSeconds(60));
            long pid = Long.parseLong(Files.readString(rt.resolve("pid")).strip());
            Cli.Result r = Cli.exec(user.prefix(), Map.of(), user.dist(), null, "inspect", "ex-insp-rl");
            assertEquals(0, r.exit(), r::toString);
            JsonNode doc = JSON.readTree(r.out());
            Map<String, JsonNode> byType = new HashMap<>();
            doc.path("namespaces").forEach(ns -> byType.put(ns.path("type").asText(), ns));
            JsonNode userNs = byType.get("user");
            assertEquals(inode("/proc/" + pid + "/ns/user"), userNs.path("inode").asLong(), r::toString);
            assertEquals(user.uid(), userNs.path("ownerUid").asLong(), "the user created it\n" + r);
            assertEquals(inode("/proc/self/ns/user"), userNs.path("parent").asLong(), r::toString);
            assertEquals(inode("/proc/self/ns/pid"), byType.get("pid").path("parent").asLong(), r::toString);
            assertEquals(user.uid(), doc.path("uidMap").get(0).path("outside").asLong(), r::toString);
            for (String type : List.of("mnt", "pid", "net")) {
                assertEquals(inode("/proc/" + pid + "/ns/" + type), byType.get(type).path("inode").asLong(), type + "\n" + r);
                assertEquals(userNs.path("inode").asLong(), byType.get(type).path("owner").asLong(), type + "\n" + r);
            }
        } finally {
            ExecIT.stopByRecord(rt);
            up.close();
            user.close();
        }
    }

    /** stat -L -c %i: the inode of the namespace a /proc/PID/ns link names. */
    private static long inode(String link) {
        return Long.parseLong(ItHost.must("stat", "-L", "-c", "%i", link).out().strip());
    }

    private static String sha256(Path file) throws IOException, java.security.NoSuchAlgorithmException {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(file)));
    }
}
