package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipal;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.jar.Attributes;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.jar.Manifest;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import javax.tools.DiagnosticCollector;
import javax.tools.JavaCompiler;
import javax.tools.JavaFileObject;
import javax.tools.StandardJavaFileManager;
import javax.tools.ToolProvider;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A third-party plugin end to end, through the packaged {@code bin/sandbox}: the template
 * {@code examples/plugin-template} (section {@code namespaces.motd}) is compiled here without Maven,
 * against the distribution's own {@code lib/} jars, with PF4J's annotation processor writing
 * {@code META-INF/extensions.idx} — the way a plugin author's build must do it — and installed with
 * {@code --plugins-dir}.
 *
 * <p>Every command runs with an empty {@code HOME}, so plugins installed in the real user's
 * {@code ~/.local/share/sandbox/plugins} take no part.
 */
class ThirdPartyPluginIT {

    static final Path TEMPLATE = Cli.ROOT.resolve("examples/plugin-template");
    static final String VERSION = "0.1.0-it";
    static final ObjectMapper JSON = new ObjectMapper();

    /** Holds nothing but the motd jar (0755 dir, 0644 jar, owned by whoever runs the test). */
    private static SpecDir plugins;
    private static Path motdJar;
    private static SpecDir home;
    private final List<SpecDir> dirs = new ArrayList<>();
    private SpecDir specs;

    @BeforeAll
    static void buildTheTemplatesJar() throws IOException {
        home = new SpecDir();
        plugins = new SpecDir();
        try (SpecDir build = new SpecDir()) {
            Path classes = PluginJar.compile(sources(TEMPLATE.resolve("src/main/java")), build.dir.resolve("classes"));
            motdJar = PluginJar.write(classes, TEMPLATE.resolve("src/main/resources"), "motd", plugins.dir.resolve("motd-" + VERSION + ".jar"));
        }
    }

    @AfterAll
    static void removeTheJar() {
        if (plugins != null) plugins.close();
        if (home != null) home.close();
    }

    @BeforeEach
    void specDir() {
        specs = track(new SpecDir());
    }

    @AfterEach
    void cleanUp() {
        // reverse order of creation, like every other tear-down here
        for (int i = dirs.size() - 1; i >= 0; i--) dirs.get(i).close();
        dirs.clear();
    }

    private SpecDir track(SpecDir dir) {
        dirs.add(dir);
        return dir;
    }

    // ------------------------------------------------------------------------------ the happy path

    @Test
    void pluginsListsMotdAfterMountWithItsJarAsSource() {
        Cli.Result r = sandbox("--plugins-dir", plugins.dir.toString(), "plugins");
        assertEquals(0, r.exit(), r.toString());
        Pattern row = Pattern.compile("(?m)^\\d+\\s+motd\\s+" + Pattern.quote(VERSION) + "\\s+mount\\s+" + Pattern.quote(motdJar.toString()) + "$");
        assertTrue(row.matcher(r.out()).find(), "no row 'N motd " + VERSION + " mount " + motdJar + "' in:\n" + r);
        assertTrue(rowIndex(r.out(), "mount") < rowIndex(r.out(), "motd"), "motd must be ordered after mount:\n" + r);
        assertEquals("", r.err(), r.toString());
    }

    @Test
    void schemaComposesTheMotdSectionUnderNamespaces() throws IOException {
        Cli.Result r = sandbox("--plugins-dir", plugins.dir.toString(), "schema");
        assertEquals(0, r.exit(), r.toString());
        JsonNode motd = JSON.readTree(r.out()).at("/properties/namespaces/properties/motd");
        assertFalse(motd.isMissingNode(), "namespaces.motd is missing from the schema:\n" + r.out());
        assertEquals("object", motd.path("type").asText());
        assertEquals("[\"message\"]", motd.path("required").toString());
        assertEquals(List.of("message", "path"), fieldNames(motd.path("properties")));
    }

