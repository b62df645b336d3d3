package dev.dmsg.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.dmsg.services.legacy.LegacyCRelay;
import dev.dmsg.services.node.Node;
import dev.dmsg.services.node.Security;
import dev.dmsg.services.testing.TestCluster;
import dev.dmsg.testkit.Await;
import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * docs/LEGACY.md: the CLI against a 2013 C node — the scripted one, which fails the test at close
 * if the CLI sent it anything the real libdmsg would not survive. {@code dmsg shell -c tree} prints
 * its tree (and before this change sent the CREATE|DELETE that killed the real one), {@code dmsg
 * status} says what it cannot answer and shows what it can, {@code dmsg connect} refuses plainly.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class LegacyNodeCommandTest extends CliCapture {
    @TempDir
    Path tmp;

    final TestCluster cluster = new TestCluster(() -> tmp);
    LegacyCRelay relay;
    Node zulu;
    String node;

    @BeforeEach
    void start() throws Exception {
        Logging.setLevel("legacy-c-relay", "WARN"); // the CLI's stdout is what is checked
        relay = new LegacyCRelay();
        zulu = cluster.start(Node.Settings.builder("127.0.0.1", 0, tmp.resolve("zulu"), TestCluster.identity("zulu"))
            .pingInterval(Duration.ofSeconds(30)).deadTimeout(Duration.ofSeconds(60))
            .security(Security.defaults().withLegacy(List.of(Security.LegacyPeer.parse("127.0.0.1=member"))))
            .build());
        relay.connect("127.0.0.1", zulu.address().getPort());
        Await.until(() -> relay.tree().contains("(zulu)"), Duration.ofSeconds(10), "the C node learns zulu");
        node = "127.0.0.1:" + relay.port();
    }

    @AfterEach
    void stop() throws Exception {
        try {
            cluster.close();
        } finally {
            relay.close(); // strict: throws, failing the test, if it was sent what would crash it
        }
    }

    @Test
    void shellTreePrintsTheCNodesTree() {
        assertThat(run("shell", "--plaintext", "--node", node, "-c", "tree")).as(err()).isZero();
        assertThat(out()).isEqualTo(relay.tree()).contains("(zulu)");
        assertThat(relay.shellCommands()).isEqualTo(1);
        assertThat(relay.crashInputs()).isEmpty();
    }

    @Test
    void shellScriptRunsEachLineInTheCNodesFraming() {
        System.setIn(new ByteArrayInputStream("help\ntree\nwhoami\n".getBytes(StandardCharsets.UTF_8)));
        assertThat(run("shell", "--plaintext", "--node", node)).as(err()).isZero();
        assertThat(out()).contains("Dump spanning tree").contains(relay.tree())
            .endsWith("Unrecognized command: whoami\n");
        assertThat(relay.shellCommands()).isEqualTo(3);
    }

    @Test
    void statusSaysWhatACNodeCannotAnswerAndShowsItsTree() {
        assertThat(run("status", "--plaintext", "--node", node)).as(err()).isZero();
        assertThat(out()).startsWith(node + " is a 2013 C node (libdmsg): it has no status document")
            .contains(relay.tree());
        assertThat(run("status", "--json", "--plaintext", "--node", node)).isEqualTo(1);
        assertThat(out()).isEmpty();
        assertThat(err()).contains("is a 2013 C node").contains("no status document")
            .contains("dmsg shell --plaintext --node " + node + " -c tree");
    }

    @Test
    void connectRefusesPlainlyAndSendsNothing() {
        assertThat(run("connect", "--plaintext", "--node", node, "10.0.0.9:987")).isEqualTo(1);
        assertThat(err()).contains("is a 2013 C node").contains("nothing sent").contains("hammer2 connect");
        assertThat(relay.shellCommands()).isZero();
    }
}
