package dev.sandbox.engine.net;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A {@link RouteKernel} fake that decodes every request into a readable line, keeps a small table of links
 * per namespace (enough for create/find/delete to behave like the kernel), and fails requests on demand.
 *
 * <p>Lines look like {@code "host NEWLINK veth sb0 peer eth0 mtu 1400 mac 02:00:00:00:00:01"},
 * {@code "sandbox NEWADDR eth0 198.18.0.2/30"}, {@code "host DELLINK sb0"}.
 */
final class RecordingRouteKernel implements RouteKernel {

    static final int NETNS_FD = 42;

    /** A link in the fake's tables. */
    private record FakeLink(int index, String kind) {
    }

    final List<String> log = new ArrayList<>();
    final List<Integer> closedFds = new ArrayList<>();
    final Map<String, FakeLink> hostLinks = new LinkedHashMap<>();
    final Map<String, FakeLink> sandboxLinks = new LinkedHashMap<>();
    private final Map<String, Integer> failures = new LinkedHashMap<>();
    private final Map<String, String> kernelMessages = new LinkedHashMap<>();
    boolean netnsIsCallers;
    Integer openNetnsErrno;
    Integer setnsErrno;
    Thread insideThread;
    private int nextIndex = 2;

    /** Makes the first request whose line starts with {@code linePrefix} fail with {@code errno}. */
    RecordingRouteKernel failOn(String linePrefix, int errno) {
        failures.put(linePrefix, errno);
        return this;
    }

    RecordingRouteKernel failOn(String linePrefix, int errno, String kernelMessage) {
        kernelMessages.put(linePrefix, kernelMessage);
        return failOn(linePrefix, errno);
    }

    /** Puts a pre-existing link into the host table (e.g. a name collision). */
    RecordingRouteKernel hostHas(String name, String kind) {
        hostLinks.put(name, new FakeLink(nextIndex++, kind));
        return this;
    }

    RecordingRouteKernel sandboxHas(String name, String kind) {
        sandboxLinks.put(name, new FakeLink(nextIndex++, kind));
        return this;
    }

    /** The log without the GETLINK lookups, which are bookkeeping rather than steps. */
    List<String> steps() {
        return log.stream().filter(line -> !line.contains(" GETLINK ")).toList();
    }

    @Override
    public RouteSocket openSocket() {
        return new FakeSocket("host", hostLinks);
    }

    @Override
    public int openNetns(long pid) throws ErrnoException {
        log.add("open netns of " + pid);
        if (openNetnsErrno != null) {
            throw new ErrnoException("open", openNetnsErrno, null);
        }
        return NETNS_FD;
    }

    @Override
    public boolean isCallersNetns(int netnsFd) {
        return netnsIsCallers;
    }

    @Override
    public void runInNetns(int netnsFd, InsideWork work) throws ErrnoException, NetworkException {
        log.add("setns " + netnsFd);
        if (setnsErrno != null) {
            throw new ErrnoException("setns", setnsErrno, null);
        }
        NetworkException[] thrown = new NetworkException[1];
        insideThread = new Thread(() -> {
            try (RouteSocket inside = new FakeSocket("sandbox", sandboxLinks)) {
                work.run(inside);
            } catch (NetworkException e) {
                thrown[0] = e;
            }
        });
        insideThread.start();
        try {
            insideThread.join();
        } catch (InterruptedException e) {
            throw new AssertionError(e);
        }
        if (thrown[0] != null) {
            throw thrown[0];
        }
    }

    @Override
    public void closeFd(int fd) {
        closedFds.add(fd);
    }

    /** One side's socket: decodes, logs, applies to the side's table, answers. */
    private final class FakeSocket implements RouteSocket {

        private final String side;
        private final Map<String, FakeLink> links;

        FakeSocket(String side, Map<String, FakeLink> links) {
            this.side = side;
            this.links = links;
        }

        @Override
        public List<Rtnetlink.Message> request(ByteBuffer message) throws ErrnoException {
            String line = side + " " + describe(message);
            synchronized (log) {
                log.add(line);
            }
            for (Map.Entry<String, Integer> failure : failures.entrySet()) {
                if (line.startsWith(failure.getKey())) {
                    failures.remove(failure.getKey());
                    throw new ErrnoException("fake", failure.getValue(), kernelMessages.get(failure.getKey()));
                }
            }
            return apply(message);
        }

        private List<Rtnetlink.Message> apply(ByteBuffer message) throws ErrnoException {
            int type = Rtnetlink.typeOf(message);
            Map<Integer, ByteBuffer> attributes = Rtnetlink.attributes(message, 32);
            switch (type) {
                case Rtnetlink.RTM_NEWLINK -> {
                    if (attributes.containsKey(Rtnetlink.IFLA_LINKINFO)) {
                        String name = Rtnetlink.string(attributes.get(Rtnetlink.IFLA_IFNAME));
                        String peer = peerName(attributes);
                        if (links.containsKey(name) || sandboxLinks.containsKey(peer)) {
                            throw new ErrnoException("fake", ErrnoNames.EEXIST, null);
                        }
                        links.put(name, new FakeLink(nextIndex++, "veth"));
                        sandboxLinks.put(peer, new FakeLink(nextIndex++, "veth"));
                    } else if (nameOf(message.getInt(20)) == null) {
                        throw new ErrnoException("fake", ErrnoNames.ENODEV, null);
                    }
                    return List.of();
                }
                case Rtnetlink.RTM_GETLINK -> {
                    String name = Rtnetlink.string(attributes.get(Rtnetlink.IFLA_IFNAME));
                    FakeLink link = links.get(name);
                    if (link == null) {
                        throw new ErrnoException("fake", ErrnoNames.ENODEV, null);
                    }
                    return List.of(linkReply(link.index(), name, link.kind()));
                }
                case Rtnetlink.RTM_DELLINK -> {
                    String name = nameOf(message.getInt(20));
                    if (name == null) {
                        throw new ErrnoException("fake", ErrnoNames.ENODEV, null);
                    }
                    links.remove(name);
                    if (side.equals("host")) {
                        sandboxLinks.clear(); // good enough: the tests use one sandbox
                    }
                    return List.of();
                }
                default -> {
                    return List.of();
                }
            }
        }

