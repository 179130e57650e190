package org.example.sandbox.motd;

import dev.sandbox.api.NamespacePlugin;
import dev.sandbox.api.PlanContext;
import dev.sandbox.api.SectionContext;
import dev.sandbox.api.SpecNode;
import dev.sandbox.api.Stage;
import dev.sandbox.api.Step;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.Set;
import org.pf4j.Extension;

/**
 * {@code namespaces.motd}: a message of the day written into the sandbox.
 *
 * <pre>{@code
 * namespaces:
 *   mount: {root: {type: tmpfs}}
 *   motd:
 *     message: "welcome to the build box"
 *     path: /etc/motd          # optional, the default
 * }</pre>
 *
 * <p>A third-party plugin like any other: sandbox's eight namespace types are plugins of this same
 * interface. The file is written by the {@code write-file} op of the plan, inside the sandbox's new
 * root, after the mount plugin's steps (so after pivot_root). A plugin never performs syscalls
 * itself; it only describes steps in the closed vocabulary of {@link dev.sandbox.api.Ops}.
 *
 * <p>Diagnostics: {@code motd.relative-path}, {@code motd.too-long}, {@code motd.without-new-root},
 * {@code motd.read-only-root}. The schema fragment ({@code motd.schema.json}) makes {@code message}
 * required and rejects unknown keys before {@link #validate} is called.
 */
@Extension
public class MotdPlugin implements NamespacePlugin {

    static final String DEFAULT_PATH = "/etc/motd";
    /** A message of the day is for people to read; larger content belongs in a bind mount. */
    static final int MAX_BYTES = 4096;

    @Override
    public String id() {
        return "motd";
    }

    /**
     * Why after mount: its steps end with pivot_root (and the read-only root, read-only paths and
     * masks). Steps of one stage keep the plugins' order, so ours run inside the new root; before
     * pivot_root a path such as /etc/motd would be the host's file.
     */
    @Override
    public Set<String> after() {
        return Set.of("mount");
    }

    @Override
    public String schemaFragment() {
        return resource("/motd.schema.json");
    }

    /**
     * Only what the schema can't say. Called when the section is present and passed the schema, so
     * {@code message} is a string here; every problem is reported, never thrown.
     */
    @Override
    public void validate(SectionContext ctx) {
        SpecNode section = ctx.section();
        SpecNode message = section.get("message");
        int bytes = message.text().getBytes(StandardCharsets.UTF_8).length;
        if (bytes > MAX_BYTES) {
            ctx.error(message, "motd.too-long", "message is " + bytes + " bytes long; at most " + MAX_BYTES + " are allowed",
                    "shorten it, or bind-mount a file with the text instead (namespaces.mount.mounts)");
        }
        SpecNode path = section.get("path");
        String target = path.text(DEFAULT_PATH);
        if (path.isPresent() && !target.startsWith("/")) {
            ctx.error(path, "motd.relative-path", "path must be absolute inside the sandbox: " + target,
                    "e.g. path: /" + target.replaceFirst("^(\\./)+", ""));
            return;
        }
        checkRoot(ctx, target);
    }

    /** Cross-section checks: the file must land in the sandbox's own root, and that root must be writable there. */
    private static void checkRoot(SectionContext ctx, String target) {
        SpecNode mount = ctx.spec().get("namespaces").get("mount");
        if (!ctx.creates("mount") || !mount.has("root")) {
            // Without a new root the sandbox shares the host's file systems: we would overwrite the host's file.
            ctx.error(ctx.section(), "motd.without-new-root", "motd needs a new root: without one, " + target
                            + " would be written on the host's file system",
                    "add 'mount: {root: {type: tmpfs}}' (or a bind root) under namespaces");
            return;
        }
        SpecNode covering = coveringMount(mount, target);
        boolean readOnly = covering != null ? covering.get("readonly").bool(false) : mount.get("readonlyRoot").bool(false);
        if (readOnly) {
            SpecNode at = covering != null ? covering : mount.get("readonlyRoot");
            ctx.error(ctx.section(), "motd.read-only-root", target + " is on a read-only mount (" + at.path()
                            + ") when motd writes it, after every mount step",
                    "choose a path on a writable mount, e.g. a tmpfs in namespaces.mount.mounts, or drop readonly");
        }
    }

    /** The mount the file lands on: the deepest mount target above it; of equal ones the later covers the earlier. */
    private static SpecNode coveringMount(SpecNode mount, String target) {
        SpecNode best = null;
        int depth = -1;
        for (SpecNode m : mount.get("mounts").elements()) {
            String dir = m.get("target").text();
            String prefix = dir.endsWith("/") ? dir : dir + "/";
            if (dir.startsWith("/") && target.startsWith(prefix) && dir.length() >= depth) {
                best = m;
                depth = dir.length();
            }
        }
        return best;
    }

    @Override
    public void contribute(PlanContext ctx) {
        String target = ctx.section().get("path").text(DEFAULT_PATH);
        String message = ctx.section().get("message").text();
        String content = message.endsWith("\n") ? message : message + "\n";
        String parent = target.substring(0, target.lastIndexOf('/'));
        if (!parent.isEmpty()) {
            // A tmpfs root starts empty; mkdir -p leaves an existing directory alone (even a read-only one).
            ctx.add(Step.of(Stage.MOUNTS, "mkdir").arg("path", parent).arg("mode", "0755")
                    .summary("create " + parent + " for the message of the day when it is missing")
                    .syscall("mkdir(\"" + parent + "\", 0755) for each missing component")
                    .build());
        }
        ctx.add(Step.of(Stage.MOUNTS, "write-file").arg("path", target).arg("mode", "0644").arg("content", content)
                .summary("write the message of the day to " + target + " (" + content.getBytes(StandardCharsets.UTF_8).length
                        + " bytes), inside the new root")
                .syscall("open(\"" + target + "\", O_WRONLY|O_CREAT|O_TRUNC, 0644); write(); close()")
                .build());
    }

    private static String resource(String name) {
        try (InputStream in = MotdPlugin.class.getResourceAsStream(name)) {
            if (in == null) throw new IllegalStateException(name + " is missing from the plugin jar");
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
