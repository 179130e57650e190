package dev.sandbox.plugins.net;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sandbox.api.NamespacePlugin;
import dev.sandbox.api.PlanContext;
import dev.sandbox.api.SectionContext;
import dev.sandbox.api.Step;
import dev.sandbox.testkit.PluginHarness;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code net: {mode: user}}: checks and the {@code connect user-net} step. */
class UserNetTest {

    @TempDir
    Path tmp;

    private static final class StubUser implements NamespacePlugin {
        @Override public String id() { return "user"; }
        @Override public String schemaFragment() { return "{\"type\": \"object\"}"; }
        @Override public void validate(SectionContext context) { }
        @Override public void contribute(PlanContext context) { }
    }

    /** A host where pasta and /dev/net/tun are usable (files of this test), and ports from 1024 are unprivileged. */
    private UserNet.Host host() throws IOException {
        Path tool = Files.createFile(tmp.resolve("pasta"));
        tool.toFile().setExecutable(true);
        Path tun = Files.createFile(tmp.resolve("tun"));
        Path start = Files.writeString(tmp.resolve("ip_unprivileged_port_start"), "1024\n");
        return new UserNet.Host(tool, tun, start);
    }

    private PluginHarness spec(UserNet.Host host, String yaml) {
        return PluginHarness.with(new NetNamespacePlugin(host), new StubUser()).caller(PluginHarness.ALICE).spec(yaml);
    }

    /** The error codes in report order (by location). */
    private static List<String> codes(PluginHarness h) {
        return h.errors().stream().map(d -> d.code()).toList();
    }

    private static String line(Step s) {
        return s.stage().wireName() + " " + s.op() + s.args().stream().map(a -> " " + a.key() + "=" + a.value()).reduce("", String::concat);
    }

    @Test
    void userModeIsOneConnectStepWithPortsInCompactForm() throws IOException {
        UserNet.Host host = host();
        var h = spec(host, """
                namespaces:
                  user: {}
                  net:
                    mode: user
                    ports:
                      - {target: 80, published: 8080}
                      - {target: 53, published: 5353, host_ip: "::1", protocol: udp}
                """);
        assertEquals(List.of(), h.errors());
        List<Step> steps = h.steps("user-net");
        assertEquals(1, steps.size());
        assertEquals("connect user-net tool=" + host.tool() + " ifname=eth0 address=10.0.2.100/24 gateway=10.0.2.2 host-loopback=0"
                + " port=tcp:127.0.0.1:8080:80 port=udp:::1:5353:53", line(steps.get(0)));
        assertTrue(steps.get(0).summary().contains("tcp 127.0.0.1:8080 -> 80"), steps.get(0).summary());
        assertTrue(steps.get(0).summary().contains("the host's loopback stays unreachable"), steps.get(0).summary());
        String syscall = steps.get(0).syscall();
        assertTrue(syscall.contains("--tcp-ports 127.0.0.1/8080:80 --udp-ports ::1/5353:53 --tcp-ns none --udp-ns none --no-map-gw"), syscall);
        // lo still comes up: pasta does it too, the finish step is harmless
        assertEquals(1, h.steps("link-up").size());
    }

    @Test
    void portWireFormParsesBackWithIpv6HostAddresses() {
        for (UserNet.Port p : List.of(new UserNet.Port("tcp", "127.0.0.1", 8080, 80), new UserNet.Port("udp", "::1", 5353, 53),
                new UserNet.Port("tcp", "fd00::1:2", 1, 65535))) {
            assertEquals(p, UserNet.Port.parse(p.wire()));
        }
    }

    @Test
    void hostLoopbackMapsTheGatewayAndForwardsNothingByDefault() throws IOException {
        var h = spec(host(), """
                namespaces:
                  user: {}
                  net: {mode: user, hostLoopback: true}
                """);
        assertEquals(List.of(), h.errors());
        Step step = h.first("user-net").orElseThrow();
        assertEquals(List.of(), step.all("port"));
        assertEquals("1", step.arg("host-loopback").orElseThrow());
        assertTrue(step.summary().contains("10.0.2.2 reaches the host's 127.0.0.1"), step.summary());
        assertTrue(step.syscall().contains("--tcp-ports none --udp-ports none --tcp-ns none --udp-ns none --pid"), step.syscall());
    }

