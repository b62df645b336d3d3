package dev.dmsg.services.metrics;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.dmsg.link.Link;
import dev.dmsg.link.Transaction;
import dev.dmsg.link.tls.Role;
import dev.dmsg.quorum.GroupSpec;
import dev.dmsg.services.EchoService;
import dev.dmsg.services.blk.BlkClient;
import dev.dmsg.services.blk.RemoteBlockDevice;
import dev.dmsg.services.node.Node;
import dev.dmsg.services.testing.TestCluster;
import dev.dmsg.testkit.Await;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code /metrics}, {@code /healthz} and {@code /readyz} of real nodes on loopback, scraped over
 * HTTP after real traffic: links, an open transaction, a BLK write and read through a relay,
 * round trips, a quorum group. Each metric is checked by the name a scraper sees, with a value
 * the traffic must have made.
 */
@Timeout(90)
class MetricsServerTest {
    static final Await AWAIT = Await.atMost(TestCluster.T);

    @TempDir
    Path tmp;

    @RegisterExtension
    final TestCluster cluster = new TestCluster(() -> tmp).pinning(Role.MEMBER);

    /** Round trips every 100 ms, so that the test need not wait 5 s for the first. */
    static final MetricsServer.Options FAST = MetricsServer.Options.defaults().withRttInterval(Duration.ofMillis(100));

    MetricsServer serve(Node n) throws Exception {
        return cluster.closing(MetricsServer.start(n, "127.0.0.1", 0, FAST));
    }

