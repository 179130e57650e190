package dev.sandbox.engine.net;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;

import org.junit.jupiter.api.Test;

/** The request/ack exchange over a scripted transport. */
class DatagramRouteSocketTest {

    /** Answers each receive() with the next scripted datagram; records what was sent. */
    private static final class ScriptedSocket extends DatagramRouteSocket {
        final List<byte[]> sent = new ArrayList<>();
        final Deque<byte[]> answers = new ArrayDeque<>();
        Integer truncatedLength;

        ScriptedSocket answer(Rtnetlink.Message... messages) {
            int length = 0;
            for (Rtnetlink.Message message : messages) {
                length += NetlinkWriter.align(message.message().limit());
            }
            ByteBuffer datagram = ByteBuffer.allocate(length);
            for (Rtnetlink.Message message : messages) {
                datagram.put(message.message().duplicate());
                datagram.position(NetlinkWriter.align(datagram.position()));
            }
            answers.add(datagram.array());
            return this;
        }

        @Override
        protected void send(byte[] datagram) {
            sent.add(datagram);
        }

        @Override
        protected int receive(byte[] buffer) {
            if (truncatedLength != null) {
                return truncatedLength;
            }
            byte[] next = answers.removeFirst();
            System.arraycopy(next, 0, buffer, 0, next.length);
            return next.length;
        }

        @Override
        public void close() {
        }
    }

    private static Rtnetlink.Message ack(int sequence) {
        return RtnetlinkTest.errorMessage(sequence, 0, Rtnetlink.setUp(1), false, null);
    }

    private static Rtnetlink.Message withSequence(Rtnetlink.Message message, int sequence) {
        Rtnetlink.setSequence(message.message(), sequence);
        return Rtnetlink.split(message.message().array(), message.message().limit()).get(0);
    }

    @Test
    void numbersRequestsAndReturnsOnTheAck() throws Exception {
        ScriptedSocket socket = new ScriptedSocket().answer(ack(1)).answer(ack(2));
        assertEquals(List.of(), socket.request(Rtnetlink.setUp(1)));
        assertEquals(List.of(), socket.request(Rtnetlink.setUp(1)));
        assertEquals(1, Rtnetlink.sequenceOf(ByteBuffer.wrap(socket.sent.get(0))));
        assertEquals(2, Rtnetlink.sequenceOf(ByteBuffer.wrap(socket.sent.get(1))));
    }

    @Test
    void returnsAnswersBeforeTheAckAndSkipsStaleMessages() throws Exception {
        Rtnetlink.Message reply = withSequence(RecordingRouteKernel.linkReply(5, "sb-web0", "veth"), 1);
        Rtnetlink.Message stale = withSequence(RecordingRouteKernel.linkReply(9, "old", "veth"), 77);
        ScriptedSocket socket = new ScriptedSocket().answer(stale, reply).answer(ack(1));

        List<Rtnetlink.Message> answers = socket.request(Rtnetlink.getLink("sb-web0"));

        assertEquals(1, answers.size());
        assertEquals(5, Rtnetlink.parseLink(answers.get(0)).index());
    }

    @Test
    void errorBecomesErrnoExceptionWithTheKernelsText() {
        ByteBuffer request = Rtnetlink.setUp(3);
        ScriptedSocket socket = new ScriptedSocket()
                .answer(RtnetlinkTest.errorMessage(1, 19, request, false, "Device not found"));

        ErrnoException e = assertThrows(ErrnoException.class, () -> socket.request(request));

        assertEquals("RTM_NEWLINK", e.operation());
        assertEquals("ENODEV", e.errnoName());
        assertEquals("Device not found", e.kernelMessage());
    }

    @Test
    void truncatedDatagramIsAnError() {
        ScriptedSocket socket = new ScriptedSocket();
        socket.truncatedLength = DatagramRouteSocket.RECEIVE_BUFFER + 1;
        ErrnoException e = assertThrows(ErrnoException.class, () -> socket.request(Rtnetlink.getLink("x")));
        assertEquals("EMSGSIZE", e.errnoName());
    }
}
