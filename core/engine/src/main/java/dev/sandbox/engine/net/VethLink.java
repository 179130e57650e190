package dev.sandbox.engine.net;

import java.util.List;

/**
 * One veth link of a spec.
 *
 * @param name          the sandbox end's name inside its network namespace, e.g. {@code eth0}
 * @param hostName      the host end's name in the host network namespace, e.g. {@code sb-web0}
 * @param addresses     CIDR strings for the sandbox end, IPv4 or IPv6 (may be empty)
 * @param hostAddresses CIDR strings for the host end, IPv4 or IPv6 (may be empty)
 * @param gateway       the default route's gateway inside the sandbox, an IP literal, or null for none
 * @param mtu           the MTU of both ends, or null for the kernel's default
 * @param mac           the sandbox end's MAC as {@code aa:bb:cc:dd:ee:ff}, or null for a random one
 */
public record VethLink(String name, String hostName, List<String> addresses, List<String> hostAddresses,
                       String gateway, Integer mtu, String mac) {

    public VethLink {
        addresses = addresses == null ? List.of() : List.copyOf(addresses);
        hostAddresses = hostAddresses == null ? List.of() : List.copyOf(hostAddresses);
    }
}
