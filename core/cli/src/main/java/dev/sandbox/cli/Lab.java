package dev.sandbox.cli;

import dev.sandbox.api.Caller;
import dev.sandbox.api.Diagnostic;
import dev.sandbox.api.Location;
import dev.sandbox.api.NetSysctls;
import dev.sandbox.api.Plan;
import dev.sandbox.api.SpecNode;
import dev.sandbox.engine.Sandbox;
import dev.sandbox.engine.host.HostProbe;
import dev.sandbox.engine.pipeline.Pipeline;
import dev.sandbox.engine.runtime.Controller;
import dev.sandbox.engine.runtime.PlanFile;
import dev.sandbox.engine.runtime.RuntimePaths;
import dev.sandbox.engine.spec.LoadedSpec;
import dev.sandbox.engine.spec.SpecLoader;
import dev.sandbox.engine.spec.SpecMerge;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.math.BigInteger;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ThreadLocalRandom;
import java.util.regex.Pattern;

/**
 * A network lab ({@code kind: Lab}, docs/labs.md): several sandboxes wired by veth links. Java validates the
 * lab and compiles one plan per node; {@code sandbox-init lab-up FILE} (core/native/src/lab.c) creates the
 * node's network namespaces, the links, addresses, routes and sysctls, then starts every node detached.
 */
final class Lab {

    static final Pattern NAME = Pattern.compile("[a-z0-9][a-z0-9_.-]{0,39}");
    static final Pattern NODE = Pattern.compile("[a-z0-9][a-z0-9_-]{0,19}");
    static final Pattern IFNAME = Pattern.compile("[A-Za-z0-9_.-]{1,15}");
    private static final Pattern KIND = Pattern.compile("(?m)^kind:\\s*[\"']?Lab[\"']?\\s*(#.*)?$");

    record Endpoint(String node, String iface, List<Prefix> addresses, Location location) {
        String text() { return node + ":" + iface; }
    }
    /** A veth between two nodes (bridge null), or a bridge's members (each a veth to the bridge in the switch namespace). */
    record Link(List<Endpoint> endpoints, long mtu, String bridge) {}
    static final String SWITCH = "_switch"; // the hidden namespace of the bridges: never a node name (NODE starts with [a-z0-9])
    record Route(String node, String to, String via) {}
    record Model(String name, Path file, SpecNode root, Map<String, SpecNode> nodes, List<Link> links, List<Route> routes) {}

    /** An address with its prefix length; network() the subnet's first address. */
    record Prefix(String text, byte[] address, int length) {
        BigInteger value() { return new BigInteger(1, address); }
        BigInteger network() {
            int bits = address.length * 8;
            return value().shiftRight(bits - length).shiftLeft(bits - length);
        }
        boolean overlaps(Prefix o) {
            if (o.address.length != address.length) return false;
            int len = Math.min(length, o.length), bits = address.length * 8;
            return value().shiftRight(bits - len).equals(o.value().shiftRight(bits - len));
        }
    }

    private Lab() {}

    /** Is FILE a lab? (its top-level {@code kind: Lab}; read without a YAML parser, a spec is never a lab) */
    static boolean isLab(Path file) {
        if (!Files.isRegularFile(file)) return false;
        try (InputStream in = Files.newInputStream(file)) {
            return KIND.matcher(new String(in.readNBytes(SpecLoader.MAX_BYTES), StandardCharsets.UTF_8)).find();
        } catch (IOException e) {
            return false;
        }
    }

