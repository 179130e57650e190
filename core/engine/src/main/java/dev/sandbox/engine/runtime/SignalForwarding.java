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
    /** Signals that came before the helper connected; sent on {@link #attach}. */
    private final List<Integer> early = new ArrayList<>();
    private ControlChannel channel;
    private boolean detached;

    /**
     * Installed before the first host step: until then SIGTERM/SIGHUP end the JVM without running the
     * undo actions (a runtime dir and a cgroup would be left). A signal before the helper connects is
     * kept and sent once it does (the helper queues it until release, PROTOCOL.md); one after the
     * helper is gone is dropped, so the undo actions can finish.
     */
    static SignalForwarding install(PrintWriter err) {
        SignalForwarding f = new SignalForwarding();
        boolean terminal = System.console() != null;
        for (String name : List.of("TERM", "HUP", "INT")) {
            Signal signal = new Signal(name);
            boolean forward = !(terminal && name.equals("INT"));
            SignalHandler handler = s -> {
                if (forward) f.forward(s.getNumber(), name, err);
            };
            try {
                f.installed.add(new Installed(signal, Signal.handle(signal, handler)));
            } catch (IllegalArgumentException e) {
                // the JVM reserves this signal (-Xrs); leave it alone
            }
        }
        return f;
    }

    private synchronized void forward(int number, String name, PrintWriter err) {
        if (detached) return;
        if (channel == null) {
            early.add(number);
            return;
        }
        try {
            channel.send("SIGNAL " + number);
        } catch (IOException e) {
            err.println("sandbox: forwarding SIG" + name + " failed: " + e.getMessage());
        }
    }

    /** The helper connected: from now on signals go to it, the early ones first. */
    synchronized void attach(ControlChannel connected) throws IOException {
        channel = connected;
        for (int number : early) connected.send("SIGNAL " + number);
        early.clear();
    }

    /** The control channel is closing: drop later signals. */
    synchronized void detach() {
        detached = true;
        channel = null;
    }

    @Override
    public void close() {
        for (Installed i : installed) Signal.handle(i.signal(), i.previous());
    }
}
