package dev.sandbox.engine.net;

import java.util.List;

/**
 * Host-side configuration of a sandbox's veth links over rtnetlink.
 *
 * <p>The implementation binds libc through JNR-FFI, which costs 100–150 ms the first time. Nothing in this
 * interface, {@link VethLink} or {@link NetworkException} touches JNR: only {@link #open()} loads it, so call
 * it only when a spec has links. An instance is not thread-safe; use it from one thread.
 */
public interface LinkConfigurator extends AutoCloseable {

    /** Loads JNR and opens a NETLINK_ROUTE socket in the caller's network namespace. */
    static LinkConfigurator open() throws NetworkException {
        return JnrRtnetlink.openConfigurator();
    }

    /**
     * Creates every link with its peer placed directly in the network namespace of process {@code pid}, names
     * both ends, sets MTU and MAC, adds the addresses of both ends, brings both ends up and adds the default
     * route via the gateway inside. The inside end is configured from a short-lived thread that joins the
     * sandbox's network namespace. On any error, every host end created by this call is deleted (which also
     * deletes its peer) before the exception is thrown.
     */
    void setUp(List<VethLink> links, long pid) throws NetworkException;

    /** Deletes a host-side veth if it still exists: idempotent, a missing link is fine. Refuses a non-veth. */
    void deleteHostLink(String hostName) throws NetworkException;

    /** Closes the netlink socket. */
    @Override
    void close();
}