    /** The lab file parsed and checked; null with diagnostics when it can't be used. */
    static Model load(Sandbox sandbox, Path file, List<Path> envFiles, List<Diagnostic> out) {
        SpecLoader loader = new SpecLoader(sandbox.variables(envFiles));
        LoadedSpec loaded = loader.load(file);
        out.addAll(loaded.diagnostics());
        if (!loaded.parsed()) return null;
        SpecNode root = loaded.root();
        for (String key : root.fields().keySet()) {
            if (!List.of("apiVersion", "kind", "name", "defaults", "nodes", "links", "routes").contains(key)) {
                out.add(error("lab.unknown-key", "unknown key '" + key + "' in a lab", key, root.get(key).location(),
                        "a lab has apiVersion, kind, name, defaults, nodes, links, routes"));
            }
        }
        if (!"sandbox/v1".equals(root.get("apiVersion").text(""))) {
            out.add(error("lab.api-version", "apiVersion must be sandbox/v1", "apiVersion", where(root, "apiVersion"), null));
        }
        String name = root.get("name").text("");
        if (!NAME.matcher(name).matches()) {
            out.add(error("lab.bad-name", "the lab's name '" + name + "' is not a sandbox name", "name", where(root, "name"),
                    "lower-case letters, digits, '_', '.', '-'; at most 40 characters"));
        }
        Map<String, SpecNode> nodes = new LinkedHashMap<>();
        SpecNode nodesNode = root.get("nodes");
        if (nodesNode.kind() != SpecNode.Kind.MAP || nodesNode.fields().isEmpty()) {
            out.add(error("lab.no-nodes", "a lab needs at least one node", "nodes", where(root, "nodes"), null));
        } else {
            Map<String, String> sandboxNames = new HashMap<>();
            nodesNode.fields().forEach((node, decl) -> {
                if (!NODE.matcher(node).matches()) {
                    out.add(error("lab.bad-node-name", "node name '" + node + "' is not usable", "nodes." + node, decl.location(),
                            "lower-case letters, digits, '_', '-'; at most 20 characters"));
                    return;
                }
                String sandboxName = name + "-" + node;
                String clash = sandboxNames.put(sandboxName, node);
                if (clash != null) {
                    out.add(error("lab.name-collision", "nodes '" + clash + "' and '" + node + "' would both be named " + sandboxName,
                            "nodes." + node, decl.location(), null));
                }
                if (decl.kind() != SpecNode.Kind.MAP && decl.kind() != SpecNode.Kind.NULL) {
                    out.add(error("lab.bad-node", "a node is a spec fragment or {spec: FILE, ...}", "nodes." + node, decl.location(), null));
                    return;
                }
                nodes.put(node, decl);
            });
        }
        List<Link> links = new ArrayList<>();
        Map<String, Location> usedIfaces = new HashMap<>();
        Map<String, Location> bridges = new HashMap<>();
        List<Prefix> allAddresses = new ArrayList<>();
        List<List<Prefix>> subnetsPerLink = new ArrayList<>();
        SpecNode linksNode = root.get("links");
        int li = 0;
        for (SpecNode link : linksNode.kind() == SpecNode.Kind.LIST ? linksNode.elements() : List.<SpecNode>of()) {
            String at = "links[" + li++ + "]";
            String type = link.get("type").text("veth");
            if (!type.equals("veth") && !type.equals("bridge")) {
                out.add(error("lab.link-type-unsupported", "link type '" + type + "' is not supported", at + ".type",
                        where(link, "type"), "veth (two nodes) or bridge (a segment of two or more)"));
                continue;
            }
            boolean bridge = type.equals("bridge");
            List<String> keys = bridge ? List.of("type", "name", "endpoints", "addresses", "mtu") : List.of("type", "endpoints", "addresses", "mtu");
            for (String key : link.fields().keySet()) {
                if (!keys.contains(key)) {
                    out.add(error("lab.unknown-key", "unknown key '" + key + "' in a " + type + " link", at + "." + key, where(link, key),
                            "a " + type + " link has " + String.join(", ", keys)));
                }
            }
            String bridgeName = null;
            if (bridge) {
                bridgeName = link.get("name").text("");
                if (!IFNAME.matcher(bridgeName).matches() || bridges.put(bridgeName, where(link, "name")) != null) {
                    out.add(error("lab.bad-bridge-name", "a bridge needs a name of its own (1-15 letters, digits, '_', '.', '-')",
                            at + ".name", where(link, "name"), null));
                    continue;
                }
            }
            List<SpecNode> eps = link.get("endpoints").elements();
            if (bridge && link.get("endpoints").kind() == SpecNode.Kind.LIST && eps.size() < 2) {
                out.add(error("lab.bridge-one-member", "a bridge connects two or more endpoints", at + ".endpoints",
                        where(link, "endpoints"), "a single endpoint has nobody to talk to"));
                continue;
            }
            if (link.get("endpoints").kind() != SpecNode.Kind.LIST || (!bridge && eps.size() != 2)) {
                out.add(error("lab.bad-endpoints", "a veth link has exactly two endpoints NODE:IFNAME", at + ".endpoints",
                        where(link, "endpoints"), "e.g. endpoints: [a:eth0, b:eth0]"));
                continue;
            }
            SpecNode addrs = link.get("addresses");
            if (addrs.isPresent() && (addrs.kind() != SpecNode.Kind.LIST || addrs.elements().size() != eps.size())) {
                out.add(error("lab.bad-addresses", "addresses has one entry per endpoint (an address, a list of them, or null)",
                        at + ".addresses", where(link, "addresses"), null));
                continue;
            }
            List<Endpoint> endpoints = new ArrayList<>();
            List<Prefix> linkPrefixes = new ArrayList<>();
            boolean ok = true;
            for (int i = 0; i < eps.size(); i++) {
                SpecNode ep = eps.get(i);
                String text = ep.text("");
                int colon = text.indexOf(':');
                String node = colon < 0 ? text : text.substring(0, colon), iface = colon < 0 ? "" : text.substring(colon + 1);
                String epAt = at + ".endpoints[" + i + "]";
                if (colon < 0 || !IFNAME.matcher(iface).matches() || iface.equals("lo")) {
                    out.add(error("lab.bad-endpoint", "'" + text + "' is not NODE:IFNAME", epAt, ep.location(),
                            "an interface name of 1-15 characters (letters, digits, '_', '.', '-'), not lo"));
                    ok = false;
                    continue;
                }
                if (!nodes.containsKey(node) && nodesNode.kind() == SpecNode.Kind.MAP && !nodesNode.fields().containsKey(node)) {
                    out.add(error("lab.unknown-node", "endpoint '" + text + "' names no node of this lab", epAt, ep.location(),
                            "nodes: " + String.join(", ", nodesNode.fields().keySet())));
                    ok = false;
                    continue;
                }
                Location first = usedIfaces.putIfAbsent(text, ep.location());
                if (first != null) {
                    out.add(error("lab.interface-used-twice", "interface " + text + " is already an endpoint at " + first.file() + ":"
                            + first.line() + ":" + first.column(), epAt, ep.location(), "one interface belongs to one link"));
                    ok = false;
                }
                List<Prefix> prefixes = new ArrayList<>();
                if (addrs.isPresent()) {
                    SpecNode a = addrs.elements().get(i);
                    List<SpecNode> list = a.kind() == SpecNode.Kind.LIST ? a.elements()
                            : a.kind() == SpecNode.Kind.NULL ? List.of() : List.of(a);
                    int ai = 0;
                    for (SpecNode one : list) {
                        String aAt = at + ".addresses[" + i + "]" + (a.kind() == SpecNode.Kind.LIST ? "[" + ai + "]" : "");
                        ai++;
                        Optional<Prefix> p = parsePrefix(one.text(""));
                        if (p.isEmpty()) {
                            out.add(error("lab.bad-address", "'" + one.text("") + "' is not an address with a prefix length", aAt,
                                    one.location(), "CIDR, e.g. 198.18.80.1/30 or fd00::1/64"));
                            ok = false;
                            continue;
                        }
                        for (Prefix seen : allAddresses) {
                            if (seen.address.length == p.get().address.length && seen.value().equals(p.get().value())) {
                                out.add(error("lab.duplicate-address", "address " + p.get().text() + " is used twice in this lab", aAt,
                                        one.location(), null));
                                ok = false;
                            }
                        }
                        allAddresses.add(p.get());
                        prefixes.add(p.get());
                        linkPrefixes.add(p.get());
                    }
                }
                endpoints.add(new Endpoint(node, iface, prefixes, ep.location()));
            }
            // the subnets of one link must not overlap those of another (the nodes would see two routes to one subnet)
            for (Prefix p : linkPrefixes) {
                for (int other = 0; other < subnetsPerLink.size(); other++) {
                    for (Prefix q : subnetsPerLink.get(other)) {
                        if (p.overlaps(q)) {
                            out.add(error("lab.overlapping-subnets", "subnet of " + p.text() + " overlaps " + q.text() + " of links["
                                    + other + "]", at + ".addresses", where(link, "addresses"), "give every link a subnet of its own"));
                            ok = false;
                        }
                    }
                }
            }
            subnetsPerLink.add(linkPrefixes);
            long mtu = 0;
            if (link.has("mtu")) {
                mtu = link.get("mtu").longValue(-1);
                if (mtu < 68 || mtu > 65535) {
                    out.add(error("lab.bad-mtu", "mtu must be a number in 68..65535", at + ".mtu", where(link, "mtu"), null));
                    ok = false;
                }
            }
            if (ok) links.add(new Link(endpoints, mtu, bridgeName));
        }
        List<Route> routes = new ArrayList<>();
        SpecNode routesNode = root.get("routes");
        routesNode.fields().forEach((node, list) -> {
            if (!nodesNode.fields().containsKey(node)) {
                out.add(error("lab.unknown-node", "routes for '" + node + "', which is no node of this lab", "routes." + node,
                        list.location(), null));
                return;
            }
            int ri = 0;
            for (SpecNode r : list.elements()) {
                String rAt = "routes." + node + "[" + ri++ + "]";
                String to = r.get("to").text(""), via = r.get("via").text("");
                Optional<Prefix> dst = parsePrefix(to);
                Optional<Prefix> gw = parsePrefix(via + (via.contains(":") ? "/128" : "/32"));
                if (dst.isEmpty() || gw.isEmpty() || dst.get().address.length != gw.get().address.length) {
                    out.add(error("lab.bad-route", "a route is {to: PREFIX, via: ADDRESS} of one family", rAt, r.location(),
                            "e.g. {to: 198.18.80.4/30, via: 198.18.80.2}"));
                    continue;
                }
                routes.add(new Route(node, to, via));
            }
        });
        return new Model(name, file, root, nodes, links, routes);
    }

