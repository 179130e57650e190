package dev.sandbox.engine.runtime;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import sun.misc.Signal;
import sun.misc.SignalHandler;

/**
 * While the target runs, SIGTERM, SIGHUP and SIGINT sent to {@code sandbox up} are passed to the
 * helper, which forwards them to the target and escalates to SIGKILL after the grace period (a PID 1
 * without a handler ignores them: kernel rule). Every one is passed on, also on a terminal: a Ctrl-C
 * reaches this JVM and the helper alike (one foreground process group), and only the helper can tell
 * the terminal's signal from a {@code kill} (si_code); it takes our copy of a signal it got from the
 * terminal itself as that one (core/native/PROTOCOL.md, "Signals"), so the target gets it once.
 * SIGQUIT stays the JVM's (HotSpot's thread dump; it can't be handled from Java): the terminal's
 * Ctrl-\ reaches the helper directly.
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
    static SignalForwarding install() {
        SignalForwarding f = new SignalForwarding();
        for (String name : List.of("TERM", "HUP", "INT")) {
            Signal signal = new Signal(name);
            SignalHandler handler = s -> f.forward(s.getNumber());
            try {
                f.installed.add(new Installed(signal, Signal.handle(signal, handler)));
            } catch (IllegalArgumentException e) {
                // the JVM reserves this signal (-Xrs); leave it alone
            }
        }
        return f;
    }

    private synchronized void forward(int number) {
        if (detached) return;
        if (channel == null) {
            early.add(number);
            return;
        }
        try {
            channel.send("SIGNAL " + number);
        } catch (IOException e) {
            // the helper is gone (it exits right after EXIT): nothing left to forward to; the
            // controller reports how it ended
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