    @Test
    void trafficShowsUnderItsNames() throws Exception {
        Node alpha = cluster.start("alpha", Node.Export.of("disk0", cluster.disk("disk0.img", 1 << 20)).withAllow("member"));
        Node beta = cluster.start("beta");
        Node gamma = cluster.start("gamma");
        TestCluster.link(beta, alpha);
        TestCluster.link(gamma, beta);
        for (Node n : List.of(alpha, beta, gamma)) {
            cluster.awaitSpans(n, 4);
        }
        MetricsServer ma = serve(alpha);
        MetricsServer mb = serve(beta);

        // BLK through beta: gamma writes 64 KiB to alpha's disk0, flushes and reads it back
        RemoteBlockDevice d = BlkClient.open(gamma.mesh(), "alpha/disk0", true, RemoteBlockDevice.Options.defaults())
            .get(20, TimeUnit.SECONDS);
        try {
            byte[] data = new byte[65536];
            data[7] = 42;
            d.write(4096, Unpooled.wrappedBuffer(data), false).get(10, TimeUnit.SECONDS);
            d.flush().get(10, TimeUnit.SECONDS);
            ByteBuf back = d.read(4096, 65536).get(10, TimeUnit.SECONDS);
            try {
                assertThat(back.getByte(back.readerIndex() + 7)).isEqualTo((byte) 42);
            } finally {
                back.release();
            }
            // a transaction held open from gamma to beta: ECHO|CREATE without DELETE stays open
            Link toBeta = gamma.endpoint().links().stream().filter(l -> "beta".equals(l.peerLabel())).findFirst()
                .orElseThrow();
            Transaction held = toBeta.open(EchoService.DBG_ECHO, null, null, (t, m) -> { });

            Exposition a = AWAIT.untilValue(() -> Http.scrape(ma),
                x -> x.has("dmsg_link_rtt_seconds", "peer", "beta"), "alpha times a round trip to beta");
            assertThat(a.sum("dmsg_node_info", "label", "alpha")).isEqualTo(1);
            assertThat(a.text()).contains("version=\"" + Node.version() + "\"");
            assertThat(Node.version()).isNotEqualTo("unknown");
            assertThat(a.sum("dmsg_node_start_time_seconds")).isCloseTo(alpha.started().toEpochMilli() / 1e3,
                org.assertj.core.data.Offset.offset(0.01));
            assertThat(a.sum("dmsg_node_ready")).isEqualTo(1);
            assertThat(a.type("dmsg_link_messages_total")).isEqualTo("counter");
            assertThat(a.sum("dmsg_link_messages_total", "peer", "beta", "direction", "in")).isPositive();
            assertThat(a.sum("dmsg_link_messages_total", "peer", "beta", "direction", "out")).isPositive();
            assertThat(a.sum("dmsg_link_bytes_total", "peer", "beta", "direction", "in")).isGreaterThan(65536);
            assertThat(a.sum("dmsg_link_bytes_total", "peer", "beta", "direction", "out")).isGreaterThan(65536);
            assertThat(a.sum("dmsg_link_rtt_seconds", "peer", "beta")).isPositive().isLessThan(5);
            assertThat(a.sum("dmsg_links", "state", "up")).isEqualTo(1);
            assertThat(a.sum("dmsg_tls_handshakes_total", "result", "completed")).isGreaterThanOrEqualTo(1);
            assertThat(a.sum("dmsg_tls_handshakes_total", "result", "failed")).isZero();
            assertThat(a.sum("dmsg_refusals_total", "layer", "tls", "reason", "key_refused")).isZero();
            assertThat(a.sum("dmsg_spans")).isEqualTo(4);
            assertThat(a.sum("dmsg_spans", "peer_type", "BLOCK", "local", "true")).isEqualTo(1);
            assertThat(a.sum("dmsg_circuits", "role", "endpoint")).isGreaterThanOrEqualTo(1);
            assertThat(a.sum("dmsg_blk_opens", "export", "disk0")).isEqualTo(1);
            assertThat(a.sum("dmsg_blk_requests_total", "export", "disk0", "op", "write")).isEqualTo(1);
            assertThat(a.sum("dmsg_blk_requests_total", "export", "disk0", "op", "read")).isEqualTo(1);
            assertThat(a.sum("dmsg_blk_requests_total", "export", "disk0", "op", "flush")).isEqualTo(1);
            assertThat(a.sum("dmsg_blk_bytes_total", "export", "disk0", "op", "write")).isEqualTo(65536);
            assertThat(a.sum("dmsg_blk_bytes_total", "export", "disk0", "op", "read")).isEqualTo(65536);
            assertThat(a.sum("dmsg_blk_errors_total", "export", "disk0")).isZero();
            assertThat(a.type("dmsg_blk_request_duration_seconds")).isEqualTo("histogram");
            assertThat(a.sum("dmsg_blk_request_duration_seconds_count", "export", "disk0", "op", "read")).isEqualTo(1);
            assertThat(a.sum("dmsg_blk_request_duration_seconds_bucket", "export", "disk0", "op", "read", "le", "+Inf"))
                .isEqualTo(1);
            assertThat(a.sum("dmsg_blk_request_duration_seconds_sum", "export", "disk0", "op", "write")).isPositive()
                .isLessThan(10);

            Exposition b = AWAIT.untilValue(() -> Http.scrape(mb),
                x -> x.sum("dmsg_link_open_transactions", "peer", "gamma") >= 1, "beta sees gamma's open transaction");
            assertThat(b.sum("dmsg_circuits", "role", "relay")).isGreaterThanOrEqualTo(1);
            // gamma's 64 KiB write came in from gamma and went on to alpha; the read came back the other way
            assertThat(b.sum("dmsg_link_relayed_bytes_total", "peer", "gamma", "direction", "in")).isGreaterThan(65536);
            assertThat(b.sum("dmsg_link_relayed_bytes_total", "peer", "alpha", "direction", "out")).isGreaterThan(65536);
            assertThat(b.sum("dmsg_link_relayed_bytes_total", "peer", "alpha", "direction", "in")).isGreaterThan(65536);
            assertThat(b.sum("dmsg_link_relayed_messages_total", "peer", "gamma", "direction", "out")).isPositive();
            assertThat(b.has("dmsg_blk_requests_total")).as("beta exports nothing").isFalse();
            held.close();
        } finally {
            d.close();
        }

        // the status document's new fields
        JsonNode node = alpha.status().get("node");
        assertThat(node.get("version").asText()).isEqualTo(Node.version());
        assertThat(Instant.parse(node.get("started").asText())).isEqualTo(alpha.started());
        assertThat(node.get("uptime_s").asLong()).isBetween(0L, 90L);
    }

