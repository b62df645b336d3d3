package dev.dmsg.cli;

import java.nio.file.Path;
import picocli.CommandLine;
import picocli.CommandLine.Option;

/**
 * {@code --data-dir DIR | --label NAME} for commands that work on a node's files while it may be
 * running ({@code keygen}, {@code trust}): the directory {@code dmsg node} would use. One of the
 * two is required: a node started without {@code --label} is named after the host, and a tool
 * that guesses the same would, on an operator's machine, quietly write into a directory of its own.
 */
final class DataDirOption {
    @Option(names = "--data-dir", paramLabel = "DIR", description = "the node's data directory")
    Path dataDir;

    @Option(names = "--label", paramLabel = "NAME",
        description = "the node's label: its data directory is dmsg-data/NAME, as for 'dmsg node' without --data-dir")
    String label;

    /**
     * The data directory; a usage error (exit 2) if neither option is given.
     *
     * <p>The rule is {@code NodeCommand}'s for a node started with {@code --label NAME}.
     */
    Path resolve(CommandLine.Model.CommandSpec spec) {
        if (dataDir != null) {
            return dataDir;
        }
        if (label != null && !label.isEmpty()) {
            return defaultDir(label);
        }
        throw new CommandLine.ParameterException(spec.commandLine(),
            "say which node: --data-dir DIR, or --label NAME for dmsg-data/NAME");
    }

    static Path defaultDir(String label) {
        return Path.of("dmsg-data", label.replaceAll("[^A-Za-z0-9._-]", "_"));
    }
}
