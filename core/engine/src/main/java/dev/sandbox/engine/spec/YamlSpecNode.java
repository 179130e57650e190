package dev.sandbox.engine.spec;

import dev.sandbox.api.Location;
import dev.sandbox.api.SpecNode;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** A {@link SpecNode} built by {@link SpecLoader}: the tree with every node's location. */
final class YamlSpecNode implements SpecNode {

    private final Kind kind;
    private final String path;
    private final Location location;
    private final String text;
    private final Map<String, SpecNode> fields;
    private final List<SpecNode> elements;
    private final Map<String, Location> keyLocations;

    private YamlSpecNode(Kind kind, String path, Location location, String text,
                         Map<String, SpecNode> fields, List<SpecNode> elements, Map<String, Location> keyLocations) {
        this.keyLocations = keyLocations;
        this.kind = kind;
        this.path = path;
        this.location = location;
        this.text = text;
        this.fields = fields;
        this.elements = elements;
    }

    static YamlSpecNode scalar(Kind kind, String path, Location location, String text) {
        return new YamlSpecNode(kind, path, location, text, Map.of(), List.of(), Map.of());
    }

    static YamlSpecNode map(String path, Location location, LinkedHashMap<String, SpecNode> fields, Map<String, Location> keyLocations) {
        return new YamlSpecNode(Kind.MAP, path, location, "", Collections.unmodifiableMap(fields), List.of(), Map.copyOf(keyLocations));
    }

    static YamlSpecNode list(String path, Location location, List<SpecNode> elements) {
        return new YamlSpecNode(Kind.LIST, path, location, "", Map.of(), List.copyOf(elements), Map.of());
    }

    static YamlSpecNode missing(String path, Location location) {
        return new YamlSpecNode(Kind.MISSING, path, location, "", Map.of(), List.of(), Map.of());
    }

    static String child(String parent, String key) {
        return parent.isEmpty() ? key : parent + "." + key;
    }

    @Override public Kind kind() { return kind; }
    @Override public String path() { return path; }
    @Override public Location location() { return location; }
    @Override public List<SpecNode> elements() { return elements; }
    @Override public Map<String, SpecNode> fields() { return fields; }
    @Override public String text() { return text; }

    @Override
    public Location keyLocation(String key) {
        Location at = keyLocations.get(key);
        return at != null ? at : get(key).location();
    }

    @Override
    public SpecNode get(String key) {
        SpecNode found = fields.get(key);
        return found != null ? found : missing(child(path, key), location);
    }

    @Override
    public String toString() {
        return path + "@" + location + "=" + (kind == Kind.MAP ? fields.keySet() : kind == Kind.LIST ? elements : text);
    }
}
