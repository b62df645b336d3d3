package dev.dmsg.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.dmsg.link.tls.NodeKeys;
import dev.dmsg.link.tls.Role;
import dev.dmsg.link.tls.TrustStore;
import dev.dmsg.services.node.Node;
import dev.dmsg.services.testing.TestCluster;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.ErrorCode;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import org.jline.reader.ParsedLine;
import org.jline.reader.Parser;
import org.jline.reader.impl.DefaultParser;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code dmsg shell} against an in-process node on loopback: one-shot exit statuses 0/1/2, script
 * mode, and the completer's candidates (no terminal needed).
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ShellCommandTest {
    @TempDir
    Path tmp;

    final ByteArrayOutputStream out = new ByteArrayOutputStream();
    final ByteArrayOutputStream err = new ByteArrayOutputStream();
    PrintStream savedOut;
    PrintStream savedErr;
    InputStream savedIn;
    @RegisterExtension
    final TestCluster cluster = new TestCluster(() -> tmp);
    Node node;

    @BeforeEach
    void capture() {
        savedOut = System.out;
        savedErr = System.err;
        savedIn = System.in;
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
    }

    @AfterEach
    void restore() throws Exception {
        System.setOut(savedOut);
        System.setErr(savedErr);
        System.setIn(savedIn);
    }

    String startNode() throws Exception {
        node = cluster.start(Node.Settings.builder("127.0.0.1", 0, tmp.resolve("alpha"), TestCluster.identity("alpha"))
            .pingInterval(Duration.ofSeconds(1)).deadTimeout(Duration.ofSeconds(10)).build());
        return "127.0.0.1:" + node.address().getPort();
    }

    /**
     * The client acts as the node itself: its data directory holds the node's key (docs/SECURITY.md).
     * Without a node, a key made beforehand (so no first-use notice).
     */
    String identity() throws Exception {
        Path d = tmp.resolve("alpha");
        if (node == null && !NodeKeys.exists(d)) {
            NodeKeys.generate("cli").write(d, false);
        }
        return d.toString();
    }

    String out() {
        return out.toString(StandardCharsets.UTF_8);
    }

    /** What the command wrote to stderr, without the in-process node's log lines (logback writes there too). */
    String err() {
        StringBuilder b = new StringBuilder();
        err.toString(StandardCharsets.UTF_8).lines().filter(l -> !LOG_LINE.matcher(l).lookingAt())
            .forEach(l -> b.append(l).append('\n'));
        return b.toString();
    }

    /** A log line: a time, with the date and zone the node's log now has (logback.xml), or without. */
    static final Pattern LOG_LINE =
        Pattern.compile("(\\d{4}-\\d\\d-\\d\\dT)?\\d\\d:\\d\\d:\\d\\d\\.\\d{3}(Z|[+-]\\d\\d:\\d\\d)? ");

    @Test
    void oneShotPrintsTheOutputAndExitsZero() throws Exception {
        String addr = startNode();
        assertThat(Main.run("shell", "--node", addr, "--identity", identity(), "-c", "help")).isZero();
        assertThat(out()).contains("tree").contains("status [--json]");
        assertThat(ShellCompleter.commandNames(out())).contains("help", "status", "tree", "span", "volconf");
        assertThat(err()).isEmpty();
    }

    @Test
    void anUnknownCommandExitsOneWithItsOutputAndAStderrLine() throws Exception {
        String addr = startNode();
        assertThat(Main.run("shell", "--node", addr, "--identity", identity(), "-c", "nosuch")).isEqualTo(1);
        assertThat(out()).startsWith("Unrecognized command: nosuch");
        assertThat(err()).isEqualTo("dmsg shell: 'nosuch' failed (" + ErrorCode.nameOf(Dmsg.ERR_PARAM) + ")"
            + "\n");
    }

    @Test
    void aUsageErrorExitsOne() throws Exception {
        String addr = startNode();
        assertThat(Main.run("shell", "--node", addr, "--identity", identity(), "--timeout", "10s", "-c", "span")).isEqualTo(1);
        assertThat(out()).contains("usage: span");
        assertThat(err()).contains("'span' failed");
    }

    @Test
    void aNodeThatCannotBeReachedExitsTwoNamingTheAddress() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort(); // free once closed: nothing listens there
        }
        String addr = "127.0.0.1:" + port;
        assertThat(Main.run("shell", "--node", addr, "--identity", identity(), "-c", "help")).isEqualTo(2);
        assertThat(out()).isEmpty();
        assertThat(err()).startsWith("dmsg shell: ").contains(addr);
        assertThat(err().lines()).hasSize(1);
    }

    /** The node does not trust our key: the one line says so, with the fingerprint and what to run there. */
    @Test
    void aKeyTheNodeRefusesIsNamedWithWhatToRun() throws Exception {
        String addr = startNode();
        Path stranger = tmp.resolve("stranger");
        NodeKeys keys = NodeKeys.generate("stranger");
        keys.write(stranger, false);
        // we trust the node, so the refusal is the node's, not ours
        TrustStore.open(stranger).add("alpha", node.keys().fingerprint(),
            Role.MEMBER, 0);
        assertThat(Main.run("shell", "--node", addr, "--identity", stranger.toString(), "-c", "help")).isEqualTo(2);
        assertThat(err()).startsWith("dmsg shell: cannot reach node " + addr + ": TLS handshake with ")
            .contains("the peer refused our certificate").contains("dmsg trust add stranger " + keys.fingerprint());
        assertThat(err().lines()).hasSize(1);
    }

    /** The kernel completes the TCP handshake from the backlog; nothing ever answers. */
    @Test
    void aNodeThatNeverAnswersExitsTwoAfterTheTimeout() throws Exception {
        try (ServerSocket hole = new ServerSocket(0, 5, InetAddress.getLoopbackAddress())) {
            String addr = "127.0.0.1:" + hole.getLocalPort();
            assertThat(Main.run("shell", "--node", addr, "--identity", identity(), "--timeout", "500ms", "-c", "help")).isEqualTo(2);
            // TLS first: the handshake is what goes unanswered, within the same --timeout
            assertThat(err()).startsWith("dmsg shell: cannot reach node " + addr + ": ").contains("handshake timeout after 500 ms");
            assertThat(err().lines()).hasSize(1);
        }
    }

    @Test
    void aLinkLostMidScriptExitsTwoWithTheReason() throws Exception {
        try (ServerSocket peer = new ServerSocket(0, 5, InetAddress.getLoopbackAddress())) {
            String addr = "127.0.0.1:" + peer.getLocalPort();
            Thread closer = new Thread(() -> {
                try {
                    peer.accept().close(); // the link goes down before any command is answered
                } catch (IOException e) {
                    // the test's own assertions report it
                }
            });
            closer.start();
            System.setIn(new ByteArrayInputStream("help\nhelp\n".getBytes(StandardCharsets.UTF_8)));
            assertThat(Main.run("shell", "--node", addr, "--identity", identity())).isEqualTo(2);
            closer.join();
            assertThat(err()).startsWith("dmsg shell: ").contains(addr);
            assertThat(err().lines()).hasSize(1);
        }
    }

    @Test
    void scriptModeRunsEveryLineSkipsCommentsAndExitsOneIfAnyFailed() throws Exception {
        String addr = startNode();
        System.setIn(new ByteArrayInputStream("help\n# comment\n\nbogus\n".getBytes(StandardCharsets.UTF_8)));
        assertThat(Main.run("shell", "--node", addr, "--identity", identity())).isEqualTo(1);
        assertThat(out()).contains("status [--json]").contains("Unrecognized command: bogus")
            .doesNotContain("comment");
        assertThat(err()).contains("'bogus' failed").doesNotContain("help");
    }

    @Test
    void scriptModeExitsZeroWhenAllSucceed() throws Exception {
        String addr = startNode();
        System.setIn(new ByteArrayInputStream("status\n  tree  \n".getBytes(StandardCharsets.UTF_8)));
        assertThat(Main.run("shell", "--node", addr, "--identity", identity())).isZero();
        assertThat(out()).contains("alpha");
        assertThat(err()).isEmpty();
    }

    // ---- completion ----

    final ShellCompleter completer = new ShellCompleter(List.of("help", "status", "ping", "tree"),
        () -> List.of("alpha", "beta"));

    List<String> complete(String line) {
        ParsedLine p = new DefaultParser().parse(line, line.length(), Parser.ParseContext.COMPLETE);
        return completer.candidates(p.words(), p.wordIndex());
    }

    @Test
    void theFirstWordCompletesCommandsAndAtNodes() {
        assertThat(complete("")).containsExactly("help", "status", "ping", "tree", "@alpha", "@beta");
        assertThat(complete("@")).containsExactly("help", "status", "ping", "tree", "@alpha", "@beta");
    }

    @Test
    void theWordAfterAnAtNodeCompletesCommands() {
        assertThat(complete("@beta ")).containsExactly("help", "status", "ping", "tree");
        assertThat(complete("@beta st")).containsExactly("help", "status", "ping", "tree");
    }

    @Test
    void theWordAfterPingCompletesNodeLabels() {
        assertThat(complete("ping ")).containsExactly("alpha", "beta");
        assertThat(complete("@alpha ping b")).containsExactly("alpha", "beta");
        assertThat(complete("ping alpha ")).isEmpty();
    }

    @Test
    void otherArgumentsCompleteNothing() {
        assertThat(complete("status ")).isEmpty();
        assertThat(complete("@alpha status ")).isEmpty();
    }

    @Test
    void commandNamesAreTheFirstWordOfEachHelpLine() {
        assertThat(ShellCompleter.commandNames("help    this list\nstatus [--json]   x\n\nspan HOST[:PORT]  y\n"))
            .containsExactly("help", "status", "span");
    }

    /** The help line of {@code @NODE COMMAND} is not a command: its node is completed from the tree. */
    @Test
    void theAtNodeHelpLineIsNotACommandName() {
        assertThat(ShellCompleter.commandNames("@NODE COMMAND             run COMMAND in NODE's shell\n"
            + "circuits                  the circuits\n")).containsExactly("circuits");
    }

    /** Node labels: real nodes once each; not an export's serial, not a tool's guest node. */
    @Test
    void nodeLabelsLeaveOutExportSerialsAndGuestNodes() throws Exception {
        JsonNode status = AdminCommands.JSON.readTree("""
            {"spans": [
              {"peer_type": "CLUSTER", "fs_label": "alpha"},
              {"peer_type": "BLOCK", "cl_label": "alpha/disk0", "fs_label": "0b5c7d1e-9a1f-4c37-8d5e-1f2a3b4c5d6e"},
              {"peer_type": "CLUSTER", "fs_label": "alpha.nbd.25992"},
              {"peer_type": "CLUSTER", "fs_label": "cli-root.blk.7"},
              {"peer_type": "CLUSTER", "fs_label": "gamma"},
              {"peer_type": "HAMMER2", "cl_label": "cfg", "fs_label": "gamma"},
              {"peer_type": "CLUSTER", "fs_label": "web.eu"},
              {"peer_type": "CLUSTER", "fs_label": ""}
            ]}""");
        assertThat(ShellCommand.nodeLabels(status)).containsExactly("alpha", "gamma", "web.eu");
    }

    /** Against a real node: its help gives no @NODE candidate, its tree its own label. */
    @Test
    void aRealNodesCandidatesHoldNoPlaceholder() throws Exception {
        startNode();
        try (var c = dev.dmsg.services.shell.ShellClient.connect("127.0.0.1", node.address().getPort(),
                AdminCommands.clientTls(Path.of(identity())), Duration.ofSeconds(10))) {
            ShellCompleter live = new ShellCompleter(ShellCompleter.commandNames(c.call("help", Duration.ofSeconds(10))),
                () -> ShellCommand.nodeLabels(c, Duration.ofSeconds(10)));
            List<String> first = live.candidates(List.of(""), 0);
            assertThat(first).contains("circuits", "ping", "@alpha").doesNotContain("@NODE", "@");
            assertThat(first).allSatisfy(w -> assertThat(w).doesNotStartWith("@@"));
        }
    }

    // ---- where history and the default identity live ----

    /** {@code ~} is $HOME, as in the user's shell; Java's user.home is the password database's home. */
    @Test
    void historyAndIdentityAreUnderHomeNotThePasswdHome() {
        Path passwdHome = Path.of(System.getProperty("user.home"));
        Map<String, String> env = Map.of("HOME", "/tmp/elsewhere");
        assertThat(ShellCommand.historyFile(env)).isEqualTo(Path.of("/tmp/elsewhere/.dmsg_history"));
        assertThat(AdminCommands.defaultIdentity(env)).isEqualTo(Path.of("/tmp/elsewhere/.dmsg"));
        assertThat(ShellCommand.historyFile(Map.of("HOME", "/tmp/elsewhere", "DMSG_HISTORY", "/h/f")))
            .isEqualTo(Path.of("/h/f"));
        assertThat(AdminCommands.defaultIdentity(Map.of("HOME", "/tmp/elsewhere", "DMSG_IDENTITY", "d")))
            .isEqualTo(Path.of("d"));
        // no usable $HOME: the passwd home
        for (Map<String, String> e : List.of(Map.<String, String>of(), Map.of("HOME", ""), Map.of("HOME", "rel/dir"))) {
            assertThat(ShellCommand.historyFile(e)).as("%s", e).isEqualTo(passwdHome.resolve(".dmsg_history"));
            assertThat(AdminCommands.defaultIdentity(e)).as("%s", e).isEqualTo(passwdHome.resolve(".dmsg"));
        }
    }
}
