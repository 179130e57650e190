package dev.sandbox.engine.pipeline;

import dev.sandbox.api.Caller;
import dev.sandbox.api.Diagnostic;
import dev.sandbox.api.HostFacts;
import dev.sandbox.api.Location;
import dev.sandbox.api.SpecNode;
import dev.sandbox.api.SandboxCgroup;
import dev.sandbox.api.Stage;
import dev.sandbox.api.Step;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The top-level {@code resources:} section: cgroup limits of the sandbox's own cgroup, by OCI's
 * {@code linux.resources} / docker's names and units.
 *
 * <pre>{@code
 * resources:
 *   memory: 2G          # memory.max (v2) / memory.limit_in_bytes (v1)
 *   memorySwap: 3G      # docker's meaning: memory + swap; -1 or unlimited: no swap limit
 *   pids: 512           # pids.max
 *   cpus: 1.5           # cpu.max "150000 100000" (v2) / cpu.cfs_quota_us + cpu.cfs_period_us (v1)
 *   cpuWeight: 100      # cpu.weight 1-10000 (v2) / cpu.shares (v1), converted
 *   required: true      # a limit that can't be applied is an error, not a warning
 * }</pre>
 *
 * <p>Each controller is taken where the host has it: a v1 hierarchy that carries it (hybrid and v1 hosts),
 * else the cgroup2 hierarchy when its root offers it ({@code cgroup.controllers}). The sandbox's cgroup in that
 * hierarchy is {@code <mount>/sandbox/<name>}, the cgroup plugin's path; the steps are the cgroup plugin's
 * ({@code cgroup-create}, {@code cgroup-place}, {@code cgroup-remove}; the pipeline drops the duplicates when
 * both emit one for the same path) plus one {@code prepare cgroup-set path=P file=F value=V} per control file,
 * after the create and before the helper starts, so the limits hold before the target's first instruction.
 */
public final class ResourcesSection {

    private ResourcesSection() {}

    /** The directory under each hierarchy that holds every sandbox's cgroup (the cgroup plugin's). */
    static final String PARENT = "sandbox";
    /** The CFS period: 100 ms, the kernel's default and what docker and runc use for {@code --cpus}. */
    public static final long CPU_PERIOD_US = 100_000;
    /** Docker's lowest memory limit ("Minimum memory limit allowed is 6MB"): below it, the sandbox's own setup can't run. */
    static final long MIN_MEMORY = 6L << 20;
    /** -1 in {@link Limits#memorySwap()}: no swap limit. */
    public static final long UNLIMITED = -1;

    private static final Pattern BYTES = Pattern.compile("^([0-9]+(?:\\.[0-9]+)?)\\s*([kmgtp]?)(?:i?b)?$", Pattern.CASE_INSENSITIVE);

    /**
     * Docker's memory units (go-units RAMInBytes): a number of bytes, or a number with a binary suffix k, m, g, t, p
     * (case-insensitive, optionally followed by b or ib; {@code 1.5g} is 1.5 × 2^30, rounded down). Empty when the text
     * is not one (the schema reports it) or the value does not fit.
     */
    static OptionalLong parseBytes(String text) {
        Matcher m = BYTES.matcher(text.trim());
        if (!m.matches()) return OptionalLong.empty();
        int shift = switch (m.group(2).toLowerCase(Locale.ROOT)) {
            case "k" -> 10;
            case "m" -> 20;
            case "g" -> 30;
            case "t" -> 40;
            case "p" -> 50;
            default -> 0;
        };
        java.math.BigInteger v = new BigDecimal(m.group(1)).multiply(BigDecimal.valueOf(2).pow(shift)).setScale(0, RoundingMode.DOWN)
                .toBigIntegerExact();
        if (v.bitLength() >= 63) return OptionalLong.empty();
        return OptionalLong.of(v.longValueExact());
    }

    /** Bytes as people write them: the largest binary unit that divides them ({@code 2G}, {@code 64M}, {@code 1536M}), else bytes. */
    public static String human(long bytes) {
        String[] units = {"P", "T", "G", "M", "K"};
        for (int i = 0; i < units.length; i++) {
            long unit = 1L << (50 - 10 * i);
            if (bytes >= unit && bytes % unit == 0) return (bytes / unit) + units[i];
        }
        return Long.toString(bytes);
    }

