package dev.sandbox.plugins.user;

import dev.sandbox.api.Caller;
import dev.sandbox.api.SpecNode;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.stream.Collectors;

/**
 * One id map of the section ({@code uidMap} or {@code gidMap}) as ranges, with the rules that decide
 * how it is written: directly to {@code /proc/PID/uid_map}, or through the setuid helper
 * {@code newuidmap}/{@code newgidmap} that checks {@code /etc/subuid}/{@code /etc/subgid}.
 */
final class IdMap {

    /** The largest valid id: {@code (uid_t)-1} = 4294967295 means "no id" to the kernel and can never be mapped. */
    static final long MAX_ID = 4294967294L;

    /** Which map: names, files and tools differ only by u/g. */
    enum Kind {
        UID("uid", "uidMap", "newuidmap", "/etc/subuid", "--add-subuids"),
        GID("gid", "gidMap", "newgidmap", "/etc/subgid", "--add-subgids");

        final String id;
        final String key;
        final String tool;
        final String subordinateFile;
        final String usermodOption;

        Kind(String id, String key, String tool, String subordinateFile, String usermodOption) {
            this.id = id;
            this.key = key;
            this.tool = tool;
            this.subordinateFile = subordinateFile;
            this.usermodOption = usermodOption;
        }

        long own(Caller caller) {
            return this == UID ? caller.uid() : caller.gid();
        }
    }

    /** One line of the map; {@code node} is where it was written (the section itself for the default map). */
    record Range(long inside, long outside, long count, SpecNode node) {
        long insideLast() {
            return inside + count - 1;
        }

        long outsideLast() {
            return outside + count - 1;
        }

        /** Where a problem with the outside ids is shown. */
        SpecNode outsideNode() {
            SpecNode outside = node.get("outside");
            return outside.isPresent() ? outside : node;
        }

        boolean mapsInside(long id) {
            return inside <= id && id <= insideLast();
        }

        /** The line as the kernel reads it: {@code "inside outside count"}. */
        String line() {
            return inside + " " + outside + " " + count;
        }
    }

    /** Where bad ranges are reported; a no-op when compiling an already validated section. */
    interface Reporter {
        void error(SpecNode at, String code, String message, String hint);
    }

    final Kind kind;
    final List<Range> ranges;
    /** True when the spec omitted the map and the default (inside 0 -> the caller's own id) applies. */
    final boolean defaulted;
    /** The {@code uidMap}/{@code gidMap} node, or the section when it is omitted. */
    final SpecNode node;
    /** False when a range was left out as invalid: then "is this id mapped?" has no reliable answer. */
    final boolean complete;

    private IdMap(Kind kind, List<Range> ranges, boolean defaulted, SpecNode node, boolean complete) {
        this.kind = kind;
        this.ranges = List.copyOf(ranges);
        this.defaulted = defaulted;
        this.node = node;
        this.complete = complete;
    }

    /**
     * Reads the map of {@code kind} from the section. Ranges with a zero count or ids beyond
     * {@link #MAX_ID} are reported and left out, so every kept range is safe for long arithmetic.
     */
    static IdMap read(SpecNode section, Kind kind, Caller caller, Reporter report) {
        SpecNode list = section.get(kind.key);
        if (list.isMissing()) {
            return new IdMap(kind, List.of(new Range(0, kind.own(caller), 1, section)), true, section, true);
        }
        List<Range> ranges = new ArrayList<>();
        for (SpecNode element : list.elements()) {
            Optional<BigInteger> inside = integer(element.get("inside"));
            Optional<BigInteger> outside = integer(element.get("outside"));
            Optional<BigInteger> count = integer(element.get("count"));
            if (inside.isEmpty() || outside.isEmpty() || count.isEmpty()) continue; // the schema reported it
            boolean usable = true;
            if (count.get().signum() == 0) {
                report.error(element.get("count"), "user.zero-count", kind.key + " range with count 0 maps no " + kind.id + "s",
                        "give count: 1 or more, or remove the range (the kernel rejects a 0 count with EINVAL)");
                usable = false;
            }
            BigInteger span = count.get().max(BigInteger.ONE).subtract(BigInteger.ONE);
            for (String end : List.of("inside", "outside")) {
                BigInteger start = end.equals("inside") ? inside.get() : outside.get();
                BigInteger last = start.add(span);
                if (last.compareTo(BigInteger.valueOf(MAX_ID)) > 0) {
                    report.error(element.get(end), "user.id-out-of-range", kind.key + " range " + end + " " + start + "-" + last
                                    + " goes beyond the largest " + kind.id + " " + MAX_ID + " (" + kind.id + "s are 32-bit, and "
                                    + (MAX_ID + 1) + " = (" + kind.id + "_t)-1 is reserved as 'no " + kind.id + "')",
                            "lower '" + end + "' or 'count' so that " + end + " + count - 1 <= " + MAX_ID);
                    usable = false;
                }
            }
            if (usable) {
                ranges.add(new Range(inside.get().longValueExact(), outside.get().longValueExact(), count.get().longValueExact(), element));
            }
        }
        return new IdMap(kind, ranges, false, list, ranges.size() == list.elements().size());
    }

