package dev.sandbox.engine.net;

/**
 * A host-side network step failed. The message is a complete line for the user:
 * {@code "<step> <ifname>: <ERRNO> (<hint>)"}, e.g.
 * {@code create veth sb-web0: EEXIST (an interface with that name already exists on the host)}.
 */
public final class NetworkException extends Exception {

    private static final long serialVersionUID = 1L;

    private final String step;
    private final String interfaceName;
    private final String errnoName;
    private final String hint;

    /**
     * @param step          what was being done, e.g. {@code "create veth"}
     * @param interfaceName the interface (or other subject) it was done to
     * @param errnoName     the errno's symbolic name, e.g. {@code "EEXIST"}
     * @param hint          the likely cause and how to fix it, or null when unknown
     */
    public NetworkException(String step, String interfaceName, String errnoName, String hint) {
        super(format(step, interfaceName, errnoName, hint));
        this.step = step;
        this.interfaceName = interfaceName;
        this.errnoName = errnoName;
        this.hint = hint;
    }

    /** What was being done, e.g. {@code "create veth"} or {@code "add address"}. */
    public String step() {
        return step;
    }

    /** The interface the step was done to (host or sandbox end), or another subject such as {@code "pid 42"}. */
    public String interfaceName() {
        return interfaceName;
    }

    /** The errno's symbolic name, e.g. {@code "EEXIST"}; {@code "errno 200"} for numbers without a name. */
    public String errnoName() {
        return errnoName;
    }

    /** The likely cause and fix, or null when unknown. */
    public String hint() {
        return hint;
    }

    private static String format(String step, String interfaceName, String errnoName, String hint) {
        StringBuilder line = new StringBuilder(step);
        if (interfaceName != null && !interfaceName.isEmpty()) {
            line.append(' ').append(interfaceName);
        }
        line.append(": ").append(errnoName);
        if (hint != null && !hint.isEmpty()) {
            line.append(" (").append(hint).append(')');
        }
        return line.toString();
    }
}
