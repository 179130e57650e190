package dev.sandbox.engine.host;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** /proc/self/mountinfo, parsed (see proc(5)). */
public final class MountInfo {

    private MountInfo() {}

    /** One mount: its point, fs type, and optional fields such as {@code shared:12} or {@code master:3}. */
    public record Entry(Path mountPoint, String fsType, List<String> optional) {
        public boolean isShared() {
            return optional.stream().anyMatch(o -> o.startsWith("shared:"));
        }
    }

    public static List<Entry> read() {
        try {
            return parse(Files.readAllLines(Path.of("/proc/self/mountinfo")));
        } catch (IOException e) {
            return List.of();
        }
    }

    static List<Entry> parse(List<String> lines) {
        List<Entry> out = new ArrayList<>();
        for (String line : lines) {
            String[] f = line.split(" ");
            if (f.length < 10) continue;
            int dash = 6;
            List<String> optional = new ArrayList<>();
            while (dash < f.length && !f[dash].equals("-")) optional.add(f[dash++]);
            if (dash + 1 >= f.length) continue;
            out.add(new Entry(Path.of(unescape(f[4])), f[dash + 1], optional));
        }
        return out;
    }

    /** The mount that contains {@code path} (the last, i.e. top-most, with the longest matching mount point). */
    public static Entry containing(List<Entry> mounts, Path path) {
        Entry best = null;
        for (Entry m : mounts) {
            if (path.startsWith(m.mountPoint())
                    && (best == null || m.mountPoint().getNameCount() >= best.mountPoint().getNameCount())) {
                best = m;
            }
        }
        return best;
    }

    static String unescape(String s) {
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\\' && i + 3 < s.length()) {
                out.append((char) Integer.parseInt(s.substring(i + 1, i + 4), 8));
                i += 3;
            } else {
                out.append(c);
            }
        }
        return out.toString();
    }
}