    @Test
    void relativePathIsALocatedErrorAndExit1() {
        Path spec = specs.spec("relative.yaml", """
                namespaces:
                  mount:
                    root: {type: tmpfs}
                  motd:
                    message: hello
                    path: etc/motd
                process:
                  command: [/bin/true]
                """);
        Cli.Result r = sandbox("--plugins-dir", plugins.dir.toString(), "validate", spec.toString());
        assertEquals(1, r.exit(), r.toString());
        assertTrue(r.out().contains(spec + ":9:11: error[motd.relative-path]: path must be absolute inside the sandbox: etc/motd"
                + " (at namespaces.motd.path)\n  hint: e.g. path: /etc/motd"), r.toString());
        assertTrue(r.out().contains(spec + ": 1 error, 0 warnings"), r.toString());
    }

    @Test
    void misspelledKeyIsAnUnknownKeyWithDidYouMean() {
        Path spec = specs.spec("typo.yaml", """
                namespaces:
                  mount:
                    root: {type: tmpfs}
                  motd:
                    mesage: hello
                process:
                  command: [/bin/true]
                """);
        Cli.Result r = sandbox("--plugins-dir", plugins.dir.toString(), "validate", spec.toString());
        assertEquals(1, r.exit(), r.toString());
        // located at the key itself, not at its value
        assertTrue(r.out().contains(spec + ":8:5: error[schema.unknown-key]: unknown key 'mesage' in 'namespaces.motd'"
                + " (at namespaces.motd.mesage)\n  hint: did you mean 'message'?"), r.toString());
        // message is required by the plugin's schema fragment: both problems are reported together
        assertTrue(r.out().contains("error[schema.required]: missing required key 'message' in 'namespaces.motd'"), r.toString());
    }

    @Test
    void planHasTheWriteFileStepOfMotdAfterEveryMountStep() throws IOException {
        Path spec = specs.spec("plan.yaml", validSpec("hello from motd"));
        Cli.Result r = sandbox("--plugins-dir", plugins.dir.toString(), "plan", "--format", "json", spec.toString());
        assertEquals(0, r.exit(), r.toString());
        List<JsonNode> steps = new ArrayList<>();
        JSON.readTree(r.out()).path("steps").forEach(steps::add);

        List<JsonNode> writes = steps.stream().filter(s -> s.path("plugin").asText().equals("motd") && s.path("op").asText().equals("write-file")).toList();
        assertEquals(1, writes.size(), r.out());
        JsonNode write = writes.get(0);
        assertEquals("mounts", write.path("stage").asText());
        assertEquals("child", write.path("executor").asText());
        assertEquals("/etc/motd", write.at("/args/path").asText());
        assertEquals("0644", write.at("/args/mode").asText());
        assertEquals("hello from motd\n", write.at("/args/content").asText());

        int at = steps.indexOf(write);
        List<JsonNode> mountSteps = steps.stream().filter(s -> s.path("plugin").asText().equals("mount")).toList();
        assertTrue(mountSteps.stream().anyMatch(s -> s.path("op").asText().equals("pivot-root")), "the mount plugin's plan has no pivot-root:\n" + r.out());
        for (JsonNode m : mountSteps) {
            assertTrue(steps.indexOf(m) < at, "mount step " + m.path("index") + " " + m.path("op") + " comes after motd's write-file (" + write.path("index") + ")");
        }
    }

    @Test
    void withoutThePluginsDirTheMotdSectionIsAnUnknownKey() {
        Path spec = specs.spec("no-plugin.yaml", validSpec("hello"));
        Cli.Result r = sandbox("validate", spec.toString());
        assertEquals(1, r.exit(), r.toString());
        // at the key 'motd:' itself, not at the first line of its value (10:5)
        assertTrue(r.out().contains(spec + ":9:3: error[schema.unknown-key]: unknown key 'motd' in 'namespaces' (at namespaces.motd)"), r.toString());
    }

