package dev.sandbox.api;

import java.util.List;

/**
 * The system paths docker and runc protect in every container by default (moby's
 * {@code oci/defaults.go}: {@code ReadonlyPaths} and {@code MaskedPaths}; runc's {@code runc spec}),
 * relative to a proc or sysfs mount. The mount plugin applies them to every proc and sysfs the target
 * can see unless {@code namespaces.mount.systemPaths} is {@code unconfined}; {@code sandbox export}
 * writes the same lists into an OCI bundle, so both run the target with the same view.
 */
public final class SystemPaths {

    private SystemPaths() {}

    /** Made read-only below a proc mount: host-wide kernel tunables and triggers (e.g. {@code sys/kernel/core_pattern}). */
    public static final List<String> PROC_READONLY = List.of("bus", "fs", "irq", "sys", "sysrq-trigger");
    /** Masked below a proc mount: host-wide information and interfaces (kcore, keys, timers). */
    public static final List<String> PROC_MASKED = List.of("asound", "acpi", "interrupts", "kcore", "keys", "latency_stats",
            "timer_list", "timer_stats", "sched_debug", "scsi");
    /** Masked below a sysfs mount. */
    public static final List<String> SYS_MASKED = List.of("firmware", "devices/virtual/powercap");
}
