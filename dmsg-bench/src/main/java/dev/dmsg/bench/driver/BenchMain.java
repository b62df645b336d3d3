package dev.dmsg.bench.driver;

import picocli.CommandLine;

/**
 * The entry point of the JVMs the drivers start themselves: the {@code bench all} server and the
 * {@code bench circuit} / {@code bench blk} node processes. They run with the class path of the
 * running JVM (the shaded {@code dmsg.jar} under {@code ./dmsg}, the test class path under
 * Maven), so this class is there in both; starting it instead of the command line's own main
 * class keeps this module from naming the module above it. Parses exactly as {@code dmsg bench}
 * does (case-insensitive enum values).
 */
public final class BenchMain {
    private BenchMain() {
    }

    public static void main(String[] args) {
        System.exit(new CommandLine(new BenchCommand()).setCaseInsensitiveEnumValuesAllowed(true).execute(args));
    }
}
