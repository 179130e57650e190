package dev.sandbox.engine.net;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

/** Message encoding and reply parsing, byte for byte where the layout is small enough to read. */
class RtnetlinkTest {

    private static String hex(ByteBuffer message) {
        byte[] bytes = new byte[message.remaining()];
        message.duplicate().get(bytes);
        return HexFormat.of().formatHex(bytes);
    }

    private static void assumeLittleEndian() {
        assumeTrue(ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN, "golden bytes are written for little-endian hosts");
    }

    @Test
    void setUpIsNewlinkWithOnlyIffUpChanged() {
        assumeLittleEndian();
        assertEquals("20000000" + "1000" + "0500" + "00000000" + "00000000"   // nlmsghdr: 32 bytes, RTM_NEWLINK, REQUEST|ACK
                        + "00000000" + "07000000" + "01000000" + "01000000",   // ifinfomsg: index 7, flags IFF_UP, change IFF_UP
                hex(Rtnetlink.setUp(7)));
    }

    @Test
    void deleteLinkIsDellinkByIndex() {
        assumeLittleEndian();
        assertEquals("20000000" + "1100" + "0500" + "00000000" + "00000000"
                        + "00000000" + "09000000" + "00000000" + "00000000",
                hex(Rtnetlink.deleteLink(9)));
    }

    @Test
    void ipv4AddressCarriesLocalAddressAndBroadcast() {
        assumeLittleEndian();
        assertEquals("30000000" + "1400" + "0506" + "00000000" + "00000000"    // 48 bytes, RTM_NEWADDR, REQUEST|ACK|EXCL|CREATE
                        + "02" + "1e" + "00" + "00" + "03000000"                // AF_INET, /30, no flags, universe, index 3
                        + "08000200" + "c6120001"                               // IFA_LOCAL 198.18.0.1
                        + "08000100" + "c6120001"                               // IFA_ADDRESS 198.18.0.1
                        + "08000400" + "c6120003",                              // IFA_BROADCAST 198.18.0.3
                hex(Rtnetlink.addAddress(3, IpPrefix.parse("198.18.0.1/30"))));
    }

    @Test
    void ipv6AddressIsNodadWithoutBroadcast() {
        ByteBuffer message = Rtnetlink.addAddress(4, IpPrefix.parse("fd00:198:18::2/64"));
        assertEquals(10, message.get(16));                 // AF_INET6
        assertEquals(64, message.get(17));
        assertEquals(Rtnetlink.IFA_F_NODAD, message.get(18));
        Map<Integer, ByteBuffer> attributes = Rtnetlink.attributes(message, 24);
        assertEquals(16, attributes.get(Rtnetlink.IFA_LOCAL).remaining());
        assertFalse(attributes.containsKey(Rtnetlink.IFA_BROADCAST));
    }

    @Test
    void slash31AndSlash32HaveNoBroadcast() {
        assertFalse(Rtnetlink.attributes(Rtnetlink.addAddress(1, IpPrefix.parse("198.18.0.0/31")), 24)
                .containsKey(Rtnetlink.IFA_BROADCAST));
        assertFalse(Rtnetlink.attributes(Rtnetlink.addAddress(1, IpPrefix.parse("198.18.0.1/32")), 24)
                .containsKey(Rtnetlink.IFA_BROADCAST));
    }

    @Test
    void defaultRouteIsMainTableUnicastViaGatewayAndDevice() {
        assumeLittleEndian();
        assertEquals("2c000000" + "1800" + "0506" + "00000000" + "00000000"    // 44 bytes, RTM_NEWROUTE
                        + "02" + "00" + "00" + "00" + "fe" + "03" + "00" + "01" // AF_INET, dst/0, main, boot, universe, unicast
                        + "00000000"                                            // rtm_flags
                        + "08000500" + "c6120001"                               // RTA_GATEWAY 198.18.0.1
                        + "08000400" + "05000000",                              // RTA_OIF 5
                hex(Rtnetlink.addDefaultRoute(5, IpPrefix.parseAddress("198.18.0.1"))));
    }

