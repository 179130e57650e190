package dev.sandbox.engine.runtime;

import dev.sandbox.api.Step;
import dev.sandbox.engine.net.LinkConfigurator;
import dev.sandbox.engine.net.NetworkException;
import dev.sandbox.engine.net.VethLink;
import java.util.List;

/**
 * The CONNECT stage's veth steps. Kept in its own class so that the JNR-backed network code is
 * loaded only when a plan has links.
 */
final class VethSteps {

    private VethSteps() {}

    private static LinkConfigurator links;

    static String setUp(Step step, long childPid) throws HostStepException {
        VethLink link = new VethLink(step.arg("name").orElseThrow(), step.arg("hostName").orElseThrow(), step.all("address"),
                step.all("hostAddress"), step.arg("gateway").orElse(null), step.arg("mtu").map(Integer::valueOf).orElse(null),
                step.arg("mac").orElse(null));
        checkHostAddressesFree(step, link);
        try {
            if (links == null) links = LinkConfigurator.open();
            links.setUp(List.of(link), childPid);
            return link.hostName();
        } catch (NetworkException e) {
            throw new HostStepException(HostActions.label(step), "", "", "", e.getMessage());
        }
    }

    /**
     * Linux accepts the same address on two interfaces, so the kernel never says "in use": a host
     * address another interface already has would silently shadow or break that network. Refused
     * before anything is created.
     */
    static void checkHostAddressesFree(Step step, VethLink link) throws HostStepException {
        for (String cidr : link.hostAddresses()) {
            String ip = cidr.contains("/") ? cidr.substring(0, cidr.indexOf('/')) : cidr;
            try {
                java.net.InetAddress wanted = java.net.InetAddress.getByName(ip); // a literal: no lookup
                for (java.net.NetworkInterface nic : java.util.Collections.list(java.net.NetworkInterface.getNetworkInterfaces())) {
                    if (java.util.Collections.list(nic.getInetAddresses()).contains(wanted)) {
                        throw new HostStepException(HostActions.label(step), "", "", "", "create veth " + link.hostName()
                                + ": EADDRINUSE (host address " + ip + " is already in use on the host's interface " + nic.getName()
                                + "; choose another link network from 198.18.0.0/15)");
                    }
                }
            } catch (java.io.IOException e) {
                // the interface list is unreadable: the kernel's own checks still apply
            }
        }
    }

    static void deleteHostEnd(String hostName) throws HostStepException {
        try {
            if (links == null) links = LinkConfigurator.open();
            links.deleteHostLink(hostName);
        } catch (NetworkException e) {
            throw new HostStepException("cleanup veth " + hostName, "RTM_DELLINK", hostName, e.errnoName(), null);
        }
    }
}
