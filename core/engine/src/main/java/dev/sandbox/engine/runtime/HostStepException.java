package dev.sandbox.engine.runtime;

/**
 * A host-side step failed. The message is the one line users see:
 * {@code <step>: <syscall> <path>: <ERRNO> (<hint>)}.
 */
public final class HostStepException extends Exception {

    private final String step;
    private final String syscall;
    private final String path;
    private final String errno;
    private final String hint;

    public HostStepException(String step, String syscall, String path, String errno, String hint) {
        super(format(step, syscall, path, errno, hint));
        this.step = step;
        this.syscall = syscall;
        this.path = path;
        this.errno = errno;
        this.hint = hint;
    }

    static String format(String step, String syscall, String path, String errno, String hint) {
        String call = String.join(" ", java.util.stream.Stream.of(syscall, path).filter(s -> s != null && !s.isEmpty()).toList());
        StringBuilder out = new StringBuilder(step).append(": ");
        if (call.isEmpty() && (errno == null || errno.isEmpty())) return out.append(hint == null ? "failed" : hint).toString();
        out.append(call);
        if (errno != null && !errno.isEmpty()) out.append(call.isEmpty() ? "" : ": ").append(errno);
        if (hint != null && !hint.isEmpty()) out.append(" (").append(hint).append(')');
        return out.toString();
    }

    public String step() { return step; }
    public String syscall() { return syscall; }
    public String path() { return path; }
    public String errno() { return errno; }
    public String hint() { return hint; }
}