    static Optional<Prefix> parsePrefix(String text) {
        int slash = text.indexOf('/');
        if (slash < 0) return Optional.empty();
        String addr = text.substring(0, slash), len = text.substring(slash + 1);
        // literals only: InetAddress.getByName would ask DNS for anything else
        boolean v6 = addr.contains(":");
        if (!(v6 ? addr.matches("[0-9A-Fa-f:.]+") : addr.matches("\\d{1,3}(\\.\\d{1,3}){3}")) || !len.matches("\\d{1,3}")) {
            return Optional.empty();
        }
        try {
            byte[] bytes = InetAddress.getByName(addr).getAddress();
            int l = Integer.parseInt(len);
            if ((v6 && bytes.length != 16) || (!v6 && bytes.length != 4) || l > bytes.length * 8) return Optional.empty();
            return Optional.of(new Prefix(text, bytes, l));
        } catch (IOException | NumberFormatException e) {
            return Optional.empty();
        }
    }

    private static Location where(SpecNode node, String key) {
        return node.get(key).isPresent() ? node.get(key).location() : node.location();
    }

    private static Diagnostic error(String code, String message, String path, Location location, String hint) {
        return Diagnostic.error(code, message, path, location, hint);
    }

    /** One node's spec: defaults, then its spec file, then its inline keys, then what the lab sets (name, net). */
    record NodeSpec(String node, String sandboxName, LoadedSpec spec, Map<String, String> sysctls, LoadedSpec hostLinks) {}

