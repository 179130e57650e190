package dev.sandbox.engine.spec;

import dev.sandbox.api.Diagnostic;
import dev.sandbox.api.Location;
import dev.sandbox.api.SpecNode;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.yaml.snakeyaml.error.Mark;
import org.yaml.snakeyaml.events.AliasEvent;
import org.yaml.snakeyaml.events.CollectionStartEvent;
import org.yaml.snakeyaml.events.Event;
import org.yaml.snakeyaml.events.MappingStartEvent;
import org.yaml.snakeyaml.events.NodeEvent;
import org.yaml.snakeyaml.events.ScalarEvent;
import org.yaml.snakeyaml.nodes.NodeId;
import org.yaml.snakeyaml.nodes.Tag;
import org.yaml.snakeyaml.parser.Parser;
import org.yaml.snakeyaml.resolver.Resolver;

/**
 * Builds the {@link YamlSpecNode} tree from SnakeYAML's event stream: YAML read as YAML.
 *
 * <p>Why events and not SnakeYAML's own {@code Composer}: the composer hands back the anchored node
 * for an alias and drops the alias's own position, and a diagnostic about an aliased value must point
 * at the alias ("anchored at L:C"). Scanning and parsing (the hard part of YAML) stay SnakeYAML's;
 * this class only assembles the tree, with the rules a spec needs:
 * <ul>
 * <li>an alias is a copy of the anchored value, located at the alias and remembering its anchor;</li>
 * <li>{@code <<} merge keys (YAML 1.1): a map or a list of maps; keys written in the map win, then
 *     earlier maps of the list win over later ones;</li>
 * <li>every duplicate key is a located error (the first definition is kept);</li>
 * <li>what makes the document something else than a tree of plain values ends the read with one
 *     located error (a {@link Stop}), as a syntax error does: a recursive or undefined alias, a key that
 *     is a map or a list, a tag outside the core set, more nesting, aliases or values than the bounds;</li>
 * <li>scalars are typed by YAML 1.1's rules as Jackson typed them before (yes/no are booleans,
 *     {@code 0x1F} a number, {@code 1:20} and dates strings); only the core tags are accepted.</li>
 * </ul>
 */
final class YamlComposer {

    /** The bounds of one read. */
    record Limits(int nestingDepth, int aliases, int nodes) {}

    /** Ends the read with one located error: a bound was hit, or the input is not a spec at all. */
    static final class Stop extends RuntimeException {
        final String code;
        final Location at;
        final String hint;

        Stop(String code, String message, Location at, String hint) {
            super(message, null, false, false);
            this.code = code;
            this.at = at;
            this.hint = hint;
        }

        Diagnostic diagnostic() {
            return Diagnostic.error(code, getMessage(), "", at, hint);
        }
    }

    private static final Resolver RESOLVER = new Resolver();
    private static final String CORE = "tag:yaml.org,2002:";

    /**
     * Local tags that reach the tree (on {@link YamlSpecNode#tag()}) instead of being an error; the
     * composition rules (compose's {@code !reset} and {@code !override}) give them their meaning.
     */
    static final Set<String> LOCAL_TAGS = Set.of(SpecMerge.RESET, SpecMerge.OVERRIDE);

    private final Parser parser;
    private final String display;
    private final Limits limits;
    private final List<Diagnostic> diagnostics;
    private final YamlSpecNode.NodeBudget budget;
    private final Map<String, Anchored> anchors = new HashMap<>();
    private final Interpolation variables;
    private int aliases;
    /** True while a key is read: keys are never substituted. */
    private boolean inKey;

    private static final class Anchored {
        final Location at;
        YamlSpecNode node; // null while it is being read

        Anchored(Location at) {
            this.at = at;
        }
    }

    YamlComposer(Parser parser, String display, Limits limits, List<Diagnostic> diagnostics) {
        this(parser, display, limits, diagnostics, null, new YamlSpecNode.NodeBudget(limits.nodes()));
    }

    /**
     * {@code variables}: substitutes {@code ${VAR}} in scalar values (never in keys); null leaves values as
     * written. {@code budget}: shared by every file of one spec (a spec and its includes), so the whole is bounded.
     */
    YamlComposer(Parser parser, String display, Limits limits, List<Diagnostic> diagnostics, Interpolation variables,
                 YamlSpecNode.NodeBudget budget) {
        this.parser = parser;
        this.display = display;
        this.limits = limits;
        this.diagnostics = diagnostics;
        this.variables = variables;
        this.budget = budget;
    }

