package dev.dmsg.services.page;

import static org.assertj.core.api.Assertions.assertThat;

import dev.dmsg.link.tls.Role;
import dev.dmsg.services.http.HttpListener;
import dev.dmsg.services.http.ListenerStats;
import dev.dmsg.services.node.Node;
import dev.dmsg.services.testing.TestCluster;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The status page's listener under attack (STYLE: the flood beside the happy path). It shares the
 * metrics listener's plumbing and bounds ({@link HttpListener}); these check them again here,
 * with the page's own routes: a flood of idle connections, a request that never ends held open
 * while honest clients read the graph, bodies and methods refused, and more graph requests than
 * the worker queues answered 503 while the page itself is still served.
 */
@Timeout(60)
class StatusPageAttackTest {
    /** HTTP/1.1: an HTTP/2 client holds further requests back until its first upgrade attempt is answered. */
    private static final HttpClient CLIENT = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
        .connectTimeout(Duration.ofSeconds(5)).build();

    @TempDir
    Path tmp;

    @RegisterExtension
    final TestCluster cluster = new TestCluster(() -> tmp).pinning(Role.MEMBER);

    Node a;

    StatusPageServer startTwo(HttpListener.Options options) throws Exception {
        a = cluster.start("a");
        Node b = cluster.start("b");
        TestCluster.link(b, a);
        cluster.awaitSpans(a, 2);
        return cluster.closing(StatusPageServer.start(a, "127.0.0.1", 0, options));
    }

