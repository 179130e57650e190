package dev.sandbox.engine.pipeline;

import dev.sandbox.api.Caller;
import dev.sandbox.api.Diagnostic;
import dev.sandbox.api.HostFacts;
import dev.sandbox.api.SpecNode;
import dev.sandbox.api.Stage;
import dev.sandbox.api.Step;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * {@code process.rlimits}: setrlimit(2) for the target, by the names of OCI's {@code process.rlimits}
 * without {@code RLIMIT_}, in lower case. A number sets soft and hard, {@code {soft, hard}} each,
 * {@code unlimited} is RLIM_INFINITY. One {@code setrlimit} step per limit, before the identity
 * steps (see {@link ProcessSection#steps}).
 */
final class Rlimits {

    /** -1 in {@link Limit}: RLIM_INFINITY. */
    static final long UNLIMITED = -1;

    /** The names setrlimit(2) knows, with their unit (docs/spec.md has the same table). */
    static final Map<String, String> UNITS = orderedUnits();

    private static Map<String, String> orderedUnits() {
        Map<String, String> m = new java.util.LinkedHashMap<>();
        m.put("as", "bytes of virtual memory");
        m.put("core", "bytes of a core dump, 0 for none");
        m.put("cpu", "seconds of CPU time: SIGXCPU at the soft limit, SIGKILL at the hard one");
        m.put("data", "bytes of data segment and heap");
        m.put("fsize", "bytes of a file the process writes, SIGXFSZ beyond");
        m.put("locks", "file locks");
        m.put("memlock", "bytes of locked memory");
        m.put("msgqueue", "bytes in POSIX message queues");
        m.put("nice", "nice ceiling as 20 - nice, 0..40");
        m.put("nofile", "open file descriptors, plus one");
        m.put("nproc", "processes and threads of the target's real user id");
        m.put("rss", "no effect since Linux 2.6");
        m.put("rtprio", "real-time priority ceiling, 0..99");
        m.put("rttime", "microseconds of real-time CPU time without a blocking call");
        m.put("sigpending", "queued signals");
        m.put("stack", "bytes of the main thread's stack");
        return java.util.Collections.unmodifiableMap(m);
    }

    /** One limit as the spec gives it; {@link #UNLIMITED} for unlimited. */
    record Limit(String name, long soft, long hard, SpecNode node) {

        String resource() {
            return name.toUpperCase(Locale.ROOT);
        }

        static String text(long v) {
            return v == UNLIMITED ? "unlimited" : Long.toString(v);
        }

        /** soft <= hard, with unlimited above every number. */
        boolean ordered() {
            return hard == UNLIMITED || (soft != UNLIMITED && soft <= hard);
        }
    }

    private Rlimits() {}

    /** The limits the spec sets, in spec order; values the schema refuses are left out (it reports them). */
    static List<Limit> limits(SpecNode process) {
        List<Limit> out = new ArrayList<>();
        for (var e : process.get("rlimits").fields().entrySet()) {
            if (!UNITS.containsKey(e.getKey())) continue;
            SpecNode v = e.getValue();
            Optional<Long> soft = v.kind() == SpecNode.Kind.MAP ? value(v.get("soft")) : value(v);
            Optional<Long> hard = v.kind() == SpecNode.Kind.MAP ? value(v.get("hard")) : soft;
            if (soft.isPresent() && hard.isPresent()) out.add(new Limit(e.getKey(), soft.get(), hard.get(), v));
        }
        return out;
    }

    private static Optional<Long> value(SpecNode v) {
        if (v.kind() == SpecNode.Kind.STRING && v.text().equals("unlimited")) return Optional.of(UNLIMITED);
        BigInteger n = integer(v);
        return n != null && n.signum() >= 0 && n.bitLength() < 64 ? Optional.of(n.longValueExact()) : Optional.empty();
    }

    private static BigInteger integer(SpecNode v) {
        if (v.kind() != SpecNode.Kind.NUMBER) return null;
        try {
            return new java.math.BigDecimal(v.text()).toBigIntegerExact();
        } catch (NumberFormatException | ArithmeticException e) {
            return null;
        }
    }

    /**
     * The kernel's rules (setrlimit(2), kernel/sys.c do_prlimit): soft at most hard; raising a hard limit above
     * the current one needs CAP_SYS_RESOURCE in the <em>initial</em> user namespace — a rootless caller never has
     * it, nor does a child in a user namespace, even one root created, nor root on a host that withholds it
     * ({@link HostFacts#capSysResource()}); nofile at most fs.nr_open.
     */
    static List<Diagnostic> check(SpecNode root, Caller caller, HostFacts host) {
        List<Diagnostic> out = new ArrayList<>();
        SpecNode process = root.get("process");
        SpecNode rlimits = process.get("rlimits");
        for (var e : rlimits.fields().entrySet()) {
            SpecNode v = e.getValue();
            List<SpecNode> numbers = v.kind() == SpecNode.Kind.MAP ? List.of(v.get("soft"), v.get("hard")) : List.of(v);
            for (SpecNode n : numbers) {
                BigInteger i = integer(n);
                if (i != null && i.bitLength() >= 64) {
                    out.add(Diagnostic.error("process.rlimit-out-of-range", e.getKey() + ": " + n.text() + " is beyond what setrlimit(2)"
                            + " takes below RLIM_INFINITY", n.path(), n.location(), "use a smaller number, or 'unlimited'"));
                }
            }
        }
        boolean initialUserNs = !Pipeline.creates(root.get("namespaces"), NamespaceTable.USER)
                && !root.get("namespaces").get(NamespaceTable.USER).isPresent();
        for (Limit l : limits(process)) {
            if (!l.ordered()) {
                out.add(Diagnostic.error("process.rlimit-soft-above-hard", l.name() + ": the soft limit " + Limit.text(l.soft())
                                + " is above the hard limit " + Limit.text(l.hard()) + "; setrlimit(2) would fail with EINVAL",
                        l.node().path(), l.node().location(), "the soft limit is the one in force; the hard limit is its ceiling: soft <= hard"));
                continue;
            }
            OptionalLong nrOpen = host.nrOpen();
            if (l.name().equals("nofile") && nrOpen.isPresent() && (l.hard() == UNLIMITED || l.hard() > nrOpen.getAsLong())) {
                out.add(Diagnostic.error("process.rlimit-nofile-above-nr-open", "nofile: the hard limit " + Limit.text(l.hard())
                                + " is above fs.nr_open (" + nrOpen.getAsLong() + "), the most file descriptors the kernel allows a process;"
                                + " setrlimit(2) would fail with EPERM", l.node().path(), l.node().location(),
                        "use at most " + nrOpen.getAsLong() + " (/proc/sys/fs/nr_open)"));
                continue;
            }
            OptionalLong current = host.hardLimit(l.name());
            boolean raises = current.isPresent() && current.getAsLong() != UNLIMITED
                    && (l.hard() == UNLIMITED || l.hard() > current.getAsLong());
            if (raises && (!caller.isRoot() || !initialUserNs || !host.capSysResource())) {
                String who = !caller.isRoot() ? caller.userName() + " (uid " + caller.uid() + ") has no CAP_SYS_RESOURCE"
                        : !host.capSysResource() ? "this host's root has no CAP_SYS_RESOURCE (it is missing from the bounding set, or"
                                + " sandbox runs in a user namespace itself: a container or VM that withholds it)"
                        : "in a user namespace, even one root creates, the target has no CAP_SYS_RESOURCE in the initial user namespace";
                out.add(Diagnostic.error("process.rlimit-raise-needs-privilege", l.name() + ": the hard limit " + Limit.text(l.hard())
                                + " is above your own (" + current.getAsLong() + "); raising a hard limit needs CAP_SYS_RESOURCE in the"
                                + " initial user namespace, and " + who + ": setrlimit(2) would fail with EPERM",
                        l.node().path(), l.node().location(), "use at most " + current.getAsLong() + " (ulimit -H"
                                + " shows yours)" + (host.capSysResource() ? ", or run sandbox as root without a user namespace" : "")));
            }
            if (l.name().equals("rss")) {
                out.add(Diagnostic.warning("process.rlimit-no-effect", "rss: RLIMIT_RSS has had no effect since Linux 2.6",
                        l.node().path(), l.node().location(), "remove it; to limit memory, use as (virtual memory) or a cgroup"));
            }
        }
        return out;
    }

    /**
     * The steps, one per limit. Why before the identity steps (setgroups/setresgid/setresuid) and the capabilities
     * step: raising a hard limit needs CAP_SYS_RESOURCE, which leaving uid 0 clears from the effective set and the
     * capabilities step drops; and RLIMIT_NPROC is checked against the real uid when setresuid(2) switches to it (the
     * kernel marks the process, and execve(2) then fails with EAGAIN while the uid is over the limit) — so the limit
     * must be in force before that switch, as runc's init does (setupRlimits before finalizeNamespace). Also before
     * a seccomp filter loaded early (without no_new_privs), which a custom profile may make deny prlimit64.
     */
    static List<Step> steps(SpecNode process) {
        List<Step> out = new ArrayList<>();
        for (Limit l : limits(process)) {
            String soft = Limit.text(l.soft()), hard = Limit.text(l.hard());
            String c = l.soft() == UNLIMITED ? "RLIM_INFINITY" : soft, h = l.hard() == UNLIMITED ? "RLIM_INFINITY" : hard;
            out.add(Step.of(Stage.FINISH, "setrlimit").arg("resource", l.resource()).arg("soft", soft).arg("hard", hard)
                    .summary(l.name() + " (" + UNITS.get(l.name()) + "): " + (soft.equals(hard) ? soft : "soft " + soft + ", hard " + hard))
                    .syscall("setrlimit(RLIMIT_" + l.resource() + ", {" + c + ", " + h + "})").build());
        }
        return out;
    }
}