    static List<NodeSpec> nodeSpecs(Sandbox sandbox, Model lab, List<Path> envFiles, Path base, List<Diagnostic> out) {
        SpecLoader loader = new SpecLoader(sandbox.variables(envFiles));
        List<NodeSpec> specs = new ArrayList<>();
        LabUser labUser = sandbox.caller().isRoot() ? null : LabUser.of(sandbox.caller());
        SpecNode defaults = lab.root().get("defaults").isPresent() ? lab.root().get("defaults") : null;
        for (Map.Entry<String, SpecNode> e : lab.nodes().entrySet()) {
            String node = e.getKey();
            SpecNode decl = e.getValue();
            String sandboxName = lab.name() + "-" + node;
            SpecNode fileRoot = null;
            List<LoadedSpec.Input> inputs = new ArrayList<>();
            if (decl.has("spec")) {
                Path file = lab.file().toAbsolutePath().getParent().resolve(decl.get("spec").text(""));
                LoadedSpec loaded = loader.load(file);
                out.addAll(loaded.diagnostics());
                if (!loaded.parsed()) continue;
                fileRoot = loaded.root();
                if (fileRoot.has("name")) {
                    out.add(Diagnostic.warning("lab.node-name-ignored", "node " + node + " is named " + sandboxName
                            + "; the spec's own name is ignored", "name", fileRoot.get("name").location(), null));
                }
            }
            SpecNode merged = SpecMerge.merge(defaults, fileRoot);
            if (decl.kind() == SpecNode.Kind.MAP) merged = SpecMerge.merge(merged, SpecMerge.without(decl, "spec"));
            SpecNode net = merged == null ? null : merged.get("namespaces").get("net");
            Map<String, String> sysctls = new LinkedHashMap<>();
            if (net != null && net.isPresent()) {
                for (String key : net.fields().keySet()) {
                    if (key.equals("join")) {
                        out.add(error("lab.node-joins-net", "node " + node + " joins a network namespace; a lab gives every node its own",
                                "namespaces.net.join", net.get("join").location(), "remove namespaces.net.join from this node"));
                    } else if (!List.of("sysctls", "loopback", "links").contains(key)) {
                        out.add(error("lab.node-net-unsupported", "namespaces.net." + key + " is not supported in a lab node yet",
                                "namespaces.net." + key, net.get(key).location(),
                                "links between nodes: the lab's links; links to the host: the node's namespaces.net.links"));
                    }
                }
                net.get("sysctls").fields().forEach((k, v) -> {
                    String value = v.text("");
                    // the net plugin's rules for a sandbox's own namespace (one place: dev.sandbox.api.NetSysctls)
                    Optional<NetSysctls.Problem> problem = NetSysctls.check(k, value);
                    problem.ifPresentOrElse(p -> out.add(error(p.code(), p.message(), "namespaces.net.sysctls." + k, v.location(), p.hint())),
                            () -> sysctls.put(k, value));
                });
            }
            if (labUser != null) checkNodeUser(node, merged, labUser, out);
            Path nsPath = base.resolve(lab.name()).resolve("netns").resolve(node);
            String forced = "apiVersion: sandbox/v1\nkind: Sandbox\nname: " + sandboxName + "\n"
                    + "namespaces:\n  net: {join: {path: '" + nsPath + "'}}\n"
                    + (labUser == null ? "" : "  user: {join: {path: '" + base.resolve(lab.name()).resolve("userns") + "'}}\n");
            LoadedSpec forcedSpec = loader.parse(lab.file(), lab.file().toString(), forced);
            out.addAll(forcedSpec.diagnostics());
            SpecNode root = SpecMerge.finish(SpecMerge.merge(merged, forcedSpec.root()));
            LoadedSpec hostLinks = hostLinkSpec(loader, lab, sandboxName, net, sandbox.caller().isRoot(), out);
            specs.add(new NodeSpec(node, sandboxName, new LoadedSpec(lab.file(), lab.file().toString(), root, List.of()), sysctls, hostLinks));
        }
        return specs;
    }

