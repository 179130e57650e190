package dev.sandbox.engine.seccomp;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
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

    /** The merged profile as JSON bytes, ready for {@link SeccompProfile#parse}. */
    public static byte[] bytes() {
        ObjectMapper json = new ObjectMapper();
        try {
            ObjectNode profile = (ObjectNode) json.readTree(resource(DOCKER));
            JsonNode changes = json.readTree(resource(CHANGES));
            Set<String> removed = new HashSet<>();
            changes.get("remove").forEach(n -> removed.add(n.asText()));
            ArrayNode rules = (ArrayNode) profile.get("syscalls");
            for (JsonNode rule : rules) {
                ArrayNode names = (ArrayNode) rule.get("names");
                for (int i = names.size() - 1; i >= 0; i--) if (removed.contains(names.get(i).asText())) names.remove(i);
            }
            for (int i = rules.size() - 1; i >= 0; i--) if (rules.get(i).get("names").isEmpty()) rules.remove(i);
            changes.get("syscalls").forEach(rules::add);
            return json.writeValueAsBytes(profile);
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