    /** An integral YAML number of any size; empty for anything else (the schema reports those). */
    static Optional<BigInteger> integer(SpecNode node) {
        if (node.kind() != SpecNode.Kind.NUMBER) return Optional.empty();
        try {
            return Optional.of(new BigDecimal(node.text()).toBigIntegerExact());
        } catch (NumberFormatException | ArithmeticException e) {
            return Optional.empty();
        }
    }

    /**
     * Written directly by the controller: root may write any map (it has CAP_SETUID/CAP_SETGID in the
     * parent namespace); anyone may write a single line mapping their own id with count 1
     * (user_namespaces(7), "Defining user and group ID mappings"). Everything else needs newuidmap.
     */
    boolean direct(Caller caller) {
        if (caller.isRoot()) return true;
        if (ranges.size() != 1) return false;
        Range only = ranges.get(0);
        return only.count() == 1 && only.outside() == kind.own(caller);
    }

    /**
     * newuidmap/newgidmap's own rule (shadow, verify_range): a range is allowed when the caller's
     * subordinate ranges cover it (adjacent ranges join), or when it is exactly the caller's own id
     * with count 1. Returns the ranges that pass neither test.
     */
    List<Range> notSubordinate(Caller caller, List<long[]> subordinate) {
        long own = kind.own(caller);
        return ranges.stream()
                .filter(r -> !covered(subordinate, r.outside(), r.count()) && !(r.count() == 1 && r.outside() == own))
                .toList();
    }

    /**
     * True when newgidmap maps the caller's own gid by the "own id" rule. It then writes "deny" to
     * setgroups itself (shadow's write_setgroups, the fix for CVE-2018-7169), so setgroups: allow can't
     * take effect.
     */
    boolean ownIdThroughHelper(Caller caller, List<long[]> subordinate) {
        long own = kind.own(caller);
        return ranges.stream().anyMatch(r -> r.count() == 1 && r.outside() == own && !covered(subordinate, own, 1));
    }

    /** Whether [start, start + count) lies in the union of the subordinate ranges ({start, count} pairs). */
    static boolean covered(List<long[]> subordinate, long start, long count) {
        long end = start + count - 1;
        long next = start;
        while (true) {
            long from = next;
            Optional<long[]> holder = subordinate.stream()
                    .filter(s -> s.length == 2 && s[1] > 0 && s[0] <= from && from <= s[0] + s[1] - 1).findFirst();
            if (holder.isEmpty()) return false;
            long last = holder.get()[0] + holder.get()[1] - 1;
            if (last >= end) return true;
            next = last + 1;
        }
    }

    boolean mapsInside(long id) {
        return ranges.stream().anyMatch(r -> r.mapsInside(id));
    }

    /** The plan's form: lines joined by ",". */
    String planText() {
        return ranges.stream().map(Range::line).collect(Collectors.joining(","));
    }

    /** The inside ids for messages, e.g. {@code 0, 1-65536}. */
    String insideText() {
        return ranges.stream().map(r -> r.count() == 1 ? String.valueOf(r.inside()) : r.inside() + "-" + r.insideLast())
                .collect(Collectors.joining(", "));
    }

    /** Subordinate ranges as {@code first-last}, for hints. */
    static String describe(List<long[]> subordinate) {
        return subordinate.stream().filter(s -> s.length == 2 && s[1] > 0).map(s -> s[0] + "-" + (s[0] + s[1] - 1))
                .collect(Collectors.joining(", "));
    }
}
