package dev.sandbox.engine.inspect;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.sandbox.engine.runtime.SandboxState;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A node's lab links read from the lab's record (a runtime base laid out in a temp dir; not running, so no /proc). */
class LabLinksTest {

    @TempDir Path base;

    private SandboxState record(String name, String lab) throws IOException {
        Path dir = Files.createDirectories(base.resolve(name));
        Files.writeString(dir.resolve("state.json"), "{\"version\": 1, \"name\": \"" + name + "\", \"status\": \"running\", \"lab\": "
                + (lab == null ? "null" : "\"" + lab + "\"") + "}\n");
        return new SandboxState(dir, name, "running", null, null, null, null, null, null, null, null, null, true, Map.of());
    }

    private void labFile() throws IOException {
        Files.createDirectories(base.resolve("tri"));
        Files.writeString(base.resolve("tri/lab"), String.join("\n",
                "# sandbox-lab 1", "lab\ttri", "runtime\t/x/sandbox-init", "node\ta", "node\tr", "node\tb", "node\t_switch",
                "link\ta\teth0\tr\teth0\t0", "addr\ta\teth0\t198.18.114.1/30", "addr\tr\teth0\t198.18.114.2/30",
                "link\tr\teth1\tb\teth0\t1400", "addr\tr\teth1\t198.18.114.6/30", "addr\tr\teth1\tfd00::6/64",
                "bridge\t_switch\tlan",
                "link\ta\teth1\t_switch\tp0\t0", "enslave\t_switch\tp0\tlan",
                "link\tb\teth1\t_switch\tp1\t0", "enslave\t_switch\tp1\tlan",
                "link\tr\teth2\t_switch\tp2\t0", "enslave\t_switch\tp2\tlan", "") + "\n");
    }

    @Test
    void aNodesLinksNameTheirPeersBridgesAddressesAndMtu() throws IOException {
        labFile();
        record("tri-a", "tri");
        record("tri-b", "tri");
        JsonNode lab = LabLinks.of(record("tri-r", "tri"), false, 0).orElseThrow();
        assertEquals("tri", lab.path("name").asText());
        assertEquals("node", lab.path("role").asText());
        assertEquals("r", lab.path("node").asText());
        JsonNode links = lab.path("links");
        assertEquals(3, links.size(), lab::toString);
        assertEquals("eth0", links.get(0).path("interface").asText());
        assertEquals("tri-a", links.get(0).path("peer").path("node").asText());
        assertEquals("eth0", links.get(0).path("peer").path("interface").asText());
        assertTrue(links.get(0).path("peer").path("up").asBoolean(), lab::toString);
        assertTrue(links.get(0).path("mtu").isNull(), "the kernel's default: " + lab);
        assertEquals("198.18.114.2/30", links.get(0).path("addresses").get(0).path("address").asText());
        assertFalse(links.get(0).has("kernel"), "not running: nothing from /proc");
        assertEquals(1400, links.get(1).path("mtu").asInt());
        assertEquals(2, links.get(1).path("addresses").size(), lab::toString);
        assertEquals("bridge", links.get(2).path("type").asText());
        assertEquals("lan", links.get(2).path("bridge").asText());
        assertEquals("tri-a", links.get(2).path("members").get(0).path("node").asText(), lab::toString);
        assertEquals("tri-b", links.get(2).path("members").get(1).path("node").asText(), lab::toString);
    }

    @Test
    void aDownedPeerIsNotUpAndTheLabsRecordListsItsNodes() throws IOException {
        labFile();
        JsonNode a = LabLinks.of(record("tri-a", "tri"), false, 0).orElseThrow();
        assertFalse(a.path("links").get(0).path("peer").path("up").asBoolean(true), "tri-r has no record: " + a);
        JsonNode lab = LabLinks.of(record("tri", "tri"), false, 0).orElseThrow();
        assertEquals("lab", lab.path("role").asText());
        assertEquals(3, lab.path("nodes").size(), "the switch is no node: " + lab);
        assertEquals("tri-a", lab.path("nodes").get(0).path("name").asText());
    }

    @Test
    void aSandboxOutsideLabsHasNoLabAndALostLabFileIsAWarning() throws IOException {
        assertTrue(LabLinks.of(record("web", null), false, 0).isEmpty());
        JsonNode lost = LabLinks.of(record("gone-a", "gone"), false, 0).orElseThrow();
        assertTrue(lost.path("warning").asText().contains("gone/lab"), lost::toString);
        assertEquals(0, lost.path("links").size());
    }
}
