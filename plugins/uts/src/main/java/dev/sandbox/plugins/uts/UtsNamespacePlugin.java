package dev.sandbox.plugins.uts;

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
import java.util.regex.Pattern;
import org.pf4j.Extension;

/** {@code namespaces.uts}: hostname and domainname, set inside a new UTS namespace. */
@Extension
public class UtsNamespacePlugin implements NamespacePlugin {

    /** HOST_NAME_MAX and the NIS domain limit are both 64 bytes (uname(2)). */
    static final int MAX_LENGTH = 64;
    private static final Pattern LABELS = Pattern.compile("^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$");

    @Override
    public String id() {
        return "uts";
    }

    @Override
    public String schemaFragment() {
        return resource("/uts.schema.json");
    }

    @Override
    public void validate(SectionContext ctx) {
        check(ctx, ctx.section().get("hostname"), "hostname");
        check(ctx, ctx.section().get("domainname"), "domainname");
    }

    private static void check(SectionContext ctx, SpecNode value, String what) {
        if (value.kind() != SpecNode.Kind.STRING) return;
        String text = value.text();
        int bytes = text.getBytes(StandardCharsets.UTF_8).length;
        if (bytes == 0) {
            ctx.error(value, "uts." + what + "-empty", what + " is empty", "remove the key to keep the default, or give a name");
        } else if (bytes > MAX_LENGTH) {
            ctx.error(value, "uts." + what + "-too-long", what + " is " + bytes + " bytes long; the kernel allows at most " + MAX_LENGTH,
                    "shorten it to 64 bytes or fewer");
        } else if (!LABELS.matcher(text).matches()) {
            ctx.error(value, "uts." + what + "-invalid", what + " '" + text + "' has invalid characters",
                    "use letters, digits and '-', in labels separated by '.'; a label may not start or end with '-'");
        }
    }

    @Override
    public void contribute(PlanContext ctx) {
        ctx.section().get("hostname").optText().ifPresent(name -> ctx.add(Step.of(Stage.FINISH, "sethostname").arg("name", name)
                .summary("hostname " + name + " (only this UTS namespace sees it)")
                .syscall("sethostname(\"" + name + "\", " + name.length() + ")").build()));
        ctx.section().get("domainname").optText().ifPresent(name -> ctx.add(Step.of(Stage.FINISH, "setdomainname").arg("name", name)
                .summary("NIS domain name " + name)
                .syscall("setdomainname(\"" + name + "\", " + name.length() + ")").build()));
    }

    static String resource(String name) {
        try (InputStream in = UtsNamespacePlugin.class.getResourceAsStream(name)) {
            if (in == null) throw new IllegalStateException(name + " is missing from the plugin jar");
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