    /**
     * cgroup v2's {@code cpu.weight} (1-10000, default 100) as v1's {@code cpu.shares} (2-262144, default 1024):
     * {@code shares = weight * 1024 / 100}, clamped. This is systemd's {@code cgroup_cpu_weight_to_shares}
     * (src/core/cgroup.c), the mapping crun adopted in 2025 (containers/crun#1721) and the kernel's own when cpu.weight
     * is written ({@code sched_weight_from_cgroup}: weight × 1024 / 100), so the defaults meet: 100 → 1024. Not runc's
     * older linear map of the whole ranges ({@code weight = 1 + (shares - 2) × 9999 / 262142}), which turns docker's
     * default 1024 shares into weight 39 (opencontainers/runc#4772).
     */
    public static long sharesFromWeight(long weight) {
        return Math.max(2, Math.min(262_144, weight * 1024 / 100));
    }

    /** {@code cpus} as a CFS quota per {@link #CPU_PERIOD_US}: 0.5 → 50000. */
    public static long quotaUs(BigDecimal cpus) {
        return cpus.multiply(BigDecimal.valueOf(CPU_PERIOD_US)).setScale(0, RoundingMode.HALF_UP).longValueExact();
    }

    /** The limits a {@code resources} section asks for; absent = not set. */
    public record Limits(OptionalLong memory, OptionalLong memorySwap, OptionalLong pids, Optional<BigDecimal> cpus, OptionalLong cpuWeight,
                  boolean required) {

        public boolean any() {
            return memory.isPresent() || memorySwap.isPresent() || pids.isPresent() || cpus.isPresent() || cpuWeight.isPresent();
        }

        /** The controllers these limits need, in the order the steps use them. */
        List<String> controllers() {
            List<String> out = new ArrayList<>();
            if (memory.isPresent() || memorySwap.isPresent()) out.add("memory");
            if (pids.isPresent()) out.add("pids");
            if (cpus.isPresent() || cpuWeight.isPresent()) out.add("cpu");
            return out;
        }
    }

    /** The section's limits; values the schema refuses are left out (it reports them). */
    public static Limits limits(SpecNode resources) {
        return new Limits(bytes(resources.get("memory")), swap(resources.get("memorySwap")), integer(resources.get("pids")),
                decimal(resources.get("cpus")), integer(resources.get("cpuWeight")), resources.get("required").bool(false));
    }

    private static OptionalLong bytes(SpecNode v) {
        if (v.kind() == SpecNode.Kind.NUMBER) return integer(v);
        if (v.kind() == SpecNode.Kind.STRING) return parseBytes(v.text());
        return OptionalLong.empty();
    }

    private static OptionalLong swap(SpecNode v) {
        if (v.kind() == SpecNode.Kind.STRING && v.text().equals("unlimited")) return OptionalLong.of(UNLIMITED);
        if (v.kind() == SpecNode.Kind.NUMBER && v.text().equals("-1")) return OptionalLong.of(UNLIMITED);
        return bytes(v);
    }

    private static OptionalLong integer(SpecNode v) {
        if (v.kind() != SpecNode.Kind.NUMBER) return OptionalLong.empty();
        try {
            BigDecimal d = new BigDecimal(v.text());
            if (d.signum() < 0) return OptionalLong.empty();
            return OptionalLong.of(d.toBigIntegerExact().longValueExact());
        } catch (NumberFormatException | ArithmeticException e) {
            return OptionalLong.empty();
        }
    }

    private static Optional<BigDecimal> decimal(SpecNode v) {
        if (v.kind() != SpecNode.Kind.NUMBER) return Optional.empty();
        try {
            BigDecimal d = new BigDecimal(v.text());
            return d.signum() > 0 ? Optional.of(d) : Optional.empty();
        } catch (NumberFormatException e) {
            return Optional.empty();
        }
    }

    /** Where a controller is on this host: its cgroup dir for the sandbox, and whether it is a v1 hierarchy. */
    record Placement(String controller, Path path, boolean v1, Path mount) {}

