package dev.sandbox.engine.schema;

import com.fasterxml.jackson.databind.JsonNode;
import com.networknt.schema.JsonNodePath;
import com.networknt.schema.JsonSchema;
import com.networknt.schema.JsonSchemaFactory;
import com.networknt.schema.SchemaValidatorsConfig;
import com.networknt.schema.SpecVersion;
import com.networknt.schema.ValidationMessage;
import dev.sandbox.api.Diagnostic;
import dev.sandbox.api.SpecNode;
import dev.sandbox.engine.spec.SpecJson;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Set;

/**
 * Validates a spec against the composed schema (networknt json-schema-validator) and turns each
 * finding into a located diagnostic with a stable {@code schema.<keyword>} code and a hint —
 * "did you mean" for unknown keys.
 */
public final class SchemaCheck {

    private final ComposedSchema composed;
    private final JsonSchema schema;

    public SchemaCheck(ComposedSchema composed) {
        this.composed = composed;
        this.schema = factory().getSchema(composed.json(), config());
    }

    /**
     * The validator's own set-up, which needs no schema: the 2020-12 meta-schema with its keywords and formats (~40% of
     * building a validator). Sandbox.prepareInBackground's caller runs it while the plugins load on the other thread.
     */
    public static void warmUp() {
        factory();
        config();
    }

    private static JsonSchemaFactory factory() {
        return JsonSchemaFactory.getInstance(SpecVersion.VersionFlag.V202012);
    }

    private static SchemaValidatorsConfig config() {
        return SchemaValidatorsConfig.builder().pathType(com.networknt.schema.PathType.JSON_POINTER).build();
    }

    public List<Diagnostic> check(SpecNode root) {
        JsonNode instance = SpecJson.toJson(root);
        Set<ValidationMessage> messages = schema.validate(instance);
        List<Diagnostic> out = new ArrayList<>();
        messages.stream().sorted(Comparator.comparing(ValidationMessage::getMessage)).forEach(m -> out.add(toDiagnostic(root, m)));
        return out;
    }

    private Diagnostic toDiagnostic(SpecNode root, ValidationMessage m) {
        List<Object> segments = segments(m.getInstanceLocation());
        SpecNode at = SpecJson.find(root, segments);
        String type = m.getType();
        String property = m.getProperty();
        String where = at.path().isEmpty() ? "the top level" : "'" + at.path() + "'";
        return switch (type) {
            case "additionalProperties" -> {
                SpecNode key = at.get(property);
                List<String> known = knownKeys(m);
                String suggestion = Suggest.closest(property, known);
                String hint = suggestion != null ? "did you mean '" + suggestion + "'?"
                        : known.isEmpty() ? "remove it" : "known keys here: " + String.join(", ", known);
                yield Diagnostic.error("schema.unknown-key", "unknown key '" + property + "' in " + where,
                        key.path(), key.isPresent() ? at.keyLocation(property) : at.location(), hint);
            }
            case "required" -> Diagnostic.error("schema.required", "missing required key '" + property + "' in " + where,
                    at.path(), keyOf(root, segments, at), "add '" + property + ":'");
            case "type" -> isEmptyValue(at)
                    // 'user:' with nothing after it: YAML reads an empty string, which "string found" would not explain
                    ? Diagnostic.error("schema.type", describe(at) + " has the wrong type: an empty value found, " + expected(m) + " expected",
                            at.path(), at.location(), emptyHint(m))
                    : Diagnostic.error("schema.type", describe(at) + " has the wrong type: " + tail(m),
                            at.path(), at.location(), typeHint(m));
            case "enum" -> Diagnostic.error("schema.enum", describe(at) + " has a value that is not allowed: " + shown(at),
                    at.path(), at.location(), enumHint(m, at));
            case "const" -> Diagnostic.error("schema.const", describe(at) + " has a value that is not allowed: " + tail(m),
                    at.path(), at.location(), allowed(m));
            default -> Diagnostic.error("schema." + type, describe(at) + ": " + tail(m), at.path(), at.location(), hint(m, at));
        };
    }

    /** Where a map is named: its key in the parent (a block map's own location is its first key). */
    private static dev.sandbox.api.Location keyOf(SpecNode root, List<Object> segments, SpecNode at) {
        if (segments.isEmpty() || !(segments.get(segments.size() - 1) instanceof String key)) return at.location();
        SpecNode parent = SpecJson.find(root, segments.subList(0, segments.size() - 1));
        return parent.fields().get(key) == at ? parent.keyLocation(key) : at.location();
    }

    private static String describe(SpecNode at) {
        return at.path().isEmpty() ? "the spec" : "'" + at.path() + "'";
    }

    /** The validator's message without its leading instance path. */
    private static String tail(ValidationMessage m) {
        String msg = m.getMessage();
        int colon = msg.indexOf(": ");
        return colon >= 0 && msg.startsWith("/") || colon >= 0 && msg.startsWith("$") ? msg.substring(colon + 2) : msg;
    }

    private static boolean isEmptyValue(SpecNode at) {
        return at.kind() == SpecNode.Kind.STRING && at.text().isEmpty();
    }

    /** The type the schema expects; the validator's arguments are {found, expected}. */
    private static String expected(ValidationMessage m) {
        Object[] args = m.getArguments();
        return args != null && args.length > 1 ? String.valueOf(args[1]) : "";
    }

