package dev.sandbox.engine.net;

import java.nio.ByteBuffer;
import java.util.List;

/** A NETLINK_ROUTE socket in one network namespace, used one request at a time. */
interface RouteSocket extends AutoCloseable {

    /**
     * Sends one request (built by {@link Rtnetlink}, with NLM_F_ACK) and waits for its acknowledgement.
     *
     * @return the messages the kernel answered before the acknowledgement (e.g. the RTM_NEWLINK of a
     *         RTM_GETLINK); empty for requests that only change something
     * @throws ErrnoException when the kernel answered with an error, or the socket call itself failed
     */
    List<Rtnetlink.Message> request(ByteBuffer message) throws ErrnoException;

    @Override
    void close();
}
