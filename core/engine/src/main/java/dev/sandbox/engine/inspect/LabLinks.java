package dev.sandbox.engine.inspect;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.sandbox.engine.runtime.SandboxState;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The {@code lab} part of {@code sandbox inspect} (docs/cli.md, "inspect"; docs/labs.md): for a lab's node, each of
 * its links as the lab's record says (the copy of the lab file lab-up keeps in {@code <base>/<lab>/lab}): interface,
 * the peer node and interface (or the bridge and its other members), addresses and MTU; for a running node, checked
 * against the kernel where /proc tells it without entering the namespace: the interface in
 * {@code /proc/PID/net/dev} (with its packet counters), an IPv6 address in {@code net/if_inet6}, an IPv4 address's
 * subnet as a connected route on the interface in {@code net/route}. For the lab's own record: its nodes and links.
 */
public final class LabLinks {

    private static final ObjectMapper JSON = new ObjectMapper();
    /** The hidden namespace of the lab's bridges (Lab.SWITCH). */
    static final String SWITCH = "_switch";

    private LabLinks() {}

    /** The state.json field {@code lab} of a record; empty for a sandbox outside labs. */
    public static Optional<String> labOf(SandboxState state) {
        try (InputStream in = Files.newInputStream(state.dir().resolve("state.json"))) {
            JsonNode lab = JSON.readTree(in).path("lab");
            return lab.isTextual() && !lab.asText().isEmpty() ? Optional.of(lab.asText()) : Optional.empty();
        } catch (IOException | RuntimeException e) {
            return Optional.empty();
        }
    }

    /** The {@code lab} object of the document, when the record belongs to a lab. */
    public static Optional<ObjectNode> of(SandboxState state, boolean running, long pid) {
        Optional<String> labName = labOf(state);
        if (labName.isEmpty()) return Optional.empty();
        String lab = labName.get();
        Path base = state.dir().getParent();
        ObjectNode out = JSON.createObjectNode();
        out.put("name", lab);
        List<String[]> lines = labFile(base.resolve(lab).resolve("lab"));
        if (lab.equals(state.name())) {
            out.put("role", "lab");
            ArrayNode nodes = out.putArray("nodes");
            for (String[] l : lines) {
                if (l[0].equals("node") && l.length > 1 && !l[1].equals(SWITCH)) {
                    ObjectNode n = nodes.addObject();
                    n.put("node", l[1]);
                    n.put("name", lab + "-" + l[1]);
                    n.put("up", Files.isDirectory(base.resolve(lab + "-" + l[1])));
                }
            }
            if (lines.isEmpty()) out.put("warning", "the lab's record has no copy of the lab file (" + base.resolve(lab).resolve("lab") + ")");
            return Optional.of(out);
        }
        String prefix = lab + "-";
        if (!state.name().startsWith(prefix)) return Optional.of(out);
        String node = state.name().substring(prefix.length());
        out.put("role", "node");
        out.put("node", node);
        if (lines.isEmpty()) {
            out.put("warning", "the lab's record is gone or has no copy of the lab file (" + base.resolve(lab).resolve("lab") + ")");
            out.putArray("links");
            return Optional.of(out);
        }
        Map<String, String> bridgeOfPort = new LinkedHashMap<>();
        for (String[] l : lines) {
            if (l[0].equals("enslave") && l.length > 3 && l[1].equals(SWITCH)) bridgeOfPort.put(l[2], l[3]);
        }
        Kernel kernel = running ? Kernel.read(pid) : null;
        ArrayNode links = out.putArray("links");
        for (String[] l : lines) {
            if (!l[0].equals("link") || l.length < 5) continue;
            for (int end = 0; end < 2; end++) {
                if (!l[1 + 2 * end].equals(node)) continue;
                String iface = l[2 + 2 * end], peerNode = l[3 - 2 * end], peerIf = l[4 - 2 * end];
                ObjectNode link = links.addObject();
                link.put("interface", iface);
                if (peerNode.equals(SWITCH)) {
                    String bridge = bridgeOfPort.getOrDefault(peerIf, "?");
                    link.put("type", "bridge");
                    link.put("bridge", bridge);
                    ArrayNode members = link.putArray("members");
                    for (String[] o : lines) {
                        if (o != l && o[0].equals("link") && o.length > 4 && o[3].equals(SWITCH) && bridge.equals(bridgeOfPort.get(o[4]))) {
                            ObjectNode m = members.addObject();
                            m.put("node", lab + "-" + o[1]);
                            m.put("interface", o[2]);
                            m.put("up", Files.isDirectory(base.resolve(lab + "-" + o[1])));
                        }
                    }
                } else {
                    link.put("type", "veth");
                    ObjectNode peer = link.putObject("peer");
                    peer.put("node", lab + "-" + peerNode);
                    peer.put("interface", peerIf);
                    peer.put("up", Files.isDirectory(base.resolve(lab + "-" + peerNode)));
                }
                long mtu = l.length > 5 ? parseLong(l[5]) : 0;
                if (mtu > 0) link.put("mtu", mtu);
                else link.putNull("mtu"); // the kernel's default (1500)
                ArrayNode addresses = link.putArray("addresses");
                for (String[] a : lines) {
                    if (a[0].equals("addr") && a.length > 3 && a[1].equals(node) && a[2].equals(iface)) {
                        ObjectNode one = addresses.addObject();
                        one.put("address", a[3]);
                        if (kernel != null) one.put("inKernel", kernel.has(iface, a[3]));
                    }
                }
                if (kernel != null) {
                    ObjectNode k = link.putObject("kernel");
                    long[] counters = kernel.devices.get(iface);
                    k.put("present", counters != null);
                    if (counters != null) {
                        k.put("rxPackets", counters[0]);
                        k.put("txPackets", counters[1]);
                    }
                }
            }
        }
        return Optional.of(out);
    }

