package dev.sandbox.engine.seccomp;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.sandbox.engine.json.JsonTree;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.HashSet;
import java.util.Set;

/**
 * The built-in {@code seccomp: default} profile, in Docker's JSON format: Docker 20.10's default
 * profile exactly as Debian ships it ({@code docker-default.json}, package
 * golang-github-docker-docker-dev; see NOTICE) with sandbox's own changes applied
 * ({@code sandbox-changes.json}: names removed from every rule, rules appended; the reasons are in
 * docs/security.md). The TIOCSTI filter is a separate filter ({@link Filter#tty}).
 */
public final class BuiltInProfile {

    /** How the profile is named in messages. */
    public static final String NAME = "built-in profile (Docker 20.10's default with sandbox's changes)";
    private static final String DOCKER = "/dev/sandbox/engine/seccomp/docker-default.json";
    private static final String CHANGES = "/dev/sandbox/engine/seccomp/sandbox-changes.json";

    private BuiltInProfile() {}

    /** The merged profile as JSON bytes, ready for {@link SeccompProfile#parse} (export and import compare them). */
    public static byte[] bytes() {
        try {
            return new ObjectMapper().writeValueAsBytes(merged());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * The merged profile, parsed: what {@code seccomp: default} compiles. Read straight into a tree, neither written
     * out nor parsed again, and without an ObjectMapper (docs/performance.md); a problem in it has no position.
     */
    public static SeccompProfile profile() {
        SeccompProfile p = profile;
        if (p == null) profile = p = SeccompProfile.of(merged()); // read-only once made (SeccompCompiler only reads the tree)
        return p;
    }

    private static volatile SeccompProfile profile;

    private static ObjectNode merged() {
        try {
            ObjectNode profile = (ObjectNode) JsonTree.read(resource(DOCKER));
            JsonNode changes = JsonTree.read(resource(CHANGES));
            Set<String> removed = new HashSet<>();
            changes.get("remove").forEach(n -> removed.add(n.asText()));
            ArrayNode rules = (ArrayNode) profile.get("syscalls");
            for (JsonNode rule : rules) {
                ArrayNode names = (ArrayNode) rule.get("names");
                for (int i = names.size() - 1; i >= 0; i--) if (removed.contains(names.get(i).asText())) names.remove(i);
            }
            for (int i = rules.size() - 1; i >= 0; i--) if (rules.get(i).get("names").isEmpty()) rules.remove(i);
            changes.get("syscalls").forEach(rules::add);
            return profile;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static byte[] resource(String name) throws IOException {
        try (InputStream in = BuiltInProfile.class.getResourceAsStream(name)) {
            if (in == null) throw new IllegalStateException(name + " is missing from the engine jar");
            return in.readAllBytes();
        }
    }
}