    @Test
    void createVethNestsPeerWithNameNetnsMtuAndMac() {
        byte[] mac = {2, 0, 0, 0, 0, 1};
        ByteBuffer message = Rtnetlink.createVeth("sb-web0", "eth0", 42, 1400, mac);

        assertEquals(message.limit(), message.getInt(0));
        assertEquals(0, message.limit() % 4);
        assertEquals(Rtnetlink.RTM_NEWLINK, Rtnetlink.typeOf(message));
        int flags = Short.toUnsignedInt(message.getShort(6));
        assertEquals(Rtnetlink.NLM_F_REQUEST | Rtnetlink.NLM_F_ACK | Rtnetlink.NLM_F_CREATE | Rtnetlink.NLM_F_EXCL, flags);

        Map<Integer, ByteBuffer> link = Rtnetlink.attributes(message, 32);
        assertEquals("sb-web0", Rtnetlink.string(link.get(Rtnetlink.IFLA_IFNAME)));
        assertEquals(8, link.get(Rtnetlink.IFLA_IFNAME).remaining(), "NUL-terminated");
        assertEquals(1400, link.get(Rtnetlink.IFLA_MTU).getInt(0));

        Map<Integer, ByteBuffer> info = Rtnetlink.attributes(link.get(Rtnetlink.IFLA_LINKINFO), 0);
        assertEquals("veth", Rtnetlink.string(info.get(Rtnetlink.IFLA_INFO_KIND)));
        ByteBuffer peerPayload = Rtnetlink.attributes(info.get(Rtnetlink.IFLA_INFO_DATA), 0).get(Rtnetlink.VETH_INFO_PEER);
        for (int i = 0; i < Rtnetlink.IFINFOMSG_LENGTH; i++) {
            assertEquals(0, peerPayload.get(i), "the peer starts with an empty ifinfomsg");
        }
        Map<Integer, ByteBuffer> peer = RecordingRouteKernel.peerAttributes(link);
        assertEquals("eth0", Rtnetlink.string(peer.get(Rtnetlink.IFLA_IFNAME)));
        assertEquals(42, peer.get(Rtnetlink.IFLA_NET_NS_FD).getInt(0));
        assertEquals(1400, peer.get(Rtnetlink.IFLA_MTU).getInt(0));
        byte[] peerMac = new byte[6];
        peer.get(Rtnetlink.IFLA_ADDRESS).get(peerMac);
        assertEquals(HexFormat.of().formatHex(mac), HexFormat.of().formatHex(peerMac));
    }

    @Test
    void nestedLengthsCoverExactlyTheirContents() {
        assumeLittleEndian();
        ByteBuffer message = Rtnetlink.createVeth("a", "b", 3, null, null);
        // 16 header + 16 ifinfomsg + IFNAME "a\0" (8) + LINKINFO (4 + KIND 12 + DATA (4 + PEER (4 + 16 + 8 + 8)))
        assertEquals("60000000" + "1000" + "0506" + "00000000" + "00000000"   // 96 bytes
                        + "00000000" + "00000000" + "00000000" + "00000000"
                        + "06000300" + "61000000"                               // IFLA_IFNAME "a"
                        + "38001200"                                            // IFLA_LINKINFO, 56
                        + "09000100" + "7665746800000000"                       // IFLA_INFO_KIND "veth"
                        + "28000200"                                            // IFLA_INFO_DATA, 40
                        + "24000100"                                            // VETH_INFO_PEER, 36
                        + "00000000" + "00000000" + "00000000" + "00000000"    //   ifinfomsg
                        + "06000300" + "62000000"                               //   IFLA_IFNAME "b"
                        + "08001c00" + "03000000",                              //   IFLA_NET_NS_FD 3
                hex(message));
    }

    @Test
    void getLinkAsksByName() {
        ByteBuffer message = Rtnetlink.getLink("sb-web0");
        assertEquals(Rtnetlink.RTM_GETLINK, Rtnetlink.typeOf(message));
        assertEquals("sb-web0", Rtnetlink.string(Rtnetlink.attributes(message, 32).get(Rtnetlink.IFLA_IFNAME)));
    }

