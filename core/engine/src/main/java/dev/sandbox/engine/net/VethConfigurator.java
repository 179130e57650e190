package dev.sandbox.engine.net;

import static dev.sandbox.engine.net.ErrnoNames.EACCES;
import static dev.sandbox.engine.net.ErrnoNames.EADDRINUSE;
import static dev.sandbox.engine.net.ErrnoNames.EADDRNOTAVAIL;
import static dev.sandbox.engine.net.ErrnoNames.EAFNOSUPPORT;
import static dev.sandbox.engine.net.ErrnoNames.EEXIST;
import static dev.sandbox.engine.net.ErrnoNames.EINVAL;
import static dev.sandbox.engine.net.ErrnoNames.ENETDOWN;
import static dev.sandbox.engine.net.ErrnoNames.ENETUNREACH;
import static dev.sandbox.engine.net.ErrnoNames.ENODEV;
import static dev.sandbox.engine.net.ErrnoNames.ENOENT;
import static dev.sandbox.engine.net.ErrnoNames.EOPNOTSUPP;
import static dev.sandbox.engine.net.ErrnoNames.EPERM;
import static dev.sandbox.engine.net.ErrnoNames.ERANGE;
import static dev.sandbox.engine.net.ErrnoNames.ESRCH;

import java.util.ArrayList;
import java.util.List;

/**
 * The order of the veth steps, their rollback and their error messages, over a {@link RouteKernel}. No JNR
 * here: {@link JnrRtnetlink} supplies the real kernel, tests a recording fake.
 *
 * <pre>
 * host thread                                     short-lived thread in the sandbox's netns
 * open /proc/PID/ns/net (pins the netns)
 * per link: RTM_NEWLINK veth, peer in netns fd
 *           RTM_GETLINK host end -> index
 *           RTM_NEWADDR host addresses
 *           RTM_NEWLINK host end up
 * start thread ------------------------------->   setns(fd, CLONE_NEWNET); socket(NETLINK_ROUTE)
 *                                                 per link: RTM_GETLINK, RTM_NEWADDR, RTM_NEWLINK up
 *                                                 per gateway: RTM_NEWROUTE default
 * join <--------------------------------------    close socket; thread exits
 * on any failure: RTM_DELLINK every host end created (the kernel deletes the peer with it)
 * </pre>
 */
final class VethConfigurator implements LinkConfigurator {

    static final String OPEN_SOCKET = "open netlink socket";
    static final String OPEN_NETNS = "open network namespace of";
    static final String JOIN_NETNS = "join network namespace of";
    static final String CREATE = "create veth";
    static final String FIND = "find link";
    static final String ADDRESS = "add address";
    static final String UP = "bring up";
    static final String ROUTE = "add default route";
    static final String DELETE = "delete veth";

    private static final String NEEDS_NET_ADMIN_HOST = "needs CAP_NET_ADMIN on the host";
    private static final String ROOTLESS_CANNOT_CREATE = NEEDS_NET_ADMIN_HOST + ": rootless callers can't create veth";
    private static final String NEEDS_NET_ADMIN_SANDBOX = "needs CAP_NET_ADMIN over the sandbox's network namespace";

    /** Where an interface lives, for messages. */
    private enum Side {
        HOST("on the host"), SANDBOX("in the sandbox");

        final String where;

        Side(String where) {
            this.where = where;
        }
    }

    /** A host end this call created: deleted by index once known, by name before. */
    private record HostEnd(String name, int index) {
    }

    private final RouteKernel kernel;
    /** The route socket in the host's network namespace; null once closed. */
    private RouteSocket hostSocket;

    private VethConfigurator(RouteKernel kernel, RouteSocket hostSocket) {
        this.kernel = kernel;
        this.hostSocket = hostSocket;
    }

    /** Opens the host's route socket. */
    static VethConfigurator open(RouteKernel kernel) throws NetworkException {
        try {
            return new VethConfigurator(kernel, kernel.openSocket());
        } catch (ErrnoException e) {
            throw new NetworkException(OPEN_SOCKET, "NETLINK_ROUTE", e.errnoName(), e.kernelMessage());
        }
    }

    @Override
    public void setUp(List<VethLink> links, long pid) throws NetworkException {
        RouteSocket host = hostSocket();
        List<PlannedLink> plan = PlannedLink.planAll(links);
        if (plan.isEmpty()) {
            return;
        }
        int netns = openNetns(pid);
        List<HostEnd> created = new ArrayList<>();
        try {
            for (PlannedLink link : plan) {
                createVeth(host, link, netns);
                created.add(new HostEnd(link.hostName(), 0));
                int index = findIndex(host, link.hostName(), Side.HOST);
                created.set(created.size() - 1, new HostEnd(link.hostName(), index));
                for (IpPrefix address : link.hostAddresses()) {
                    addAddress(host, index, link.hostName(), address, Side.HOST);
                }
                bringUp(host, index, link.hostName(), Side.HOST);
            }
            configureSandboxSide(plan, netns, pid);
        } catch (NetworkException | RuntimeException | Error e) {
            rollback(host, created, e);
            throw e;
        } finally {
            kernel.closeFd(netns);
        }
    }

