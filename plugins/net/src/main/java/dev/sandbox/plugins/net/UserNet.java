package dev.sandbox.plugins.net;

import dev.sandbox.api.SectionContext;
import dev.sandbox.api.SpecNode;
import dev.sandbox.api.Stage;
import dev.sandbox.api.Step;
import java.io.IOException;
import java.math.BigDecimal;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;

/**
 * {@code net: {mode: user}}: a user-mode network stack, pasta (Debian package {@code passt}), gives the
 * sandbox's network namespace outbound connectivity through the caller's own sockets, so rootless
 * sandboxes get a network too. docs/spec.md ("net.mode") is the user's description.
 *
 * <p>One {@code connect user-net} step: the monitor starts pasta after CLONED (the child's network and user
 * namespaces exist, the child waits) and kills it at teardown. pasta is told exactly what to forward
 * ({@code -t}/{@code -u} per port, {@code none} otherwise; {@code -T none -U none}: nothing of the host's
 * loopback by port) and whether the gateway address maps to the host's loopback ({@code --no-map-gw} unless
 * {@code hostLoopback: true}).
 */
final class UserNet {

    /** The addresses inside: slirp4netns's well-known layout, so 10.0.2.2 is "the host" as with podman's slirp4netns. */
    static final String IFNAME = "eth0";
    static final String ADDRESS = "10.0.2.100/24";
    static final String GATEWAY = "10.0.2.2";
    static final String DEFAULT_HOST_IP = "127.0.0.1";

    /** Where the checks look; tests point them elsewhere. */
    record Host(Path tool, Path tun, Path unprivilegedPortStart) {
        static final Host REAL = new Host(Path.of("/usr/bin/pasta"), Path.of("/dev/net/tun"),
                Path.of("/proc/sys/net/ipv4/ip_unprivileged_port_start"));
    }

    /** One forwarded port as the plan carries it: {@code tcp:127.0.0.1:8080:80} (protocol:host_ip:published:target). */
    record Port(String protocol, String hostIp, int published, int target) {
        String wire() {
            return protocol + ":" + hostIp + ":" + published + ":" + target;
        }

        /** pasta(1)'s {@code -t}/{@code -u} spec: {@code ADDRESS/PORT:TARGET}. */
        String pastaSpec() {
            return hostIp + "/" + published + ":" + target;
        }

        /** Parses {@link #wire()}; the host address may hold ':' (IPv6). */
        static Port parse(String wire) {
            int first = wire.indexOf(':');
            int last = wire.lastIndexOf(':');
            int middle = wire.lastIndexOf(':', last - 1);
            if (first < 0 || middle <= first) throw new IllegalArgumentException("not protocol:host_ip:published:target: " + wire);
            return new Port(wire.substring(0, first), wire.substring(first + 1, middle), Integer.parseInt(wire.substring(middle + 1, last)),
                    Integer.parseInt(wire.substring(last + 1)));
        }
    }

    private UserNet() {}

    static boolean isUserMode(SpecNode section) {
        return section.get("mode").text("none").equals("user");
    }

    static void validate(SectionContext ctx, Host host) {
        SpecNode section = ctx.section();
        boolean user = isUserMode(section);
        SpecNode ports = section.get("ports");
        SpecNode hostLoopback = section.get("hostLoopback");
        if (!user) {
            for (SpecNode n : List.of(ports, hostLoopback)) {
                if (n.isPresent()) {
                    String key = n == ports ? "ports" : "hostLoopback";
                    ctx.error(n, "net.needs-user-mode", "'" + key + "' only applies to a user-mode network (pasta), and this"
                            + " namespace has none", "add 'mode: user', or remove '" + key + "'");
                }
            }
            return;
        }
        SpecNode mode = section.get("mode");
        SpecNode links = section.get("links");
        if (!links.elements().isEmpty()) {
            ctx.error(links, "net.user-mode-with-links", "mode: user and veth links exclude each other: pasta's interface"
                            + " brings its own default route and addresses, which would compete with the links' ones",
                    "use one of them: links (root) or mode: user (any user)");
        }
        if (section.get("loopback").isPresent() && !section.get("loopback").bool(true)) {
            ctx.error(section.get("loopback"), "net.user-mode-loopback", "loopback: false can't hold with mode: user:"
                    + " pasta brings lo up in the namespace it connects", "remove 'loopback: false', or the user-mode network");
        }
        checkTool(ctx, mode, host);
        checkTun(ctx, mode, host);
        checkPorts(ctx, ports, host);
    }

