package dev.dmsg.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.dmsg.link.tls.Role;
import dev.dmsg.services.node.Node;
import dev.dmsg.services.testing.TestCluster;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code dmsg status --dot} against three in-process nodes in a line (docs/STATUS-PAGE.md): the
 * graph names every node with its state and distance and both links, as the status page draws it;
 * and {@code dmsg node --http} stopping the node, with the reason, when it cannot serve the page.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class StatusDotCommandTest extends CliCapture {
    @TempDir
    Path tmp;

    @RegisterExtension
    final TestCluster cluster = new TestCluster(() -> tmp).pinning(Role.MEMBER);

    @Test
    void dotDrawsTheMeshThroughTheNode() throws Exception {
        Node alpha = cluster.line("alpha", "beta", "gamma").get(0);
        cluster.awaitSpans(alpha, 3);
        String addr = "127.0.0.1:" + alpha.address().getPort();
        String identity = tmp.resolve("alpha").toString(); // the CLI acts as the node itself
        assertThat(run("status", "--dot", "--node", addr, "--identity", identity)).isZero();
        assertThat(out()).startsWith("graph dmsg {\n")
            .contains("  \"alpha\" [label=\"alpha\\nself\", fillcolor=\"#cfe8ff\", penwidth=3];\n")
            .contains("  \"beta\" [label=\"beta\\nup, dist 0\", fillcolor=\"#d8f5d0\"];\n")
            .contains("  \"gamma\" [label=\"gamma\\nup, dist 1 via beta\", fillcolor=\"#d8f5d0\"];\n")
            .contains("  \"alpha\" -- \"beta\";\n")
            .contains("  \"beta\" -- \"gamma\";\n")
            .endsWith("}\n");
        assertThat(out()).doesNotContain("\"alpha\" -- \"gamma\"");
    }

    @Test
    void nodeStopsWhenItCannotServeThePage() throws Exception {
        try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            assertThat(run(nodeArgs(tmp.resolve("x"), "--http", "127.0.0.1:" + taken.getLocalPort()))).isEqualTo(1);
            assertThat(err()).contains("cannot listen for status page on 127.0.0.1:" + taken.getLocalPort());
        }
    }
}
