package dev.dmsg.services.testing;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.dmsg.link.tls.Role;
import dev.dmsg.services.node.Node;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** The harness itself: the example of dmsg-testkit/README.md, the star and full topologies, partitions and restarts. */
@Timeout(60)
class TestClusterTest {
    @TempDir
    Path tmp;

    @RegisterExtension // closes everything it started, newest first, after each test
    final TestCluster cluster = new TestCluster(() -> tmp).pinning(Role.MEMBER);

    @Test
    void anExportIsSeenTwoHopsAway() throws Exception {
        Path disk = cluster.disk("disk0.img", 4L << 20);
        Node exp = cluster.start("exp", Node.Export.of("disk0", disk).withAllow("member"));
        List<Node> line = cluster.line("a", "b");
        TestCluster.link(line.get(1), exp);
        JsonNode s = cluster.awaitStatus(line.get(0), st -> st.toString().contains("exp/disk0"), "a sees exp/disk0");
        assertThat(TestCluster.span(line.get(0), "exp/disk0").get("dist").asInt()).isEqualTo(1); // b relays it (docs/MESH.md)
        assertThat(s.get("node").get("label").asText()).isEqualTo("a");
    }

    @Test
    void aStarAndAFullMeshConvergeAndEveryNodeIsClosedAfterwards() throws Exception {
        List<Node> star = cluster.star("hub", "s1", "s2", "s3");
        for (Node n : star) {
            cluster.awaitSpans(n, 4);
        }
        List<Node> full = cluster.full("f1", "f2", "f3");
        assertThat(cluster.nodes()).hasSize(7).containsAll(star).containsAll(full);
        for (Node n : full) {
            cluster.awaitSpans(n, 3);
        }
        cluster.stop(star.get(0));
        assertThat(cluster.nodes()).hasSize(6).doesNotContain(star.get(0));
    }

    @Test
    void aPartitionCutsEveryLinkAcrossItUntilHealedAndARestartKeepsThePort() throws Exception {
        List<Node> n = cluster.full("p1", "p2", "p3");
        for (Node x : n) {
            cluster.awaitSpans(x, 3);
        }
        cluster.isolate(n.get(0)); // p1 dials nobody, p2 and p3 stop dialling it
        assertThat(n.get(0).endpoint().links()).isEmpty();
        cluster.awaitSpans(n.get(0), 1);
        cluster.awaitSpans(n.get(1), 2); // p2 and p3 still see each other
        assertThat(n.get(1).endpoint().links()).extracting(l -> l.peerLabel()).containsExactly("p3");
        cluster.heal();
        for (Node x : n) {
            cluster.awaitSpans(x, 3);
        }
        int port = n.get(1).address().getPort();
        Node again = cluster.restart(n.get(1)); // the slots p3 keeps to it find it again
        assertThat(again.address().getPort()).isEqualTo(port);
        assertThat(cluster.nodes()).contains(again).doesNotContain(n.get(1));
        cluster.awaitSpans(n.get(2), 3);
        cluster.awaitSpans(again, 3);
    }
}