        private String nameOf(int index) {
            return links.entrySet().stream().filter(e -> e.getValue().index() == index)
                    .map(Map.Entry::getKey).findFirst().orElse(null);
        }

        private String describe(ByteBuffer message) {
            int type = Rtnetlink.typeOf(message);
            return switch (type) {
                case Rtnetlink.RTM_NEWLINK -> describeNewLink(message);
                case Rtnetlink.RTM_GETLINK -> "GETLINK "
                        + Rtnetlink.string(Rtnetlink.attributes(message, 32).get(Rtnetlink.IFLA_IFNAME));
                case Rtnetlink.RTM_DELLINK -> "DELLINK " + nameOf(message.getInt(20));
                case Rtnetlink.RTM_NEWADDR -> {
                    int length = Byte.toUnsignedInt(message.get(17));
                    String name = nameOf(message.getInt(20));
                    ByteBuffer local = Rtnetlink.attributes(message, 24).get(Rtnetlink.IFA_LOCAL);
                    yield "NEWADDR " + name + " " + address(local) + "/" + length
                            + ((message.get(18) & Rtnetlink.IFA_F_NODAD) != 0 ? " nodad" : "");
                }
                case Rtnetlink.RTM_NEWROUTE -> {
                    Map<Integer, ByteBuffer> attributes = Rtnetlink.attributes(message, 28);
                    yield "NEWROUTE default via " + address(attributes.get(Rtnetlink.RTA_GATEWAY))
                            + " dev " + nameOf(attributes.get(Rtnetlink.RTA_OIF).getInt(0));
                }
                default -> "type " + type;
            };
        }

        private String describeNewLink(ByteBuffer message) {
            Map<Integer, ByteBuffer> attributes = Rtnetlink.attributes(message, 32);
            if (!attributes.containsKey(Rtnetlink.IFLA_LINKINFO)) {
                return "UP " + nameOf(message.getInt(20));
            }
            StringBuilder line = new StringBuilder("NEWLINK veth ")
                    .append(Rtnetlink.string(attributes.get(Rtnetlink.IFLA_IFNAME)))
                    .append(" peer ").append(peerName(attributes));
            Map<Integer, ByteBuffer> peer = peerAttributes(attributes);
            line.append(" netns ").append(peer.get(Rtnetlink.IFLA_NET_NS_FD).getInt(0));
            if (peer.containsKey(Rtnetlink.IFLA_MTU)) {
                line.append(" mtu ").append(peer.get(Rtnetlink.IFLA_MTU).getInt(0));
            }
            if (peer.containsKey(Rtnetlink.IFLA_ADDRESS)) {
                ByteBuffer mac = peer.get(Rtnetlink.IFLA_ADDRESS);
                StringBuilder text = new StringBuilder();
                for (int i = 0; i < mac.remaining(); i++) {
                    text.append(i == 0 ? "" : ":").append(String.format("%02x", mac.get(i)));
                }
                line.append(" mac ").append(text);
            }
            return line.toString();
        }

        @Override
        public void close() {
        }
    }

    static Map<Integer, ByteBuffer> peerAttributes(Map<Integer, ByteBuffer> linkAttributes) {
        ByteBuffer linkInfo = linkAttributes.get(Rtnetlink.IFLA_LINKINFO);
        ByteBuffer data = Rtnetlink.attributes(linkInfo, 0).get(Rtnetlink.IFLA_INFO_DATA);
        ByteBuffer peer = Rtnetlink.attributes(data, 0).get(Rtnetlink.VETH_INFO_PEER);
        return Rtnetlink.attributes(peer, Rtnetlink.IFINFOMSG_LENGTH);
    }

    private static String peerName(Map<Integer, ByteBuffer> linkAttributes) {
        return Rtnetlink.string(peerAttributes(linkAttributes).get(Rtnetlink.IFLA_IFNAME));
    }

    private static String address(ByteBuffer bytes) {
        byte[] raw = new byte[bytes.remaining()];
        bytes.duplicate().get(raw);
        try {
            return InetAddress.getByAddress(raw).getHostAddress();
        } catch (UnknownHostException e) {
            throw new AssertionError(e);
        }
    }

    /** An RTM_NEWLINK answer as the kernel would send it for RTM_GETLINK. */
    static Rtnetlink.Message linkReply(int index, String name, String kind) {
        NetlinkWriter reply = new NetlinkWriter(Rtnetlink.RTM_NEWLINK, 0);
        reply.u8(0).u8(0).u16(1).u32(index).u32(0).u32(0);
        reply.attributeString(Rtnetlink.IFLA_IFNAME, name);
        reply.attributeU32(Rtnetlink.IFLA_MTU, 1500);
        if (kind != null) {
            int info = reply.begin(Rtnetlink.IFLA_LINKINFO);
            reply.attributeString(Rtnetlink.IFLA_INFO_KIND, kind);
            reply.end(info);
        }
        ByteBuffer bytes = reply.finish();
        return Rtnetlink.split(bytes.array(), bytes.limit()).get(0);
    }
}