    @Test
    void upWritesTheMessageInsideTheSandboxAndLeavesTheHostsFileAlone() throws IOException {
        assumeTrue(Cli.isRoot(), "creating the namespaces of this spec needs root (the spec has no user namespace)");
        Path hostMotd = Path.of("/etc/motd");
        byte[] before = Files.exists(hostMotd) ? Files.readAllBytes(hostMotd) : null;
        Path spec = specs.spec("up.yaml", validSpec("hello from motd").replace("[/bin/true]", "[/bin/cat, /etc/motd]"));
        Cli.Result r = sandbox("--plugins-dir", plugins.dir.toString(), "up", spec.toString());
        assertEquals(0, r.exit(), r.toString());
        assertEquals("hello from motd\n", r.out());
        byte[] after = Files.exists(hostMotd) ? Files.readAllBytes(hostMotd) : null;
        assertTrue(java.util.Arrays.equals(before, after), "the host's /etc/motd changed");
    }

    // ------------------------------------------------------------------------------ refusals and breakage

    @Test
    void worldWritablePluginDirIsRefusedAsRoot() throws IOException {
        assumeTrue(Cli.isRoot(), "the CLI checks plugin dirs only when it runs as root");
        SpecDir unsafe = track(new SpecDir());
        Files.copy(motdJar, unsafe.dir.resolve(motdJar.getFileName()));
        Files.setPosixFilePermissions(unsafe.dir, PosixFilePermissions.fromString("rwxrwxrwx"));
        Cli.Result r = sandbox("--plugins-dir", unsafe.dir.toString(), "plugins");
        assertEquals(1, r.exit(), r.toString());
        assertTrue(r.err().contains("error[plugin.unsafe-dir]: refusing plugins from " + unsafe.dir + " as root: " + unsafe.dir
                + " is writable by group or others"), r.toString());
        assertTrue(r.err().contains("hint: chown root and chmod go-w " + unsafe.dir), r.toString());
        assertFalse(r.out().contains(" motd "), "motd was loaded from an unsafe dir:\n" + r);
        assertTrue(r.out().contains(" uts "), "the distribution's plugins must still load:\n" + r);
    }

    @Test
    void groupWritableJarIsRefusedAsRoot() throws IOException {
        assumeTrue(Cli.isRoot(), "the CLI checks plugin jars only when it runs as root");
        SpecDir dir = track(new SpecDir());
        Path jar = Files.copy(motdJar, dir.dir.resolve(motdJar.getFileName()));
        Files.setPosixFilePermissions(jar, PosixFilePermissions.fromString("rw-rw-r--"));
        Cli.Result r = sandbox("--plugins-dir", dir.dir.toString(), "plugins");
        assertEquals(1, r.exit(), r.toString());
        assertTrue(r.err().contains("error[plugin.unsafe-dir]: refusing plugins from " + dir.dir + " as root: " + jar
                + " is writable by group or others"), r.toString());
    }

    @Test
    void jarOwnedByAnotherUserIsRefusedAsRoot() throws IOException {
        assumeTrue(Cli.isRoot(), "only root can give a file away, and the check applies only to root");
        UserPrincipal nobody = lookup("nobody");
        assumeTrue(nobody != null, "no user 'nobody' on this machine");
        SpecDir dir = track(new SpecDir());
        Path jar = Files.copy(motdJar, dir.dir.resolve(motdJar.getFileName()));
        Files.setOwner(jar, nobody);
        Cli.Result r = sandbox("--plugins-dir", dir.dir.toString(), "plugins");
        assertEquals(1, r.exit(), r.toString());
        assertTrue(r.err().contains("error[plugin.unsafe-dir]: refusing plugins from " + dir.dir + " as root: " + jar
                + " is owned by nobody"), r.toString());
    }

