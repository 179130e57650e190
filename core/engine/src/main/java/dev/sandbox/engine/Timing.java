package dev.sandbox.engine;

/**
 * Start-up marks for the JVM path (docs/performance.md, "Where the JVM's time goes"): with
 * {@code SANDBOX_TIMING=1} each {@link #mark} prints {@code sandbox: timing: WHAT +X ms (Y ms)} to
 * stderr, X since the previous mark, Y since the JVM started. Off, a mark is one static boolean test.
 */
public final class Timing {

    private static final boolean ON = System.getenv("SANDBOX_TIMING") != null;
    private static final long JVM_START_MS = ON ? jvmStart() : 0;
    private static long last = ON ? System.nanoTime() : 0;
    private static final long FIRST = last;
    private static final long FIRST_WALL_MS = ON ? System.currentTimeMillis() : 0;

    private Timing() {}

    public static boolean on() {
        return ON;
    }

    public static void mark(String what) {
        if (!ON) return;
        long now = System.nanoTime();
        long sinceJvm = JVM_START_MS > 0 ? FIRST_WALL_MS - JVM_START_MS + (now - FIRST) / 1_000_000 : -1;
        System.err.printf("sandbox: timing: %-28s +%6.1f ms (%d ms since the JVM started)%n", what, (now - last) / 1e6, sinceJvm);
        last = now;
    }

    /** The process's start from /proc/self/stat would need the boot time and clock ticks; ProcessHandle has it. */
    private static long jvmStart() {
        return ProcessHandle.current().info().startInstant().map(java.time.Instant::toEpochMilli).orElse(0L);
    }
}