    /** The one document's tree; null when the stream holds no document. A second document is an error. */
    YamlSpecNode document() {
        parser.getEvent(); // stream start
        if (parser.checkEvent(Event.ID.StreamEnd)) return null;
        parser.getEvent(); // document start
        YamlSpecNode root = node("", 1);
        parser.getEvent(); // document end
        if (parser.checkEvent(Event.ID.DocumentStart)) {
            parser.getEvent();
            diagnostics.add(Diagnostic.error("spec.multiple-documents", "the file holds more than one YAML document", "",
                    at(parser.peekEvent().getStartMark()), "keep one sandbox per file"));
        }
        return root;
    }

    private YamlSpecNode node(String path, int depth) {
        Event event = parser.getEvent();
        Location at = at(event.getStartMark());
        if (event instanceof AliasEvent alias) return alias(alias, path, at);
        String anchor = ((NodeEvent) event).getAnchor();
        Anchored anchored = null;
        if (anchor != null) {
            anchored = new Anchored(at);
            anchors.put(anchor, anchored);
        }
        YamlSpecNode node;
        if (event instanceof ScalarEvent scalar) {
            budget.take(at);
            node = scalar(scalar, path, at);
        } else {
            if (depth > limits.nestingDepth()) {
                throw new Stop("spec.too-deep", "maps and lists are nested more than " + limits.nestingDepth() + " levels deep", at,
                        "a spec needs only a few levels; look for an unclosed '[' or '{' or a generated file gone wrong");
            }
            budget.take(at);
            String tag = collectionTag((CollectionStartEvent) event, at);
            node = event instanceof MappingStartEvent ? map(path, at, depth, tag) : list(path, at, depth, tag);
        }
        if (anchored != null) anchored.node = node;
        return node;
    }

    private YamlSpecNode alias(AliasEvent alias, String path, Location at) {
        Anchored anchored = anchors.get(alias.getAnchor());
        if (anchored == null) {
            throw new Stop("spec.undefined-alias", "the alias *" + alias.getAnchor() + " names no anchor before it", at,
                    "define the anchor (&" + alias.getAnchor() + ") on a value above this line");
        }
        if (anchored.node == null) {
            throw new Stop("spec.recursive-alias", "the alias *" + alias.getAnchor() + " is inside the value it names (anchored at "
                    + anchored.at.line() + ":" + anchored.at.column() + ")", at,
                    "a spec is a tree: copy the values you need instead of referring to the enclosing one");
        }
        if (anchored.node.kind() == SpecNode.Kind.MAP || anchored.node.kind() == SpecNode.Kind.LIST) {
            if (++aliases > limits.aliases()) {
                throw new Stop("spec.too-many-aliases", "more than " + limits.aliases() + " aliases of maps or lists", at,
                        "a spec needs only a few; write the values out or use fewer aliases");
            }
        }
        return anchored.node.copyTo(path, at, at, budget);
    }

