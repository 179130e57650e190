package dev.sandbox.plugins.net;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sandbox.api.NamespacePlugin;
import dev.sandbox.api.PlanContext;
import dev.sandbox.api.SectionContext;
import dev.sandbox.api.Stage;
import dev.sandbox.api.Step;
import dev.sandbox.testkit.PluginHarness;
import java.util.List;
import org.junit.jupiter.api.Test;

class NetNamespacePluginTest {

    /** Stands in for the user plugin: a rootless caller needs a user section to create other namespaces. */
    private static final class StubUser implements NamespacePlugin {
        @Override public String id() { return "user"; }
        @Override public String schemaFragment() { return "{\"type\": \"object\"}"; }
        @Override public void validate(SectionContext context) { }
        @Override public void contribute(PlanContext context) { }
    }

    private static PluginHarness spec(String yaml) {
        return PluginHarness.with(new NetNamespacePlugin()).spec(yaml);
    }

    private static String line(Step s) {
        return s.stage().wireName() + " " + s.op() + s.args().stream().map(a -> " " + a.key() + "=" + a.value()).reduce("", String::concat);
    }

    private static List<String> netSteps(PluginHarness h) {
        return h.steps().stream().filter(s -> s.plugin().equals("net")).map(NetNamespacePluginTest::line).toList();
    }

    // ---- steps ----

    @Test
    void emptySectionBringsLoopbackUpInFinish() {
        var h = spec("""
                namespaces:
                  net: {}
                """);
        assertEquals(List.of(), h.errors());
        assertEquals(List.of("clone clone flags=CLONE_NEWNET", "finish link-up name=lo"), netSteps(h));
        assertTrue(h.first("link-up").orElseThrow().syscall().contains("SIOCSIFFLAGS"));
    }

    @Test
    void sysctlsBecomeConnectStepsAfterTheLinks() {
        var h = spec("""
                namespaces:
                  net:
                    links: [{type: veth, name: eth0, hostName: sb-s0}]
                    sysctls: {net.ipv4.ip_forward: 1, net.ipv4.ip_local_port_range: "40000 50000"}
                """);
        assertEquals(List.of(), h.errors());
        assertEquals(List.of("clone clone flags=CLONE_NEWNET", "connect veth name=eth0 hostName=sb-s0",
                "connect sysctl name=net.ipv4.ip_forward value=1", "connect sysctl name=net.ipv4.ip_local_port_range value=40000 50000",
                "finish link-up name=lo"), netSteps(h));
        assertTrue(h.first("sysctl").orElseThrow().syscall().contains("/proc/sys/net/ipv4/ip_forward"));
    }

    @Test
    void sysctlNamesAndValuesFollowTheLabsRules() {
        var h = spec("""
                namespaces:
                  net:
                    sysctls: {net..x: 1, kernel.pid_max: 1, net.ipv4.tcp_ecn: "1; reboot", net.ipv4.conf.all.rp_filter: 2}
                """);
        assertEquals(List.of("6:23 net.bad-sysctl", "6:42 net.bad-sysctl", "6:63 net.bad-sysctl-value"), h.errorCodes());
    }

    @Test
    void loopbackFalseLeavesLoDown() {
        var h = spec("""
                namespaces:
                  net: {loopback: false}
                """);
        assertEquals(List.of(), h.steps("link-up"));
    }

    @Test
    void linkBecomesOneConnectStepWithEveryGivenKey() {
        var h = spec("""
                namespaces:
                  net:
                    links:
                      - {type: veth, name: eth0, hostName: sb-hello0, address: [198.18.0.2/30, "fd00::2/64"],
                         hostAddress: 198.18.0.1/30, gateway: 198.18.0.1, mtu: 1500, mac: "02:00:00:00:00:01"}
                """);
        assertEquals(List.of(), h.errors());
        List<Step> veth = h.steps("veth");
        assertEquals(1, veth.size());
        assertEquals("connect veth name=eth0 hostName=sb-hello0 address=198.18.0.2/30 address=fd00::2/64 hostAddress=198.18.0.1/30"
                + " gateway=198.18.0.1 mtu=1500 mac=02:00:00:00:00:01", line(veth.get(0)));
        assertEquals(List.of("198.18.0.2/30", "fd00::2/64"), veth.get(0).all("address"));
        String syscall = veth.get(0).syscall();
        assertTrue(syscall.startsWith("RTM_NEWLINK {IFLA_IFNAME=\"sb-hello0\", IFLA_MTU=1500, IFLA_INFO_KIND=\"veth\""), syscall);
        assertTrue(syscall.contains("RTM_NEWADDR 198.18.0.1/30 dev sb-hello0") && syscall.contains("RTM_NEWROUTE default via 198.18.0.1"), syscall);
        assertTrue(veth.get(0).summary().contains("sb-hello0 (host) <-> eth0 (sandbox)"), veth.get(0).summary());
    }

