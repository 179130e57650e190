package dev.sandbox.engine.review;

import dev.sandbox.engine.review.EffectiveSpec.Mount;
import dev.sandbox.engine.review.EffectiveSpec.Namespace;
import dev.sandbox.engine.review.EffectiveSpec.NamespaceMode;
import dev.sandbox.engine.review.EffectiveSpec.Setting;
import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * What a change to a spec does to the sandbox: every setting (defaults applied) that differs, and an
 * isolation report of each difference that weakens the sandbox (docs/git.md lists the rules).
 */
public final class SpecReview {

    public enum ChangeKind { ADDED, REMOVED, CHANGED }

    /** One setting that differs; {@code before} or {@code after} is null when the setting exists on one side only. */
    public record Change(ChangeKind kind, String key, Setting before, Setting after) {}

    /** A change that weakens isolation: a stable code, the setting it is about, and what it means. */
    public record Weakening(String code, String key, String message) {}

    public record Result(List<Change> changes, List<Weakening> weakenings) {
        public boolean weakens() {
            return !weakenings.isEmpty();
        }
    }

    private SpecReview() {}

    public static Result compare(EffectiveSpec before, EffectiveSpec after) {
        return new Result(changes(before.settings(), after.settings()), weakenings(before, after));
    }

    static List<Change> changes(Map<String, Setting> before, Map<String, Setting> after) {
        Set<String> keys = new LinkedHashSet<>(before.keySet());
        keys.addAll(after.keySet());
        List<Change> out = new ArrayList<>();
        for (String k : keys) {
            Setting b = before.get(k);
            Setting a = after.get(k);
            if (b == null) out.add(new Change(ChangeKind.ADDED, k, null, a));
            else if (a == null) out.add(new Change(ChangeKind.REMOVED, k, b, null));
            else if (!a.value().equals(b.value())) out.add(new Change(ChangeKind.CHANGED, k, b, a));
        }
        return out;
    }

    static List<Weakening> weakenings(EffectiveSpec b, EffectiveSpec a) {
        List<Weakening> out = new ArrayList<>();
        namespaces(b, a, out);
        mounts(b, a, out);
        capabilities(b, a, out);
        if (!b.rootIsHostRoot() && a.rootIsHostRoot()) {
            out.add(new Weakening("user.host-root", "namespaces.user",
                    a.namespace("user").mode() == NamespaceMode.NEW
                            ? "uid 0 inside is now mapped to the host's root (uid 0 outside)"
                            : "without a user namespace, a root caller's sandbox runs as the host's root"));
        }
        if (!b.seccomp.equals(a.seccomp) && rank(a.seccomp) <= rank(b.seccomp)) {
            out.add(new Weakening("seccomp.loosened", "process.seccomp", a.seccomp.equals("unconfined")
                    ? "no seccomp filter any more (was " + b.seccomp + "): every syscall, TIOCSTI included, is allowed"
                    : "the seccomp profile is now " + a.seccomp + " instead of " + b.seccomp + ": review what it allows"));
        }
        if (b.noNewPrivileges && !a.noNewPrivileges) {
            out.add(new Weakening("process.no-new-privileges-off", "process.noNewPrivileges",
                    "no_new_privs is off: setuid binaries and file capabilities can grant privileges again"));
        }
        network(b, a, out);
        resources(b, a, out);
        return out;
    }

    private static void namespaces(EffectiveSpec b, EffectiveSpec a, List<Weakening> out) {
        Set<String> types = new LinkedHashSet<>(b.namespaces.keySet());
        types.addAll(a.namespaces.keySet());
        for (String t : types) {
            Namespace was = b.namespace(t);
            Namespace now = a.namespace(t);
            if (was.mode() != NamespaceMode.HOST && now.mode() == NamespaceMode.HOST) {
                out.add(new Weakening("namespace.removed", "namespaces." + t,
                        "the " + t + " namespace is gone: the sandbox shares the caller's (the host's)"));
            } else if (was.mode() == NamespaceMode.NEW && now.mode() == NamespaceMode.JOIN) {
                out.add(new Weakening("namespace.joined", "namespaces." + t,
                        "the " + t + " namespace is no longer the sandbox's own: it joins " + now.joinTarget()));
            }
        }
    }

    private static void mounts(EffectiveSpec b, EffectiveSpec a, List<Weakening> out) {
        if (!a.root.equals(b.root) && a.root.startsWith("bind ")) {
            out.add(new Weakening("mount.bind-added", "namespaces.mount.root", "the new root is the host directory "
                    + a.root.substring(5) + (a.readonlyRoot ? "" : ", writable")));
        }
        if (a.systemPaths.equals("unconfined") && !b.systemPaths.equals("unconfined")
                && a.namespace("mount").mode() == NamespaceMode.NEW && b.namespace("mount").mode() == NamespaceMode.NEW) {
            out.add(new Weakening("mount.system-paths-unconfined", "namespaces.mount.systemPaths", "/proc/sys, /proc/sysrq-trigger "
                    + "and the other system paths are no longer read-only, /proc/kcore, /proc/keys, ... no longer masked: "
                    + "a uid 0 inside that is host root for files can write host-wide sysctls"));
        }
        if (b.readonlyRoot && !a.readonlyRoot) {
            out.add(new Weakening("mount.readonly-removed", "namespaces.mount.readonlyRoot", "the root is no longer read-only"));
        }
        for (Map.Entry<String, Mount> e : a.mounts.entrySet()) {
            Mount now = e.getValue();
            if (!now.hostFacing()) continue;
            Mount was = b.mounts.get(e.getKey());
            if (was == null || !was.type().equals(now.type()) || !was.source().equals(now.source())) {
                out.add(new Weakening("mount.bind-added", e.getKey(), "host path " + (now.type().equals("bind") ? now.source() : "(" + now.describe() + ")")
                        + " is now visible at " + now.target() + (now.readonly() ? " (read-only)" : ", writable")));
            } else if (was.readonly() && !now.readonly()) {
                out.add(new Weakening("mount.bind-writable", e.getKey(), "the host path " + now.source() + " at " + now.target()
                        + " is now writable from inside"));
            }
            if (shared(now.propagation()) && (was == null || !shared(was.propagation()))) {
                out.add(new Weakening("mount.shared", e.getKey(), "propagation " + now.propagation()
                        + ": mounts made inside reach the host and the host's reach the sandbox"));
            }
        }
        for (String m : b.masks) {
            if (!a.masks.contains(m)) {
                out.add(new Weakening("mount.mask-removed", "namespaces.mount.masks[" + m + "]", m + " is no longer masked"));
            }
        }
        for (String p : b.readonlyPaths) {
            if (!a.readonlyPaths.contains(p)) {
                out.add(new Weakening("mount.readonly-path-removed", "namespaces.mount.readonlyPaths[" + p + "]", p + " is no longer read-only"));
            }
        }
    }