    private YamlSpecNode scalar(ScalarEvent event, String path, Location at) {
        String value = event.getValue();
        if (value.indexOf('\0') >= 0) {
            // an escaped NUL in a double-quoted scalar: every value ends up a C string (a path,
            // an argument, a variable), where NUL cuts it short; up would fail late, in the helper, unlocated, and
            // plugins that make a path of it would crash: end the read here, as a raw NUL byte does
            throw new Stop("spec.control-character", "the value holds a NUL character (an escaped \\0, \\x00 or"
                    + " \\u0000): paths, arguments and variables are C strings, which end at NUL", at, "remove it");
        }
        String tag = event.getTag();
        boolean typed = event.isPlain();
        if (variables != null && !inKey) {
            Interpolation.Result r = variables.apply(value, path, at);
            // a plain value that is exactly one ${...} is typed by YAML's rules after substitution
            // (mtu: ${MTU:-1500} is a number); any other substituted value stays a string
            typed = event.isPlain() && (r.whole() || r.text().equals(value));
            value = r.text();
        }
        if (tag == null) {
            SpecNode.Kind kind = typed ? implicit(value) : SpecNode.Kind.STRING;
            return YamlSpecNode.scalar(kind, path, at, kind == SpecNode.Kind.NULL ? "" : value);
        }
        String shortTag = shortTag(tag);
        SpecNode.Kind kind = switch (tag) {
            case "!", CORE + "str" -> SpecNode.Kind.STRING;
            case CORE + "int" -> checked(value, implicit(value) == SpecNode.Kind.NUMBER && !isFloatOnly(value), "an integer", shortTag, at);
            case CORE + "float" -> checked(value, implicit(value) == SpecNode.Kind.NUMBER, "a number", shortTag, at);
            case CORE + "bool" -> checked(value, implicit(value) == SpecNode.Kind.BOOLEAN, "true or false", shortTag, at);
            case CORE + "null" -> checked(value, implicit(value) == SpecNode.Kind.NULL, "null", shortTag, at);
            default -> {
                if (!LOCAL_TAGS.contains(tag)) unsupported(shortTag, at);
                yield typed ? implicit(value) : SpecNode.Kind.STRING;
            }
        };
        return YamlSpecNode.scalar(kind, path, at, kind == SpecNode.Kind.NULL ? "" : value, shortTag);
    }

    private static SpecNode.Kind checked(String value, boolean ok, String expected, String tag, Location at) {
        if (ok) return implicit(value);
        throw new Stop("spec.bad-tagged-value", "'" + SpecText.shorten(value) + "' is not " + expected + " (tagged " + tag + ")", at,
                "write the value without the tag, or fix it");
    }

    private static boolean isFloatOnly(String value) {
        return RESOLVER.resolve(NodeId.scalar, value, true) == Tag.FLOAT;
    }

    /** A plain scalar's kind by YAML 1.1's implicit rules, with Jackson's exceptions (sexagesimal numbers and dates are strings). */
    static SpecNode.Kind implicit(String value) {
        Tag tag = RESOLVER.resolve(NodeId.scalar, value, true);
        if (tag == Tag.BOOL) return SpecNode.Kind.BOOLEAN;
        if (tag == Tag.NULL) return SpecNode.Kind.NULL;
        if ((tag == Tag.INT || tag == Tag.FLOAT) && value.indexOf(':') < 0) return SpecNode.Kind.NUMBER;
        return SpecNode.Kind.STRING;
    }

    private String collectionTag(CollectionStartEvent event, Location at) {
        String tag = event.getTag();
        if (tag == null || tag.equals("!")) return null;
        String shortTag = shortTag(tag);
        boolean core = event instanceof MappingStartEvent ? tag.equals(CORE + "map") : tag.equals(CORE + "seq");
        if (!core && !LOCAL_TAGS.contains(tag)) unsupported(shortTag, at);
        return shortTag;
    }

    private static void unsupported(String tag, Location at) {
        throw new Stop("spec.unsupported-tag", "the tag " + tag + " is not supported here", at,
                "a spec holds strings, numbers, booleans, null, maps and lists; remove the tag");
    }

    private static String shortTag(String tag) {
        return tag.startsWith(CORE) ? "!!" + tag.substring(CORE.length()) : tag;
    }

    private YamlSpecNode list(String path, Location at, int depth, String tag) {
        List<SpecNode> elements = new ArrayList<>();
        while (!parser.checkEvent(Event.ID.SequenceEnd)) {
            elements.add(node(path + "[" + elements.size() + "]", depth + 1));
        }
        parser.getEvent();
        return YamlSpecNode.list(path, at, elements, tag);
    }

    /** One key of a map: its text, where it is written, whether it is a {@code <<} merge key. */
    private record Key(String text, Location at, boolean merge) {}

