package dev.sandbox.plugins.net;

import dev.sandbox.api.NamespacePlugin;
import dev.sandbox.api.NetSysctls;
import dev.sandbox.api.PlanContext;
import dev.sandbox.api.SectionContext;
import dev.sandbox.api.SpecContext;
import dev.sandbox.api.SpecNode;
import dev.sandbox.api.Stage;
import dev.sandbox.api.Step;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Pattern;
import org.pf4j.Extension;

/**
 * {@code namespaces.net}: a new network namespace, its loopback interface and veth links to the host.
 *
 * <pre>{@code
 * namespaces:
 *   net:
 *     loopback: true
 *     links:
 *       - {type: veth, name: eth0, hostName: sb-hello0, address: 198.18.0.2/30,
 *          hostAddress: 198.18.0.1/30, gateway: 198.18.0.1, mtu: 1500, mac: "02:00:00:00:00:01"}
 * }</pre>
 *
 * <h2>Keys</h2>
 * <ul>
 *   <li>{@code loopback} — boolean, default {@code true}: bring {@code lo} up. A new network namespace starts
 *       with {@code lo} down, so not even 127.0.0.1 works; {@code false} keeps it that way.</li>
 *   <li>{@code links} — veth pairs, each with:
 *     <ul>
 *       <li>{@code type} — {@code veth} (required);</li>
 *       <li>{@code name} — the sandbox end's name, e.g. {@code eth0} (required);</li>
 *       <li>{@code hostName} — the host end's name. Omitted: {@code sb-<sandbox name>-<index>}; when that is
 *           longer than 15 bytes, the sandbox name is cut short and 4 hex digits of its SHA-256 are added
 *           ({@code sb-webapp1a2b-0}), never clashing with another link's host name;</li>
 *       <li>{@code address}, {@code hostAddress} — one CIDR string or a list, IPv4 and/or IPv6, for the
 *           sandbox end and the host end;</li>
 *       <li>{@code gateway} — the sandbox's default route; inside the subnet of one of the link's
 *           {@code address}es of the same family (an IPv6 link-local fe80::/10 gateway is always on-link);</li>
 *       <li>{@code mtu} — both ends, 68..65535, at least 1280 when the link has IPv6 addresses; omitted: 1500;</li>
 *       <li>{@code mac} — the sandbox end's unicast MAC {@code xx:xx:xx:xx:xx:xx}; omitted: random.</li>
 *     </ul></li>
 * </ul>
 * Interface names have at most 15 bytes (IFNAMSIZ - 1) and no '/', ':' or white space, and are not
 * {@code .}, {@code ..} or {@code lo}.
 *
 * <h2>What happens</h2>
 * The engine creates the namespace: {@code CLONE_NEWNET} is one of the helper's clone flags. Each link
 * becomes a {@code veth} step in stage {@code connect}, which the monitor performs after the clone,
 * while the child still waits: over rtnetlink it creates the pair with the peer directly in
 * {@code /proc/<child>/ns/net} (RTM_NEWLINK), adds the addresses to both ends (RTM_NEWADDR), brings them up
 * and adds the default route inside (RTM_NEWROUTE). When the namespace dies with the sandbox, the kernel
 * destroys the sandbox end, and with it the whole pair. {@code loopback} becomes a {@code link-up name=lo}
 * step in stage {@code finish}, run by the child itself ({@code SIOCSIFFLAGS}).
 *
 * <p>Only root can create links: a veth's host end lives in the host's network namespace, which needs
 * CAP_NET_ADMIN in the host's user namespace — a rootless caller's user namespace doesn't give that
 * (kernel rule). Rootless sandboxes get {@code loopback}, and {@code mode: user}: pasta, a user-mode network
 * stack ({@link UserNet}), one {@code connect user-net} step; with {@code ports} (compose's long form) and
 * {@code hostLoopback}.
 *
 * <h2>Checks</h2>
 * {@code net.bad-link-name}, {@code net.duplicate-link} (names, host names), {@code net.bad-address}
 * (addresses and gateway), {@code net.gateway-outside-subnet}, {@code net.bad-mtu}, {@code net.bad-mac},
 * {@code net.links-need-root}; for mode user: {@code net.needs-user-mode}, {@code net.user-mode-with-links},
 * {@code net.user-mode-loopback}, {@code net.user-mode-tool-missing}, {@code net.tun-not-usable},
 * {@code net.bad-host-ip}, {@code net.duplicate-port}, {@code net.privileged-port}; {@code net.bad-sysctl},
 * {@code net.bad-sysctl-value} ({@code sysctls}, {@link NetSysctls}).
 */
@Extension
public class NetNamespacePlugin implements NamespacePlugin {

    private final UserNet.Host host;

