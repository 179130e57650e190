package dev.sandbox.engine.json;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.MissingNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.node.TextNode;
import java.io.IOException;
import java.util.Map;

/**
 * Reads JSON into Jackson's tree without an {@code ObjectMapper}: the same nodes {@code ObjectMapper.readTree}
 * builds (ints as IntNode/LongNode/BigIntegerNode, other numbers as DoubleNode, the last of duplicate keys wins,
 * the first root value; empty input is a MissingNode), from jackson-core's parser alone.
 *
 * <p>Why: an {@code ObjectMapper}'s class initialisation builds a {@code SimpleDateFormat} (Jackson's
 * StdDateFormat), which loads the JDK's locale and calendar data: ~45 ms of every cold {@code sandbox up}
 * although nothing here reads a date (docs/performance.md, "Where the JVM's time goes"). Writing JSON
 * still goes through an ObjectMapper, off the {@code up} path.
 */
public final class JsonTree {

    private static final JsonFactory DEFAULT = new JsonFactory();
    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;

    private JsonTree() {}

    /** Where each value starts, by JSON pointer ({@code ""} the root, {@code /syscalls/0/names}): 1-based line and column. */
    public interface Locations {
        void value(String pointer, int line, int column);
    }

    public static JsonNode read(byte[] bytes) throws IOException {
        try (JsonParser p = DEFAULT.createParser(bytes)) {
            return read(p, null);
        }
    }

    public static JsonNode read(String text) throws IOException {
        try (JsonParser p = DEFAULT.createParser(text)) {
            return read(p, null);
        }
    }

    public static JsonNode read(java.io.InputStream in) throws IOException {
        try (JsonParser p = DEFAULT.createParser(in)) {
            return read(p, null);
        }
    }

    /**
     * The first root value of {@code p}'s input; with {@code locations}, the rest of the input is read as well (so an
     * error anywhere in it is thrown) and every value's position is reported, a pointer's first position winning.
     */
    public static JsonNode read(JsonParser p, Locations locations) throws IOException {
        JsonToken t = p.nextToken();
        if (t == null) return MissingNode.getInstance();
        JsonNode root = value(p, t, "", locations);
        if (locations != null) {
            // later root values: only their positions and their syntax matter (ObjectMapper reads the first)
            for (t = p.nextToken(); t != null; t = p.nextToken()) {
                value(p, t, "", locations);
            }
        }
        return root;
    }

    private static JsonNode value(JsonParser p, JsonToken t, String pointer, Locations locations) throws IOException {
        if (locations != null) {
            JsonLocation at = p.currentTokenLocation();
            locations.value(pointer, at.getLineNr(), at.getColumnNr());
        }
        switch (t) {
            case START_OBJECT: {
                ObjectNode object = NODES.objectNode();
                for (JsonToken n = p.nextToken(); n != JsonToken.END_OBJECT; n = p.nextToken()) {
                    String name = p.currentName();
                    JsonToken v = p.nextToken();
                    object.set(name, value(p, v, locations == null ? null : pointer + "/" + escape(name), locations));
                }
                return object;
            }
            case START_ARRAY: {
                ArrayNode array = NODES.arrayNode();
                int i = 0;
                for (JsonToken n = p.nextToken(); n != JsonToken.END_ARRAY; n = p.nextToken()) {
                    array.add(value(p, n, locations == null ? null : pointer + "/" + i, locations));
                    i++;
                }
                return array;
            }
            case VALUE_STRING:
                return new Text(p.getText());
            case VALUE_NUMBER_INT:
                switch (p.getNumberType()) {
                    case INT: return NODES.numberNode(p.getIntValue());
                    case LONG: return NODES.numberNode(p.getLongValue());
                    default: return NODES.numberNode(p.getBigIntegerValue());
                }
            case VALUE_NUMBER_FLOAT:
                return NODES.numberNode(p.getDoubleValue());
            case VALUE_TRUE:
                return NODES.booleanNode(true);
            case VALUE_FALSE:
                return NODES.booleanNode(false);
            case VALUE_NULL:
                return NODES.nullNode();
            default:
                // VALUE_EMBEDDED_OBJECT never comes from a text parser
                throw new IOException("unexpected JSON token " + t);
        }
    }

    /**
     * A text node whose {@code toString()} (the value as a JSON string, quoted and escaped) needs no ObjectMapper:
     * Jackson's own goes through one (InternalNodeMapper), and the schema validator calls it for every {@code enum}
     * value while it builds (networknt's EnumValidator). Equal to, and serialized like, any TextNode of the same value.
     */
    static final class Text extends TextNode {
        private static final long serialVersionUID = 1L;

        Text(String value) {
            super(value);
        }

        @Override
        public String toString() {
            StringBuilder sb = new StringBuilder(_value.length() + 2);
            appendQuoted(sb, _value);
            return sb.toString();
        }
    }

    /** RFC 6901: '~' as ~0, '/' as ~1. */
    private static String escape(String name) {
        if (name.indexOf('~') < 0 && name.indexOf('/') < 0) return name;
        return name.replace("~", "~0").replace("/", "~1");
    }

    /** A {@link Locations} that keeps the first position of each pointer in {@code map}. */
    public static Locations firstInto(Map<String, int[]> map) {
        return (pointer, line, column) -> map.putIfAbsent(pointer, new int[] {line, column});
    }
}