    private static void checkTool(SectionContext ctx, SpecNode at, Host host) {
        if (!Files.isExecutable(host.tool())) {
            ctx.error(at, "net.user-mode-tool-missing", "mode: user needs pasta, and " + host.tool() + " is missing (ENOENT)",
                    "install it: apt-get install passt (Debian/Ubuntu), dnf install passt (Fedora)");
        }
    }

    /**
     * pasta creates its tap device with open("/dev/net/tun", O_RDWR). Rootless, it does so as the caller after
     * joining the sandbox's user namespace, where the caller's capabilities don't apply to a device of the host's
     * root (capabilities(7): the inode's owner is unmapped there): the plain permission bits decide, exactly as
     * access(2) by the caller says. Root runs pasta as root in the host's user namespace.
     */
    private static void checkTun(SectionContext ctx, SpecNode at, Host host) {
        Path tun = host.tun();
        String fix = "as root: chmod 0666 " + tun + " (the udev default; opening it grants nothing by itself: creating a tap"
                + " interface still needs CAP_NET_ADMIN in the network namespace), or a udev rule KERNEL==\"tun\", MODE=\"0666\"";
        if (!Files.exists(tun)) {
            ctx.error(at, "net.tun-not-usable", "mode: user needs " + tun + ", which is missing (ENOENT)", "as root: modprobe tun; then " + fix);
            return;
        }
        if (Files.isReadable(tun) && Files.isWritable(tun)) return;
        String mode = "";
        try {
            mode = ", mode " + PosixFilePermissions.toString(Files.getPosixFilePermissions(tun));
        } catch (IOException | UnsupportedOperationException e) {
            // only for the message
        }
        ctx.error(at, "net.tun-not-usable", "mode: user needs " + tun + " (the tap interface pasta gives the sandbox), and "
                + ctx.caller().userName() + " can't open it for reading and writing (EACCES" + mode + ")", fix);
    }

    private static void checkPorts(SectionContext ctx, SpecNode ports, Host host) {
        Map<String, SpecNode> seen = new HashMap<>();
        OptionalInt unprivilegedStart = ctx.caller().isRoot() ? OptionalInt.empty() : readInt(host.unprivilegedPortStart());
        for (SpecNode p : ports.elements()) {
            SpecNode hostIp = p.get("host_ip");
            String ip = hostIp.text(DEFAULT_HOST_IP);
            if (hostIp.kind() == SpecNode.Kind.STRING) {
                try {
                    Cidr.parseAddress(ip);
                } catch (IllegalArgumentException e) {
                    ctx.error(hostIp, "net.bad-host-ip", "host_ip '" + ip + "' " + e.getMessage(),
                            "write an address of this host, e.g. 127.0.0.1 (the default), ::1, or 0.0.0.0 for every address");
                    continue;
                }
            }
            Optional<Integer> published = port(p.get("published"));
            Optional<Integer> target = port(p.get("target"));
            if (published.isEmpty() || target.isEmpty()) continue; // the schema says so
            String protocol = p.get("protocol").text("tcp");
            String key = protocol + " " + published.get();
            SpecNode first = seen.putIfAbsent(key, p);
            if (first != null) {
                ctx.error(p.get("published"), "net.duplicate-port", protocol + " port " + published.get() + " is published twice"
                                + " (the first at line " + first.location().line() + "); the second bind fails (EADDRINUSE)",
                        "publish each host port once");
            }
            if (protocol.equals("udp") && !published.equals(target)) {
                // Seen with Debian bookworm's pasta (0.0~git20230309): the datagram arrives, the reply is lost
                ctx.warning(p.get("published"), "net.udp-port-translation", "udp port " + published.get() + " is forwarded to another"
                                + " port (" + target.get() + "): pasta 0.0~git20230309 (Debian bookworm) delivers the datagrams but loses the"
                                + " replies of a translated UDP port", "publish the same number the sandbox listens on: published: "
                                + target.get() + " (or target: " + published.get() + ")");
            }
            if (unprivilegedStart.isPresent() && published.get() < unprivilegedStart.getAsInt()) {
                ctx.error(p.get("published"), "net.privileged-port", "published port " + published.get() + " is below "
                                + unprivilegedStart.getAsInt() + " (net.ipv4.ip_unprivileged_port_start): pasta runs as "
                                + ctx.caller().userName() + " and can't bind it (EACCES)",
                        "publish a port >= " + unprivilegedStart.getAsInt() + " (target may stay " + target.get()
                                + "), or as root: sysctl -w net.ipv4.ip_unprivileged_port_start=" + published.get());
            }
        }
    }