    private Key key(String path, int depth) {
        Event event = parser.peekEvent();
        Location at = at(event.getStartMark());
        if (event instanceof ScalarEvent scalar) {
            if (scalar.getAnchor() == null && scalar.getTag() == null && scalar.isPlain() && scalar.getValue().equals("<<")) {
                parser.getEvent();
                return new Key("<<", at, true);
            }
            // the key as written (a key '~' or 'null' is that text, as Jackson read it), after the tag check
            inKey = true;
            try {
                node(YamlSpecNode.child(path, scalar.getValue()), depth + 1);
            } finally {
                inKey = false;
            }
            return new Key(scalar.getValue(), at, false);
        }
        inKey = true;
        YamlSpecNode node;
        try {
            node = node(YamlSpecNode.child(path, "?"), depth + 1);
        } finally {
            inKey = false;
        }
        if (node.kind() == SpecNode.Kind.MAP || node.kind() == SpecNode.Kind.LIST) {
            throw new Stop("spec.complex-key", "a key must be a plain value, not a " + (node.kind() == SpecNode.Kind.MAP ? "map" : "list"), at,
                    "write the key as text");
        }
        return new Key(node.text(), at, false);
    }

    private YamlSpecNode map(String path, Location at, int depth, String tag) {
        LinkedHashMap<String, SpecNode> fields = new LinkedHashMap<>();
        Map<String, Location> keyLocations = new HashMap<>();
        YamlSpecNode merge = null;
        Location mergeAt = null;
        while (!parser.checkEvent(Event.ID.MappingEnd)) {
            Key key = key(path, depth);
            String childPath = YamlSpecNode.child(path, key.merge() ? "<<" : key.text());
            YamlSpecNode value = node(childPath, depth + 1);
            if (key.merge()) {
                if (mergeAt != null) {
                    diagnostics.add(Diagnostic.error("spec.duplicate-key", "duplicate merge key '<<'", childPath, key.at(),
                            "first written at line " + mergeAt.line() + "; merge several maps with one list: <<: [*a, *b]"));
                } else {
                    merge = value;
                    mergeAt = key.at();
                }
            } else if (fields.containsKey(key.text())) {
                diagnostics.add(Diagnostic.error("spec.duplicate-key", "duplicate key '" + key.text() + "'", childPath, key.at(),
                        "first defined at line " + keyLocations.get(key.text()).line() + "; remove one of them"));
            } else {
                fields.put(key.text(), value);
                keyLocations.put(key.text(), key.at());
            }
        }
        parser.getEvent();
        if (merge != null) return merged(path, at, tag, fields, keyLocations, merge);
        return YamlSpecNode.map(path, at, fields, keyLocations, tag);
    }

    /** YAML 1.1 merge: keys written in the map win, then earlier maps of a {@code <<} list over later ones; merged keys come first. */
    private YamlSpecNode merged(String path, Location at, String tag, LinkedHashMap<String, SpecNode> own,
                                Map<String, Location> ownKeys, YamlSpecNode merge) {
        List<YamlSpecNode> sources = new ArrayList<>();
        if (merge.kind() == SpecNode.Kind.MAP) {
            sources.add(merge);
        } else if (merge.kind() == SpecNode.Kind.LIST) {
            for (SpecNode e : merge.elements()) {
                if (e.kind() == SpecNode.Kind.MAP) sources.add((YamlSpecNode) e);
                else badMerge(e);
            }
        } else {
            badMerge(merge);
        }
        LinkedHashMap<String, SpecNode> fields = new LinkedHashMap<>();
        Map<String, Location> keyLocations = new HashMap<>(ownKeys);
        for (YamlSpecNode source : sources) {
            Location via = source.anchoredAt() != null ? source.location() : source.aliasedAt();
            for (Map.Entry<String, SpecNode> e : source.fields().entrySet()) {
                String key = e.getKey();
                if (own.containsKey(key) || fields.containsKey(key)) continue;
                fields.put(key, ((YamlSpecNode) e.getValue()).copyTo(YamlSpecNode.child(path, key), null, via, budget));
                keyLocations.put(key, source.keyLocation(key));
            }
        }
        fields.putAll(own);
        return YamlSpecNode.map(path, at, fields, keyLocations, tag);
    }

    private void badMerge(SpecNode value) {
        diagnostics.add(Diagnostic.error("spec.bad-merge", "a merge key '<<' takes a map or a list of maps, not "
                        + value.kind().name().toLowerCase(java.util.Locale.ROOT), value.path(), value.location(),
                "write <<: *anchor or <<: [*a, *b] where each anchor names a map"));
    }

    private Location at(Mark mark) {
        return new Location(display, mark.getLine() + 1, mark.getColumn() + 1);
    }
}