    /** Each needed controller's placement; a controller the host lacks is missing from the map. */
    static Map<String, Placement> placements(Limits limits, HostFacts host, String name) {
        Map<String, Placement> out = new LinkedHashMap<>();
        for (String c : limits.controllers()) {
            Path v1 = host.cgroupV1Controllers().get(c);
            if (v1 != null) {
                out.put(c, new Placement(c, v1.resolve(PARENT).resolve(name), true, v1));
            } else if (host.cgroup2Mount().isPresent() && host.cgroup2Controllers().contains(c)) {
                Path m = host.cgroup2Mount().get();
                out.put(c, new Placement(c, m.resolve(PARENT).resolve(name), false, m));
            }
        }
        return out;
    }

    /** The located warnings, or errors with {@code required: true}, for limits this host or caller can't apply. */
    static List<Diagnostic> check(SpecNode root, Caller caller, HostFacts host) {
        List<Diagnostic> out = new ArrayList<>();
        SpecNode resources = root.get("resources");
        if (!resources.isPresent()) return out;
        Limits l = limits(resources);
        String name = root.get("name").text("sandbox");
        boolean required = l.required();
        String unapplied = required ? "" : "; the sandbox runs without it";

        // docker's rules for memorySwap: it is memory plus swap, so it needs memory and can't be below it
        if (l.memorySwap().isPresent() && l.memorySwap().getAsLong() != UNLIMITED) {
            SpecNode node = resources.get("memorySwap");
            if (l.memory().isEmpty()) {
                out.add(Diagnostic.error("resources.swap-without-memory", "memorySwap is memory plus swap (docker's meaning), so it needs"
                        + " memory too", node.path(), resources.keyLocation("memorySwap"), "add memory: (e.g. memory: 1G, memorySwap: 2G"
                        + " allows 1G of swap), or use memorySwap: -1 for no swap limit"));
            } else if (l.memorySwap().getAsLong() < l.memory().getAsLong()) {
                out.add(Diagnostic.error("resources.swap-below-memory", "memorySwap " + human(l.memorySwap().getAsLong())
                        + " is below memory " + human(l.memory().getAsLong()) + "; memorySwap is memory plus swap (docker's meaning)",
                        node.path(), resources.keyLocation("memorySwap"), "use memorySwap: " + human(l.memory().getAsLong())
                        + " for no swap at all, or more for some"));
            }
        }
        if (l.memory().isPresent() && l.memory().getAsLong() < MIN_MEMORY) {
            out.add(Diagnostic.error("resources.memory-too-low", "memory " + human(l.memory().getAsLong()) + " is below 6M, too little"
                    + " for the sandbox's own setup to run (docker's minimum too)", resources.get("memory").path(),
                    resources.keyLocation("memory"), "use at least 6M"));
        }
        if (l.cpus().isPresent()) {
            SpecNode node = resources.get("cpus");
            BigDecimal cpus = l.cpus().get();
            if (cpus.compareTo(new BigDecimal("0.01")) < 0) {
                out.add(Diagnostic.error("resources.cpus-too-low", "cpus " + cpus.toPlainString() + " is below 0.01, a CFS quota under"
                        + " 1 ms per 100 ms period, which the kernel refuses", node.path(), resources.keyLocation("cpus"), "use at least 0.01"));
            } else if (host.cpuCount().isPresent() && cpus.compareTo(BigDecimal.valueOf(host.cpuCount().getAsLong())) > 0) {
                out.add(Diagnostic.warning("resources.cpus-above-host", "cpus " + cpus.toPlainString() + " is more than the "
                        + host.cpuCount().getAsLong() + " CPUs this host has: the limit can never bind", node.path(),
                        resources.keyLocation("cpus"), "use at most " + host.cpuCount().getAsLong()));
            }
        }
        if (!l.any()) return out;

        Location at = root.keyLocation("resources");
        if (!caller.isRoot()) {
            out.add(diagnostic(required, "resources.not-delegated", "running as " + caller.userName() + " (uid " + caller.uid()
                            + "), sandbox can't create the cgroup the limits need (that needs root, or a delegated cgroup subtree, which"
                            + " sandbox does not use yet)" + (required ? "" : "; the sandbox runs without the limits"), resources.path(), at,
                    "run as root for cgroup limits, or use process.rlimits (nproc, as) for per-process limits"
                            + (required ? "; or remove required: true to run without them" : "")));
            return out;
        }
        Map<String, Placement> placed = placements(l, host, name);
        for (String c : l.controllers()) {
            if (placed.containsKey(c)) continue;
            List<String> keys = switch (c) {
                case "memory" -> List.of("memory", "memorySwap");
                case "pids" -> List.of("pids");
                default -> List.of("cpus", "cpuWeight");
            };
            String where = host.cgroup2Mount().map(m -> ", and " + m.resolve("cgroup.controllers") + " does not offer it").orElse("");
            for (String key : keys) {
                if (!resources.has(key)) continue;
                out.add(diagnostic(required, "resources.controller-unavailable", key + ": the " + c + " controller is not available on"
                                + " this host (cgroup layout " + host.cgroupLayout().name().toLowerCase(Locale.ROOT) + "): no v1 hierarchy"
                                + " carries it" + where + unapplied, resources.get(key).path(), resources.keyLocation(key),
                        "enable the " + c + " controller (kernel config, cgroup_enable=" + c + " on the kernel command line)"
                                + (required ? ", or remove required: true to run without it" : ", or remove " + key)));
            }
        }
        Placement memory = placed.get("memory");
        if (memory != null && resources.has("memorySwap") && l.memorySwap().isPresent() && !host.swapAccounting()) {
            out.add(diagnostic(required, "resources.swap-unavailable", "memorySwap: this host does not account swap per cgroup ("
                            + (memory.v1() ? memory.mount().resolve("memory.memsw.limit_in_bytes") + " is missing" : "no memory.swap.max")
                            + ")" + unapplied, resources.get("memorySwap").path(), resources.keyLocation("memorySwap"),
                    "boot with swapaccount=1 (CONFIG_MEMCG_SWAP), or remove memorySwap"
                            + (required ? " or required: true" : "")));
        }
        return out;
    }