    @Test
    void splitsADatagramIntoAlignedMessagesAndStopsAtGarbage() {
        ByteBuffer first = Rtnetlink.getLink("abc");   // 16 + 16 + 8
        ByteBuffer second = Rtnetlink.setUp(1);
        Rtnetlink.setSequence(second, 7);
        ByteBuffer datagram = ByteBuffer.allocate(first.limit() + second.limit() + 6);
        datagram.put(first.duplicate()).put(second.duplicate()).put(new byte[] {1, 2, 3, 4, 5, 6});

        List<Rtnetlink.Message> messages = Rtnetlink.split(datagram.array(), datagram.capacity());

        assertEquals(2, messages.size());
        assertEquals(Rtnetlink.RTM_GETLINK, messages.get(0).type());
        assertEquals(Rtnetlink.RTM_NEWLINK, messages.get(1).type());
        assertEquals(7, messages.get(1).sequence());
        assertEquals(32, messages.get(1).message().limit());
    }

    @Test
    void plainAckHasErrnoZero() {
        Rtnetlink.Ack ack = Rtnetlink.parseAck(errorMessage(3, 0, Rtnetlink.setUp(1), false, null));
        assertEquals(3, ack.sequence());
        assertEquals(0, ack.errno());
        assertNull(ack.kernelMessage());
    }

    @Test
    void errorWithExtendedAckAfterTheFullEchoedRequest() {
        ByteBuffer request = Rtnetlink.createVeth("sb-web0", "eth0", 3, 70000, null);
        Rtnetlink.Ack ack = Rtnetlink.parseAck(errorMessage(1, 22, request, false, "MTU larger than device maximum"));
        assertEquals(22, ack.errno());
        assertEquals("MTU larger than device maximum", ack.kernelMessage());
    }

    @Test
    void errorWithExtendedAckAfterACappedEcho() {
        Rtnetlink.Ack ack = Rtnetlink.parseAck(errorMessage(1, 17, Rtnetlink.getLink("x"), true, "File exists"));
        assertEquals(17, ack.errno());
        assertEquals("File exists", ack.kernelMessage());
    }

    @Test
    void parsesIndexNameMtuAndKindOfALink() {
        Rtnetlink.Link link = Rtnetlink.parseLink(RecordingRouteKernel.linkReply(12, "sb-web0", "veth"));
        assertEquals(new Rtnetlink.Link(12, "sb-web0", "veth", 0, 1500), link);
        assertNull(Rtnetlink.parseLink(RecordingRouteKernel.linkReply(1, "lo", null)).kind());
    }

    @Test
    void attributeTypesIgnoreTheNestedFlag() {
        NetlinkWriter writer = new NetlinkWriter(1, 0);
        writer.attributeU32(0x8000 | 5, 99);
        ByteBuffer message = writer.finish();
        assertTrue(Rtnetlink.attributes(message, 16).containsKey(5));
    }

    /**
     * An NLMSG_ERROR as the kernel builds it (netlink_ack): header, -errno, the echoed request (only its
     * header when capped), then NLMSGERR_ATTR_MSG if there is a text.
     */
    static Rtnetlink.Message errorMessage(int sequence, int errno, ByteBuffer request, boolean capped, String text) {
        int echoed = capped ? 16 : request.limit();
        byte[] msg = text == null ? null : (text + "\0").getBytes(StandardCharsets.UTF_8);
        int tlv = msg == null ? 0 : NetlinkWriter.align(4 + msg.length);
        int length = 16 + 4 + NetlinkWriter.align(echoed) + tlv;
        ByteBuffer bytes = ByteBuffer.allocate(length).order(ByteOrder.nativeOrder());
        int flags = (capped ? Rtnetlink.NLM_F_CAPPED : 0) | (msg != null ? Rtnetlink.NLM_F_ACK_TLVS : 0);
        bytes.putInt(length).putShort((short) Rtnetlink.NLMSG_ERROR).putShort((short) flags).putInt(sequence).putInt(0);
        bytes.putInt(-errno);
        ByteBuffer echo = request.duplicate();
        echo.limit(echoed);
        bytes.put(echo);
        if (capped) {
            bytes.putInt(20, 16);
        }
        bytes.position(16 + 4 + NetlinkWriter.align(echoed));
        if (msg != null) {
            bytes.putShort((short) (4 + msg.length)).putShort((short) Rtnetlink.NLMSGERR_ATTR_MSG).put(msg);
        }
        return Rtnetlink.split(bytes.array(), length).get(0);
    }
}
