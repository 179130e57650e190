package dev.sandbox.engine.net;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;

/**
 * Binding libc through JNR costs 100–150 ms, so the types a runtime touches on every run must not load JNR.
 * A fresh JVM with {@code -verbose:class} shows what loading them pulls in.
 */
class LazyLoadingTest {

    /** Runs in the child JVM: touches what a run without links touches. */
    public static final class Probe {
        public static void main(String[] args) throws Exception {
            ClassLoader loader = Probe.class.getClassLoader();
            for (String name : List.of("VethLink", "NetworkException", "LinkConfigurator")) {
                Class.forName("dev.sandbox.engine.net." + name, true, loader);
            }
            VethLink link = new VethLink("eth0", "sb-web0", List.of("198.18.0.2/30"), null, null, null, null);
            Exception e = new NetworkException("create veth", link.hostName(), "EEXIST", null);
            System.out.println("probe done: " + e.getMessage());
        }
    }

    @Test
    void publicTypesLoadWithoutJnr() throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process child = new ProcessBuilder(java, "-Xshare:auto", "-verbose:class",
                "-cp", System.getProperty("java.class.path"), Probe.class.getName())
                .redirectErrorStream(true).start();
        String output = new String(child.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(child.waitFor(30, TimeUnit.SECONDS));
        assertEquals(0, child.exitValue(), output);

        assertTrue(output.contains("probe done: create veth sb-web0: EEXIST"), output);
        assertTrue(output.contains("dev.sandbox.engine.net.LinkConfigurator "), "the probe loaded the interface");
        List<String> jnr = output.lines()
                .filter(line -> line.contains(" jnr.") || line.contains(" com.kenai.jffi.") || line.contains("JnrRtnetlink"))
                .toList();
        assertEquals(List.of(), jnr);
    }
}
