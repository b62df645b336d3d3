package dev.dmsg.services.metrics;

import static org.assertj.core.api.Assertions.assertThat;

import dev.dmsg.link.Link;
import dev.dmsg.link.tls.Role;
import dev.dmsg.services.EchoService;
import dev.dmsg.services.http.HttpListener;
import dev.dmsg.services.http.ListenerStats;
import dev.dmsg.services.node.Node;
import dev.dmsg.services.testing.TestCluster;
import dev.dmsg.wire.Dmsg;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The metrics listener under attack (STYLE: the flood, beside the happy path): a flood of idle
 * connections, a request that never ends, one that trickles, a huge header, a huge body. Each is
 * cut off within its bound and counted, while an honest scrape is still answered and the node's
 * own links still carry transactions.
 */
@Timeout(60)
class MetricsAttackTest {
    @TempDir
    Path tmp;

    @RegisterExtension
    final TestCluster cluster = new TestCluster(() -> tmp).pinning(Role.MEMBER);

    Node a;
    Node b;

    void startTwo() throws Exception {
        a = cluster.start("a");
        b = cluster.start("b");
        TestCluster.link(b, a);
        cluster.awaitSpans(a, 2);
    }

    /** An echo from b to a over their link: the node's own traffic, answered. */
    void nodeStillAnswers() throws Exception {
        Link toA = b.endpoint().links().stream().filter(l -> "a".equals(l.peerLabel())).findFirst().orElseThrow();
        CompletableFuture<Integer> answered = new CompletableFuture<>();
        toA.open(EchoService.DBG_ECHO | Dmsg.DELETE, null, null, (t, m) -> {
            if (m.isDelete()) {
                answered.complete(m.error());
            }
        });
        assertThat(answered.get(10, TimeUnit.SECONDS)).isZero();
    }

    @Test
    void aFloodOfIdleConnectionsGivesWayToAnHonestScrape() throws Exception {
        startTwo();
        MetricsServer m = cluster.closing(MetricsServer.start(a, "127.0.0.1", 0,
            MetricsServer.Options.defaults().withMaxConnections(8).withRequestTimeout(Duration.ofSeconds(30))));
        List<Socket> flood = new ArrayList<>();
        try {
            for (int i = 0; i < 200; i++) {
                flood.add(new Socket("127.0.0.1", m.address().getPort())); // connects, says nothing
            }
            // the listener has seen all 200: the last ones evicted the oldest silent ones
            cluster.await(() -> m.stats().get(ListenerStats.EVICTED) + m.stats().get(ListenerStats.OVER_CAP) >= 192,
                "200 silent connections over a cap of 8 turned away");
            Exposition x = Http.scrape(m); // a newcomer that sends its request at once is served
            assertThat(x.sum("dmsg_links", "state", "up")).isEqualTo(1);
            assertThat(x.sum("dmsg_metrics_http_refusals_total", "reason", "evicted")).isGreaterThanOrEqualTo(192);
            nodeStillAnswers();
        } finally {
            for (Socket s : flood) {
                s.close();
            }
        }
    }

    @Test
    void aRequestThatNeverEndsOrTricklesIsCutOffAtTheTimeout() throws Exception {
        startTwo();
        Duration timeout = Duration.ofMillis(500);
        MetricsServer m = cluster.closing(MetricsServer.start(a, "127.0.0.1", 0,
            MetricsServer.Options.defaults().withRequestTimeout(timeout)));
        long t0 = System.nanoTime();
        try (Socket s = new Socket("127.0.0.1", m.address().getPort())) {
            s.getOutputStream().write("GET /metr".getBytes(StandardCharsets.US_ASCII));
            s.setSoTimeout(10_000);
            assertThat(s.getInputStream().read()).as("closed without an answer").isEqualTo(-1);
        }
        assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(5));
        // a trickle: one header byte whenever 50 ms pass without an answer; the deadline is for the
        // whole request, so bytes arriving do not extend it
        int sent = 0;
        t0 = System.nanoTime();
        try (Socket s = new Socket("127.0.0.1", m.address().getPort())) {
            OutputStream out = s.getOutputStream();
            InputStream in = s.getInputStream();
            out.write("GET /metrics HTTP/1.1\r\nX-Slow: ".getBytes(StandardCharsets.US_ASCII));
            s.setSoTimeout(50);
            boolean closed = false;
            while (!closed) {
                try {
                    out.write('a');
                    sent++;
                } catch (java.io.IOException e) {
                    break; // reset by the listener
                }
                try {
                    closed = in.read() == -1;
                } catch (SocketTimeoutException e) {
                    // the attacker's pace; nothing arrived
                } catch (java.io.IOException e) {
                    closed = true;
                }
            }
        }
        assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(5));
        assertThat(sent).as("cut off by the deadline, not by the header limit").isLessThan(HttpListener.MAX_HEADER_BYTES);
        assertThat(m.stats().get(ListenerStats.TIMEOUT)).isGreaterThanOrEqualTo(2);
        assertThat(Http.scrape(m).sum("dmsg_metrics_http_refusals_total", "reason", "timeout")).isGreaterThanOrEqualTo(2);
        nodeStillAnswers();
    }

    @Test
    void hugeHeadersLinesAndBodiesAreRefusedUnread() throws Exception {
        startTwo();
        MetricsServer m = cluster.closing(MetricsServer.start(a, "127.0.0.1", 0, MetricsServer.Options.defaults()));
        String big = "a".repeat(100_000);
        assertThat(raw(m, "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + big + "\r\n\r\n"))
            .startsWith("HTTP/1.1 431");
        assertThat(raw(m, "GET /" + big + " HTTP/1.1\r\nHost: x\r\n\r\n")).startsWith("HTTP/1.1 414");
        assertThat(raw(m, "GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n"))
            .startsWith("HTTP/1.1 413");
        assertThat(raw(m, "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")).startsWith("HTTP/1.1 405");
        assertThat(raw(m, "garbage\r\n\r\n")).startsWith("HTTP/1.1 400");
        assertThat(m.stats().get(ListenerStats.TOO_LARGE)).isEqualTo(3);
        assertThat(Http.scrape(m).sum("dmsg_link_messages_total", "peer", "b")).isPositive();
        nodeStillAnswers();
    }

    /**
     * Sends {@code request} as it is, then reads what comes back until the listener closes: it
     * must answer and close, whatever the client still means to send.
     */
    static String raw(MetricsServer m, String request) throws Exception {
        try (Socket s = new Socket("127.0.0.1", m.address().getPort())) {
            s.setSoTimeout(10_000);
            try {
                s.getOutputStream().write(request.getBytes(StandardCharsets.US_ASCII));
            } catch (java.io.IOException e) {
                // closed while we were still writing: the answer was sent first
            }
            java.io.ByteArrayOutputStream got = new java.io.ByteArrayOutputStream();
            byte[] buf = new byte[4096];
            try {
                for (int n; (n = s.getInputStream().read(buf)) != -1; ) {
                    got.write(buf, 0, n);
                }
            } catch (java.net.SocketException e) {
                // reset after the answer: what the client had not sent yet was never read
            }
            return got.toString(StandardCharsets.US_ASCII);
        }
    }
}
