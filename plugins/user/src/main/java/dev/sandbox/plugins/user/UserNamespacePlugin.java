package dev.sandbox.plugins.user;

import dev.sandbox.api.Caller;
import dev.sandbox.api.NamespacePlugin;
import dev.sandbox.api.PlanContext;
import dev.sandbox.api.SectionContext;
import dev.sandbox.api.SpecContext;
import dev.sandbox.api.SpecNode;
import dev.sandbox.api.Stage;
import dev.sandbox.api.Step;
import dev.sandbox.plugins.user.IdMap.Kind;
import dev.sandbox.plugins.user.IdMap.Range;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Optional;
import java.util.stream.Collectors;
import org.pf4j.Extension;

/**
 * {@code namespaces.user}: a new user namespace and its uid/gid maps.
 *
 * <pre>{@code
 * namespaces:
 *   user:
 *     uidMap: [{inside: 0, outside: 1000, count: 1}, {inside: 1, outside: 100000, count: 65536}]
 *     gidMap: [{inside: 0, outside: 1000, count: 1}]
 *     setgroups: deny
 * }</pre>
 *
 * <h2>Keys</h2>
 * <ul>
 *   <li>{@code uidMap}, {@code gidMap} — lists of {@code {inside, outside, count}}: {@code count} ids starting
 *       at {@code inside} in the sandbox are the ids starting at {@code outside} on the host. Omitted: inside
 *       0 is the caller's own uid (gid), count 1 — you are root inside and yourself outside. Ranges may not
 *       overlap (inside with inside, outside with outside), counts are at least 1, and no id may exceed
 *       4294967294 ({@code (uid_t)-1} is reserved).</li>
 *   <li>{@code setgroups} — {@code deny} or {@code allow}: whether {@code setgroups(2)} works inside. Default
 *       {@code deny} when a rootless caller's gid map is written directly (the kernel insists on it then), or
 *       when newgidmap maps the caller's own gid without /etc/subgid (newgidmap then writes deny itself);
 *       {@code allow} otherwise. {@code process.user.groups} needs {@code allow}.</li>
 * </ul>
 *
 * <h2>What happens</h2>
 * The engine creates the namespace: the helper runs {@code unshare(CLONE_NEWUSER)} in stage {@code enter},
 * before anything else, so that it owns every namespace created later. This plugin contributes stage
 * {@code identity} steps, which the monitor performs on the helper's pid before the clone, in this order:
 * <ol>
 *   <li>{@code write-setgroups value=deny} (only when deny) — first, because an unprivileged process may
 *       write gid_map only after setgroups is denied (user_namespaces(7));</li>
 *   <li>{@code write-id-map kind=uid map="inside outside count,..." via=direct|newuidmap};</li>
 *   <li>{@code write-id-map kind=gid ... via=direct|newgidmap}.</li>
 * </ol>
 * Maps are write-once. {@code via=direct} writes {@code /proc/<helper>/uid_map}: used when the caller is
 * root, or when the map is one range of count 1 whose outside is the caller's own id. Otherwise the setuid
 * helpers {@code newuidmap}/{@code newgidmap} (package {@code uidmap}) write it after checking the ranges
 * against /etc/subuid and /etc/subgid, so a rootless caller's ranges must lie there.
 *
 * <h2>Checks</h2>
 * {@code user.zero-count}, {@code user.id-out-of-range}, {@code user.overlapping-ranges},
 * {@code user.not-subordinate} (rootless ranges outside /etc/subuid or /etc/subgid),
 * {@code user.setgroups-allow-unprivileged}, {@code user.uid-not-mapped} and {@code user.gid-not-mapped}
 * ({@code process.user} ids the maps don't cover; uid and gid 0 when {@code process.user} omits them),
 * {@code user.groups-need-setgroups}.
 */
@Extension
public class UserNamespacePlugin implements NamespacePlugin {

    @Override
    public String id() {
        return "user";
    }

    @Override
    public String schemaFragment() {
        return resource("/user.schema.json");
    }

    @Override
    public void validate(SectionContext ctx) {
        Caller caller = ctx.caller();
        IdMap uids = IdMap.read(ctx.section(), Kind.UID, caller, ctx::error);
        IdMap gids = IdMap.read(ctx.section(), Kind.GID, caller, ctx::error);
        for (IdMap map : List.of(uids, gids)) {
            checkOverlaps(ctx, map);
            if (!caller.isRoot()) checkSubordinate(ctx, map, caller);
        }
        checkSetgroups(ctx, gids, caller);
        checkProcessUser(ctx, uids, gids, effectiveSetgroups(ctx, gids));
    }

