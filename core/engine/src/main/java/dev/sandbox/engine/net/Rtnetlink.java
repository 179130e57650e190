package dev.sandbox.engine.net;

import java.net.InetAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The rtnetlink requests this package sends and the replies it reads, as plain bytes (no syscalls here).
 * Constants are from {@code linux/netlink.h}, {@code linux/rtnetlink.h}, {@code linux/if_link.h},
 * {@code linux/if_addr.h} and {@code linux/veth.h}.
 */
final class Rtnetlink {

    // nlmsghdr types and flags
    static final int NLMSG_ERROR = 2;
    static final int NLMSG_DONE = 3;
    static final int NLM_F_REQUEST = 0x1;
    static final int NLM_F_MULTI = 0x2;
    static final int NLM_F_ACK = 0x4;
    static final int NLM_F_EXCL = 0x200;
    static final int NLM_F_CREATE = 0x400;
    /** In an NLMSG_ERROR: only the request's header was echoed (NETLINK_CAP_ACK). */
    static final int NLM_F_CAPPED = 0x100;
    /** In an NLMSG_ERROR: extended-ack attributes follow the echoed request. */
    static final int NLM_F_ACK_TLVS = 0x200;
    static final int NLMSGERR_ATTR_MSG = 1;

    static final int RTM_NEWLINK = 16;
    static final int RTM_DELLINK = 17;
    static final int RTM_GETLINK = 18;
    static final int RTM_NEWADDR = 20;
    static final int RTM_NEWROUTE = 24;

    // struct ifinfomsg and its attributes
    static final int IFINFOMSG_LENGTH = 16;
    static final int AF_UNSPEC = 0;
    static final int IFF_UP = 0x1;
    static final int IFLA_ADDRESS = 1;
    static final int IFLA_IFNAME = 3;
    static final int IFLA_MTU = 4;
    static final int IFLA_LINKINFO = 18;
    static final int IFLA_INFO_KIND = 1;
    static final int IFLA_INFO_DATA = 2;
    static final int IFLA_NET_NS_FD = 28;
    static final int VETH_INFO_PEER = 1;

    // struct ifaddrmsg and its attributes
    static final int IFA_ADDRESS = 1;
    static final int IFA_LOCAL = 2;
    static final int IFA_BROADCAST = 4;
    static final int IFA_F_NODAD = 0x02;

    // struct rtmsg and its attributes
    static final int RT_TABLE_MAIN = 254;
    static final int RTPROT_BOOT = 3;
    static final int RT_SCOPE_UNIVERSE = 0;
    static final int RTN_UNICAST = 1;
    static final int RTA_OIF = 4;
    static final int RTA_GATEWAY = 5;

    /** Attribute type bits that are flags (NLA_F_NESTED, NLA_F_NET_BYTEORDER), not part of the type. */
    private static final int NLA_TYPE_MASK = 0x3fff;

    private Rtnetlink() {
    }

    // ---- requests ------------------------------------------------------------------------------------------