    @Test
    void portsAndHostLoopbackNeedUserMode() throws IOException {
        var h = spec(host(), """
                namespaces:
                  user: {}
                  net:
                    ports: [{target: 80, published: 8080}]
                    hostLoopback: true
                """);
        assertEquals(List.of("net.needs-user-mode", "net.needs-user-mode"), codes(h));
        assertTrue(h.errors().get(0).hint().contains("mode: user"), h.errors().get(0).hint());
    }

    @Test
    void userModeAndLinksExcludeEachOther() throws IOException {
        var h = PluginHarness.with(new NetNamespacePlugin(host())).spec("""
                namespaces:
                  net:
                    mode: user
                    links: [{type: veth, name: eth0}]
                """);
        assertEquals(List.of("net.user-mode-with-links"), codes(h));
    }

    @Test
    void loopbackFalseCannotHoldWithUserMode() throws IOException {
        var h = spec(host(), """
                namespaces:
                  user: {}
                  net: {mode: user, loopback: false}
                """);
        assertEquals(List.of("net.user-mode-loopback"), codes(h));
    }

    @Test
    void missingTunAndPastaAreLocatedErrorsWithTheFix() throws IOException {
        UserNet.Host real = host();
        UserNet.Host host = new UserNet.Host(tmp.resolve("no-pasta"), tmp.resolve("no-tun"), real.unprivilegedPortStart());
        var h = spec(host, """
                namespaces:
                  user: {}
                  net: {mode: user}
                """);
        assertEquals(List.of("net.tun-not-usable", "net.user-mode-tool-missing"), codes(h));
        var tun = h.errors().get(0);
        var tool = h.errors().get(1);
        assertTrue(tool.hint().contains("apt-get install passt"), tool.hint());
        assertTrue(tun.message().contains(tmp.resolve("no-tun").toString()), tun.message());
        assertTrue(tun.hint().contains("chmod 0666 " + tmp.resolve("no-tun")), tun.hint());
        assertTrue(tun.path().endsWith("mode"), "located at mode: " + tun.path());
    }

    @Test
    void badHostIpDuplicatePortAndPrivilegedPortRootless() throws IOException {
        var h = spec(host(), """
                namespaces:
                  user: {}
                  net:
                    mode: user
                    ports:
                      - {target: 80, published: 80}
                      - {target: 81, published: 8080, host_ip: localhost}
                      - {target: 82, published: 9090}
                      - {target: 83, published: 9090}
                      - {target: 84, published: 9090, protocol: udp}
                """);
        assertEquals(List.of("net.privileged-port", "net.bad-host-ip", "net.duplicate-port"), codes(h));
        assertTrue(h.errors().get(0).hint().contains("ip_unprivileged_port_start=80"), h.errors().get(0).hint());
        assertTrue(h.errors().get(2).message().contains("line 11"), h.errors().get(2).message());
    }

    @Test
    void aTranslatedUdpPortIsWarnedAbout() throws IOException {
        var h = spec(host(), """
                namespaces:
                  user: {}
                  net:
                    mode: user
                    ports:
                      - {target: 53, published: 5353, protocol: udp}
                      - {target: 5354, published: 5354, protocol: udp}
                      - {target: 80, published: 8080}
                """);
        assertEquals(List.of(), h.errors());
        List<String> warnings = h.diagnostics().stream().filter(d -> d.code().startsWith("net.")).map(d -> d.code()).toList();
        assertEquals(List.of("net.udp-port-translation"), warnings);
        assertEquals(3, h.first("user-net").orElseThrow().all("port").size());
    }

    @Test
    void rootMayPublishLowPorts() throws IOException {
        var h = PluginHarness.with(new NetNamespacePlugin(host())).spec("""
                namespaces:
                  net:
                    mode: user
                    ports: [{target: 80, published: 80, host_ip: 0.0.0.0}]
                """);
        assertEquals(List.of(), h.errors());
        assertEquals(List.of("tcp:0.0.0.0:80:80"), h.first("user-net").orElseThrow().all("port"));
    }

    @Test
    void schemaRefusesUnknownPortKeysAndProtocols() throws IOException {
        var h = spec(host(), """
                namespaces:
                  user: {}
                  net:
                    mode: bridge
                    ports: [{target: 80, published: 8080, protocol: sctp, mode: host}]
                """);
        List<String> codes = h.errors().stream().map(d -> d.code()).sorted().toList();
        assertEquals(List.of("schema.enum", "schema.enum", "schema.unknown-key"), codes);
    }
}
