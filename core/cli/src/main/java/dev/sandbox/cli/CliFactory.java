package dev.sandbox.cli;

import java.io.PrintWriter;
import picocli.CommandLine;

/**
 * Creates the command objects for tools that instantiate the CLI from its class name: picocli's man
 * page generator at build time ({@code ManPageGenerator -c dev.sandbox.cli.CliFactory
 * dev.sandbox.cli.Main}, see dist/pom.xml). {@link Main} has no no-argument constructor, since its
 * writers and environment are injected.
 */
public final class CliFactory implements CommandLine.IFactory {

    @Override
    public <K> K create(Class<K> cls) throws Exception {
        if (cls == Main.class) {
            return cls.cast(new Main(new PrintWriter(System.out, true), new PrintWriter(System.err, true), System.getenv()));
        }
        return CommandLine.defaultFactory().create(cls);
    }
}