    @Test
    void pluginThatThrowsInIdIsReportedByItsIdWithoutAStackTrace() throws IOException {
        SpecDir broken = track(new SpecDir());
        try (SpecDir build = new SpecDir()) {
            Path src = build.write("src/org/example/broken/BrokenPlugin.java", """
                    package org.example.broken;

                    import dev.sandbox.api.NamespacePlugin;
                    import dev.sandbox.api.PlanContext;
                    import dev.sandbox.api.SectionContext;
                    import org.pf4j.Extension;

                    @Extension
                    public class BrokenPlugin implements NamespacePlugin {
                        @Override public String id() { throw new IllegalStateException("boom from id()"); }
                        @Override public String schemaFragment() { return "{\\"type\\": \\"object\\"}"; }
                        @Override public void validate(SectionContext context) {}
                        @Override public void contribute(PlanContext context) {}
                    }
                    """);
            Path classes = PluginJar.compile(List.of(src), build.dir.resolve("classes"));
            PluginJar.write(classes, null, "broken", broken.dir.resolve("broken.jar"));
        }
        Path jar = broken.dir.resolve("broken.jar");

        Cli.Result list = sandbox("--plugins-dir", broken.dir.toString(), "plugins");
        assertEquals(1, list.exit(), list.toString());
        assertTrue(list.err().contains(jar + ": error[plugin.broken]: plugin 'broken' failed in id(): "
                + "java.lang.IllegalStateException: boom from id()"), list.toString());
        assertNoStackTrace(list);
        assertTrue(list.out().contains(" uts "), "one broken plugin must not hide the others:\n" + list);

        Path spec = specs.spec("ok.yaml", """
                namespaces:
                  uts: {hostname: box}
                process:
                  command: [/bin/true]
                """);
        Cli.Result validate = sandbox("--plugins-dir", broken.dir.toString(), "validate", spec.toString());
        assertEquals(1, validate.exit(), "an installed broken plugin is an error of the installation:\n" + validate);
        assertTrue(validate.out().contains("error[plugin.broken]: plugin 'broken'"), validate.toString());
        assertNoStackTrace(validate);
    }

    // ------------------------------------------------------------------------------ helpers

    private static Cli.Result sandbox(String... args) {
        return Cli.run(List.of(), Map.of("HOME", home.dir.toString()), args);
    }

    /** A spec that validates with the motd plugin installed; {@code motd:} is on line 9 (after the three lines SpecDir adds). */
    private static String validSpec(String message) {
        return """
                namespaces:
                  mount:
                    root: {type: tmpfs}
                    mounts:
                %s
                  motd:
                    message: "%s"
                process:
                  command: [/bin/true]
                """.formatted(systemBinds(), message);
    }

    /** One line: the host's program directories, bound read-only (merged-/usr hosts have symlinks, which bind fine). */
    private static String systemBinds() {
        String list = Stream.of("/usr", "/bin", "/lib", "/lib64").filter(p -> Files.isDirectory(Path.of(p)))
                .map(p -> "{type: bind, source: " + p + ", target: " + p + ", readonly: true}").collect(Collectors.joining(", "));
        return "      [" + list + "]";
    }

    private static int rowIndex(String pluginsOutput, String id) {
        List<String> lines = pluginsOutput.lines().toList();
        for (int i = 0; i < lines.size(); i++) {
            String[] cols = lines.get(i).trim().split("\\s+");
            if (cols.length > 1 && cols[1].equals(id)) return i;
        }
        throw new AssertionError("no plugin '" + id + "' in:\n" + pluginsOutput);
    }

    private static List<String> fieldNames(JsonNode object) {
        List<String> names = new ArrayList<>();
        object.fieldNames().forEachRemaining(names::add);
        return names;
    }

    private static void assertNoStackTrace(Cli.Result r) {
        String all = r.out() + r.err();
        assertFalse(all.contains("\tat ") || all.contains("Exception in thread") || all.contains("internal error"),
                "a plugin's failure must be a diagnostic, not a stack trace:\n" + r);
    }