    /** The kernel rejects a map whose ranges overlap on either side (EINVAL from the write). */
    private static void checkOverlaps(SectionContext ctx, IdMap map) {
        List<Range> ranges = map.ranges;
        for (int j = 1; j < ranges.size(); j++) {
            Range b = ranges.get(j);
            for (String side : List.of("inside", "outside")) {
                for (int i = 0; i < j; i++) {
                    Range a = ranges.get(i);
                    boolean inside = side.equals("inside");
                    long aFirst = inside ? a.inside() : a.outside();
                    long aLast = inside ? a.insideLast() : a.outsideLast();
                    long bFirst = inside ? b.inside() : b.outside();
                    long bLast = inside ? b.insideLast() : b.outsideLast();
                    if (aFirst <= bLast && bFirst <= aLast) {
                        ctx.error(b.node(), "user.overlapping-ranges", map.kind.key + " range " + side + " " + bFirst + "-" + bLast
                                        + " overlaps " + map.kind.key + "[" + i + "] (" + side + " " + aFirst + "-" + aLast
                                        + "); the kernel rejects overlapping ranges",
                                "make the " + side + " ranges disjoint, e.g. start this one at " + (aLast + 1));
                        break;
                    }
                }
            }
        }
    }

    /** newuidmap/newgidmap refuse ranges that /etc/subuid or /etc/subgid don't grant (other than the caller's own id). */
    private static void checkSubordinate(SectionContext ctx, IdMap map, Caller caller) {
        List<long[]> granted = subordinate(ctx, map.kind);
        long own = map.kind.own(caller);
        for (Range r : map.notSubordinate(caller, granted)) {
            String have = IdMap.describe(granted);
            boolean includesOwn = r.outside() <= own && own <= r.outsideLast();
            String message = map.kind.key + " maps outside " + map.kind.id + "s " + r.outside() + "-" + r.outsideLast() + ", but "
                    + caller.userName() + " (" + map.kind.id + " " + own + ") "
                    + (have.isEmpty() ? "has no subordinate " + map.kind.id + "s in " + map.kind.subordinateFile
                            : "may only map " + have + " from " + map.kind.subordinateFile)
                    + (includesOwn ? "; your own " + map.kind.id + " can only be mapped as a range of its own with count 1" : "")
                    + ", so " + map.kind.tool + " refuses the map";
            long first = have.isEmpty() ? 100000 : granted.get(0)[0];
            String hint = "map outside ids from " + map.kind.subordinateFile + (have.isEmpty() ? "" : " (" + have + ")")
                    + ", or ask an administrator to grant some: sudo usermod " + map.kind.usermodOption + " 100000-165535 "
                    + caller.userName() + (includesOwn ? "; put your own " + map.kind.id + " " + own + " in a range of count 1, e.g. {inside: 0, outside: "
                    + own + ", count: 1}, {inside: 1, outside: " + first + ", count: ...}" : "");
            ctx.error(r.outsideNode(), "user.not-subordinate", message, hint);
        }
    }

    private static void checkSetgroups(SectionContext ctx, IdMap gids, Caller caller) {
        SpecNode setgroups = ctx.section().get("setgroups");
        if (!"allow".equals(setgroups.optText().orElse(null)) || caller.isRoot()) return;
        if (gids.direct(caller)) {
            ctx.error(setgroups, "user.setgroups-allow-unprivileged",
                    "setgroups: allow with a gid map of only your own gid " + caller.gid() + ": an unprivileged process may write gid_map only after"
                            + " writing 'deny' to /proc/PID/setgroups, so the kernel would refuse the map (user_namespaces(7))",
                    "use setgroups: deny (the default here), or map gids from /etc/subgid so newgidmap writes the map");
        } else if (gids.ownIdThroughHelper(caller, subordinate(ctx, Kind.GID))) {
            ctx.error(setgroups, "user.setgroups-allow-unprivileged",
                    "setgroups: allow, but gidMap maps your own gid " + caller.gid() + " without /etc/subgid: newgidmap then writes 'deny'"
                            + " to /proc/PID/setgroups itself, so setgroups(2) would fail inside",
                    "use setgroups: deny, or map only gids from /etc/subgid");
        }
    }

    /**
     * The ids the process switches to must be mapped, or setresuid/setresgid/setgroups fail with EINVAL.
     * In a user namespace the engine switches to uid 0 and gid 0 when {@code process.user} omits them.
     */
    private static void checkProcessUser(SectionContext ctx, IdMap uids, IdMap gids, String setgroups) {
        SpecNode user = ctx.spec().get("process").get("user");
        checkMapped(ctx, user.get("uid"), uids, "user.uid-not-mapped", "setresuid");
        checkMapped(ctx, user.get("gid"), gids, "user.gid-not-mapped", "setresgid");
        SpecNode groups = user.get("groups");
        for (SpecNode group : groups.elements()) checkMapped(ctx, group, gids, "user.gid-not-mapped", "setgroups");
        if (!groups.elements().isEmpty() && setgroups.equals("deny")) {
            boolean required = denyRequired(ctx, gids);
            ctx.error(groups, "user.groups-need-setgroups", "process.user.groups needs setgroups(2), which setgroups: deny forbids inside"
                            + " the user namespace",
                    required ? "remove the groups, or map gids from /etc/subgid (newgidmap) and set setgroups: allow"
                            : "remove the groups, or set setgroups: allow under namespaces.user");
        }
    }