    static HttpResponse<String> get(StatusPageServer s, String path) throws Exception {
        return CLIENT.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + s.address().getPort() + path))
            .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
    }

    /** An honest reader: the graph shows both nodes, b read first-hand over the mesh. */
    static void honestGraph(StatusPageServer s) throws Exception {
        HttpResponse<String> r = get(s, "/graph.json");
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.body()).contains("\"label\":\"b\",\"state\":\"up\"");
    }

    @Test
    void aFloodOfIdleConnectionsGivesWayToAnHonestReader() throws Exception {
        StatusPageServer s = startTwo(new HttpListener.Options(8, Duration.ofSeconds(30)));
        List<Socket> flood = new ArrayList<>();
        try {
            for (int i = 0; i < 200; i++) {
                flood.add(new Socket("127.0.0.1", s.address().getPort()));
            }
            cluster.await(() -> s.stats().get(ListenerStats.EVICTED) + s.stats().get(ListenerStats.OVER_CAP) >= 192,
                "200 silent connections over a cap of 8 turned away");
            honestGraph(s);
            assertThat(get(s, "/").body()).contains("<svg id=\"graph\"");
        } finally {
            for (Socket x : flood) {
                x.close();
            }
        }
    }

    @Test
    void slowRequestsAreCutOffWhileHonestReadersAreServed() throws Exception {
        StatusPageServer s = startTwo(new HttpListener.Options(16, Duration.ofMillis(800)));
        try (Socket never = new Socket("127.0.0.1", s.address().getPort());
             Socket trickle = new Socket("127.0.0.1", s.address().getPort())) {
            never.getOutputStream().write("GET /graph.j".getBytes(StandardCharsets.US_ASCII));
            OutputStream t = trickle.getOutputStream();
            t.write("GET /graph.json HTTP/1.1\r\nX-Slow: ".getBytes(StandardCharsets.US_ASCII));
            honestGraph(s); // while both hang on
            assertThat(get(s, "/graph.dot").body()).contains("\"a\" -- \"b\";");
            never.setSoTimeout(10_000);
            assertThat(never.getInputStream().read()).as("closed without an answer").isEqualTo(-1);
            trickle.setSoTimeout(50);
            InputStream in = trickle.getInputStream();
            boolean closed = false;
            for (int i = 0; i < 400 && !closed; i++) { // one byte per 50 ms of silence: cut off by the deadline
                try {
                    t.write('a');
                } catch (java.io.IOException e) {
                    closed = true;
                    break;
                }
                try {
                    closed = in.read() == -1;
                } catch (java.net.SocketTimeoutException e) {
                    // nothing yet
                } catch (java.io.IOException e) {
                    closed = true;
                }
            }
            assertThat(closed).as("the trickle cut off").isTrue();
        }
        assertThat(s.stats().get(ListenerStats.TIMEOUT)).isGreaterThanOrEqualTo(2);
        honestGraph(s);
    }

    @Test
    void onlyGetWithoutABody() throws Exception {
        StatusPageServer s = startTwo(StatusPageServer.defaults());
        assertThat(raw(s, "POST /graph.json HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")).startsWith("HTTP/1.1 405");
        assertThat(raw(s, "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n")).startsWith("HTTP/1.1 413");
        assertThat(raw(s, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + "a".repeat(100_000) + "\r\n\r\n"))
            .startsWith("HTTP/1.1 431");
        assertThat(get(s, "/nothing").statusCode()).isEqualTo(404);
        HttpResponse<String> page = get(s, "/");
        assertThat(page.headers().firstValue("Content-Type")).hasValue("text/html; charset=utf-8");
        assertThat(page.headers().firstValue("X-Frame-Options")).hasValue("DENY");
        assertThat(page.body()).as("no external resource").doesNotContainPattern("(src|href)\\s*=")
            .doesNotContain("<link", "url(", "@import").contains("Content-Security-Policy");
        honestGraph(s);
    }

    /** More graph requests than the worker holds are answered 503 at once; the page and /healthz still are. */
    @Test
    void graphRequestsPastTheQueueAreBusy() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        CountDownLatch gathering = new CountDownLatch(1);
        GraphSource stuck = new GraphSource(() -> {
            gathering.countDown();
            release.await(); // a gathering that takes as long as the test says
            return MeshGraphTest.ALPHA;
        }, label -> new CompletableFuture<>(), System::nanoTime, Duration.ZERO);
        StatusPageServer s = cluster.closing(StatusPageServer.start(stuck, "127.0.0.1", 0, StatusPageServer.defaults()));
        List<CompletableFuture<HttpResponse<String>>> held = new ArrayList<>();
        held.add(CLIENT.sendAsync(request(s, "/graph.json"), HttpResponse.BodyHandlers.ofString()));
        assertThat(gathering.await(10, TimeUnit.SECONDS)).isTrue(); // the worker is busy with the first
        for (int i = 0; i < HttpListener.MAX_QUEUED_WORK; i++) {
            held.add(CLIENT.sendAsync(request(s, "/graph.json"), HttpResponse.BodyHandlers.ofString()));
        }
        // Probes until one is refused: a probe that comes before the held ones reach the listener is
        // queued itself (and given up after 1 s), which only fills the queue sooner.
        cluster.await(() -> {
            try {
                HttpResponse<String> r = CLIENT.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:"
                    + s.address().getPort() + "/graph.json")).timeout(Duration.ofSeconds(1)).build(),
                    HttpResponse.BodyHandlers.ofString());
                return r.statusCode() == 503 && r.body().startsWith("busy");
            } catch (Exception e) {
                return false;
            }
        }, "a request past the queue answered busy");
        assertThat(s.stats().get(ListenerStats.BUSY)).isPositive();
        assertThat(get(s, "/healthz").statusCode()).isEqualTo(200);
        assertThat(get(s, "/").statusCode()).isEqualTo(200);
        release.countDown();
        assertThat(held.get(0).get(10, TimeUnit.SECONDS).statusCode()).isEqualTo(200);
        honestAfterwards(s);
    }

    /** Once the worker is free again, a reader gets the graph. */
    static void honestAfterwards(StatusPageServer s) throws Exception {
        HttpResponse<String> r = get(s, "/graph.json");
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.body()).contains("\"self\":\"alpha\"");
    }

    static HttpRequest request(StatusPageServer s, String path) {
        return HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + s.address().getPort() + path))
            .timeout(Duration.ofSeconds(20)).build();
    }

    static String raw(StatusPageServer s, String request) throws Exception {
        try (Socket x = new Socket("127.0.0.1", s.address().getPort())) {
            x.setSoTimeout(10_000);
            try {
                x.getOutputStream().write(request.getBytes(StandardCharsets.US_ASCII));
            } catch (java.io.IOException e) {
                // closed before all was sent: what was answered is still there to read
            }
            return new String(x.getInputStream().readAllBytes(), StandardCharsets.US_ASCII);
        }
    }
}
