package dev.sandbox.engine.net;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;

import org.junit.jupiter.api.Test;

class PlannedLinkTest {

    private static String problem(VethLink... links) {
        return assertThrows(NetworkException.class, () -> PlannedLink.planAll(List.of(links))).getMessage();
    }

    private static VethLink link(String name, String hostName) {
        return new VethLink(name, hostName, List.of(), List.of(), null, null, null);
    }

    @Test
    void acceptsACompleteLink() throws Exception {
        PlannedLink plan = PlannedLink.plan(new VethLink("eth0", "sb-web0", List.of("198.18.0.2/30"),
                List.of("198.18.0.1/30"), "198.18.0.1", 1400, "02:AA:bb:00:00:01"));
        assertEquals("198.18.0.1", plan.gateway().getHostAddress());
        assertEquals((byte) 0xaa, plan.mac()[1]);
    }

    @Test
    void nullListsMeanNoAddresses() throws Exception {
        PlannedLink plan = PlannedLink.plan(new VethLink("eth0", "sb-web0", null, null, null, null, null));
        assertEquals(List.of(), plan.addresses());
    }

    @Test
    void namesFollowTheKernelsRules() {
        assertEquals("check link sb-web0-too-long: EINVAL (hostName 'sb-web0-too-long' is longer than 15 bytes, "
                        + "the kernel's limit)",
                problem(link("eth0", "sb-web0-too-long")));
        assertEquals("check link sb/0: EINVAL (hostName 'sb/0' is not a valid interface name: no '/', ':' or spaces allowed)",
                problem(link("eth0", "sb/0")));
        assertEquals("check link sb-web0: EINVAL (name is empty)", problem(link("", "sb-web0")));
        assertEquals("check link: EINVAL (hostName is empty)", problem(link("eth0", null)));
    }

    @Test
    void twoLinksCannotShareAName() {
        assertEquals("check link sb-web0: EINVAL (two links use the host name sb-web0)",
                problem(link("eth0", "sb-web0"), link("eth1", "sb-web0")));
        assertEquals("check link eth0: EINVAL (two links use the sandbox-side name eth0)",
                problem(link("eth0", "sb-web0"), link("eth0", "sb-web1")));
    }

    @Test
    void gatewayMustBeOnTheLink() {
        assertEquals("check link sb-web0: EINVAL (gateway 198.18.0.9 is not inside any of the addresses of eth0 "
                        + "[198.18.0.2/30])",
                problem(new VethLink("eth0", "sb-web0", List.of("198.18.0.2/30"), List.of(), "198.18.0.9", null, null)));
    }

    @Test
    void ipv6LinkLocalGatewayNeedsNoAddress() throws Exception {
        PlannedLink.plan(new VethLink("eth0", "sb-web0", List.of(), List.of(), "fe80::1", null, null));
    }

    @Test
    void macMustBeSixHexPairs() {
        assertEquals("check link sb-web0: EINVAL (mac '02:00:00:00:01' is not six hex pairs like 02:00:00:00:00:01)",
                problem(new VethLink("eth0", "sb-web0", List.of(), List.of(), null, null, "02:00:00:00:01")));
        problem(new VethLink("eth0", "sb-web0", List.of(), List.of(), null, null, "02:00:00:00:00:0g"));
    }

    @Test
    void mtuMustBePositive() {
        assertEquals("check link sb-web0: EINVAL (mtu -1 must be positive)",
                problem(new VethLink("eth0", "sb-web0", List.of(), List.of(), null, -1, null)));
    }
}