    // ---- lab-net: host-facing links of a node (issue 12) ------------------------------------------------------------

    /**
     * A node's {@code namespaces.net.links} (veth pairs to the host, docs/spec.md) as a spec of their own: {@code name:
     * <lab>-<node>} and that net section's links, nothing else. It is validated by the net plugin like any sandbox's links
     * (the diagnostics located in the node's own file) and compiled for its {@code connect veth} steps only, which join
     * the node's plan ({@link #withHostLinks}): the node's monitor creates each pair with the host end on the host and the
     * other end in the node's namespace (the lab's, which it joined), journaled in the node's record, so {@code down} of
     * the node or the lab deletes it. null when the node has no links.
     */
    static LoadedSpec hostLinkSpec(SpecLoader loader, Model lab, String sandboxName, SpecNode net, boolean asRoot, List<Diagnostic> out) {
        if (net == null || !net.get("links").isPresent()) return null;
        // rootless: the frame has the user namespace a rootless spec must have (the node's is the lab's), so that the
        // only diagnostics are the links' own (net.links-need-root)
        String frame = "apiVersion: sandbox/v1\nkind: Sandbox\nname: " + sandboxName + "\nnamespaces: {" + (asRoot ? "" : "user: {}, ")
                + "net: {}}\nprocess: {command: [/bin/true]}\n"; // never run: only its veth steps are used
        LoadedSpec framed = loader.parse(lab.file(), lab.file().toString(), frame);
        out.addAll(framed.diagnostics());
        if (!framed.parsed()) return null;
        SpecNode onlyLinks = net; // the node's own nodes: their diagnostics are located in its file
        for (String key : List.copyOf(net.fields().keySet())) if (!key.equals("links")) onlyLinks = SpecMerge.without(onlyLinks, key);
        SpecNode root = framed.root();
        root = SpecMerge.with(root, "namespaces", SpecMerge.with(root.get("namespaces"), "net", onlyLinks));
        return new LoadedSpec(lab.file(), lab.file().toString(), SpecMerge.finish(root), List.of());
    }

    /** The node's plan plus the {@code connect veth} steps of its host links, in stage order. */
    static Plan withHostLinks(Sandbox sandbox, Plan plan, LoadedSpec hostLinks, Path runtimeDir, List<Diagnostic> problems) {
        Plan links = sandbox.pipeline().compile(hostLinks, runtimeDir, new Pipeline.RunOptions(Optional.empty()), problems, new LinkedHashMap<>());
        List<dev.sandbox.api.Step> steps = new ArrayList<>(plan.steps());
        steps.addAll(links.steps().stream().filter(st -> st.stage() == dev.sandbox.api.Stage.CONNECT && st.op().equals("veth")).toList());
        steps.sort(java.util.Comparator.comparing(dev.sandbox.api.Step::stage)); // stable: the node's own order is kept
        return new Plan(plan.name(), steps);
    }

    /** The lab and every node checked (what {@code validate LAB} prints); nodes empty when the lab itself can't be read. */
    record Checked(Model lab, List<NodeSpec> nodes, List<Diagnostic> diagnostics) {
        boolean hasErrors() { return diagnostics.stream().anyMatch(Diagnostic::isError); }
    }

    static Checked check(Sandbox sandbox, Map<String, String> env, Path file, List<Path> envFiles) {
        List<Diagnostic> found = new ArrayList<>(sandbox.pluginProblems());
        Model lab = load(sandbox, file, envFiles, found);
        Path base = RuntimePaths.base(sandbox.caller(), env);
        List<NodeSpec> nodes = lab == null ? List.of() : nodeSpecs(sandbox, lab, envFiles, base, found);
        for (NodeSpec n : nodes) found.addAll(sandbox.pipeline().validate(n.spec()));
        for (NodeSpec n : nodes) if (n.hostLinks() != null) found.addAll(sandbox.pipeline().validate(n.hostLinks()));
        Optional<String> forbidden = sandbox.caller().isRoot() ? Optional.empty() : userNamespacesForbidden();
        if (forbidden.isPresent() && lab != null) {
            found.add(error("lab.needs-root", "a lab of a caller other than root needs a user namespace, and " + forbidden.get(),
                    "kind", lab.root().get("kind").location(), "run it as root, or allow unprivileged user namespaces (docs/labs.md, "
                            + "\"Rootless labs\")"));
        }
        return new Checked(lab, nodes, found);
    }