    private static UserPrincipal lookup(String name) {
        try {
            return Path.of("/").getFileSystem().getUserPrincipalLookupService().lookupPrincipalByName(name);
        } catch (IOException e) {
            return null;
        }
    }

    private static List<Path> sources(Path root) throws IOException {
        try (Stream<Path> walk = Files.walk(root)) {
            return walk.filter(p -> p.toString().endsWith(".java")).sorted().toList();
        }
    }

    /** Builds a plugin jar the way the template's pom does, with javac's API instead of Maven. */
    static final class PluginJar {

        private PluginJar() {}

        /** The distribution's own copy of a library: the plugin compiles against exactly what loads it. */
        static Path lib(String artifact) throws IOException {
            try (Stream<Path> jars = Files.list(Cli.DIST.resolve("lib"))) {
                Pattern name = Pattern.compile(Pattern.quote(artifact) + "-\\d[^/]*\\.jar");
                return jars.filter(p -> name.matcher(p.getFileName().toString()).matches()).findFirst()
                        .orElseThrow(() -> new AssertionError("no " + artifact + "-*.jar in " + Cli.DIST.resolve("lib") + "; run mvn package first"));
            }
        }

        /**
         * Compiles against sandbox-api and pf4j, with PF4J's processor named explicitly so that
         * {@code META-INF/extensions.idx} is written (javac 23+ no longer runs processors it merely
         * finds on the class path).
         */
        static Path compile(List<Path> sources, Path classes) throws IOException {
            JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
            assertNotNull(javac, "this test builds a plugin with javax.tools and needs a JDK, not a JRE");
            Files.createDirectories(classes);
            String classPath = lib("sandbox-api") + ":" + lib("pf4j");
            List<String> options = List.of("--release", "17", "-encoding", "UTF-8", "-d", classes.toString(), "-classpath", classPath,
                    "-processor", "org.pf4j.processor.ExtensionAnnotationProcessor");
            DiagnosticCollector<JavaFileObject> problems = new DiagnosticCollector<>();
            try (StandardJavaFileManager files = javac.getStandardFileManager(problems, Locale.ROOT, StandardCharsets.UTF_8)) {
                boolean ok = javac.getTask(null, files, problems, options, null, files.getJavaFileObjectsFromPaths(sources)).call();
                assertTrue(ok, "javac failed: " + problems.getDiagnostics());
            }
            Path index = classes.resolve("META-INF/extensions.idx");
            assertTrue(Files.isRegularFile(index), "PF4J's annotation processor did not write " + index);
            return classes;
        }

        /** classes + resources + a MANIFEST naming the plugin; 0644, so root accepts it. */
        static Path write(Path classes, Path resources, String pluginId, Path jar) throws IOException {
            Manifest manifest = new Manifest();
            Attributes main = manifest.getMainAttributes();
            main.put(Attributes.Name.MANIFEST_VERSION, "1.0");
            main.putValue("Plugin-Id", pluginId);
            main.putValue("Plugin-Version", VERSION);
            main.putValue("Plugin-Provider", "ThirdPartyPluginIT");
            try (OutputStream out = Files.newOutputStream(jar); JarOutputStream zip = new JarOutputStream(out, manifest)) {
                add(zip, classes);
                if (resources != null && Files.isDirectory(resources)) add(zip, resources);
            }
            Files.setPosixFilePermissions(jar, PosixFilePermissions.fromString("rw-r--r--"));
            return jar;
        }

        private static void add(JarOutputStream zip, Path root) throws IOException {
            try (Stream<Path> walk = Files.walk(root)) {
                for (Path p : walk.filter(Files::isRegularFile).sorted().toList()) {
                    zip.putNextEntry(new JarEntry(root.relativize(p).toString().replace('\\', '/')));
                    Files.copy(p, zip);
                    zip.closeEntry();
                }
            }
        }
    }
}
