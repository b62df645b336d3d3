package dev.dmsg.cli;

import dev.dmsg.bench.driver.BenchCommand;
import java.io.IOException;
import java.io.InputStream;
import java.util.Map;
import java.util.Properties;
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
        return run(System.getenv(), args);
    }

    /** {@link #run(String...)} with {@code env} in place of the process's environment ({@code DMSG_NODE}). */
    static int run(Map<String, String> env, String... args) {
        Logging.fromEnvironment();
        return commandLine(env).execute(args);
    }

    /**
     * The command line, its defaults taken from {@code env} where an option has one there:
     * {@code --node} from {@code DMSG_NODE} (as {@code --identity} from {@code DMSG_IDENTITY}).
     */
    static CommandLine commandLine(Map<String, String> env) {
        return new CommandLine(new Main()).setCaseInsensitiveEnumValuesAllowed(true)
            .setDefaultValueProvider(new EnvDefaults(env));
    }

    /**
     * Defaults from the environment. picocli asks it first and falls back to the annotation's
     * {@code defaultValue} when it answers null; the value is converted as if typed, so a bad
     * {@code DMSG_NODE} is a usage error, named as coming from there.
     */
    static final class EnvDefaults implements CommandLine.IDefaultValueProvider {
        static final String NODE = "DMSG_NODE";
        private final Map<String, String> env;

        EnvDefaults(Map<String, String> env) {
            this.env = Map.copyOf(env);
        }

        @Override
        public String defaultValue(CommandLine.Model.ArgSpec arg) {
            if (!(arg instanceof CommandLine.Model.OptionSpec o) || !o.longestName().equals("--node")
                || !(arg.command().userObject() instanceof AdminCommands.NodeOption)) {
                return null;
            }
            String v = env.get(NODE);
            if (v == null || v.isBlank()) {
                return null;
            }
            try {
                HostPort.parse(v.strip());
            } catch (CommandLine.TypeConversionException e) {
                throw new CommandLine.ParameterException(arg.command().commandLine(),
                    "$" + NODE + ": " + e.getMessage() + " (unset it or give --node)");
            }
            return v.strip();
        }
    }

    /**
     * {@code dmsg --version}: {@code dmsg 0.1.0 (commit 1a2b3c4d5e, 2026-12-07T10:00:00Z) Java 17.0.15}, from
     * {@code version.properties}, which the build fills in (dmsg-cli/pom.xml). A build outside a git
     * tree says {@code commit unknown}; uncommitted changes at build time add {@code -dirty}.
     */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            return new String[] {line()};
        }

        static String line() {
            Properties p = new Properties();
            try (InputStream in = Main.class.getResourceAsStream("version.properties")) {
                if (in != null) {
                    p.load(in);
                }
            } catch (IOException e) {
                // an unreadable resource in our own jar: say "unknown" below rather than fail --version
            }
            String version = known(p.getProperty("version"));
            String commit = known(p.getProperty("commit"));
            String time = known(p.getProperty("commitTime"));
            StringBuilder sb = new StringBuilder("dmsg ").append(version == null ? "unknown" : version)
                .append(" (commit ").append(commit == null ? "unknown" : commit);
            if ("1".equals(p.getProperty("dirty"))) {
                sb.append("-dirty");
            }
            if (time != null) {
                sb.append(", ").append(time);
            }
            return sb.append(") Java ").append(Runtime.version()).toString();
        }

        /** A property the build filled in, or null (unset, or the placeholder left as it was). */
        private static String known(String v) {
            return v == null || v.isBlank() || v.startsWith("${") ? null : v.trim();
        }
    }
}
