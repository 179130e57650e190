package dev.sandbox.engine.net;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * The request/acknowledge exchange of a netlink socket, over two primitive calls a subclass provides. Each
 * request gets its own sequence number; messages with any other number (left over from an earlier request)
 * are skipped. rtnetlink handles a request synchronously inside {@code sendto}, so the answer is queued by
 * the time we read.
 */
abstract class DatagramRouteSocket implements RouteSocket {

    /** Large enough for any single reply we ask for (one link's RTM_NEWLINK is a few KiB). */
    static final int RECEIVE_BUFFER = 64 * 1024;

    private final byte[] receiveBuffer = new byte[RECEIVE_BUFFER];
    private int nextSequence = 1;

    /** Sends one whole datagram to the kernel. */
    protected abstract void send(byte[] datagram) throws ErrnoException;

    /**
     * Receives one datagram into {@code buffer}.
     *
     * @return its full length, which exceeds {@code buffer.length} when it was truncated
     */
    protected abstract int receive(byte[] buffer) throws ErrnoException;

    @Override
    public final List<Rtnetlink.Message> request(ByteBuffer message) throws ErrnoException {
        int sequence = nextSequence++;
        byte[] datagram = new byte[message.remaining()];
        message.duplicate().get(datagram);
        ByteBuffer request = ByteBuffer.wrap(datagram);
        Rtnetlink.setSequence(request, sequence);
        String operation = operationName(Rtnetlink.typeOf(request));
        send(datagram);

        List<Rtnetlink.Message> answers = new ArrayList<>();
        while (true) {
            int length = receive(receiveBuffer);
            if (length > receiveBuffer.length) {
                throw new ErrnoException(operation + " reply", ErrnoNames.EMSGSIZE, null);
            }
            for (Rtnetlink.Message received : Rtnetlink.split(receiveBuffer, length)) {
                if (received.sequence() != sequence) {
                    continue;
                }
                if (received.type() == Rtnetlink.NLMSG_ERROR) {
                    Rtnetlink.Ack ack = Rtnetlink.parseAck(received);
                    if (ack.errno() != 0) {
                        throw new ErrnoException(operation, ack.errno(), ack.kernelMessage());
                    }
                    return answers;
                }
                if (received.type() == Rtnetlink.NLMSG_DONE) {
                    return answers;
                }
                answers.add(copy(received));
            }
        }
    }

    /** The receive buffer is reused, so answers kept past this call get their own bytes. */
    private static Rtnetlink.Message copy(Rtnetlink.Message message) {
        ByteBuffer bytes = message.message();
        byte[] own = new byte[bytes.remaining()];
        bytes.duplicate().get(own);
        return new Rtnetlink.Message(message.type(), message.flags(), message.sequence(),
                ByteBuffer.wrap(own).order(bytes.order()));
    }

    static String operationName(int type) {
        return switch (type) {
            case Rtnetlink.RTM_NEWLINK -> "RTM_NEWLINK";
            case Rtnetlink.RTM_DELLINK -> "RTM_DELLINK";
            case Rtnetlink.RTM_GETLINK -> "RTM_GETLINK";
            case Rtnetlink.RTM_NEWADDR -> "RTM_NEWADDR";
            case Rtnetlink.RTM_NEWROUTE -> "RTM_NEWROUTE";
            default -> "netlink message " + type;
        };
    }
}