    private static Diagnostic diagnostic(boolean error, String code, String message, String path, Location at, String hint) {
        return error ? Diagnostic.error(code, message, path, at, hint) : Diagnostic.warning(code, message, path, at, hint);
    }

    /** One control file write. */
    record Setting(Placement where, String file, String value, String summary) {}

    /** The control file writes, per controller, in the order the kernel accepts them (see each case). */
    static List<Setting> settings(Limits l, Map<String, Placement> placed, HostFacts host) {
        List<Setting> out = new ArrayList<>();
        Placement mem = placed.get("memory");
        if (mem != null) {
            long memory = l.memory().orElse(UNLIMITED);
            // docker's default when only memory is given: as much swap as memory (memorySwap = 2 × memory)
            long total = l.memorySwap().isPresent() ? l.memorySwap().getAsLong() : memory == UNLIMITED ? UNLIMITED : 2 * memory;
            boolean swap = host.swapAccounting() && (l.memorySwap().isPresent() || memory != UNLIMITED);
            if (mem.v1()) {
                // Why memory first: the kernel refuses a memsw limit below the memory limit (EINVAL), and a memory
                // limit above the memsw limit; both start unlimited, so memory then memsw always works.
                if (memory != UNLIMITED) {
                    out.add(new Setting(mem, "memory.limit_in_bytes", Long.toString(memory), "memory limit " + human(memory)
                            + ": beyond it the kernel reclaims, then the OOM killer kills in the sandbox"));
                }
                if (swap) {
                    out.add(new Setting(mem, "memory.memsw.limit_in_bytes", Long.toString(total), total == UNLIMITED
                            ? "no limit on memory plus swap" : "memory plus swap limit " + human(total)));
                }
            } else {
                if (memory != UNLIMITED) {
                    out.add(new Setting(mem, "memory.max", Long.toString(memory), "memory limit " + human(memory)
                            + ": beyond it the kernel reclaims, then the OOM killer kills in the sandbox"));
                }
                if (swap) {
                    // v2 limits swap alone: memory.swap.max = memorySwap - memory
                    String v = total == UNLIMITED || memory == UNLIMITED ? "max" : Long.toString(total - memory);
                    out.add(new Setting(mem, "memory.swap.max", v, v.equals("max") ? "no swap limit"
                            : "swap limit " + human(total - memory) + " (memorySwap " + human(total) + " minus memory)"));
                }
            }
        }
        Placement pids = placed.get("pids");
        if (pids != null && l.pids().isPresent()) {
            out.add(new Setting(pids, "pids.max", Long.toString(l.pids().getAsLong()), "at most " + l.pids().getAsLong()
                    + " processes and threads in the sandbox: fork(2) and clone(2) fail with EAGAIN beyond"));
        }
        Placement cpu = placed.get("cpu");
        if (cpu != null && l.cpus().isPresent()) {
            long quota = quotaUs(l.cpus().get());
            String what = l.cpus().get().stripTrailingZeros().toPlainString() + " CPU: " + quota + " us of CPU time per " + CPU_PERIOD_US + " us";
            if (cpu.v1()) {
                // period first: the quota is checked against it
                out.add(new Setting(cpu, "cpu.cfs_period_us", Long.toString(CPU_PERIOD_US), "CFS period " + CPU_PERIOD_US + " us"));
                out.add(new Setting(cpu, "cpu.cfs_quota_us", Long.toString(quota), what));
            } else {
                out.add(new Setting(cpu, "cpu.max", quota + " " + CPU_PERIOD_US, what));
            }
        }
        if (cpu != null && l.cpuWeight().isPresent()) {
            long w = l.cpuWeight().getAsLong();
            if (cpu.v1()) {
                long shares = sharesFromWeight(w);
                out.add(new Setting(cpu, "cpu.shares", Long.toString(shares), "CPU weight " + w + " as v1 shares " + shares
                        + " (weight × 1024 / 100)"));
            } else {
                out.add(new Setting(cpu, "cpu.weight", Long.toString(w), "CPU weight " + w + " (default 100)"));
            }
        }
        return out;
    }

