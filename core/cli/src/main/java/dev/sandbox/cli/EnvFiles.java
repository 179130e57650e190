package dev.sandbox.cli;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Option;

/** {@code --env-file FILE}, shared by every verb that reads a spec (docs/cli.md, "Variables"). */
final class EnvFiles {

    @Option(names = "--env-file", paramLabel = "FILE",
            description = "Read variables for ${VAR} in the spec from FILE (KEY=VALUE lines, docker compose's .env format; repeatable,"
                    + " a later file wins; the environment wins over every file).")
    List<Path> files = new ArrayList<>();
}
