package dev.sandbox.plugins.net;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/** Interface-name rules of the kernel and the derivation of host-side names the spec leaves out. */
final class LinkNames {

    /** IFNAMSIZ is 16 bytes including the terminating NUL. */
    static final int MAX_BYTES = 15;

    private LinkNames() {}

    /** Why the kernel (dev_valid_name) or the setup would refuse {@code name}; empty when it is fine. */
    static Optional<String> problem(String name) {
        int bytes = name.getBytes(StandardCharsets.UTF_8).length;
        if (name.isEmpty()) return Optional.of("is empty");
        if (bytes > MAX_BYTES) return Optional.of("is " + bytes + " bytes long; interface names have at most " + MAX_BYTES + " (IFNAMSIZ - 1)");
        if (name.equals(".") || name.equals("..")) return Optional.of("can't be '" + name + "' (the kernel refuses it: interface names are directory names in /sys/class/net)");
        for (int i = 0; i < name.length(); i++) {
            char c = name.charAt(i);
            if (c == '/' || c == ':' || Character.isWhitespace(c) || c < 0x20) {
                return Optional.of("contains " + (c == '/' || c == ':' ? "'" + c + "'" : "white space or a control character")
                        + ", which interface names can't");
            }
        }
        if (name.equals("lo")) return Optional.of("is taken: every network namespace already has the loopback interface 'lo'");
        return Optional.empty();
    }

    /**
     * The host-side names of all links: the spec's {@code hostName} where given, else a derived name that
     * is valid, deterministic and different from every other one ({@code null} entries are the missing ones).
     */
    static List<String> hostNames(String sandbox, List<String> given) {
        Set<String> taken = new HashSet<>();
        given.stream().filter(n -> n != null).forEach(taken::add);
        List<String> out = new ArrayList<>();
        for (int i = 0; i < given.size(); i++) {
            String name = given.get(i);
            if (name == null) {
                int attempt = 0;
                do {
                    name = derive(sandbox, i, attempt++);
                } while (taken.contains(name));
                taken.add(name);
            }
            out.add(name);
        }
        return out;
    }

    /**
     * {@code sb-<sandbox>-<index>} when it fits 15 bytes; otherwise the sandbox name cut short plus four hex
     * digits of its SHA-256, so two long names with the same beginning still differ: {@code sb-webapp1a2b-0}.
     * {@code attempt} > 0 picks another hash when the name is already taken.
     */
    static String derive(String sandbox, int index, int attempt) {
        String suffix = "-" + index;
        String plain = "sb-" + sandbox + suffix;
        if (attempt == 0 && fits(plain) && problem(plain).isEmpty()) return plain;
        String hash = sha256(sandbox + (attempt == 0 ? "" : "#" + attempt));
        int room = MAX_BYTES - "sb-".length() - 4 - suffix.length();
        if (room >= 0) {
            String candidate = "sb-" + sandbox.substring(0, Math.min(room, sandbox.length())) + hash.substring(0, 4) + suffix;
            if (fits(candidate) && problem(candidate).isEmpty()) return candidate;
        }
        return "sb" + sha256(sandbox + "#" + index + "#" + attempt).substring(0, MAX_BYTES - 2);
    }

    private static boolean fits(String name) {
        return name.getBytes(StandardCharsets.UTF_8).length <= MAX_BYTES;
    }

    private static String sha256(String text) {
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(digest);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java runtime has SHA-256", e);
        }
    }
}