    static List<Port> ports(SpecNode section) {
        List<Port> out = new ArrayList<>();
        for (SpecNode p : section.get("ports").elements()) {
            out.add(new Port(p.get("protocol").text("tcp"), p.get("host_ip").text(DEFAULT_HOST_IP),
                    port(p.get("published")).orElseThrow(), port(p.get("target")).orElseThrow()));
        }
        return out;
    }

    static Step step(SpecNode section, Host host) {
        boolean hostLoopback = section.get("hostLoopback").bool(false);
        List<Port> ports = ports(section);
        Step.Builder step = Step.of(Stage.CONNECT, "user-net").arg("tool", host.tool()).arg("ifname", IFNAME)
                .arg("address", ADDRESS).arg("gateway", GATEWAY).arg("host-loopback", hostLoopback ? "1" : "0")
                .args("port", ports.stream().map(Port::wire).toList());
        StringBuilder summary = new StringBuilder("start pasta (user-mode network) for the child's network namespace: " + IFNAME
                + " " + ADDRESS + ", default route via " + GATEWAY + "; outbound connections leave through the caller's sockets");
        summary.append(ports.isEmpty() ? "; no port forwarded"
                : "; forward " + String.join(", ", ports.stream().map(p -> p.protocol() + " " + p.hostIp() + ":" + p.published()
                        + " -> " + p.target()).toList()));
        summary.append(hostLoopback ? "; " + GATEWAY + " reaches the host's 127.0.0.1" : "; the host's loopback stays unreachable");
        return step.summary(summary.toString()).syscall(String.join(" ", pastaArgv(host.tool().toString(), hostLoopback, ports,
                "/proc/<child>/ns/net", "/proc/<child>/ns/user", "<pid pipe>", "<log>"))).build();
    }

    /**
     * pasta's argv for a user-net step, as the executor builds it (usernet.c; the Java controller's stand-in runs
     * this). {@code userns} null: the caller is root, pasta stays root ({@code --runas 0:0}; it drops its
     * capabilities itself) and needs no user namespace; else it joins the sandbox's user namespace, which owns
     * the network namespace.
     */
    static List<String> pastaArgv(String tool, boolean hostLoopback, List<Port> ports, String netns, String userns,
                                  String pidFile, String logFile) {
        List<String> argv = new ArrayList<>(List.of(tool, "--foreground", "--quiet", "--config-net", "--ns-ifname", IFNAME,
                "--address", ADDRESS.substring(0, ADDRESS.indexOf('/')), "--netmask", ADDRESS.substring(ADDRESS.indexOf('/') + 1),
                "--gateway", GATEWAY));
        List<String> tcp = ports.stream().filter(p -> p.protocol().equals("tcp")).map(Port::pastaSpec).toList();
        List<String> udp = ports.stream().filter(p -> p.protocol().equals("udp")).map(Port::pastaSpec).toList();
        if (tcp.isEmpty()) argv.addAll(List.of("--tcp-ports", "none"));
        tcp.forEach(t -> argv.addAll(List.of("--tcp-ports", t)));
        if (udp.isEmpty()) argv.addAll(List.of("--udp-ports", "none"));
        udp.forEach(u -> argv.addAll(List.of("--udp-ports", u)));
        argv.addAll(List.of("--tcp-ns", "none", "--udp-ns", "none"));
        if (!hostLoopback) argv.add("--no-map-gw");
        argv.addAll(List.of("--pid", pidFile, "--log-file", logFile, "--netns", netns));
        if (userns == null) argv.addAll(List.of("--runas", "0:0"));
        else argv.addAll(List.of("--userns", userns));
        return argv;
    }

    private static Optional<Integer> port(SpecNode n) {
        if (n.kind() != SpecNode.Kind.NUMBER) return Optional.empty();
        try {
            int v = new BigDecimal(n.text()).intValueExact();
            return v >= 1 && v <= 65535 ? Optional.of(v) : Optional.empty();
        } catch (ArithmeticException | NumberFormatException e) {
            return Optional.empty();
        }
    }

    private static OptionalInt readInt(Path p) {
        try {
            return OptionalInt.of(Integer.parseInt(Files.readAllLines(p).get(0).trim()));
        } catch (IOException | RuntimeException e) {
            return OptionalInt.empty();
        }
    }
}
