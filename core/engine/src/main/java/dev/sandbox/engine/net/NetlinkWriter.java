package dev.sandbox.engine.net;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Writes one netlink message: the {@code nlmsghdr}, a fixed family header written field by field, then
 * {@code rtattr}s, which may nest. Everything is in the host's byte order, as netlink wants it (addresses are
 * raw network-order bytes). See netlink(7) and rtnetlink(7).
 *
 * <pre>
 * nlmsghdr (16)   len u32 | type u16 | flags u16 | seq u32 | pid u32
 * rtattr (4 + n)  len u16 | type u16 | payload, padded to 4; a nested attribute's payload is attributes
 * </pre>
 */
final class NetlinkWriter {

    static final int HEADER_LENGTH = 16;
    static final int ALIGN = 4;

    private ByteBuffer buffer = ByteBuffer.allocate(256).order(ByteOrder.nativeOrder());

    NetlinkWriter(int type, int flags) {
        buffer.putInt(0).putShort((short) type).putShort((short) flags).putInt(0).putInt(0);
    }

    NetlinkWriter u8(int value) {
        room(1).put((byte) value);
        return this;
    }

    NetlinkWriter u16(int value) {
        room(2).putShort((short) value);
        return this;
    }

    NetlinkWriter u32(int value) {
        room(4).putInt(value);
        return this;
    }

    /** Adds an attribute with a raw payload. */
    NetlinkWriter attribute(int type, byte[] payload) {
        int length = 4 + payload.length;
        if (length > 0xffff) {
            throw new IllegalArgumentException("attribute " + type + " is too long: " + length);
        }
        room(align(length)).putShort((short) length).putShort((short) type).put(payload);
        pad();
        return this;
    }

    /** Adds a 32-bit attribute in host byte order. */
    NetlinkWriter attributeU32(int type, int value) {
        return attribute(type, ByteBuffer.allocate(4).order(ByteOrder.nativeOrder()).putInt(value).array());
    }

    /** Adds a NUL-terminated string attribute. */
    NetlinkWriter attributeString(int type, String value) {
        byte[] text = value.getBytes(StandardCharsets.UTF_8);
        return attribute(type, Arrays.copyOf(text, text.length + 1));
    }

    /** Opens a nested attribute; pass the returned mark to {@link #end(int)} after writing its contents. */
    int begin(int type) {
        int mark = buffer.position();
        room(4).putShort((short) 0).putShort((short) type);
        return mark;
    }

    /** Closes the nested attribute opened at {@code mark}: its length covers everything written since. */
    NetlinkWriter end(int mark) {
        int length = buffer.position() - mark;
        if (length > 0xffff) {
            throw new IllegalArgumentException("nested attribute is too long: " + length);
        }
        buffer.putShort(mark, (short) length);
        return this;
    }

    /** The finished message with {@code nlmsg_len} filled in; sequence number and port id stay 0. */
    ByteBuffer finish() {
        pad();
        buffer.putInt(0, buffer.position());
        ByteBuffer message = ByteBuffer.wrap(Arrays.copyOf(buffer.array(), buffer.position()));
        return message.order(ByteOrder.nativeOrder());
    }

    static int align(int length) {
        return (length + ALIGN - 1) & ~(ALIGN - 1);
    }

    private void pad() {
        int padding = align(buffer.position()) - buffer.position();
        room(padding).put(new byte[padding]);
    }

    private ByteBuffer room(int bytes) {
        if (buffer.remaining() < bytes) {
            ByteBuffer bigger = ByteBuffer.allocate(Math.max(buffer.capacity() * 2, buffer.position() + bytes))
                    .order(ByteOrder.nativeOrder());
            buffer.flip();
            bigger.put(buffer);
            buffer = bigger;
        }
        return buffer;
    }
}