    public NetNamespacePlugin() {
        this(UserNet.Host.REAL);
    }

    /** Tests point the user-mode network's checks (pasta, /dev/net/tun) elsewhere. */
    NetNamespacePlugin(UserNet.Host host) {
        this.host = host;
    }

    static final int MIN_MTU = 68;
    static final int MAX_MTU = 65535;
    /** IPv6 needs links of at least 1280 bytes (RFC 8200); the kernel refuses IPv6 addresses on smaller ones. */
    static final int MIN_MTU_IPV6 = 1280;
    private static final Pattern MAC = Pattern.compile("^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$");

    @Override
    public String id() {
        return "net";
    }

    @Override
    public String schemaFragment() {
        return resource("/net.schema.json");
    }

    @Override
    public void validate(SectionContext ctx) {
        SpecNode links = ctx.section().get("links");
        List<SpecNode> items = links.elements();
        if (!items.isEmpty() && !ctx.caller().isRoot()) {
            ctx.error(links, "net.links-need-root", "running as " + ctx.caller().userName() + ": a rootless caller can't create veth links,"
                            + " because their host end must be created in the host's network namespace, which needs CAP_NET_ADMIN there"
                            + " (kernel rule; a user namespace doesn't grant it)",
                    "for a network rootless, use mode: user instead of links (pasta, a user-mode stack); or loopback only (remove 'links'); or run sandbox as root");
        }
        UserNet.validate(ctx, host);
        checkSysctls(ctx);
        Map<String, SpecNode> names = new HashMap<>();
        Map<String, SpecNode> hostNames = new HashMap<>();
        for (SpecNode link : items) {
            checkName(ctx, link.get("name"), "name", names);
            checkName(ctx, link.get("hostName"), "hostName", hostNames);
            Optional<List<Cidr>> addresses = checkAddresses(ctx, link.get("address"), "address");
            Optional<List<Cidr>> hostAddresses = checkAddresses(ctx, link.get("hostAddress"), "hostAddress");
            checkGateway(ctx, link.get("gateway"), addresses);
            boolean ipv6 = addresses.orElse(List.of()).stream().anyMatch(Cidr::isV6)
                    || hostAddresses.orElse(List.of()).stream().anyMatch(Cidr::isV6);
            checkMtu(ctx, link.get("mtu"), ipv6);
            checkMac(ctx, link.get("mac"));
        }
    }

    /** {@code sysctls}: the rules labs use too ({@link NetSysctls}); a joined namespace never gets here (join.with-options). */
    private static void checkSysctls(SectionContext ctx) {
        ctx.section().get("sysctls").fields().forEach((name, value) -> {
            if (value.kind() != SpecNode.Kind.STRING && value.kind() != SpecNode.Kind.NUMBER) return; // the schema's
            NetSysctls.check(name, value.text()).ifPresent(p -> ctx.error(value, p.code(), p.message(), p.hint()));
        });
    }

    private static void checkName(SectionContext ctx, SpecNode node, String field, Map<String, SpecNode> seen) {
        if (node.kind() != SpecNode.Kind.STRING) return;
        String name = node.text();
        Optional<String> problem = LinkNames.problem(name);
        if (problem.isPresent()) {
            ctx.error(node, "net.bad-link-name", field + " '" + name + "' " + problem.get(),
                    "use at most 15 bytes without '/', ':' or white space, e.g. " + (field.equals("name") ? "eth0" : "sb-web0"));
            return;
        }
        SpecNode first = seen.putIfAbsent(name, node);
        if (first != null) {
            ctx.error(node, "net.duplicate-link", "two links have the " + field + " '" + name + "' (the first at line " + first.location().line()
                    + "); the kernel refuses a second interface of the same name (EEXIST)", "give each link its own " + field);
        }
    }

    /** The parsed addresses, or empty when one of them is bad (reported) so the gateway check doesn't pile on. */
    private static Optional<List<Cidr>> checkAddresses(SectionContext ctx, SpecNode node, String field) {
        List<Cidr> out = new ArrayList<>();
        boolean ok = true;
        for (SpecNode element : addressNodes(node)) {
            try {
                out.add(Cidr.parseCidr(element.text()));
            } catch (IllegalArgumentException e) {
                ctx.error(element, "net.bad-address", field + " '" + element.text() + "' " + e.getMessage(),
                        "write an address with its prefix length, e.g. 198.18.0.2/30 or fd00::2/64");
                ok = false;
            }
        }
        return ok ? Optional.of(out) : Optional.empty();
    }

