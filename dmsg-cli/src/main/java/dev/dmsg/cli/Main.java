package dev.dmsg.cli;

import dev.dmsg.bench.driver.BenchCommand;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code dmsg}: the command line. Every subcommand returns an exit status; 0 means success. */
@Command(name = "dmsg", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
    description = "DMSG cluster messaging: nodes, links and tools.",
    subcommands = {NodeCommand.class, FrameCommand.class, DemoCommand.class, BenchCommand.class, SimCommand.class,
        AdminCommands.Status.class, HealthCommand.class, AdminCommands.Connect.class, AdminCommands.Disconnect.class,
        ShellCommand.class, KeygenCommand.class, TrustCommand.class, CaCommand.class, NbdCommand.class, BlkCommand.class,
        KvCommand.class, QuorumCommand.class, LockCommand.class,
        CommandLine.HelpCommand.class})
public final class Main implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs a command line and returns its exit status (tests call this). */
    public static int run(String... args) {
        return new CommandLine(new Main()).setCaseInsensitiveEnumValuesAllowed(true).execute(args);
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = Main.class.getPackage().getImplementationVersion();
            return new String[] {"dmsg " + (v != null ? v : "0.1.0-SNAPSHOT") + " (Java " + Runtime.version() + ")"};
        }
    }
}
