package dev.sandbox.engine.spec;

import dev.sandbox.api.Location;
import dev.sandbox.api.SpecNode;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A {@link SpecNode} built by {@link SpecLoader}: the tree with every node's location.
 *
 * <p>Besides what {@link SpecNode} shows, a node keeps what composition (includes, merges, overrides)
 * needs to say where a value came from:
 * <ul>
 * <li>{@link #tag()}: the explicit YAML tag written on the node ({@code !!str}, {@code !reset}), or null;</li>
 * <li>{@link #anchoredAt()}: for a node that stands for an alias, where its anchor is written (the node
 *     itself is located at the alias);</li>
 * <li>{@link #aliasedAt()}: for a node inside an aliased or merged-in ({@code <<}) collection, the alias
 *     that brought it here (the node itself is located where it is written).</li>
 * </ul>
 * Nodes are immutable; an alias is a re-pathed copy of the anchored tree.
 */
final class YamlSpecNode implements SpecNode {

    private final Kind kind;
    private final String path;
    private final Location location;
    private final String text;
    private final Map<String, SpecNode> fields;
    private final List<SpecNode> elements;
    private final Map<String, Location> keyLocations;
    private final String tag;
    private final Location anchoredAt;
    private final Location aliasedAt;

    private YamlSpecNode(Kind kind, String path, Location location, String text, Map<String, SpecNode> fields,
                         List<SpecNode> elements, Map<String, Location> keyLocations, String tag, Location anchoredAt,
                         Location aliasedAt) {
        this.keyLocations = keyLocations;
        this.kind = kind;
        this.path = path;
        this.location = location;
        this.text = text;
        this.fields = fields;
        this.elements = elements;
        this.tag = tag;
        this.anchoredAt = anchoredAt;
        this.aliasedAt = aliasedAt;
    }

    static YamlSpecNode scalar(Kind kind, String path, Location location, String text) {
        return scalar(kind, path, location, text, null);
    }

    static YamlSpecNode scalar(Kind kind, String path, Location location, String text, String tag) {
        return new YamlSpecNode(kind, path, location, text, Map.of(), List.of(), Map.of(), tag, null, null);
    }

    static YamlSpecNode map(String path, Location location, LinkedHashMap<String, SpecNode> fields, Map<String, Location> keyLocations) {
        return map(path, location, fields, keyLocations, null);
    }

    static YamlSpecNode map(String path, Location location, LinkedHashMap<String, SpecNode> fields, Map<String, Location> keyLocations,
                            String tag) {
        return new YamlSpecNode(Kind.MAP, path, location, "", Collections.unmodifiableMap(fields), List.of(), Map.copyOf(keyLocations),
                tag, null, null);
    }

    static YamlSpecNode list(String path, Location location, List<SpecNode> elements) {
        return list(path, location, elements, null);
    }

    static YamlSpecNode list(String path, Location location, List<SpecNode> elements, String tag) {
        return new YamlSpecNode(Kind.LIST, path, location, "", Map.of(), List.copyOf(elements), Map.of(), tag, null, null);
    }

    /**
     * This node under {@code newPath} with other children (for a map or a list) and tag, keeping where it
     * is written and how it got here: what composition (includes, {@link SpecMerge}) builds.
     */
    YamlSpecNode rebuilt(String newPath, LinkedHashMap<String, SpecNode> newFields, Map<String, Location> newKeyLocations,
                         List<SpecNode> newElements, String newTag) {
        return switch (kind) {
            case MAP -> new YamlSpecNode(kind, newPath, location, text, Collections.unmodifiableMap(newFields), List.of(),
                    Map.copyOf(newKeyLocations), newTag, anchoredAt, aliasedAt);
            case LIST -> new YamlSpecNode(kind, newPath, location, text, Map.of(), List.copyOf(newElements), Map.of(), newTag, anchoredAt,
                    aliasedAt);
            default -> new YamlSpecNode(kind, newPath, location, text, fields, elements, keyLocations, newTag, anchoredAt, aliasedAt);
        };
    }

    static YamlSpecNode missing(String path, Location location) {
        return new YamlSpecNode(Kind.MISSING, path, location, "", Map.of(), List.of(), Map.of(), null, null, null);
    }

    static String child(String parent, String key) {
        return parent.isEmpty() ? key : parent + "." + key;
    }

    /**
     * This tree under another path: what an alias ({@code *x}) or a merge ({@code <<: *x}) puts at
     * {@code newPath}. {@code at} is where the copy's root is said to be (the alias; null keeps the
     * written location), {@code via} the alias every descendant came through. {@code budget} counts
     * the nodes made, so an exponential alias expansion ("billion laughs") stops at a bound.
     */
    YamlSpecNode copyTo(String newPath, Location at, Location via, NodeBudget budget) {
        budget.take(at != null ? at : via);
        Location anchor = at != null ? location : anchoredAt;
        Location where = at != null ? at : location;
        Location through = at != null || via == null ? aliasedAt : via;
        return switch (kind) {
            case MAP -> {
                LinkedHashMap<String, SpecNode> copied = new LinkedHashMap<>();
                for (Map.Entry<String, SpecNode> e : fields.entrySet()) {
                    copied.put(e.getKey(), ((YamlSpecNode) e.getValue()).copyTo(child(newPath, e.getKey()), null, via, budget));
                }
                yield new YamlSpecNode(kind, newPath, where, text, Collections.unmodifiableMap(copied), List.of(), keyLocations, tag,
                        anchor, through);
            }
            case LIST -> {
                List<SpecNode> copied = new java.util.ArrayList<>(elements.size());
                for (SpecNode e : elements) {
                    copied.add(((YamlSpecNode) e).copyTo(newPath + "[" + copied.size() + "]", null, via, budget));
                }
                yield new YamlSpecNode(kind, newPath, where, text, Map.of(), List.copyOf(copied), keyLocations, tag, anchor, through);
            }
            default -> new YamlSpecNode(kind, newPath, where, text, fields, elements, keyLocations, tag, anchor, through);
        };
    }

    /** Counts nodes against a bound, so no YAML input can make the tree grow without limit. */
    static final class NodeBudget {
        private final int limit;
        private int used;

        NodeBudget(int limit) {
            this.limit = limit;
        }

        void take(Location at) {
            if (++used > limit) throw new YamlComposer.Stop("spec.too-many-nodes",
                    "the spec expands to more than " + limit + " values (aliases that repeat aliases grow exponentially)", at,
                    "a spec needs far fewer values; remove the repeated aliases");
        }
    }

    @Override public Kind kind() { return kind; }
    @Override public String path() { return path; }
    @Override public Location location() { return location; }
    @Override public List<SpecNode> elements() { return elements; }
    @Override public Map<String, SpecNode> fields() { return fields; }
    @Override public String text() { return text; }

    /** The explicit tag written on this node, short form ({@code !!str}, {@code !reset}); null when none. */
    String tag() { return tag; }

    /** Where the anchor is written when this node stands for an alias (it is located at the alias); null otherwise. */
    Location anchoredAt() { return anchoredAt; }

    /** The alias (or merge) that brought this node, written elsewhere, to its place; null when it is where it is written. */
    Location aliasedAt() { return aliasedAt; }

    /** Where each key of this map is written. */
    Map<String, Location> keyLocations() { return keyLocations; }

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