    private static void checkGateway(SectionContext ctx, SpecNode node, Optional<List<Cidr>> addresses) {
        if (node.kind() != SpecNode.Kind.STRING) return;
        Cidr gateway;
        try {
            gateway = Cidr.parseAddress(node.text());
        } catch (IllegalArgumentException e) {
            ctx.error(node, "net.bad-address", "gateway '" + node.text() + "' " + e.getMessage(),
                    "write a plain address in the subnet of the link's address, e.g. 198.18.0.1");
            return;
        }
        if (addresses.isEmpty() || gateway.isLinkLocalV6()) return;
        List<Cidr> sameFamily = addresses.get().stream().filter(a -> a.isV6() == gateway.isV6()).toList();
        if (sameFamily.stream().anyMatch(a -> a.contains(gateway))) return;
        String why = sameFamily.isEmpty() ? "the link has no " + gateway.family() + " address"
                : "it is outside the subnet" + (sameFamily.size() > 1 ? "s" : "") + " of the link's " + gateway.family() + " address"
                        + (sameFamily.size() > 1 ? "es" : "");
        ctx.error(node, "net.gateway-outside-subnet", "gateway " + node.text() + " is not reachable on this link: " + why
                        + ", so the kernel refuses the default route (ENETUNREACH)",
                sameFamily.isEmpty() ? "add an " + gateway.family() + " address to the link, or remove the gateway"
                        : "use an address inside " + sameFamily.get(0).network() + " (the subnet of the link's address), usually the"
                                + " host end's address");
    }

    private static void checkMtu(SectionContext ctx, SpecNode node, boolean ipv6) {
        Optional<BigInteger> mtu = integer(node);
        if (mtu.isEmpty()) return;
        long value = mtu.get().max(BigInteger.valueOf(-1)).min(BigInteger.valueOf(Integer.MAX_VALUE)).longValue();
        if (value < MIN_MTU || value > MAX_MTU) {
            ctx.error(node, "net.bad-mtu", "mtu " + mtu.get() + " is outside " + MIN_MTU + ".." + MAX_MTU
                            + " (the kernel's smallest Ethernet MTU and the largest a veth takes)",
                    "use a value in " + MIN_MTU + ".." + MAX_MTU + ", or remove mtu for the default 1500");
        } else if (ipv6 && value < MIN_MTU_IPV6) {
            ctx.error(node, "net.bad-mtu", "mtu " + value + " is below " + MIN_MTU_IPV6 + ", the minimum for IPv6 (RFC 8200):"
                            + " the kernel disables IPv6 on the link and refuses its IPv6 addresses",
                    "use mtu " + MIN_MTU_IPV6 + " or more, or drop the IPv6 addresses");
        }
    }

    private static void checkMac(SectionContext ctx, SpecNode node) {
        if (node.kind() != SpecNode.Kind.STRING) return;
        String mac = node.text();
        String hint = "use a locally administered unicast address: first byte 02, e.g. 02:00:00:00:00:01";
        if (!MAC.matcher(mac).matches()) {
            ctx.error(node, "net.bad-mac", "mac '" + mac + "' is not six hex pairs separated by ':'", hint);
        } else if ((Integer.parseInt(mac.substring(0, 2), 16) & 1) != 0) {
            ctx.error(node, "net.bad-mac", "mac " + mac + " is a multicast address (the lowest bit of the first byte is set);"
                    + " the kernel only gives an interface a unicast one (EADDRNOTAVAIL)", hint);
        } else if (mac.replace(":", "").chars().allMatch(c -> c == '0')) {
            ctx.error(node, "net.bad-mac", "mac " + mac + " is all zeros, which is not a valid interface address", hint);
        }
    }

    @Override
    public void contribute(PlanContext ctx) {
        for (VethSpec link : links(ctx)) {
            Step.Builder step = Step.of(Stage.CONNECT, "veth").arg("name", link.name()).arg("hostName", link.hostName())
                    .args("address", link.addresses()).args("hostAddress", link.hostAddresses());
            link.gateway().ifPresent(g -> step.arg("gateway", g));
            link.mtu().ifPresent(m -> step.arg("mtu", m));
            link.mac().ifPresent(m -> step.arg("mac", m));
            ctx.add(step.summary(link.summary()).syscall(link.syscall()).build());
        }
        if (UserNet.isUserMode(ctx.section())) ctx.add(UserNet.step(ctx.section(), host));
        ctx.section().get("sysctls").fields().forEach((name, value) -> ctx.add(sysctlStep(name, value.text())));
        if (ctx.section().get("loopback").bool(true)) {
            ctx.add(Step.of(Stage.FINISH, "link-up").arg("name", "lo")
                    .summary("bring the loopback interface lo up: a new network namespace starts with it down, so not even 127.0.0.1 works")
                    .syscall("ioctl(fd, SIOCGIFFLAGS, {ifr_name=\"lo\"}); ioctl(fd, SIOCSIFFLAGS, {ifr_name=\"lo\", ifr_flags|=IFF_UP})")
                    .build());
        }
    }

