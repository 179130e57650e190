package dev.sandbox.engine.net;

/**
 * A syscall or a netlink request failed with an errno. Internal: the configurator turns it into a
 * {@link NetworkException} that names the step and the interface.
 */
final class ErrnoException extends Exception {

    private static final long serialVersionUID = 1L;

    private final String operation;
    private final int errno;
    private final String kernelMessage;

    /**
     * @param operation     the syscall or netlink request, e.g. {@code "setns"} or {@code "RTM_NEWLINK"}
     * @param errno         the positive errno value
     * @param kernelMessage the kernel's extended-ack text (NLMSGERR_ATTR_MSG), or null
     */
    ErrnoException(String operation, int errno, String kernelMessage) {
        super(operation + ": " + ErrnoNames.name(errno) + (kernelMessage == null ? "" : " (" + kernelMessage + ")"));
        this.operation = operation;
        this.errno = errno;
        this.kernelMessage = kernelMessage;
    }

    String operation() {
        return operation;
    }

    int errno() {
        return errno;
    }

    String errnoName() {
        return ErrnoNames.name(errno);
    }

    /** The kernel's own explanation (extended ack), or null when it gave none. */
    String kernelMessage() {
        return kernelMessage;
    }
}
