package dev.sandbox.engine.inspect;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.sandbox.api.Stage;
import dev.sandbox.api.Step;
import dev.sandbox.engine.pipeline.ResourcesSection;
import dev.sandbox.engine.runtime.PlanText;
import java.io.IOException;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * {@code inspect}'s {@code resources}: the limits the sandbox's plan applied ({@code prepare cgroup-set} steps), mapped
 * back to the spec's keys (docs/spec.md, "resources"), and the current usage read from the sandbox's cgroup dirs (the
 * plan's {@code prepare cgroup-create} paths). {@code null} when the plan created no cgroup (rootless, no cgroupfs).
 */
final class CgroupResources {

    private static final JsonNodeFactory JSON = JsonNodeFactory.instance;

    private CgroupResources() {}

    /** The {@code resources} node, or empty (JSON null) when the plan has no cgroup; usage only when {@code running}. */
    static Optional<ObjectNode> of(PlanText plan, boolean running) {
        List<Path> dirs = new ArrayList<>();
        for (Step s : plan.steps()) {
            if (s.stage() == Stage.PREPARE && (s.op().equals("cgroup-create") || s.op().equals("cgroup-set"))) {
                s.arg("path").map(Path::of).filter(p -> !dirs.contains(p)).ifPresent(dirs::add);
            }
        }
        if (dirs.isEmpty()) return Optional.empty();
        ObjectNode out = JSON.objectNode();
        out.set("limits", limits(plan));
        if (running) out.set("usage", usage(dirs));
        else out.putNull("usage");
        return Optional.of(out);
    }

    /** One control file write of the plan. */
    private record Write(Path path, String file, String value) {}

    static ObjectNode limits(PlanText plan) {
        Map<String, Write> byFile = new LinkedHashMap<>();
        for (Step s : plan.steps()) {
            if (s.stage() != Stage.PREPARE || !s.op().equals("cgroup-set")) continue;
            Optional<String> path = s.arg("path");
            Optional<String> file = s.arg("file");
            Optional<String> value = s.arg("value");
            if (path.isEmpty() || file.isEmpty() || value.isEmpty()) continue;
            byFile.put(file.get(), new Write(Path.of(path.get()), file.get(), value.get()));
        }
        ObjectNode out = JSON.objectNode();
        // memory: v1 memory.limit_in_bytes, v2 memory.max; bytes either way
        Write memory = byFile.getOrDefault("memory.limit_in_bytes", byFile.get("memory.max"));
        OptionalLong memoryBytes = OptionalLong.empty();
        if (memory != null) {
            memoryBytes = number(memory.value());
            ObjectNode m = limit(out, "memory", memory);
            bytes(m, memoryBytes);
        }
        // memorySwap is memory plus swap (docker's meaning): v1's memsw limit is that; v2's swap.max is the swap alone
        Write memsw = byFile.get("memory.memsw.limit_in_bytes");
        Write swapMax = byFile.get("memory.swap.max");
        if (memsw != null) {
            bytes(limit(out, "memorySwap", memsw), number(memsw.value()));
        } else if (swapMax != null) {
            ObjectNode m = limit(out, "memorySwap", swapMax);
            OptionalLong swap = number(swapMax.value());
            if (swapMax.value().equals("max")) bytes(m, OptionalLong.of(ResourcesSection.UNLIMITED));
            else if (swap.isPresent() && memoryBytes.isPresent()) bytes(m, OptionalLong.of(swap.getAsLong() + memoryBytes.getAsLong()));
            else m.putNull("value");
        }
        Write pids = byFile.get("pids.max");
        if (pids != null) {
            ObjectNode m = limit(out, "pids", pids);
            OptionalLong n = number(pids.value());
            if (pids.value().equals("max")) m.put("value", ResourcesSection.UNLIMITED);
            else if (n.isPresent()) m.put("value", n.getAsLong());
            else m.putNull("value");
        }
        // cpus: quota / period; v1 two files, v2 cpu.max "QUOTA PERIOD"
        Write quota = byFile.get("cpu.cfs_quota_us");
        Write cpuMax = byFile.get("cpu.max");
        if (quota != null) {
            Write period = byFile.get("cpu.cfs_period_us");
            ObjectNode m = limit(out, "cpus", quota);
            if (period != null) ((ObjectNode) m.get("files")).put(period.file(), period.value());
            cpus(m, number(quota.value()), period == null ? OptionalLong.of(ResourcesSection.CPU_PERIOD_US) : number(period.value()));
        } else if (cpuMax != null) {
            ObjectNode m = limit(out, "cpus", cpuMax);
            String[] f = cpuMax.value().trim().split("\\s+");
            cpus(m, number(f[0]), f.length > 1 ? number(f[1]) : OptionalLong.of(ResourcesSection.CPU_PERIOD_US));
        }
        // cpuWeight: v2 cpu.weight as is; v1 cpu.shares = weight × 1024 / 100 (rounded down), so weight = ⌈shares × 100 / 1024⌉
        Write weight = byFile.get("cpu.weight");
        Write shares = byFile.get("cpu.shares");
        if (weight != null) {
            ObjectNode m = limit(out, "cpuWeight", weight);
            OptionalLong w = number(weight.value());
            if (w.isPresent()) m.put("value", w.getAsLong());
            else m.putNull("value");
        } else if (shares != null) {
            ObjectNode m = limit(out, "cpuWeight", shares);
            OptionalLong s = number(shares.value());
            if (s.isPresent()) m.put("value", weightFromShares(s.getAsLong()));
            else m.putNull("value");
        }
        return out;
    }

    /** The inverse of {@link ResourcesSection#sharesFromWeight} for unclamped values: the weight that gives these shares. */
    static long weightFromShares(long shares) {
        return Math.max(1, Math.min(10_000, (shares * 100 + 1023) / 1024));
    }

    private static ObjectNode limit(ObjectNode out, String key, Write set) {
        ObjectNode m = out.putObject(key);
        m.putNull("value");
        if (key.startsWith("memory")) m.putNull("human"); // bytes(): after value, before the files
        m.put("cgroup", set.path().toString());
        m.putObject("files").put(set.file(), set.value());
        return m;
    }

    private static void bytes(ObjectNode m, OptionalLong v) {
        if (v.isEmpty()) return;
        long b = v.getAsLong();
        m.put("value", b);
        m.put("human", b == ResourcesSection.UNLIMITED ? "unlimited" : ResourcesSection.human(b));
    }

    private static void cpus(ObjectNode m, OptionalLong quota, OptionalLong period) {
        if (quota.isEmpty() || period.isEmpty() || period.getAsLong() <= 0) return;
        if (quota.getAsLong() < 0) {
            m.put("value", ResourcesSection.UNLIMITED);
            return;
        }
        m.put("value", BigDecimal.valueOf(quota.getAsLong()).divide(BigDecimal.valueOf(period.getAsLong()), 4, RoundingMode.HALF_UP)
                .stripTrailingZeros());
    }

    private static OptionalLong number(String text) {
        try {
            return OptionalLong.of(Long.parseLong(text.trim()));
        } catch (NumberFormatException e) {
            return OptionalLong.empty();
        }
    }

    /**
     * Usage, each from the first of the sandbox's cgroup dirs that has the file: memory (v2 {@code memory.current},
     * {@code memory.peak}, {@code memory.events}; v1 {@code memory.usage_in_bytes}, {@code memory.max_usage_in_bytes},
     * {@code memory.oom_control}), pids ({@code pids.current}), cpu (cgroup2 {@code cpu.stat} usage_usec, which every
     * cgroup2 cgroup has, controller or not; else v1 {@code cpuacct.usage} in ns; throttling from the {@code cpu.stat} of
     * the dir with the cpu limit). A controller none of the dirs has is missing.
     */
    static ObjectNode usage(List<Path> dirs) {
        ObjectNode out = JSON.objectNode();
        for (Path d : dirs) {
            List<String> current = lines(d.resolve("memory.current"));
            List<String> v1 = current.isEmpty() ? lines(d.resolve("memory.usage_in_bytes")) : List.of();
            if (current.isEmpty() && v1.isEmpty()) continue;
            ObjectNode m = out.putObject("memory");
            m.put("cgroup", d.toString());
            if (!current.isEmpty()) {
                first(current).ifPresent(v -> m.put("current", v));
                first(lines(d.resolve("memory.peak"))).ifPresent(v -> m.put("peak", v));
                keyed(lines(d.resolve("memory.events")), "oom_kill").ifPresent(v -> m.put("oomKills", v));
            } else {
                first(v1).ifPresent(v -> m.put("current", v));
                first(lines(d.resolve("memory.max_usage_in_bytes"))).ifPresent(v -> m.put("peak", v));
                keyed(lines(d.resolve("memory.oom_control")), "oom_kill").ifPresent(v -> m.put("oomKills", v));
            }
            break;
        }
        for (Path d : dirs) {
            OptionalLong current = first(lines(d.resolve("pids.current")));
            if (current.isEmpty()) continue;
            ObjectNode m = out.putObject("pids");
            m.put("cgroup", d.toString());
            m.put("current", current.getAsLong());
            first(lines(d.resolve("pids.peak"))).ifPresent(v -> m.put("peak", v));
            break;
        }
        ObjectNode cpu = null;
        for (Path d : dirs) {
            OptionalLong usec = Files.exists(d.resolve("cgroup.controllers")) ? keyed(lines(d.resolve("cpu.stat")), "usage_usec")
                    : OptionalLong.empty();
            if (usec.isEmpty()) continue;
            cpu = out.putObject("cpu");
            cpu.put("cgroup", d.toString());
            cpu.put("usageUsec", usec.getAsLong());
            break;
        }
        if (cpu == null) {
            for (Path d : dirs) {
                OptionalLong ns = first(lines(d.resolve("cpuacct.usage")));
                if (ns.isEmpty()) continue;
                cpu = out.putObject("cpu");
                cpu.put("cgroup", d.toString());
                cpu.put("usageUsec", ns.getAsLong() / 1000);
                break;
            }
        }
        // throttling: the cpu.stat of the dir whose cpu controller holds the quota (v1 throttled_time in ns, v2 throttled_usec)
        for (Path d : dirs) {
            List<String> stat = lines(d.resolve("cpu.stat"));
            OptionalLong periods = keyed(stat, "nr_periods");
            if (periods.isEmpty()) continue;
            if (cpu == null) {
                cpu = out.putObject("cpu");
                cpu.put("cgroup", d.toString());
            }
            ObjectNode t = cpu.putObject("throttling");
            t.put("cgroup", d.toString());
            t.put("periods", periods.getAsLong());
            keyed(stat, "nr_throttled").ifPresent(v -> t.put("throttledPeriods", v));
            OptionalLong usec = keyed(stat, "throttled_usec");
            if (usec.isPresent()) t.put("throttledUsec", usec.getAsLong());
            else keyed(stat, "throttled_time").ifPresent(v -> t.put("throttledUsec", v / 1000));
            break;
        }
        return out;
    }

    private static OptionalLong first(List<String> lines) {
        return lines.isEmpty() ? OptionalLong.empty() : number(lines.get(0));
    }

    /** The value of a "key N" line of a flat keyed file (cpu.stat, memory.events, memory.oom_control). */
    private static OptionalLong keyed(List<String> lines, String key) {
        for (String line : lines) {
            String[] f = line.trim().split("\\s+");
            if (f.length == 2 && f[0].equals(key)) return number(f[1]);
        }
        return OptionalLong.empty();
    }

    /** A cgroupfs file's lines, read as a stream (cgroupfs, like /proc, reports st_size 0 or 4096, not the length). */
    private static List<String> lines(Path file) {
        try {
            return Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (IOException | RuntimeException e) {
            return List.of();
        }
    }
}