    /** {@code sandbox up LAB}: validate all, compile every node, hand {@code sandbox-init lab-up FILE} to the launcher. */
    static int up(Sandbox sandbox, Map<String, String> env, PrintWriter err, Up.Request request) {
        Checked checked = check(sandbox, env, request.spec(), request.envFiles());
        List<Diagnostic> found = checked.diagnostics();
        Model lab = checked.lab();
        List<NodeSpec> nodes = checked.nodes();
        Path base = RuntimePaths.base(sandbox.caller(), env);
        Output.diagnostics(err, found);
        if (checked.hasErrors()) {
            err.println(request.spec() + ": " + Output.summary(found) + "; nothing was started");
            err.flush();
            return Controller.SETUP_FAILED;
        }
        String home = System.getProperty("sandbox.home", env.get("SANDBOX_HOME"));
        Path helper = UpDefaults.helper(env, home == null ? "." : home);
        StringBuilder file = new StringBuilder("# sandbox-lab 1\n");
        file.append("lab\t").append(lab.name()).append('\n');
        file.append("runtime\t").append(helper).append('\n');
        if (!sandbox.caller().isRoot()) file.append(LabUser.of(sandbox.caller()).line()).append('\n');
        try {
            RuntimePaths.ensureTrusted(base);
            List<Diagnostic> problems = new ArrayList<>();
            for (NodeSpec n : nodes) file.append("node\t").append(n.node()).append('\n');
            boolean anyBridge = lab.links().stream().anyMatch(l -> l.bridge() != null);
            if (anyBridge) file.append("node\t").append(SWITCH).append('\n');
            int port = 0;
            for (Link l : lab.links()) {
                if (l.bridge() != null) {
                    file.append(String.join("\t", "bridge", SWITCH, l.bridge())).append('\n');
                    for (Endpoint ep : l.endpoints()) {
                        String peer = "p" + port++; // the member's port in the switch namespace
                        file.append(String.join("\t", "link", ep.node(), ep.iface(), SWITCH, peer, Long.toString(l.mtu()))).append('\n');
                        file.append(String.join("\t", "enslave", SWITCH, peer, l.bridge())).append('\n');
                    }
                } else {
                    Endpoint a = l.endpoints().get(0), b = l.endpoints().get(1);
                    file.append(String.join("\t", "link", a.node(), a.iface(), b.node(), b.iface(), Long.toString(l.mtu()))).append('\n');
                }
                for (Endpoint ep : l.endpoints()) {
                    for (Prefix p : ep.addresses()) file.append(String.join("\t", "addr", ep.node(), ep.iface(), p.text())).append('\n');
                }
            }
            for (Route r : lab.routes()) file.append(String.join("\t", "route", r.node(), r.to(), r.via())).append('\n');
            for (NodeSpec n : nodes) {
                n.sysctls().forEach((k, v) -> file.append(String.join("\t", "sysctl", n.node(), k, v)).append('\n'));
            }
            for (NodeSpec n : nodes) {
                Path runtimeDir = base.resolve(n.sandboxName());
                Plan plan = sandbox.pipeline().compile(n.spec(), runtimeDir, new Pipeline.RunOptions(Optional.empty()), problems,
                        new LinkedHashMap<>());
                if (!problems.isEmpty()) {
                    Output.diagnostics(err, problems);
                    err.flush();
                    return Controller.SETUP_FAILED;
                }
                if (n.hostLinks() != null) plan = withHostLinks(sandbox, plan, n.hostLinks(), runtimeDir, problems);
                if (!problems.isEmpty()) {
                    Output.diagnostics(err, problems);
                    err.flush();
                    return Controller.SETUP_FAILED;
                }
                Path planFile = write(base, n.sandboxName(), withLab(PlanFile.canonical(plan, runtimeDir, PlanFile.Source.of(n.spec())).text(),
                        lab.name()));
                file.append(String.join("\t", "up", n.sandboxName(), helper.toString(), "run", "--plan", planFile.toString(), "--consume",
                        "--grace-ms", Long.toString((long) (request.stopTimeoutSeconds() * 1000)), "--detach")).append('\n');
            }
            Path labFile = write(base, lab.name(), file.toString());
            List<String> argv = List.of(helper.toString(), "lab-up", labFile.toString());
            err.flush();
            if ("3".equals(env.get("SANDBOX_HANDOFF")) && Files.exists(Path.of("/proc/self/fd/3"))) {
                Files.write(Path.of("/proc/self/fd/3"), (String.join("\n", argv) + "\n").getBytes(StandardCharsets.UTF_8));
                return 0;
            }
            return new ProcessBuilder(argv).inheritIO().start().waitFor();
        } catch (dev.sandbox.engine.runtime.HostStepException e) {
            err.println("sandbox: " + e.getMessage());
            return Controller.SETUP_FAILED;
        } catch (IOException e) {
            err.println("sandbox: lab " + lab.name() + ": write a plan in " + base + ": " + e.getMessage());
            return Controller.SETUP_FAILED;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return Controller.SETUP_FAILED;
        }
    }