    /** For a key written with nothing after its ':' (or with ""). */
    private static String emptyHint(ValidationMessage m) {
        return switch (expected(m)) {
            case "object" -> "write {} for an empty map (nothing after ':' is an empty value, not a map), or put its keys on the lines below, indented";
            case "array" -> "write a list after the ':', [a, b], or one '- item' per line below it, indented";
            default -> typeHint(m);
        };
    }

    /** A scalar as written: strings quoted. */
    private static String shown(SpecNode at) {
        return at.kind() == SpecNode.Kind.STRING ? "'" + at.text() + "'" : at.text();
    }

    /** "did you mean" when the value is a typo of an allowed one, then the allowed values. */
    private static String enumHint(ValidationMessage m, SpecNode at) {
        JsonNode values = m.getSchemaNode();
        if (values == null || !values.isArray()) return allowed(m);
        List<String> allowed = new ArrayList<>();
        values.forEach(v -> allowed.add(v.asText()));
        String suggestion = at.kind() == SpecNode.Kind.STRING ? Suggest.closest(at.text(), allowed) : null;
        return (suggestion != null ? "did you mean '" + suggestion + "'? " : "") + "allowed: " + String.join(", ", allowed);
    }

    /** How to write the expected type in YAML; the validator's arguments are {found, expected}. */
    private static String typeHint(ValidationMessage m) {
        String expected = expected(m);
        return switch (expected) {
            case "boolean" -> "write true or false, without quotes";
            case "integer" -> "write a whole number, without quotes";
            case "number" -> "write a number, without quotes";
            case "string" -> "write text; quote it if YAML would read it as something else, e.g. \"42\"";
            case "array" -> "write a list: [a, b], or one '- item' per line";
            case "object" -> "write a map: {key: value}, or one 'key: value' per line, indented";
            default -> expected.isEmpty() ? null : "expected " + expected;
        };
    }

    /** How to fix a finding of the other keywords, from the validator's arguments (the limit comes first). */
    private static String hint(ValidationMessage m, SpecNode at) {
        Object[] args = m.getArguments();
        String limit = args != null && args.length > 0 ? String.valueOf(args[0]) : "";
        if (at.path().endsWith(".join") && (m.getType().equals("minProperties") || m.getType().equals("maxProperties"))) {
            return "give exactly one of 'path' (a namespace file such as /proc/PID/ns/net) or 'sandbox' (the name of a running sandbox)";
        }
        if (m.getType().equals("pattern") && limit.equals(NAME_PATTERN)) return nameHint(at);
        if (m.getType().equals("pattern") && limit.equals("^all$")) {
            return "write a list of capability names, e.g. [NET_BIND_SERVICE] ([] for none), or 'all' to keep every capability";
        }
        return switch (m.getType()) {
            case "pattern" -> "write a value that matches " + limit;
            case "minimum" -> "use " + limit + " or more";
            case "maximum" -> "use " + limit + " or less";
            case "minLength" -> "1".equals(limit) ? "give a non-empty value, or remove the key" : "use at least " + limit + " characters";
            case "maxLength" -> "use at most " + limit + " characters";
            case "minItems" -> "give at least " + limit + " item" + ("1".equals(limit) ? "" : "s") + ", or remove the key for the default";
            case "maxItems" -> "give at most " + limit + " items";
            case "minProperties" -> "give at least " + limit + " key" + ("1".equals(limit) ? "" : "s");
            case "maxProperties" -> "give at most " + limit + " key" + ("1".equals(limit) ? "" : "s");
            case "uniqueItems" -> "remove the repeated item";
            default -> null;
        };
    }

    /** The pattern of {@code name} and {@code join.sandbox}. */
    private static final String NAME_PATTERN = "^[a-z0-9][a-z0-9_.-]{0,62}$";

    /** The rule in words, and the value made to fit it when that is possible. */
    private static String nameHint(SpecNode at) {
        String fitted = at.text().toLowerCase(java.util.Locale.ROOT).replaceAll("[^a-z0-9_.-]", "-").replaceFirst("^[^a-z0-9]+", "");
        if (fitted.length() > 63) fitted = fitted.substring(0, 63);
        String rule = "use lower-case letters, digits, '_', '.' and '-', starting with a letter or digit, at most 63 characters";
        return at.kind() == SpecNode.Kind.STRING && !fitted.isEmpty() ? rule + ", e.g. '" + fitted + "'" : rule;
    }

    private static String allowed(ValidationMessage m) {
        Object[] args = m.getArguments();
        if (args == null || args.length == 0) return null;
        // const: {the constant, the value found}; enum: {the list}
        return "allowed: " + ("const".equals(m.getType()) ? args[0] : args[args.length - 1]);
    }

    private List<String> knownKeys(ValidationMessage m) {
        JsonNodePath schemaPath = m.getSchemaLocation().getFragment();
        JsonNode node = composed.json();
        List<Object> segs = segments(schemaPath);
        // the path ends in .../additionalProperties; its parent holds "properties"
        for (int i = 0; i < segs.size() - 1; i++) {
            Object s = segs.get(i);
            node = s instanceof Integer n ? node.path(n) : node.path(String.valueOf(s));
        }
        List<String> keys = new ArrayList<>();
        node.path("properties").fieldNames().forEachRemaining(keys::add);
        return keys;
    }

    private static List<Object> segments(JsonNodePath path) {
        List<Object> out = new ArrayList<>();
        if (path == null) return out;
        for (int i = 0; i < path.getNameCount(); i++) {
            Object element = path.getElement(i);
            out.add(element);
        }
        return out;
    }
}
