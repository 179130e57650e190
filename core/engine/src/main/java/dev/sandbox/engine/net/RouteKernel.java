package dev.sandbox.engine.net;

/**
 * The few syscalls the configurator needs besides netlink messages: open sockets, pin a network namespace by
 * fd, and run work inside it. {@link JnrRtnetlink} does them for real; tests use a recording fake.
 */
interface RouteKernel {

    /** Work done inside another network namespace, with a route socket opened there. */
    @FunctionalInterface
    interface InsideWork {
        void run(RouteSocket inside) throws NetworkException;
    }

    /** Opens a NETLINK_ROUTE socket in the calling thread's network namespace. */
    RouteSocket openSocket() throws ErrnoException;

    /** Opens {@code /proc/<pid>/ns/net} read-only; the fd pins the namespace even if the process exits. */
    int openNetns(long pid) throws ErrnoException;

    /** Whether {@code netnsFd} is the calling thread's own network namespace (the host's, for us). */
    boolean isCallersNetns(int netnsFd);

    /**
     * Runs {@code work} on a new, short-lived thread that first joins the network namespace {@code netnsFd}
     * with setns(2) and opens its own socket there; the thread exits afterwards and never starts threads.
     * Returns when the work is done.
     *
     * @throws ErrnoException when joining the namespace or opening the socket failed (before any work)
     * @throws NetworkException what {@code work} threw
     */
    void runInNetns(int netnsFd, InsideWork work) throws ErrnoException, NetworkException;

    void closeFd(int fd);
}