    /**
     * {@code connect sysctl name=N value=V}: after the links (an interface's own sysctls, net.ipv6.conf.eth0.*, need it
     * to exist), before the target starts. The monitor writes it from a short-lived fork that entered the child's network
     * namespace (/proc/sys/net is the writer's namespace, proc(5)); it refuses a child in its own namespace.
     */
    static Step sysctlStep(String name, String value) {
        return Step.of(Stage.CONNECT, "sysctl").arg("name", name).arg("value", value)
                .summary("set " + name + " = " + value + " in the sandbox's own network namespace (never the host's)")
                .syscall("setns(open(\"/proc/<child>/ns/net\"), CLONE_NEWNET); write(open(\"" + NetSysctls.path(name) + "\", O_WRONLY), \""
                        + value + "\")")
                .build();
    }

    /** One link as the plan carries it: host name resolved, addresses as written. */
    record VethSpec(String name, String hostName, List<String> addresses, List<String> hostAddresses,
                    Optional<String> gateway, Optional<String> mtu, Optional<String> mac) {

        String summary() {
            StringBuilder out = new StringBuilder("create the veth pair " + hostName + " (host) <-> " + name
                    + " (sandbox), its sandbox end right in the child's network namespace");
            if (!addresses.isEmpty()) out.append("; ").append(name).append(" gets ").append(String.join(", ", addresses));
            if (!hostAddresses.isEmpty()) out.append("; ").append(hostName).append(" gets ").append(String.join(", ", hostAddresses));
            out.append("; both ends up");
            gateway.ifPresent(g -> out.append("; default route via ").append(g).append(" inside"));
            return out.toString();
        }

        String syscall() {
            String mtuAttr = mtu.map(m -> ", IFLA_MTU=" + m).orElse("");
            StringBuilder out = new StringBuilder("RTM_NEWLINK {IFLA_IFNAME=\"" + hostName + "\"" + mtuAttr
                    + ", IFLA_INFO_KIND=\"veth\", VETH_INFO_PEER={IFLA_IFNAME=\"" + name + "\"" + mtuAttr
                    + ", IFLA_NET_NS_FD=open(\"/proc/<child>/ns/net\")");
            mac.ifPresent(m -> out.append(", IFLA_ADDRESS=").append(m));
            out.append("}}");
            for (String a : hostAddresses) out.append("; RTM_NEWADDR ").append(a).append(" dev ").append(hostName);
            for (String a : addresses) out.append("; RTM_NEWADDR ").append(a).append(" dev ").append(name).append(" (in the sandbox)");
            out.append("; RTM_NEWLINK IFF_UP ").append(hostName).append(", ").append(name);
            gateway.ifPresent(g -> out.append("; RTM_NEWROUTE default via ").append(g).append(" dev ").append(name).append(" (in the sandbox)"));
            return out.toString();
        }
    }

    /** The section's links with every host name resolved (given, or derived from the sandbox name and index). */
    static List<VethSpec> links(SpecContext ctx) {
        List<SpecNode> items = ctx.section().get("links").elements();
        List<String> given = items.stream().map(l -> l.get("hostName").optText().orElse(null)).toList();
        List<String> hostNames = LinkNames.hostNames(ctx.sandboxName(), given);
        List<VethSpec> out = new ArrayList<>();
        for (int i = 0; i < items.size(); i++) {
            SpecNode link = items.get(i);
            out.add(new VethSpec(link.get("name").text(), hostNames.get(i),
                    addressNodes(link.get("address")).stream().map(SpecNode::text).toList(),
                    addressNodes(link.get("hostAddress")).stream().map(SpecNode::text).toList(),
                    link.get("gateway").optText(), integer(link.get("mtu")).map(BigInteger::toString), link.get("mac").optText()));
        }
        return out;
    }

    /** {@code address: x} and {@code address: [x, y]} alike. */
    private static List<SpecNode> addressNodes(SpecNode node) {
        return switch (node.kind()) {
            case STRING -> List.of(node);
            case LIST -> node.elements();
            default -> List.of();
        };
    }

    private static Optional<BigInteger> integer(SpecNode node) {
        if (node.kind() != SpecNode.Kind.NUMBER) return Optional.empty();
        try {
            return Optional.of(new BigDecimal(node.text()).toBigIntegerExact());
        } catch (NumberFormatException | ArithmeticException e) {
            return Optional.empty();
        }
    }

    static String resource(String name) {
        try (InputStream in = NetNamespacePlugin.class.getResourceAsStream(name)) {
            if (in == null) throw new IllegalStateException(name + " is missing from the plugin jar");
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
