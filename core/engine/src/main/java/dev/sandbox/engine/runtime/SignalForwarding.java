package dev.sandbox.engine.runtime;

import java.io.IOException;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import sun.misc.Signal;
import sun.misc.SignalHandler;

/**
 * While the target runs, SIGTERM, SIGHUP and SIGINT sent to {@code sandbox up} are passed to the
 * helper, which forwards them to the target and escalates to SIGKILL after the grace period (a PID 1
 * without a handler ignores them: kernel rule). On a terminal, Ctrl-C already reaches the target
 * (same foreground process group), so SIGINT is then only kept from killing the controller.
 */
final class SignalForwarding implements AutoCloseable {

    private record Installed(Signal signal, SignalHandler previous) {}

    private final List<Installed> installed = new ArrayList<>();

    static SignalForwarding install(ControlChannel channel, PrintWriter err) {
        SignalForwarding f = new SignalForwarding();
        boolean terminal = System.console() != null;
        for (String name : List.of("TERM", "HUP", "INT")) {
            Signal signal = new Signal(name);
            boolean forward = !(terminal && name.equals("INT"));
            SignalHandler handler = s -> {
                if (!forward) return;
                try {
                    channel.send("SIGNAL " + s.getNumber());
                } catch (IOException e) {
                    err.println("sandbox: forwarding SIG" + name + " failed: " + e.getMessage());
                }
            };
            try {
                f.installed.add(new Installed(signal, Signal.handle(signal, handler)));
            } catch (IllegalArgumentException e) {
                // the JVM reserves this signal (-Xrs); leave it alone
            }
        }
        return f;
    }

    @Override
    public void close() {
        for (Installed i : installed) Signal.handle(i.signal(), i.previous());
    }
}