    private static void checkMapped(SectionContext ctx, SpecNode idNode, IdMap map, String code, String call) {
        if (!map.complete) return; // a range was already reported as invalid
        long id;
        SpecNode at;
        String what;
        if (idNode.isMissing()) {
            id = 0;
            at = map.node;
            what = "process.user." + map.kind.id + " 0 (the default in a user namespace)";
        } else {
            Optional<Long> value = IdMap.integer(idNode).filter(v -> v.bitLength() < 63).map(v -> v.longValue());
            if (value.isEmpty()) return; // not an integer: the schema reported it
            id = value.get();
            at = idNode;
            what = idNode.path() + " " + id;
        }
        if (map.mapsInside(id)) return;
        String inside = map.ranges.isEmpty() ? "nothing" : map.kind.id + "s " + map.insideText();
        ctx.error(at, code, what + " is not mapped in the user namespace: " + map.kind.key + (map.defaulted ? " (the default)" : "")
                        + " maps inside " + inside + ", so " + call + " would fail with EINVAL",
                "add a " + map.kind.key + " range whose inside covers " + id + ", or use a mapped " + map.kind.id);
    }

    /** deny or allow, with the defaults described in the class comment. */
    static String effectiveSetgroups(SpecContext ctx, IdMap gids) {
        Optional<String> explicit = ctx.section().get("setgroups").optText();
        if (explicit.isPresent()) return explicit.get();
        return denyRequired(ctx, gids) ? "deny" : "allow";
    }

    /**
     * A rootless caller's gid map can't come with setgroups allowed: the kernel refuses a direct gid_map
     * write until setgroups is "deny", and newgidmap writes "deny" itself when it maps the caller's own gid.
     */
    static boolean denyRequired(SpecContext ctx, IdMap gids) {
        Caller caller = ctx.caller();
        return !caller.isRoot() && (gids.direct(caller) || gids.ownIdThroughHelper(caller, subordinate(ctx, Kind.GID)));
    }

    private static List<long[]> subordinate(SpecContext ctx, Kind kind) {
        List<long[]> ranges = kind == Kind.UID ? ctx.host().subuids() : ctx.host().subgids();
        return ranges == null ? List.of() : ranges;
    }

    @Override
    public void contribute(PlanContext ctx) {
        Caller caller = ctx.caller();
        IdMap.Reporter ignore = (at, code, message, hint) -> { };
        IdMap uids = IdMap.read(ctx.section(), Kind.UID, caller, ignore);
        IdMap gids = IdMap.read(ctx.section(), Kind.GID, caller, ignore);
        if (effectiveSetgroups(ctx, gids).equals("deny")) {
            ctx.add(Step.of(Stage.IDENTITY, "write-setgroups").arg("value", "deny")
                    .summary("forbid setgroups(2) in the sandbox's user namespace; it must come before gid_map, because an unprivileged"
                            + " process may write gid_map only once setgroups is denied (user_namespaces(7))")
                    .syscall("write /proc/<helper>/setgroups \"deny\"").build());
        }
        ctx.add(mapStep(uids, caller));
        ctx.add(mapStep(gids, caller));
    }

    private static Step mapStep(IdMap map, Caller caller) {
        boolean direct = map.direct(caller);
        String lines = map.ranges.stream().map(r -> "inside " + r.inside() + (r.count() == 1 ? "" : "-" + r.insideLast()) + " is "
                + r.outside() + (r.count() == 1 ? "" : "-" + r.outsideLast()) + " outside").collect(Collectors.joining(", "));
        String file = "/proc/<helper>/" + map.kind.id + "_map";
        String summary = "map " + map.kind.id + "s: " + lines + (direct
                ? "; the monitor writes " + file + " itself (once: maps are write-once)"
                : "; " + map.kind.tool + " (setuid, package uidmap) writes it after checking the ranges against " + map.kind.subordinateFile);
        String syscall = direct
                ? "write " + file + " \"" + map.ranges.stream().map(Range::line).collect(Collectors.joining("\\n")) + "\""
                : map.kind.tool + " <helper> " + map.ranges.stream().map(Range::line).collect(Collectors.joining(" "))
                        + "  (writes " + file + ")";
        return Step.of(Stage.IDENTITY, "write-id-map").arg("kind", map.kind.id).arg("map", map.planText())
                .arg("via", direct ? "direct" : map.kind.tool).summary(summary).syscall(syscall).build();
    }

    static String resource(String name) {
        try (InputStream in = UserNamespacePlugin.class.getResourceAsStream(name)) {
            if (in == null) throw new IllegalStateException(name + " is missing from the plugin jar");
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
