package dev.dmsg.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import picocli.CommandLine;

/**
 * Every client command takes its node from {@code DMSG_NODE} when {@code --node} is not given
 * (docs/OPERATIONS.md "The CLI's identity"): checked on the parsed options of each command, and
 * once end to end.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class NodeEnvTest extends CliCapture {
    /** One command line per client command; each must accept --node. */
    static final List<List<String>> CLIENT_COMMANDS = List.of(
        List.of("status"), List.of("health"), List.of("connect", "h:1"), List.of("disconnect", "h:1"), List.of("shell"),
        List.of("nbd", "--export", "d"), List.of("blk", "ls"), List.of("blk", "cp", "a", "mesh:n/d"),
        List.of("kv", "get", "k"), List.of("quorum", "status"), List.of("lock", "ls"),
        List.of("lock", "/p", "--", "true"));

    /** The node option of the command {@code args} names, parsed with {@code env}. */
    static HostPort nodeOf(Map<String, String> env, List<String> args) {
        CommandLine.ParseResult r = Main.commandLine(env).parseArgs(args.toArray(String[]::new));
        while (r.hasSubcommand()) {
            r = r.subcommand();
        }
        return ((AdminCommands.NodeOption) r.commandSpec().userObject()).node;
    }

    @Test
    void everyClientCommandTakesItsNodeFromDmsgNode() {
        for (List<String> cmd : CLIENT_COMMANDS) {
            assertThat(nodeOf(Map.of("DMSG_NODE", "10.1.2.3:9870"), cmd)).as("%s", cmd)
                .isEqualTo(new HostPort("10.1.2.3", 9870));
            assertThat(nodeOf(Map.of(), cmd)).as("%s without DMSG_NODE", cmd).isEqualTo(new HostPort("127.0.0.1", 987));
        }
    }

    @Test
    void nodeOnTheCommandLineWinsOverDmsgNode() {
        for (List<String> cmd : CLIENT_COMMANDS) {
            List<String> args = new ArrayList<>(cmd);
            args.add(cmd.contains("--") ? cmd.indexOf("--") : args.size(), "--node=[::1]:7");
            assertThat(nodeOf(Map.of("DMSG_NODE", "10.1.2.3:9870"), args)).as("%s", args)
                .isEqualTo(new HostPort("::1", 7));
        }
    }

    @Test
    void anEmptyDmsgNodeIsUnset() {
        assertThat(nodeOf(Map.of("DMSG_NODE", " "), List.of("status"))).isEqualTo(new HostPort("127.0.0.1", 987));
    }

    /** A bad value is a usage error naming the variable, not a connection attempt to somewhere. */
    @Test
    void aMalformedDmsgNodeIsAUsageErrorNamingIt() {
        for (String bad : List.of("nonsense", "host:99999", "host:", ":80", "h:1\u0000")) {
            int status = run(Map.of("DMSG_NODE", bad), "status");
            assertThat(status).as(bad).isEqualTo(2);
            assertThat(err()).as(bad).startsWith("$DMSG_NODE: ").contains("(unset it or give --node)");
        }
        // --node given: DMSG_NODE is not looked at, so its being bad does not matter
        assertThat(nodeOf(Map.of("DMSG_NODE", "nonsense"), List.of("status", "--node", "h:2")))
            .isEqualTo(new HostPort("h", 2));
    }

    /** End to end: the one line names the address DMSG_NODE gave. */
    @Test
    void aCommandWithoutNodeDialsDmsgNode() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort(); // free once closed: nothing listens there
        }
        String addr = "127.0.0.1:" + port;
        assertThat(run(Map.of("DMSG_NODE", addr), "shell", "--plaintext", "-c", "help")).isEqualTo(2);
        assertThat(err()).startsWith("dmsg shell: ").contains(addr);
    }

    @Test
    void helpSaysWhereTheDefaultComesFrom() {
        assertThat(run(Map.of("DMSG_NODE", "h:1"), "status", "--help")).isZero();
        assertThat(out().replaceAll("\\s+", " ")).contains("default: $DMSG_NODE, else 127.0.0.1:987");
        // defaults are converted before --help is acted on: a bad one is still named
        assertThat(run(Map.of("DMSG_NODE", "nonsense"), "status", "--help")).isEqualTo(2);
        assertThat(err()).startsWith("$DMSG_NODE: ");
    }
}
