package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** sandbox export / import as a user runs them: exit codes, what is written where, and the round trip through the CLI. */
class ExportCliIT {

    private final SpecDir dir = new SpecDir();

    @AfterEach
    void remove() {
        dir.close();
    }

    Map<String, String> env() {
        return Map.of("HOME", dir.dir.toString(), "SANDBOX_NO_CACHE", "1");
    }

    @Test
    void usageErrorsExit2() {
        Path hello = Cli.ROOT.resolve("examples/hello.yaml");
        assertEquals(2, Cli.run(List.of(), env(), "export", "--format", "oci", hello.toString()).exit(), "oci without DIR");
        assertEquals(2, Cli.run(List.of(), env(), "export", "--format", "kubernetes", hello.toString(), "/tmp/x").exit(), "kubernetes with DIR");
        assertEquals(2, Cli.run(List.of(), env(), "export", hello.toString(), "/tmp/x").exit(), "no --format");
        assertEquals(2, Cli.run(List.of(), env(), "export", "--format", "docker", hello.toString(), "/tmp/x").exit(), "unknown format");
    }

    @Test
    void aSpecWithErrorsWritesNothingAndANonEmptyDirIsRefused() throws Exception {
        Path bad = dir.spec("bad.yaml", """
                namespaces: {uts: {hostname: "-bad-"}}
                process: {command: [/bin/true]}
                """);
        Path bundle = dir.dir.resolve("bundle");
        Cli.Result r = Cli.run(List.of(), env(), "export", "--format", "oci", bad.toString(), bundle.toString());
        assertEquals(1, r.exit(), r.toString());
        assertTrue(r.err().contains("bad.yaml:4:30: error[uts.hostname-invalid]"), "located: " + r);
        assertFalse(Files.exists(bundle), "nothing written");
        Files.createDirectories(bundle);
        Files.writeString(bundle.resolve("keep"), "x");
        r = Cli.run(List.of(), env(), "export", "--format", "oci", Cli.ROOT.resolve("examples/hello.yaml").toString(), bundle.toString());
        assertEquals(1, r.exit(), r.toString());
        assertTrue(r.err().contains("not an empty directory"), r.toString());
        assertEquals(List.of(bundle.resolve("keep")), Files.list(bundle).toList());
    }

    @Test
    void exportImportThroughTheCliGivesASpecThatValidatesAndExportsTheSameBundle() throws Exception {
        Path hello = Cli.ROOT.resolve("examples/hello.yaml");
        Path first = dir.dir.resolve("first");
        Cli.Result r = Cli.run(List.of(), env(), "export", "--format", "oci", hello.toString(), first.toString());
        assertEquals(0, r.exit(), r.toString());
        assertTrue(Files.isDirectory(first.resolve("rootfs/usr")), "the mount points of a tmpfs root");
        Path spec = dir.dir.resolve("hello.yaml");
        r = Cli.run(List.of(), env(), "import", first.toString(), "-o", spec.toString());
        assertEquals(0, r.exit(), r.toString());
        r = Cli.run(List.of(), env(), "validate", spec.toString());
        assertEquals(0, r.exit(), Files.readString(spec) + "\n" + r);
        Path second = dir.dir.resolve("second");
        r = Cli.run(List.of(), env(), "export", "--format", "oci", spec.toString(), second.toString());
        assertEquals(0, r.exit(), r.toString());
        ObjectMapper json = new ObjectMapper();
        assertEquals(json.readTree(first.resolve("config.json").toFile()), json.readTree(second.resolve("config.json").toFile()));
    }

    @Test
    void aComposedSpecIsExportedWithItsIncludeMergedAndItsVariablesFromAnEnvFile() throws Exception {
        Path env = dir.write("box.env", "BOX_HOSTNAME=exported-box\nSCRATCH_SIZE=8M\n");
        Path bundle = dir.dir.resolve("composed");
        Cli.Result r = Cli.run(List.of(), env(), "export", "--env-file", env.toString(), "--format", "oci",
                Cli.ROOT.resolve("examples/composed.yaml").toString(), bundle.toString());
        assertEquals(0, r.exit(), r.toString());
        JsonNode config = new ObjectMapper().readTree(bundle.resolve("config.json").toFile());
        assertEquals("exported-box", config.get("hostname").asText());
        boolean scratch = false;
        for (JsonNode m : config.get("mounts")) {
            if (m.get("destination").asText().equals("/tmp")) scratch = m.get("options").toString().contains("size=" + (8 << 20));
        }
        assertTrue(scratch, "the /tmp of composed.yaml with SCRATCH_SIZE from the env file: " + config.get("mounts"));
        assertTrue(config.get("mounts").size() > 2, "the base's mounts are merged in");
    }

    @Test
    void kubernetesGoesToStandardOutputWithTheImageOrAPlaceholder() throws Exception {
        Path hello = Cli.ROOT.resolve("examples/hello.yaml");
        Cli.Result r = Cli.run(List.of(), env(), "export", "--format", "kubernetes", hello.toString(), "--image", "debian:12");
        assertEquals(0, r.exit(), r.toString());
        JsonNode pod = new YAMLMapper().readTree(r.out());
        assertEquals("Pod", pod.get("kind").asText());
        assertEquals("debian:12", pod.at("/spec/containers/0/image").asText());
        r = Cli.run(List.of(), env(), "export", "--format", "kubernetes", hello.toString());
        assertEquals(0, r.exit(), r.toString());
        assertTrue(r.err().contains("warning[export.k8s-image]"), r.toString());
        assertTrue(new YAMLMapper().readTree(r.out()).at("/spec/containers/0/image").asText().startsWith("REPLACE-ME/"), r.out());
    }
}
