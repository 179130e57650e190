package dev.sandbox.engine.net;

import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * A {@link VethLink} checked and parsed before anything touches the kernel, so that bad input fails with
 * nothing created. The spec's plugin validates the same rules with diagnostics; this is the last line.
 */
record PlannedLink(String name, String hostName, List<IpPrefix> addresses, List<IpPrefix> hostAddresses,
                   InetAddress gateway, Integer mtu, byte[] mac, String macText) {

    static final String CHECK = "check link";
    /** IFNAMSIZ is 16 including the terminating NUL. */
    static final int MAX_NAME_BYTES = 15;

    /** Checks every link and their names against each other; the first problem wins. */
    static List<PlannedLink> planAll(List<VethLink> links) throws NetworkException {
        if (links == null) {
            throw new NetworkException(CHECK, "", "EINVAL", "the list of links is null");
        }
        List<PlannedLink> planned = new ArrayList<>();
        Set<String> hostNames = new HashSet<>();
        Set<String> names = new HashSet<>();
        for (VethLink link : links) {
            PlannedLink plan = plan(link);
            if (!hostNames.add(plan.hostName())) {
                throw invalid(plan.hostName(), "two links use the host name " + plan.hostName());
            }
            if (!names.add(plan.name())) {
                throw invalid(plan.name(), "two links use the sandbox-side name " + plan.name());
            }
            planned.add(plan);
        }
        return planned;
    }

    static PlannedLink plan(VethLink link) throws NetworkException {
        if (link == null) {
            throw new NetworkException(CHECK, "", "EINVAL", "a link is null");
        }
        String hostName = checkName(link.hostName(), link.hostName(), "hostName");
        String name = checkName(link.name(), hostName, "name");
        List<IpPrefix> addresses = prefixes(link.addresses(), hostName, "address");
        List<IpPrefix> hostAddresses = prefixes(link.hostAddresses(), hostName, "host address");
        InetAddress gateway = link.gateway() == null ? null : parseGateway(link.gateway(), hostName);
        if (gateway != null && !gateway.isLinkLocalAddress()
                && addresses.stream().noneMatch(prefix -> prefix.contains(gateway))) {
            // The kernel would refuse a gateway that is not on the link (ENETUNREACH/EINVAL); say why up front.
            throw invalid(hostName, "gateway " + link.gateway() + " is not inside any of the addresses of "
                    + name + " " + link.addresses());
        }
        Integer mtu = link.mtu();
        if (mtu != null && mtu <= 0) {
            throw invalid(hostName, "mtu " + mtu + " must be positive");
        }
        byte[] mac = link.mac() == null ? null : parseMac(link.mac(), hostName);
        return new PlannedLink(name, hostName, addresses, hostAddresses, gateway, mtu, mac, link.mac());
    }

    /** Checks an interface name like the kernel's dev_valid_name(); {@code subject} names it in the message. */
    static String checkName(String name, String subject, String field) throws NetworkException {
        String shown = subject == null ? "" : subject;
        if (name == null || name.isEmpty()) {
            throw invalid(shown, field + " is empty");
        }
        if (name.getBytes(StandardCharsets.UTF_8).length > MAX_NAME_BYTES) {
            throw invalid(name, field + " '" + name + "' is longer than " + MAX_NAME_BYTES
                    + " bytes, the kernel's limit");
        }
        // dev_valid_name(): no '/', ':' or white space, and not "." or "..".
        if (name.equals(".") || name.equals("..")
                || name.chars().anyMatch(c -> c == '/' || c == ':' || Character.isWhitespace(c) || c < 0x20)) {
            throw invalid(name, field + " '" + name + "' is not a valid interface name: no '/', ':' or spaces allowed");
        }
        return name;
    }

    private static List<IpPrefix> prefixes(List<String> texts, String hostName, String what) throws NetworkException {
        List<IpPrefix> prefixes = new ArrayList<>();
        for (String text : texts) {
            try {
                prefixes.add(IpPrefix.parse(text));
            } catch (IllegalArgumentException e) {
                throw invalid(hostName, what + " " + e.getMessage());
            }
        }
        return List.copyOf(prefixes);
    }

    private static InetAddress parseGateway(String text, String hostName) throws NetworkException {
        try {
            return IpPrefix.parseAddress(text);
        } catch (IllegalArgumentException e) {
            throw invalid(hostName, "gateway " + e.getMessage());
        }
    }

    static byte[] parseMac(String text, String hostName) throws NetworkException {
        String[] parts = text.split(":", -1);
        byte[] mac = new byte[6];
        boolean wellFormed = parts.length == 6;
        for (int i = 0; wellFormed && i < 6; i++) {
            String part = parts[i];
            wellFormed = part.length() == 2 && Character.digit(part.charAt(0), 16) >= 0
                    && Character.digit(part.charAt(1), 16) >= 0;
            if (wellFormed) {
                mac[i] = (byte) Integer.parseInt(part, 16);
            }
        }
        if (!wellFormed) {
            throw invalid(hostName, "mac '" + text + "' is not six hex pairs like 02:00:00:00:00:01");
        }
        return mac;
    }

    private static NetworkException invalid(String subject, String hint) {
        return new NetworkException(CHECK, subject, "EINVAL", hint);
    }
}
