package dev.sandbox.api;

import java.util.Optional;
import java.util.regex.Pattern;

/**
 * The rules for {@code namespaces.net.sysctls} (docs/spec.md "net.sysctls"), shared by the net plugin (a sandbox's
 * own network namespace) and labs (a node's namespace, docs/labs.md), so both accept and refuse the same names and
 * values with the same diagnostics.
 */
public final class NetSysctls {

    private NetSysctls() {}

    /** {@code net.} and dot-separated words: only the network namespace's own sysctls (/proc/sys/net). */
    public static final Pattern NAME = Pattern.compile("net(\\.[A-Za-z0-9_-]+)+");
    /** A plain value: words, numbers, the separators of multi-value sysctls (ip_local_port_range "32768 60999"). */
    public static final Pattern VALUE = Pattern.compile("[A-Za-z0-9_.:, -]{1,64}");

    /** One problem with a sysctl: a diagnostic's code, message and hint. */
    public record Problem(String code, String message, String hint) {}

    /** Empty when NAME = VALUE may be written; else the problem (codes net.bad-sysctl, net.bad-sysctl-value). */
    public static Optional<Problem> check(String name, String value) {
        if (!NAME.matcher(name).matches()) {
            return Optional.of(new Problem("net.bad-sysctl", "'" + name + "' is not a net.* sysctl name",
                    "only the network namespace's own net.* sysctls, e.g. net.ipv4.ip_forward"));
        }
        if (!VALUE.matcher(value).matches()) {
            return Optional.of(new Problem("net.bad-sysctl-value", "value '" + value + "' of " + name + " is not a plain value",
                    "1-64 letters, digits, spaces and '_ . : , -', e.g. 1 or \"32768 60999\""));
        }
        return Optional.empty();
    }

    /** The file the value is written to, in the writer's network namespace: net.ipv4.ip_forward = /proc/sys/net/ipv4/ip_forward. */
    public static String path(String name) {
        return "/proc/sys/" + name.replace('.', '/');
    }
}