    @Override
    public void deleteHostLink(String hostName) throws NetworkException {
        RouteSocket host = hostSocket();
        PlannedLink.checkName(hostName, hostName, "hostName");
        Rtnetlink.Link link;
        try {
            link = findLink(host, hostName);
        } catch (ErrnoException e) {
            if (e.errno() == ENODEV) {
                return;
            }
            throw failure(DELETE, hostName, e, e.errno() == EPERM ? NEEDS_NET_ADMIN_HOST : null);
        }
        if (!"veth".equals(link.kind())) {
            String what = link.kind() == null ? "not a veth" : "a " + link.kind() + ", not a veth";
            throw new NetworkException(DELETE, hostName, "EINVAL", hostName + " is " + what + "; refusing to delete it");
        }
        try {
            host.request(Rtnetlink.deleteLink(link.index()));
        } catch (ErrnoException e) {
            if (e.errno() != ENODEV) {
                throw failure(DELETE, hostName, e, e.errno() == EPERM ? NEEDS_NET_ADMIN_HOST : null);
            }
        }
    }

    @Override
    public void close() {
        if (hostSocket != null) {
            hostSocket.close();
            hostSocket = null;
        }
    }

    private RouteSocket hostSocket() {
        if (hostSocket == null) {
            throw new IllegalStateException("the link configurator is closed");
        }
        return hostSocket;
    }

    // ---- steps ---------------------------------------------------------------------------------------------

    private int openNetns(long pid) throws NetworkException {
        String subject = "pid " + pid;
        int fd;
        try {
            fd = kernel.openNetns(pid);
        } catch (ErrnoException e) {
            String hint = switch (e.errno()) {
                case ENOENT, ESRCH -> "process " + pid + " does not exist; has it exited?";
                case EACCES, EPERM -> "no permission to open /proc/" + pid + "/ns/net";
                default -> null;
            };
            throw failure(OPEN_NETNS, subject, e, hint);
        }
        if (kernel.isCallersNetns(fd)) {
            // Creating the "sandbox" end in our own namespace would put it, and its addresses, on the host.
            kernel.closeFd(fd);
            throw new NetworkException(OPEN_NETNS, subject, "EINVAL", "process " + pid
                    + " is still in the host's network namespace; links need one of its own, made with CLONE_NEWNET");
        }
        return fd;
    }

    private void createVeth(RouteSocket host, PlannedLink link, int netns) throws NetworkException {
        try {
            host.request(Rtnetlink.createVeth(link.hostName(), link.name(), netns, link.mtu(), link.mac()));
        } catch (ErrnoException e) {
            throw failure(CREATE, link.hostName(), e, createHint(host, link, e));
        }
    }

    private String createHint(RouteSocket host, PlannedLink link, ErrnoException e) {
        String kernelSays = e.kernelMessage();
        return switch (e.errno()) {
            case EEXIST -> existsOnHost(host, link.hostName())
                    ? "an interface with that name already exists on the host"
                    : "an interface named " + link.name() + " already exists in the sandbox's network namespace";
            case EINVAL, ERANGE -> link.mtu() != null && (kernelSays == null || kernelSays.contains("MTU"))
                    ? "invalid MTU " + link.mtu() + ": a veth accepts 68..65535"
                    : kernelSays;
            case EADDRNOTAVAIL -> link.macText() != null
                    ? "MAC " + link.macText()
                            + " is not a usable unicast address: the first octet must be even, the bytes not all zero"
                    : kernelSays;
            case EOPNOTSUPP -> "this kernel has no veth support: CONFIG_VETH, module veth";
            case EPERM, EACCES -> ROOTLESS_CANNOT_CREATE;
            default -> kernelSays;
        };
    }

    private static boolean existsOnHost(RouteSocket host, String name) {
        try {
            findLink(host, name);
            return true;
        } catch (ErrnoException e) {
            return false;
        }
    }

    private static int findIndex(RouteSocket socket, String name, Side side) throws NetworkException {
        try {
            return findLink(socket, name).index();
        } catch (ErrnoException e) {
            String hint = switch (e.errno()) {
                case ENODEV -> side == Side.HOST
                        ? "the host end vanished right after it was created; did the sandbox's network namespace die?"
                        : "the sandbox end is missing from the sandbox's network namespace";
                case EPERM -> needsNetAdmin(side);
                default -> e.kernelMessage();
            };
            throw failure(FIND, name, e, hint);
        }
    }