    /** The lab file's lines, split at tabs; empty when it can't be read. */
    static List<String[]> labFile(Path file) {
        List<String[]> out = new ArrayList<>();
        try {
            for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
                if (line.isEmpty() || line.startsWith("#")) continue;
                out.add(line.split("\t", -1));
            }
        } catch (IOException | RuntimeException e) {
            return List.of();
        }
        return out;
    }

    private static long parseLong(String s) {
        try {
            return Long.parseLong(s);
        } catch (NumberFormatException e) {
            return 0;
        }
    }

    /** What /proc/PID/net/ says about the node's network namespace (proc(5): the files are the reader's view of PID's netns). */
    record Kernel(Map<String, long[]> devices, Map<String, List<byte[]>> ipv6, Map<String, List<long[]>> ipv4Routes) {

        static Kernel read(long pid) {
            Path net = Path.of("/proc", Long.toString(pid), "net");
            Map<String, long[]> devices = new LinkedHashMap<>();
            // net/dev: "  eth0: rxbytes rxpackets ... (8 rx fields) txbytes txpackets ..."
            for (String line : lines(net.resolve("dev"))) {
                int colon = line.indexOf(':');
                if (colon < 0 || line.startsWith("Inter") || line.trim().startsWith("face")) continue;
                String[] f = line.substring(colon + 1).trim().split("\\s+");
                if (f.length < 10) continue;
                devices.put(line.substring(0, colon).trim(), new long[] {parseLong(f[1]), parseLong(f[9])});
            }
            // net/if_inet6: address (32 hex), index, prefix length, scope, flags, name
            Map<String, List<byte[]>> v6 = new LinkedHashMap<>();
            for (String line : lines(net.resolve("if_inet6"))) {
                String[] f = line.trim().split("\\s+");
                if (f.length < 6 || f[0].length() != 32) continue;
                byte[] a = new byte[16];
                for (int i = 0; i < 16; i++) a[i] = (byte) Integer.parseInt(f[0].substring(2 * i, 2 * i + 2), 16);
                v6.computeIfAbsent(f[5], k -> new ArrayList<>()).add(a);
            }
            // net/route: Iface Destination Gateway Flags RefCnt Use Metric Mask ... (addresses little-endian hex)
            Map<String, List<long[]>> v4 = new LinkedHashMap<>();
            for (String line : lines(net.resolve("route"))) {
                String[] f = line.trim().split("\\s+");
                if (f.length < 8 || f[0].equals("Iface")) continue;
                try {
                    long dst = Long.parseLong(f[1], 16), gw = Long.parseLong(f[2], 16), mask = Long.parseLong(f[7], 16);
                    if (gw == 0) v4.computeIfAbsent(f[0], k -> new ArrayList<>()).add(new long[] {dst, mask});
                } catch (NumberFormatException e) {
                    // not a route line
                }
            }
            return new Kernel(devices, v6, v4);
        }

        /** Is the address ({@code ADDR/LEN}) on the interface, as far as /proc shows it? */
        boolean has(String iface, String cidr) {
            int slash = cidr.indexOf('/');
            byte[] a;
            try {
                a = InetAddress.getByName(slash < 0 ? cidr : cidr.substring(0, slash)).getAddress();
            } catch (UnknownHostException | SecurityException e) {
                return false;
            }
            if (a.length == 16) {
                return ipv6.getOrDefault(iface, List.of()).stream().anyMatch(x -> java.util.Arrays.equals(x, a));
            }
            // an IPv4 address makes the kernel add a connected route to its subnet on its interface
            long le = (a[0] & 0xffL) | (a[1] & 0xffL) << 8 | (a[2] & 0xffL) << 16 | (a[3] & 0xffL) << 24;
            return ipv4Routes.getOrDefault(iface, List.of()).stream().anyMatch(r -> r[1] != 0 && (le & r[1]) == r[0]);
        }

        private static List<String> lines(Path file) {
            try {
                return Files.readAllLines(file, StandardCharsets.UTF_8);
            } catch (IOException | RuntimeException e) {
                return List.of();
            }
        }
    }
}
