package dev.sandbox.engine.runtime;

/** Turns the helper's {@code ERROR} message into the one line users see. */
final class HelperError {

    private HelperError() {}

    /** {@code ERROR <code> TAB <step> TAB <syscall> TAB <path> TAB <errno> TAB <hint>} → {@code <step>: <syscall> <path>: <errno> (<hint>)}. */
    static String describe(String line) {
        String body = line.startsWith("ERROR ") ? line.substring(6) : line;
        String[] f = body.split("\t", -1);
        if (f.length < 6) return body;
        for (int i = 0; i < f.length; i++) f[i] = unescape(f[i]);
        String step = f[1].isEmpty() ? "helper" : f[1];
        return HostStepException.format(step, f[2], RawText.display(f[3]), f[4], f[5]); // a path's bytes that aren't UTF-8: \xff
    }

    /** Fields are escaped like plan values: %25 %09 %0A, and %XX for a byte that is not UTF-8 (kept as in {@link RawText}). */
    static String unescape(String field) {
        return PlanCache.unescape(field);
    }
}