    /**
     * The node's plan with {@code lab=NAME} last on its runtime-dir line (line 2): its monitor records the lab in
     * state.json, so {@code ps} shows it and {@code down} of the lab finds its nodes (docs/labs.md). A lab name is a
     * sandbox name: nothing in it needs escaping. Lab plans are never cached, so PlanFile.parse never reads it.
     */
    static String withLab(String planText, String labName) {
        int end = planText.indexOf('\n', planText.indexOf('\n') + 1);
        return planText.substring(0, end) + "\tlab=" + labName + planText.substring(end);
    }

    private static Path write(Path base, String name, String text) throws IOException {
        for (int attempt = 0; ; attempt++) {
            Path file = base.resolve(".plan-" + name + "." + ProcessHandle.current().pid() + "-"
                    + Long.toHexString(ThreadLocalRandom.current().nextLong() & Long.MAX_VALUE));
            try {
                Files.createFile(file, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
            } catch (FileAlreadyExistsException e) {
                if (attempt < 10) continue;
                throw e;
            }
            Files.writeString(file, text, StandardCharsets.UTF_8);
            return file;
        }
    }

    // ---- rootless labs (docs/labs.md, "Rootless labs"): one user namespace for every node, like a pod ----

    /**
     * The user namespace of a caller other than root's lab: inside 0 is the caller's uid and gid; when /etc/subuid and
     * /etc/subgid grant the caller ranges and newuidmap/newgidmap are installed, inside 1-65536 are the first 65536 ids
     * of the first range too (written by the tools, as a sandbox's multi-range maps). Maps as the plan's
     * {@code write-id-map} gives them ({@code "inside outside count,..."}). setgroups is always deny: the kernel
     * insists on it for a direct gid map, and newgidmap writes it itself when it maps the caller's own gid.
     */
    record LabUser(String uidMap, String uidVia, String gidMap, String gidVia, String setgroups) {
        static final List<String> TOOL_DIRS = List.of("/usr/bin", "/bin", "/usr/sbin", "/sbin", "/usr/local/bin"); // as host.c looks

        static LabUser of(Caller caller) {
            List<long[]> subuids = HostProbe.subordinate(Path.of("/etc/subuid"), caller.userName(), caller.uid());
            List<long[]> subgids = HostProbe.subordinate(Path.of("/etc/subgid"), caller.userName(), caller.uid());
            String uid = "0 " + caller.uid() + " 1", gid = "0 " + caller.gid() + " 1";
            long[] su = usable(subuids, caller.uid()), sg = usable(subgids, caller.gid());
            if (su == null || sg == null || !tool("newuidmap") || !tool("newgidmap")) {
                return new LabUser(uid, "direct", gid, "direct", "deny");
            }
            return new LabUser(uid + ",1 " + su[0] + " " + Math.min(su[1], 65536), "newuidmap",
                    gid + ",1 " + sg[0] + " " + Math.min(sg[1], 65536), "newgidmap", "deny");
        }

        /** The first granted range that doesn't hold the caller's own id (the kernel refuses overlapping outside ranges). */
        private static long[] usable(List<long[]> ranges, long own) {
            return ranges.stream().filter(r -> r[1] > 0 && (own < r[0] || own >= r[0] + Math.min(r[1], 65536))).findFirst().orElse(null);
        }

        private static boolean tool(String name) {
            return TOOL_DIRS.stream().anyMatch(d -> Files.isExecutable(Path.of(d, name)));
        }

        String line() {
            return String.join("\t", "userns", uidMap, uidVia, gidMap, gidVia, setgroups);
        }

        /** "uid 0 is 1001, uids 1-65536 are 100000-165535" for messages. */
        static String describe(String kind, String map) {
            List<String> parts = new ArrayList<>();
            for (String range : map.split(",")) {
                String[] f = range.split(" ");
                long in = Long.parseLong(f[0]), outside = Long.parseLong(f[1]), count = Long.parseLong(f[2]);
                parts.add(count == 1 ? kind + " " + in + " is " + outside
                        : kind + "s " + in + "-" + (in + count - 1) + " are " + outside + "-" + (outside + count - 1));
            }
            return String.join(", ", parts);
        }

        String describe() {
            return describe("uid", uidMap) + "; " + describe("gid", gidMap) + "; setgroups " + setgroups;
        }
    }

    /**
     * A rootless lab's nodes all join its user namespace: a node's own {@code namespaces.user} may be {@code {}} or say
     * exactly what the lab's is; a join, other maps or another setgroups is {@code lab.node-user} at the key or value.
     */
    static void checkNodeUser(String node, SpecNode merged, LabUser lab, List<Diagnostic> out) {
        SpecNode user = merged == null ? null : merged.get("namespaces").get("user");
        if (user == null || !user.isPresent() || user.kind() != SpecNode.Kind.MAP) return; // not a map: the schema says so
        String hint = "remove namespaces.user from node " + node + ": every node of a rootless lab is in the lab's user namespace ("
                + lab.describe() + ")";
        for (Map.Entry<String, SpecNode> f : user.fields().entrySet()) {
            SpecNode v = f.getValue();
            String problem = switch (f.getKey()) {
                case "join" -> "node " + node + " joins a user namespace; in a rootless lab every node is in the lab's";
                case "uidMap", "gidMap" -> {
                    String kind = f.getKey().equals("uidMap") ? "uid" : "gid";
                    String mine = mapText(v), labs = kind.equals("uid") ? lab.uidMap() : lab.gidMap();
                    yield labs.equals(mine) ? null : "node " + node + "'s " + f.getKey() + " is not the lab's: a rootless lab has one user "
                            + "namespace for all nodes, where " + LabUser.describe(kind, labs);
                }
                case "setgroups" -> lab.setgroups().equals(v.text("")) ? null : "node " + node + " asks for setgroups " + v.text("")
                        + "; the lab's user namespace has setgroups " + lab.setgroups();
                default -> null; // an unknown key: the schema reports it
            };
            if (problem != null) {
                out.add(error("lab.node-user", problem, "namespaces.user." + f.getKey(), f.getKey().equals("join") ? user.keyLocation("join")
                        : v.location(), hint));
            }
        }
    }

    /** A uidMap/gidMap list as {@code "inside outside count,..."}; "?" for anything that is not one (never equal to the lab's). */
    private static String mapText(SpecNode list) {
        if (list.kind() != SpecNode.Kind.LIST) return "?";
        List<String> ranges = new ArrayList<>();
        for (SpecNode r : list.elements()) {
            ranges.add(r.get("inside").longValue(-1) + " " + r.get("outside").longValue(-1) + " " + r.get("count").longValue(-1));
        }
        return String.join(",", ranges);
    }

    /** Why this host refuses a user namespace to a caller other than root, when its sysctls say so for certain. */
    static Optional<String> userNamespacesForbidden() {
        if (sysctl("/proc/sys/user/max_user_namespaces") == 0) {
            return Optional.of("user namespaces are disabled on this host (user.max_user_namespaces is 0)");
        }
        if (sysctl("/proc/sys/kernel/unprivileged_userns_clone") == 0) {
            return Optional.of("unprivileged user namespaces are disabled on this host (kernel.unprivileged_userns_clone is 0)");
        }
        return Optional.empty();
    }

    private static long sysctl(String file) {
        try {
            return Long.parseLong(Files.readAllLines(Path.of(file)).get(0).trim()); // not readString: /proc (COMMON.md)
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }

    /** {@code sandbox graph LAB}: the topology as Mermaid (default) or Graphviz DOT. */
    static String graph(Model lab, boolean dot) {
        StringBuilder out = new StringBuilder();
        if (dot) {
            out.append("graph \"").append(lab.name()).append("\" {\n");
            for (String n : lab.nodes().keySet()) out.append("  \"").append(n).append("\";\n");
            for (Link l : lab.links()) {
                if (l.bridge() != null) {
                    out.append("  \"").append(l.bridge()).append("\" [shape=box, label=\"bridge ").append(l.bridge()).append("\"];\n");
                    for (Endpoint e : l.endpoints()) {
                        out.append("  \"").append(e.node()).append("\" -- \"").append(l.bridge()).append("\" [label=\"").append(label(e))
                                .append("\"];\n");
                    }
                    continue;
                }
                Endpoint a = l.endpoints().get(0), b = l.endpoints().get(1);
                out.append("  \"").append(a.node()).append("\" -- \"").append(b.node()).append("\" [label=\"")
                        .append(label(a)).append(" -- ").append(label(b)).append("\"];\n");
            }
            return out.append("}\n").toString();
        }
        out.append("graph LR\n");
        for (String n : lab.nodes().keySet()) out.append("  ").append(n).append("[\"").append(lab.name()).append('-').append(n).append("\"]\n");
        for (Link l : lab.links()) {
            if (l.bridge() != null) {
                out.append("  br_").append(l.bridge().replaceAll("[^A-Za-z0-9_]", "_")).append("{{\"bridge ").append(l.bridge()).append("\"}}\n");
                for (Endpoint e : l.endpoints()) {
                    out.append("  ").append(e.node()).append(" ---|\"").append(label(e)).append("\"| br_")
                            .append(l.bridge().replaceAll("[^A-Za-z0-9_]", "_")).append('\n');
                }
                continue;
            }
            Endpoint a = l.endpoints().get(0), b = l.endpoints().get(1);
            out.append("  ").append(a.node()).append(" ---|\"").append(label(a)).append(" -- ").append(label(b)).append("\"| ")
                    .append(b.node()).append('\n');
        }
        return out.toString();
    }

    private static String label(Endpoint e) {
        return e.iface() + (e.addresses().isEmpty() ? "" : " " + String.join(" ", e.addresses().stream().map(Prefix::text).toList()));
    }
}