    @Test
    void keysNotGivenAreLeftOutAndTheHostNameIsDerived() {
        var h = spec("""
                namespaces:
                  net:
                    loopback: false
                    links:
                      - {type: veth, name: eth0}
                      - {type: veth, name: eth1, hostName: sb-test-1}
                      - {type: veth, name: eth2, address: "fd00::2/64", gateway: "fe80::1"}
                """);
        assertEquals(List.of(), h.errors());
        List<String> steps = h.steps("veth").stream().map(NetNamespacePluginTest::line).toList();
        assertEquals("connect veth name=eth0 hostName=sb-test-0", steps.get(0));
        assertEquals("connect veth name=eth1 hostName=sb-test-1", steps.get(1));
        assertEquals("connect veth name=eth2 hostName=sb-test-2 address=fd00::2/64 gateway=fe80::1", steps.get(2));
    }

    @Test
    void derivedHostNameAvoidsOneGivenByAnotherLink() {
        var h = spec("""
                namespaces:
                  net:
                    links:
                      - {type: veth, name: eth0, hostName: sb-test-1}
                      - {type: veth, name: eth1}
                """);
        List<String> hostNames = h.steps("veth").stream().map(s -> s.arg("hostName").orElseThrow()).toList();
        assertEquals("sb-test-1", hostNames.get(0));
        assertNotEquals("sb-test-1", hostNames.get(1));
        assertTrue(hostNames.get(1).matches("sb-test[0-9a-f]{4}-1"), hostNames.get(1));
    }

    @Test
    void longSandboxNamesGetATruncatedNamePlusAHash() {
        String a = LinkNames.hostNames("webapplication-blue", java.util.Arrays.asList((String) null)).get(0);
        String b = LinkNames.hostNames("webapplication-green", java.util.Arrays.asList((String) null)).get(0);
        assertTrue(a.matches("sb-webapp[0-9a-f]{4}-0"), a);
        assertTrue(b.matches("sb-webapp[0-9a-f]{4}-0"), b);
        assertNotEquals(a, b);
        assertEquals(a, LinkNames.derive("webapplication-blue", 0, 0), "deterministic");
        for (int i : new int[] {0, 9, 10, 12345}) {
            String name = LinkNames.derive("x".repeat(63), i, 0);
            assertTrue(name.length() <= 15 && LinkNames.problem(name).isEmpty(), name);
        }
    }

    @Test
    void cidrParsingNeverResolvesNamesAndKnowsBothFamilies() {
        assertTrue(Cidr.parseCidr("198.18.0.2/30").contains(Cidr.parseAddress("198.18.0.1")));
        assertTrue(!Cidr.parseCidr("198.18.0.2/30").contains(Cidr.parseAddress("198.18.0.4")));
        assertTrue(Cidr.parseCidr("fd00::2/64").contains(Cidr.parseAddress("fd00::ffff:1")));
        assertTrue(Cidr.parseCidr("::ffff:198.18.0.2/120").contains(Cidr.parseAddress("::ffff:198.18.0.9")));
        assertTrue(Cidr.parseAddress("fe80::1").isLinkLocalV6());
        assertEquals("fd00::/64", Cidr.parseCidr("fd00::2/64").network());
        assertEquals("::/0", Cidr.parseCidr("::1/0").network());
        assertEquals("fd00:0:1::/48", Cidr.parseCidr("fd00:0:1:2::1/48").network());
        assertEquals("2001:db8::1:0:0:1/128", Cidr.parseCidr("2001:db8:0:0:1:0:0:1/128").network());
        assertEquals("198.18.0.4/30", Cidr.parseCidr("198.18.0.6/30").network());
        for (String bad : List.of("localhost", "1.2.3", "1.2.3.256", "010.0.0.1", "fd00::1::2", "1:2:3:4:5:6:7:8:9", "fe80::1%eth0", "::g")) {
            try {
                Cidr.parseAddress(bad);
                throw new AssertionError(bad + " parsed");
            } catch (IllegalArgumentException expected) {
                // the reason is the message
            }
        }
    }

    // ---- one test per diagnostic code, located ----

    @Test
    void badLinkNamesAreReportedAtTheName() {
        var h = spec("""
                namespaces:
                  net:
                    links:
                      - {type: veth, name: a-very-long-name0}
                      - {type: veth, name: "a/b", hostName: ".."}
                      - {type: veth, name: lo, hostName: "has space"}
                """);
        assertEquals(List.of("7:28 net.bad-link-name", "8:28 net.bad-link-name", "8:45 net.bad-link-name",
                "9:28 net.bad-link-name", "9:42 net.bad-link-name"), h.errorCodes());
        assertTrue(h.errors().get(0).message().contains("17 bytes"), h.errors().get(0).message());
        assertTrue(h.errors().get(3).message().contains("loopback"), h.errors().get(3).message());
    }