    private static Rtnetlink.Link findLink(RouteSocket socket, String name) throws ErrnoException {
        for (Rtnetlink.Message answer : socket.request(Rtnetlink.getLink(name))) {
            if (answer.type() == Rtnetlink.RTM_NEWLINK) {
                return Rtnetlink.parseLink(answer);
            }
        }
        throw new ErrnoException("RTM_GETLINK", ErrnoNames.EPROTO, "no RTM_NEWLINK in the answer");
    }

    private static void addAddress(RouteSocket socket, int index, String name, IpPrefix address, Side side)
            throws NetworkException {
        try {
            socket.request(Rtnetlink.addAddress(index, address));
        } catch (ErrnoException e) {
            String cause = switch (e.errno()) {
                case EEXIST, EADDRINUSE -> "already assigned to this interface; is it listed twice?";
                case EACCES -> address.isIpv6()
                        ? "IPv6 is disabled on this interface: sysctl net.ipv6.conf." + name + ".disable_ipv6"
                        : needsNetAdmin(side);
                case EAFNOSUPPORT -> "this kernel has no " + (address.isIpv6() ? "IPv6" : "IPv4");
                case EPERM -> needsNetAdmin(side);
                default -> e.kernelMessage();
            };
            String hint = address + " " + side.where + (cause == null ? "" : ": " + cause);
            throw failure(ADDRESS, name, e, hint);
        }
    }

    private static void bringUp(RouteSocket socket, int index, String name, Side side) throws NetworkException {
        try {
            socket.request(Rtnetlink.setUp(index));
        } catch (ErrnoException e) {
            String hint = e.errno() == EPERM ? needsNetAdmin(side) : e.kernelMessage();
            throw failure(UP, name, e, hint);
        }
    }

    private void configureSandboxSide(List<PlannedLink> plan, int netns, long pid) throws NetworkException {
        try {
            kernel.runInNetns(netns, inside -> {
                for (PlannedLink link : plan) {
                    int index = findIndex(inside, link.name(), Side.SANDBOX);
                    for (IpPrefix address : link.addresses()) {
                        addAddress(inside, index, link.name(), address, Side.SANDBOX);
                    }
                    bringUp(inside, index, link.name(), Side.SANDBOX);
                }
                // Routes last: a gateway must be reachable through an address of a link that is already up.
                for (PlannedLink link : plan) {
                    if (link.gateway() != null) {
                        addDefaultRoute(inside, link);
                    }
                }
            });
        } catch (ErrnoException e) {
            String hint = switch (e.errno()) {
                case EPERM -> "needs CAP_SYS_ADMIN to join the sandbox's network namespace";
                case EINVAL -> "the namespace fd is not a network namespace";
                default -> e.kernelMessage();
            };
            throw failure(JOIN_NETNS, "pid " + pid, e, hint);
        }
    }

    private static void addDefaultRoute(RouteSocket inside, PlannedLink link) throws NetworkException {
        int index = findIndex(inside, link.name(), Side.SANDBOX);
        String gateway = link.gateway().getHostAddress();
        try {
            inside.request(Rtnetlink.addDefaultRoute(index, link.gateway()));
        } catch (ErrnoException e) {
            String cause = switch (e.errno()) {
                case EEXIST -> "a default route of this family already exists; only one link may have a gateway";
                case ENETUNREACH -> "the gateway is not reachable through the addresses of " + link.name();
                case ENETDOWN -> link.name() + " is down";
                case EPERM -> NEEDS_NET_ADMIN_SANDBOX;
                default -> e.kernelMessage();
            };
            throw failure(ROUTE, link.name(), e, "via " + gateway + (cause == null ? "" : ": " + cause));
        }
    }

    /**
     * Deletes the host ends this call created, newest first, keeping the original failure as the one thrown.
     * Deleting a veth's host end deletes its sandbox end too (veth_dellink unregisters the peer).
     */
    private static void rollback(RouteSocket host, List<HostEnd> created, Throwable failure) {
        for (int i = created.size() - 1; i >= 0; i--) {
            HostEnd end = created.get(i);
            try {
                int index = end.index() > 0 ? end.index() : findLink(host, end.name()).index();
                host.request(Rtnetlink.deleteLink(index));
            } catch (ErrnoException e) {
                if (e.errno() != ENODEV) {
                    failure.addSuppressed(failure(DELETE, end.name(), e,
                            "left behind after the failure; remove it with 'ip link del " + end.name() + "'"));
                }
            } catch (RuntimeException e) {
                failure.addSuppressed(e);
            }
        }
    }

    private static String needsNetAdmin(Side side) {
        return side == Side.HOST ? NEEDS_NET_ADMIN_HOST : NEEDS_NET_ADMIN_SANDBOX;
    }

    private static NetworkException failure(String step, String subject, ErrnoException e, String hint) {
        NetworkException failure = new NetworkException(step, subject, e.errnoName(), hint);
        failure.initCause(e);
        return failure;
    }
}
