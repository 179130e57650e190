package dev.sandbox.engine.schema;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.sandbox.api.NamespacePlugin;
import dev.sandbox.engine.json.JsonTree;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.List;
import java.util.Map;

/**
 * The root schema ({@code schemas/sandbox-v1.schema.json}) with every plugin's fragment composed into
 * {@code namespaces.<id>}. Each namespace type's section also accepts the common {@code join} key.
 */
public final class ComposedSchema {

    private static final String ROOT = "sandbox-v1.schema.json";

    private final ObjectNode schema;

    private ComposedSchema(ObjectNode schema) {
        this.schema = schema;
    }

    /** Thrown when a plugin's fragment is not valid JSON: the plugin's fault, reported by its id. */
    public static final class FragmentException extends Exception {
        private final String pluginId;

        FragmentException(String pluginId, String message) {
            super(message);
            this.pluginId = pluginId;
        }

        public String pluginId() {
            return pluginId;
        }
    }

    public static ObjectNode root() {
        try (InputStream in = ComposedSchema.class.getResourceAsStream(ROOT)) {
            if (in == null) throw new IllegalStateException("the root schema " + ROOT + " is missing from the build");
            return (ObjectNode) JsonTree.read(in);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static ComposedSchema compose(List<NamespacePlugin> plugins, Map<String, FragmentException> broken) {
        ObjectNode schema = root();
        // a different document than the root schema, so a different id (editors cache by id)
        schema.put("$id", "https://sandbox.dev/schemas/sandbox.schema.json");
        schema.put("title", "sandbox spec, version 1, with the installed plugins' sections");
        ObjectNode sections = (ObjectNode) schema.path("properties").path("namespaces").path("properties");
        for (NamespacePlugin plugin : plugins) {
            try {
                ObjectNode fragment = fragmentOf(plugin);
                ObjectNode properties = fragment.has("properties") ? (ObjectNode) fragment.get("properties") : fragment.putObject("properties");
                if (dev.sandbox.engine.pipeline.NamespaceTable.isNamespace(plugin.id())) {
                    properties.putObject("join").put("$ref", "#/$defs/join");
                }
                sections.set(plugin.id(), fragment);
            } catch (FragmentException e) {
                broken.put(plugin.id(), e);
            }
        }
        return new ComposedSchema(schema);
    }

    private static ObjectNode fragmentOf(NamespacePlugin plugin) throws FragmentException {
        String text;
        try {
            text = plugin.schemaFragment();
        } catch (RuntimeException e) {
            throw new FragmentException(plugin.id(), "schemaFragment() failed: " + e);
        }
        try {
            JsonNode node = JsonTree.read(text);
            if (!(node instanceof ObjectNode object) || !"object".equals(object.path("type").asText())) {
                throw new FragmentException(plugin.id(), "its schema fragment must be a JSON object schema with \"type\": \"object\"");
            }
            return object;
        } catch (JsonProcessingException e) {
            throw new FragmentException(plugin.id(), "its schema fragment is not valid JSON: " + e.getOriginalMessage());
        } catch (java.io.IOException e) {
            throw new FragmentException(plugin.id(), "its schema fragment is not valid JSON: " + e.getMessage()); // a String: never
        }
    }

    public ObjectNode json() {
        return schema;
    }

    public String pretty() {
        try {
            return new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsString(schema);
        } catch (JsonProcessingException e) {
            throw new UncheckedIOException(e);
        }
    }
}