    @Test
    void quorumRoleIndexAndLocks() throws Exception {
        Node q = cluster.start(cluster.settings("q").toBuilder().quorums(List.of(GroupSpec.parse("g=q"))).build());
        MetricsServer m = serve(q);
        Exposition x = AWAIT.untilValue(() -> Http.scrape(m), e -> e.sum("dmsg_quorum_leader_known", "group", "g") == 1,
            "q leads g");
        assertThat(x.sum("dmsg_quorum_role", "group", "g", "role", "leader")).isEqualTo(1);
        assertThat(x.sum("dmsg_quorum_term", "group", "g")).isPositive();
        assertThat(x.has("dmsg_quorum_commit_index", "group", "g")).isTrue();
        assertThat(x.has("dmsg_quorum_applied_index", "group", "g")).isTrue();
        assertThat(x.sum("dmsg_lock_sessions")).isZero();
        assertThat(x.has("dmsg_locks", "group", "g", "state", "held")).isTrue();
        assertThat(Http.get(m.address(), "/readyz").statusCode()).isEqualTo(200);
    }

    @Test
    void readyWhenListeningWithAKeptLinkAndALeader() throws Exception {
        Node a = cluster.start("a");
        Node b = cluster.start("b");
        MetricsServer ma = serve(a);
        MetricsServer mb = serve(b);
        HttpResponse<String> health = Http.get(ma.address(), "/healthz");
        assertThat(health.statusCode()).isEqualTo(200);
        assertThat(health.body()).isEqualTo("ok\n");
        assertThat(Http.get(ma.address(), "/readyz").statusCode()).as("keeps no link, in no group").isEqualTo(200);
        assertThat(Http.get(ma.address(), "/nope").statusCode()).isEqualTo(404);

        TestCluster.link(b, a);
        AWAIT.untilValue(() -> Http.get(mb.address(), "/readyz"), r -> r.statusCode() == 200, "b ready once linked");
        cluster.stop(a);
        HttpResponse<String> r = AWAIT.untilValue(() -> Http.get(mb.address(), "/readyz"), x -> x.statusCode() == 503,
            "b not ready without its link");
        assertThat(r.body()).startsWith("no live link: none of 1 configured connection(s) up (127.0.0.1:")
            .endsWith(")\n").doesNotContain("\n\n");
        assertThat(Http.get(mb.address(), "/healthz").statusCode()).as("alive all the same").isEqualTo(200);

        // a group whose other member never comes: no leader, not ready, and why
        Node lone = cluster.start(cluster.settings("lone").toBuilder()
            .quorums(List.of(GroupSpec.parse("g2=lone,ghost"))).build());
        MetricsServer ml = serve(lone);
        HttpResponse<String> q = Http.get(ml.address(), "/readyz");
        assertThat(q.statusCode()).isEqualTo(503);
        assertThat(q.body()).startsWith("quorum group g2: no leader known");
        assertThat(lone.shell().execute("health").output()).startsWith("not ready: quorum group g2: no leader known");
        assertThat(b.shell().execute("health").status()).isNotZero();
        assertThat(cluster.start("c").shell().execute("health").output()).isEqualTo("ready\n");
    }

    @Test
    void refusesAnAddressThatIsNotLoopbackUnlessAsked() throws Exception {
        Node a = cluster.start("a");
        assertThat(org.junit.jupiter.api.Assertions.assertThrows(java.io.IOException.class,
            () -> MetricsServer.start(a, "0.0.0.0", 0, MetricsServer.Options.defaults())).getMessage())
            .contains("not a loopback address").contains("--metrics-public");
        try (MetricsServer m = MetricsServer.start(a, "0.0.0.0", 0,
                MetricsServer.Options.defaults().withAllowNonLoopback(true))) {
            assertThat(Http.get(m.address(), "/healthz").statusCode()).isEqualTo(200);
        }
    }
}
