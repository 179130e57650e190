package dev.sandbox.engine.net;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import org.junit.jupiter.api.Test;

/** The order of steps, rollback and messages, against {@link RecordingRouteKernel}: no root needed. */
class VethConfiguratorTest {

    private static final long PID = 4711;

    private final RecordingRouteKernel kernel = new RecordingRouteKernel();

    private static VethLink web() {
        return new VethLink("eth0", "sb-web0", List.of("198.18.0.2/30", "fd00:198:18::2/64"),
                List.of("198.18.0.1/30"), "198.18.0.1", 1400, "02:00:00:00:00:01");
    }

    private static VethLink plain(String name, String hostName) {
        return new VethLink(name, hostName, List.of(), List.of(), null, null, null);
    }

    private VethConfigurator configurator() throws NetworkException {
        return VethConfigurator.open(kernel);
    }

    @Test
    void setUpCreatesWithPeerInNetnsThenConfiguresHostThenSandboxThenRoute() throws Exception {
        try (VethConfigurator links = configurator()) {
            links.setUp(List.of(web()), PID);
        }
        assertEquals(List.of(
                "open netns of 4711",
                "host NEWLINK veth sb-web0 peer eth0 netns 42 mtu 1400 mac 02:00:00:00:00:01",
                "host NEWADDR sb-web0 198.18.0.1/30",
                "host UP sb-web0",
                "setns 42",
                "sandbox NEWADDR eth0 198.18.0.2/30",
                "sandbox NEWADDR eth0 fd00:198:18:0:0:0:0:2/64 nodad",
                "sandbox UP eth0",
                "sandbox NEWROUTE default via 198.18.0.1 dev eth0"), kernel.steps());
        assertEquals(List.of(42), kernel.closedFds);
    }

    @Test
    void sandboxSideRunsOnItsOwnThread() throws Exception {
        try (VethConfigurator links = configurator()) {
            links.setUp(List.of(web()), PID);
        }
        assertNotSame(Thread.currentThread(), kernel.insideThread);
    }

    @Test
    void emptyListTouchesNothing() throws Exception {
        try (VethConfigurator links = configurator()) {
            links.setUp(List.of(), PID);
        }
        assertEquals(List.of(), kernel.log);
    }

    @Test
    void hostNameTakenReportsEexistOnHostAndDeletesLinksCreatedBefore() throws Exception {
        kernel.hostHas("sb-db0", "dummy");
        NetworkException e;
        try (VethConfigurator links = configurator()) {
            e = assertThrows(NetworkException.class,
                    () -> links.setUp(List.of(plain("eth0", "sb-web0"), plain("eth1", "sb-db0")), PID));
        }
        assertEquals("create veth sb-db0: EEXIST (an interface with that name already exists on the host)",
                e.getMessage());
        assertEquals("create veth", e.step());
        assertEquals("sb-db0", e.interfaceName());
        assertEquals("EEXIST", e.errnoName());
        assertTrue(kernel.steps().contains("host DELLINK sb-web0"), kernel.log::toString);
        assertEquals(List.of("sb-db0"), List.copyOf(kernel.hostLinks.keySet()));
        assertEquals(List.of(42), kernel.closedFds);
    }

    @Test
    void sandboxNameTakenSaysSoInsteadOfBlamingTheHost() throws Exception {
        kernel.sandboxHas("eth0", "veth");
        try (VethConfigurator links = configurator()) {
            NetworkException e = assertThrows(NetworkException.class,
                    () -> links.setUp(List.of(plain("eth0", "sb-web0")), PID));
            assertEquals("create veth sb-web0: EEXIST (an interface named eth0 already exists in the sandbox's "
                    + "network namespace)", e.getMessage());
        }
    }

    @Test
    void epermOnCreateExplainsThatRootlessCallersCannotCreateVeth() throws Exception {
        kernel.failOn("host NEWLINK veth sb-web0", ErrnoNames.EPERM);
        try (VethConfigurator links = configurator()) {
            NetworkException e = assertThrows(NetworkException.class, () -> links.setUp(List.of(web()), PID));
            assertEquals("create veth sb-web0: EPERM (needs CAP_NET_ADMIN on the host: rootless callers can't "
                    + "create veth)", e.getMessage());
        }
    }

    @Test
    void invalidMtuNamesTheMtu() throws Exception {
        kernel.failOn("host NEWLINK veth sb-web0", ErrnoNames.EINVAL, "MTU larger than device maximum");
        try (VethConfigurator links = configurator()) {
            NetworkException e = assertThrows(NetworkException.class, () -> links.setUp(List.of(web()), PID));
            assertEquals("create veth sb-web0: EINVAL (invalid MTU 1400: a veth accepts 68..65535)", e.getMessage());
        }
    }

    @Test
    void unknownCauseFallsBackToTheKernelsOwnMessage() throws Exception {
        kernel.failOn("host UP sb-web0", ErrnoNames.EBADF, "something odd");
        try (VethConfigurator links = configurator()) {
            NetworkException e = assertThrows(NetworkException.class, () -> links.setUp(List.of(web()), PID));
            assertEquals("bring up sb-web0: EBADF (something odd)", e.getMessage());
        }
    }