    @Test
    void badAddressesAreReportedAtEachAddress() {
        var h = spec("""
                namespaces:
                  net:
                    links:
                      - type: veth
                        name: eth0
                        address: [198.18.0.2/30, 198.18.0.300/30]
                        hostAddress: 198.18.0.1
                        gateway: gw.example
                """);
        assertEquals(List.of("9:34 net.bad-address", "10:22 net.bad-address", "11:18 net.bad-address"), h.errorCodes());
        assertTrue(h.errors().get(1).message().contains("no prefix length"), h.errors().get(1).message());
    }

    @Test
    void gatewayOutsideTheLinksSubnetIsReported() {
        var h = spec("""
                namespaces:
                  net:
                    links:
                      - {type: veth, name: eth0, address: 198.18.0.2/30, gateway: 198.18.0.5}
                      - {type: veth, name: eth1, address: 198.18.0.6/30, gateway: "fd00::1"}
                """);
        assertEquals(List.of("7:67 net.gateway-outside-subnet", "8:67 net.gateway-outside-subnet"), h.errorCodes());
        assertTrue(h.errors().get(1).message().contains("no IPv6 address"), h.errors().get(1).message());
        assertTrue(h.errors().get(0).hint().contains("inside 198.18.0.0/30"), h.errors().get(0).hint());
    }

    @Test
    void duplicateNamesAndHostNamesAreReportedAtTheSecond() {
        var h = spec("""
                namespaces:
                  net:
                    links:
                      - {type: veth, name: eth0, hostName: sb-a}
                      - {type: veth, name: eth0, hostName: sb-a}
                """);
        assertEquals(List.of("8:28 net.duplicate-link", "8:44 net.duplicate-link"), h.errorCodes());
        assertTrue(h.errors().get(0).message().contains("line 7"), h.errors().get(0).message());
    }

    @Test
    void mtuOutOfRangeAndTooSmallForIpv6AreReported() {
        var h = spec("""
                namespaces:
                  net:
                    links:
                      - {type: veth, name: eth0, mtu: 67}
                      - {type: veth, name: eth1, mtu: 65536}
                      - {type: veth, name: eth2, mtu: 1279, hostAddress: "fd00::1/64"}
                """);
        assertEquals(List.of("7:39 net.bad-mtu", "8:39 net.bad-mtu", "9:39 net.bad-mtu"), h.errorCodes());
        assertTrue(h.errors().get(2).message().contains("IPv6"), h.errors().get(2).message());
    }

    @Test
    void malformedMulticastAndZeroMacsAreReported() {
        var h = spec("""
                namespaces:
                  net:
                    links:
                      - {type: veth, name: eth0, mac: "02:00:00:00:00"}
                      - {type: veth, name: eth1, mac: "01:00:5e:00:00:01"}
                      - {type: veth, name: eth2, mac: "00:00:00:00:00:00"}
                """);
        assertEquals(List.of("7:39 net.bad-mac", "8:39 net.bad-mac", "9:39 net.bad-mac"), h.errorCodes());
        assertTrue(h.errors().get(1).message().contains("multicast"), h.errors().get(1).message());
    }

    @Test
    void rootlessCallerCannotCreateLinks() {
        var h = PluginHarness.with(new NetNamespacePlugin(), new StubUser()).caller(PluginHarness.ALICE).spec("""
                namespaces:
                  user: {}
                  net:
                    links:
                      - {type: veth, name: eth0}
                """);
        assertEquals(List.of("8:7 net.links-need-root"), h.errorCodes());
        assertTrue(h.errors().get(0).message().contains("host's network namespace"), h.errors().get(0).message());
        assertTrue(h.errors().get(0).hint().contains("loopback"), h.errors().get(0).hint());
    }

    @Test
    void rootlessCallerGetsLoopback() {
        var h = PluginHarness.with(new NetNamespacePlugin(), new StubUser()).caller(PluginHarness.ALICE).spec("""
                namespaces:
                  user: {}
                  net: {}
                """);
        assertEquals(List.of(), h.errors());
        assertEquals(Stage.FINISH, h.first("link-up").orElseThrow().stage());
    }

    // ---- schema ----

    @Test
    void schemaChecksTypesEnumsAndRequiredKeys() {
        var h = spec("""
                namespaces:
                  net:
                    links:
                      - {type: bridge, name: br0}
                      - {type: veth, address: 5, nic: x}
                """);
        List<String> codes = h.errors().stream().map(d -> d.code()).sorted().toList();
        assertEquals(List.of("schema.enum", "schema.required", "schema.type", "schema.unknown-key"), codes);
    }
}
