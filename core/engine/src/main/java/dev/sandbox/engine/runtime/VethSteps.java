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
        try {
            if (links == null) links = LinkConfigurator.open();
            links.setUp(List.of(link), childPid);
            return link.hostName();
        } catch (NetworkException e) {
            throw new HostStepException(HostActions.label(step), "", "", "", e.getMessage());
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