    @Test
    void failureInsideTheSandboxDeletesEveryHostEndOfTheCall() throws Exception {
        kernel.failOn("sandbox NEWADDR eth1", ErrnoNames.EEXIST);
        VethLink second = new VethLink("eth1", "sb-web1", List.of("198.18.0.6/30"), List.of(), null, null, null);
        try (VethConfigurator links = configurator()) {
            NetworkException e = assertThrows(NetworkException.class,
                    () -> links.setUp(List.of(web(), second), PID));
            assertEquals("add address eth1: EEXIST (198.18.0.6/30 in the sandbox: already assigned to this "
                    + "interface; is it listed twice?)", e.getMessage());
        }
        List<String> steps = kernel.steps();
        assertEquals(List.of("host DELLINK sb-web1", "host DELLINK sb-web0"), steps.subList(steps.size() - 2, steps.size()));
        assertTrue(kernel.hostLinks.isEmpty());
    }

    @Test
    void secondGatewayOfSameFamilyExplainsTheConflict() throws Exception {
        kernel.failOn("sandbox NEWROUTE default via 198.18.0.5", ErrnoNames.EEXIST);
        VethLink second = new VethLink("eth1", "sb-web1", List.of("198.18.0.6/30"), List.of(), "198.18.0.5", null, null);
        try (VethConfigurator links = configurator()) {
            NetworkException e = assertThrows(NetworkException.class,
                    () -> links.setUp(List.of(web(), second), PID));
            assertEquals("add default route eth1: EEXIST (via 198.18.0.5: a default route of this family already "
                    + "exists; only one link may have a gateway)", e.getMessage());
        }
    }

    @Test
    void rollbackThatFailsIsAttachedWithoutHidingTheCause() throws Exception {
        kernel.failOn("host UP sb-web0", ErrnoNames.ENETDOWN).failOn("host DELLINK sb-web0", ErrnoNames.EPERM);
        try (VethConfigurator links = configurator()) {
            NetworkException e = assertThrows(NetworkException.class, () -> links.setUp(List.of(web()), PID));
            assertEquals("ENETDOWN", e.errnoName());
            assertEquals(1, e.getSuppressed().length);
            assertEquals("delete veth sb-web0: EPERM (left behind after the failure; remove it with "
                    + "'ip link del sb-web0')", e.getSuppressed()[0].getMessage());
        }
    }

    @Test
    void invalidInputFailsBeforeAnythingIsTouched() throws Exception {
        VethLink bad = new VethLink("eth0", "sb-web0", List.of("198.18.0.2"), List.of(), null, null, null);
        try (VethConfigurator links = configurator()) {
            NetworkException e = assertThrows(NetworkException.class, () -> links.setUp(List.of(bad), PID));
            assertEquals("check link sb-web0: EINVAL (address '198.18.0.2' has no prefix length; "
                    + "write it as CIDR, e.g. 198.18.0.1/30)", e.getMessage());
        }
        assertEquals(List.of(), kernel.log);
    }

    @Test
    void processInTheHostsNetnsIsRefused() throws Exception {
        kernel.netnsIsCallers = true;
        try (VethConfigurator links = configurator()) {
            NetworkException e = assertThrows(NetworkException.class, () -> links.setUp(List.of(web()), PID));
            assertEquals("open network namespace of", e.step());
            assertEquals("pid 4711", e.interfaceName());
        }
        assertEquals(List.of("open netns of 4711"), kernel.log);
        assertEquals(List.of(42), kernel.closedFds);
    }

    @Test
    void goneProcessSaysSo() throws Exception {
        kernel.openNetnsErrno = ErrnoNames.ENOENT;
        try (VethConfigurator links = configurator()) {
            NetworkException e = assertThrows(NetworkException.class, () -> links.setUp(List.of(web()), PID));
            assertEquals("open network namespace of pid 4711: ENOENT (process 4711 does not exist; has it exited?)",
                    e.getMessage());
        }
    }

    @Test
    void setnsFailureDeletesHostEnds() throws Exception {
        kernel.setnsErrno = ErrnoNames.EPERM;
        try (VethConfigurator links = configurator()) {
            NetworkException e = assertThrows(NetworkException.class, () -> links.setUp(List.of(web()), PID));
            assertEquals("join network namespace of pid 4711: EPERM (needs CAP_SYS_ADMIN to join the sandbox's "
                    + "network namespace)", e.getMessage());
        }
        assertTrue(kernel.hostLinks.isEmpty());
    }

    @Test
    void deleteHostLinkIsIdempotent() throws Exception {
        try (VethConfigurator links = configurator()) {
            links.deleteHostLink("sb-gone0");
        }
        assertEquals(List.of("host GETLINK sb-gone0"), kernel.log);
    }

    @Test
    void deleteHostLinkDeletesAVeth() throws Exception {
        kernel.hostHas("sb-web0", "veth");
        try (VethConfigurator links = configurator()) {
            links.deleteHostLink("sb-web0");
        }
        assertEquals(List.of("host DELLINK sb-web0"), kernel.steps());
    }

    @Test
    void deleteHostLinkRefusesWhatIsNotAVeth() throws Exception {
        kernel.hostHas("eth0", null);
        try (VethConfigurator links = configurator()) {
            NetworkException e = assertThrows(NetworkException.class, () -> links.deleteHostLink("eth0"));
            assertEquals("delete veth eth0: EINVAL (eth0 is not a veth; refusing to delete it)", e.getMessage());
        }
        assertEquals(List.of(), kernel.steps());
    }

    @Test
    void closedConfiguratorRefusesWork() throws Exception {
        VethConfigurator links = configurator();
        links.close();
        links.close();
        assertThrows(IllegalStateException.class, () -> links.setUp(List.of(web()), PID));
    }
}