    /**
     * The steps: for each cgroup dir the limits need, {@code cgroup-create} (prepare), on v2 the controllers enabled in
     * the parents' {@code cgroup.subtree_control}, one {@code cgroup-set} per control file, {@code cgroup-place}
     * (identity: the helper goes in before it clones, so everything the sandbox runs is charged) and
     * {@code cgroup-remove} (supervise, in reverse). None for a rootless caller (warned in {@link #check}).
     */
    static List<Step> steps(SpecNode root, Caller caller, HostFacts host) {
        SpecNode resources = root.get("resources");
        if (!resources.isPresent() || !caller.isRoot()) return List.of();
        Limits l = limits(resources);
        if (!l.any()) return List.of();
        Map<String, Placement> placed = placements(l, host, root.get("name").text("sandbox"));
        List<Path> paths = placed.values().stream().map(Placement::path).distinct().toList();
        // the cgroups' create, place and remove steps as every sandbox cgroup has them; the pipeline orders steps by
        // stage (stably), so the cgroup-set steps below follow the creates within stage prepare
        List<Step> out = new ArrayList<>(SandboxCgroup.steps(paths));
        List<String> v2 = placed.values().stream().filter(p -> !p.v1()).map(Placement::controller).toList();
        if (!v2.isEmpty()) {
            Path mount = host.cgroup2Mount().orElseThrow();
            String enable = String.join(" ", v2.stream().map(c -> "+" + c).toList());
            // Why both levels: a controller's files appear in a v2 cgroup only when its parent enables it in
            // cgroup.subtree_control, and a parent can only enable what its own parent enabled (cgroup-v2.rst,
            // "Enabling and Disabling"). The root is exempt from the no-internal-process rule; sandbox/ holds no process.
            for (Path parent : List.of(mount, mount.resolve(PARENT))) {
                out.add(Step.of(Stage.PREPARE, "cgroup-set").arg("path", parent).arg("file", "cgroup.subtree_control").arg("value", enable)
                        .summary("enable " + String.join(", ", v2) + " for the cgroups below " + parent)
                        .syscall("write " + parent.resolve("cgroup.subtree_control") + " \"" + enable + "\"").build());
            }
        }
        for (Setting s : settings(l, placed, host)) {
            out.add(Step.of(Stage.PREPARE, "cgroup-set").arg("path", s.where().path()).arg("file", s.file()).arg("value", s.value())
                    .summary(s.summary()).syscall("write " + s.where().path().resolve(s.file()) + " \"" + s.value() + "\"").build());
        }
        return out;
    }
}