    private static boolean shared(String propagation) {
        return propagation.equals("shared") || propagation.equals("rshared");
    }

    private static void capabilities(EffectiveSpec b, EffectiveSpec a, List<Weakening> out) {
        if (b.capsAll) return;
        if (a.capsAll) {
            out.add(new Weakening("process.capabilities-all", "process.capabilities",
                    "capabilities: all — the target keeps every capability; readonly, masks and readonlyPaths no longer hold"));
            return;
        }
        List<String> added = new ArrayList<>(a.capabilities);
        added.removeAll(b.capabilities);
        // the default CAP_NET_RAW comes with a new network namespace: it reaches only that namespace's raw sockets
        if (a.namespace("net").mode() == NamespaceMode.NEW && b.namespace("net").mode() != NamespaceMode.NEW && a.settings.get("process.capabilities").defaulted()) {
            added.remove("CAP_NET_RAW");
        }
        if (!added.isEmpty()) {
            out.add(new Weakening("process.capabilities-added", "process.capabilities", "the target gains " + String.join(", ", added)
                    + (a.uid != b.uid ? " (it now runs as uid " + a.uid + " inside)" : "")));
        }
    }

    /** default (built-in, TIOCSTI denied) > a profile file > unconfined. */
    private static int rank(String seccomp) {
        return switch (seccomp) {
            case "default" -> 2;
            case "unconfined" -> 0;
            default -> 1;
        };
    }

    private static void network(EffectiveSpec b, EffectiveSpec a, List<Weakening> out) {
        for (Map.Entry<String, String> l : a.links.entrySet()) {
            if (!b.links.containsKey(l.getKey())) {
                out.add(new Weakening("net.host-link", "namespaces.net.links[" + l.getKey() + "]",
                        "a new link to the host: " + l.getKey() + " (" + l.getValue() + ")"));
            }
        }
        for (String p : a.ports) {
            if (!b.ports.contains(p)) out.add(new Weakening("net.published-port", "ports[" + p + "]", "a port is published on the host: " + p));
        }
        if ("user".equals(a.netMode) && !"user".equals(b.netMode)) {
            out.add(new Weakening("net.user-mode", "namespaces.net.mode", "user-mode networking: the sandbox reaches the host's network"));
        }
    }

    private static void resources(EffectiveSpec b, EffectiveSpec a, List<Weakening> out) {
        for (Map.Entry<String, String> r : b.resources.entrySet()) {
            String key = r.getKey();
            String now = a.resources.get(key);
            if (now == null) {
                out.add(new Weakening("resources.removed", "resources." + key, "the " + key + " limit (" + r.getValue() + ") is removed"));
                continue;
            }
            if (now.equals(r.getValue())) continue;
            BigDecimal was = limit(r.getValue());
            BigDecimal is = limit(now);
            if (was == null || is == null) {
                out.add(new Weakening("resources.raised", "resources." + key, "the " + key + " limit changes from " + r.getValue() + " to " + now
                        + " (not comparable as numbers: review it)"));
            } else if (is.compareTo(was) > 0) {
                out.add(new Weakening("resources.raised", "resources." + key, "the " + key + " limit is raised from " + r.getValue() + " to " + now));
            }
        }
    }

    /**
     * A limit as a number: 512, 1.5, 64M, 2G (binary suffixes K M G T, an optional trailing B or i/iB);
     * {@code max}, {@code unlimited} and -1 are "no limit"; null when it can't be read (then any change counts).
     */
    static BigDecimal limit(String text) {
        String t = text.strip().toLowerCase(Locale.ROOT);
        if (t.equals("max") || t.equals("unlimited") || t.equals("-1") || t.equals("infinity")) return UNLIMITED;
        if (t.endsWith("ib")) t = t.substring(0, t.length() - 2);
        else if (t.endsWith("b")) t = t.substring(0, t.length() - 1);
        long factor = 1;
        if (!t.isEmpty()) {
            switch (t.charAt(t.length() - 1)) {
                case 'k' -> factor = 1L << 10;
                case 'm' -> factor = 1L << 20;
                case 'g' -> factor = 1L << 30;
                case 't' -> factor = 1L << 40;
                default -> factor = 1;
            }
            if (factor != 1) t = t.substring(0, t.length() - 1);
        }
        try {
            return new BigDecimal(t).multiply(BigDecimal.valueOf(factor));
        } catch (NumberFormatException e) {
            return null;
        }
    }

    private static final BigDecimal UNLIMITED = new BigDecimal("1e30");
}
