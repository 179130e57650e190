package dev.sandbox.engine.spec;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.sandbox.api.SpecNode;
import java.math.BigDecimal;
import java.util.List;

/** Converts a {@link SpecNode} tree to Jackson's JSON tree (for schema validation) and walks back from JSON paths. */
public final class SpecJson {

    private SpecJson() {}

    public static JsonNode toJson(SpecNode node) {
        JsonNodeFactory f = JsonNodeFactory.instance;
        return switch (node.kind()) {
            case MAP -> {
                ObjectNode object = f.objectNode();
                node.fields().forEach((k, v) -> object.set(k, toJson(v)));
                yield object;
            }
            case LIST -> {
                ArrayNode array = f.arrayNode();
                node.elements().forEach(e -> array.add(toJson(e)));
                yield array;
            }
            case STRING -> f.textNode(node.text());
            case NUMBER -> number(node.text());
            case BOOLEAN -> f.booleanNode(Boolean.parseBoolean(node.text()));
            case NULL, MISSING -> f.nullNode();
        };
    }

    private static JsonNode number(String text) {
        try {
            return JsonNodeFactory.instance.numberNode(Long.parseLong(text));
        } catch (NumberFormatException e) {
            try {
                return JsonNodeFactory.instance.numberNode(new BigDecimal(text));
            } catch (NumberFormatException e2) {
                // YAML's .inf, -.inf and .nan: numbers to the schema, out of range for the plugins
                String t = text.toLowerCase(java.util.Locale.ROOT);
                if (t.endsWith(".inf")) return JsonNodeFactory.instance.numberNode(t.startsWith("-") ? Double.NEGATIVE_INFINITY : Double.POSITIVE_INFINITY);
                if (t.equals(".nan")) return JsonNodeFactory.instance.numberNode(Double.NaN);
                return JsonNodeFactory.instance.textNode(text);
            }
        }
    }

    /** The deepest existing node along {@code segments} (property names and list indexes). */
    public static SpecNode find(SpecNode root, List<Object> segments) {
        SpecNode current = root;
        for (Object segment : segments) {
            SpecNode next;
            if (segment instanceof Integer index) {
                List<SpecNode> elements = current.elements();
                next = index < elements.size() ? elements.get(index) : null;
            } else {
                next = current.fields().get(String.valueOf(segment));
            }
            if (next == null) return current;
            current = next;
        }
        return current;
    }
}