    /**
     * RTM_NEWLINK for a veth pair whose peer is created directly in the network namespace {@code peerNetnsFd}
     * refers to, so the sandbox end never appears on the host.
     *
     * <pre>
     * ifinfomsg, IFLA_IFNAME host, [IFLA_MTU]
     * IFLA_LINKINFO { IFLA_INFO_KIND "veth", IFLA_INFO_DATA { VETH_INFO_PEER { ifinfomsg, IFLA_IFNAME peer,
     *                 IFLA_NET_NS_FD fd, [IFLA_MTU], [IFLA_ADDRESS mac] } } }
     * </pre>
     */
    static ByteBuffer createVeth(String hostName, String peerName, int peerNetnsFd, Integer mtu, byte[] peerMac) {
        NetlinkWriter message = new NetlinkWriter(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
        ifinfomsg(message, 0, 0, 0);
        message.attributeString(IFLA_IFNAME, hostName);
        if (mtu != null) {
            message.attributeU32(IFLA_MTU, mtu);
        }
        int linkInfo = message.begin(IFLA_LINKINFO);
        message.attributeString(IFLA_INFO_KIND, "veth");
        int data = message.begin(IFLA_INFO_DATA);
        int peer = message.begin(VETH_INFO_PEER);
        ifinfomsg(message, 0, 0, 0);
        message.attributeString(IFLA_IFNAME, peerName);
        message.attributeU32(IFLA_NET_NS_FD, peerNetnsFd);
        if (mtu != null) {
            message.attributeU32(IFLA_MTU, mtu);
        }
        if (peerMac != null) {
            message.attribute(IFLA_ADDRESS, peerMac);
        }
        message.end(peer).end(data).end(linkInfo);
        return message.finish();
    }

    /** RTM_GETLINK by name; the reply is one RTM_NEWLINK (see {@link #parseLink}). */
    static ByteBuffer getLink(String name) {
        NetlinkWriter message = new NetlinkWriter(RTM_GETLINK, NLM_F_REQUEST | NLM_F_ACK);
        ifinfomsg(message, 0, 0, 0);
        message.attributeString(IFLA_IFNAME, name);
        return message.finish();
    }

    /** RTM_DELLINK by index; deleting one end of a veth deletes its peer too. */
    static ByteBuffer deleteLink(int index) {
        NetlinkWriter message = new NetlinkWriter(RTM_DELLINK, NLM_F_REQUEST | NLM_F_ACK);
        ifinfomsg(message, index, 0, 0);
        return message.finish();
    }

    /** RTM_NEWLINK on an existing index that changes only IFF_UP, as {@code ip link set up} does. */
    static ByteBuffer setUp(int index) {
        NetlinkWriter message = new NetlinkWriter(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK);
        ifinfomsg(message, index, IFF_UP, IFF_UP);
        return message.finish();
    }

    /**
     * RTM_NEWADDR. IPv6 addresses get IFA_F_NODAD so they are usable at once: both ends of a veth are ours,
     * nothing else can hold the address. IPv4 gets the prefix's broadcast address, like {@code brd +}.
     */
    static ByteBuffer addAddress(int index, IpPrefix prefix) {
        NetlinkWriter message = new NetlinkWriter(RTM_NEWADDR, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
        message.u8(prefix.family())
                .u8(prefix.length())
                .u8(prefix.isIpv6() ? IFA_F_NODAD : 0)
                .u8(RT_SCOPE_UNIVERSE)
                .u32(index);
        byte[] address = prefix.address().getAddress();
        message.attribute(IFA_LOCAL, address);
        message.attribute(IFA_ADDRESS, address);
        if (!prefix.isIpv6() && prefix.length() <= 30) {
            message.attribute(IFA_BROADCAST, prefix.broadcast());
        }
        return message.finish();
    }

    /** RTM_NEWROUTE for the default route of the gateway's family in the main table, via {@code index}. */
    static ByteBuffer addDefaultRoute(int index, InetAddress gateway) {
        NetlinkWriter message = new NetlinkWriter(RTM_NEWROUTE, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
        message.u8(IpPrefix.family(gateway))
                .u8(0)              // rtm_dst_len: 0 = default
                .u8(0)              // rtm_src_len
                .u8(0)              // rtm_tos
                .u8(RT_TABLE_MAIN)
                .u8(RTPROT_BOOT)    // what `ip route add` uses
                .u8(RT_SCOPE_UNIVERSE)
                .u8(RTN_UNICAST)
                .u32(0);            // rtm_flags
        message.attribute(RTA_GATEWAY, gateway.getAddress());
        message.attributeU32(RTA_OIF, index);
        return message.finish();
    }

    private static void ifinfomsg(NetlinkWriter message, int index, int flags, int change) {
        message.u8(AF_UNSPEC).u8(0).u16(0).u32(index).u32(flags).u32(change);
    }

    // ---- replies -------------------------------------------------------------------------------------------

    /** One received netlink message; {@code message} spans exactly {@code nlmsg_len} bytes. */
    record Message(int type, int flags, int sequence, ByteBuffer message) {
    }

    /** The answer of an NLMSG_ERROR: errno 0 is a plain acknowledgement. */
    record Ack(int sequence, int errno, String kernelMessage) {
    }

    /** What RTM_NEWLINK tells about a link. {@code kind} is null for links without IFLA_LINKINFO. */
    record Link(int index, String name, String kind, int flags, int mtu) {
    }

    static int sequenceOf(ByteBuffer request) {
        return request.order(ByteOrder.nativeOrder()).getInt(8);
    }

    static void setSequence(ByteBuffer request, int sequence) {
        request.order(ByteOrder.nativeOrder()).putInt(8, sequence);
    }

    static int typeOf(ByteBuffer request) {
        return Short.toUnsignedInt(request.order(ByteOrder.nativeOrder()).getShort(4));
    }

    /** Splits a received datagram (bytes {@code 0..length}) into its messages; stops at a malformed header. */
    static List<Message> split(byte[] datagram, int length) {
        ByteBuffer all = ByteBuffer.wrap(datagram, 0, length).order(ByteOrder.nativeOrder());
        List<Message> messages = new ArrayList<>();
        int offset = 0;
        while (offset + NetlinkWriter.HEADER_LENGTH <= length) {
            int messageLength = all.getInt(offset);
            if (messageLength < NetlinkWriter.HEADER_LENGTH || offset + messageLength > length) {
                break;
            }
            ByteBuffer message = ByteBuffer.wrap(datagram, offset, messageLength).slice().order(ByteOrder.nativeOrder());
            messages.add(new Message(Short.toUnsignedInt(all.getShort(offset + 4)),
                    Short.toUnsignedInt(all.getShort(offset + 6)), all.getInt(offset + 8), message));
            offset += NetlinkWriter.align(messageLength);
        }
        return messages;
    }

    /**
     * Reads an NLMSG_ERROR: {@code int error} (negative errno, 0 for an ack), the echoed request (only its
     * header when NLM_F_CAPPED), then extended-ack attributes when NLM_F_ACK_TLVS is set.
     */
    static Ack parseAck(Message message) {
        ByteBuffer bytes = message.message();
        int errno = -bytes.getInt(NetlinkWriter.HEADER_LENGTH);
        int echoedAt = NetlinkWriter.HEADER_LENGTH + 4;
        String text = null;
        if ((message.flags() & NLM_F_ACK_TLVS) != 0 && echoedAt + NetlinkWriter.HEADER_LENGTH <= bytes.limit()) {
            int echoedLength = (message.flags() & NLM_F_CAPPED) != 0
                    ? NetlinkWriter.HEADER_LENGTH
                    : bytes.getInt(echoedAt);
            int tlvs = echoedAt + NetlinkWriter.align(echoedLength);
            ByteBuffer msg = attributes(bytes, tlvs).get(NLMSGERR_ATTR_MSG);
            if (msg != null) {
                text = string(msg);
            }
        }
        return new Ack(message.sequence(), errno, text == null || text.isBlank() ? null : text.strip());
    }

    /** Reads an RTM_NEWLINK: the ifinfomsg, IFLA_IFNAME, IFLA_MTU and IFLA_LINKINFO/IFLA_INFO_KIND. */
    static Link parseLink(Message message) {
        ByteBuffer bytes = message.message();
        int header = NetlinkWriter.HEADER_LENGTH;
        int index = bytes.getInt(header + 4);
        int flags = bytes.getInt(header + 8);
        Map<Integer, ByteBuffer> attributes = attributes(bytes, header + IFINFOMSG_LENGTH);
        String name = attributes.containsKey(IFLA_IFNAME) ? string(attributes.get(IFLA_IFNAME)) : null;
        int mtu = attributes.containsKey(IFLA_MTU) ? attributes.get(IFLA_MTU).getInt(0) : 0;
        String kind = null;
        ByteBuffer linkInfo = attributes.get(IFLA_LINKINFO);
        if (linkInfo != null) {
            ByteBuffer kindAttribute = attributes(linkInfo, 0).get(IFLA_INFO_KIND);
            if (kindAttribute != null) {
                kind = string(kindAttribute);
            }
        }
        return new Link(index, name, kind, flags, mtu);
    }

    /** The attributes from {@code offset} to the end of {@code bytes}, by type (first occurrence wins). */
    static Map<Integer, ByteBuffer> attributes(ByteBuffer bytes, int offset) {
        Map<Integer, ByteBuffer> attributes = new HashMap<>();
        int end = bytes.limit();
        while (offset + 4 <= end) {
            int length = Short.toUnsignedInt(bytes.getShort(offset));
            int type = Short.toUnsignedInt(bytes.getShort(offset + 2)) & NLA_TYPE_MASK;
            if (length < 4 || offset + length > end) {
                break;
            }
            ByteBuffer payload = bytes.duplicate().position(offset + 4).limit(offset + length).slice()
                    .order(ByteOrder.nativeOrder());
            attributes.putIfAbsent(type, payload);
            offset += NetlinkWriter.align(length);
        }
        return attributes;
    }

    /** A NUL-terminated (or unterminated) string payload. */
    static String string(ByteBuffer payload) {
        byte[] bytes = new byte[payload.remaining()];
        payload.duplicate().get(bytes);
        int length = 0;
        while (length < bytes.length && bytes[length] != 0) {
            length++;
        }
        return new String(bytes, 0, length, StandardCharsets.UTF_8);
    }
}
