package dev.dmsg.services.metrics;

import dev.dmsg.services.http.HttpListener;
import dev.dmsg.services.http.HttpListener.Response;
import dev.dmsg.services.http.ListenerStats;
import dev.dmsg.services.node.Node;
import dev.dmsg.services.node.Readiness;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A node's metrics and health over HTTP (docs/OPERATIONS.md "Metrics and health"): {@code GET
 * /metrics} (Prometheus text format, {@link NodeCollector}), {@code GET /healthz} (200 while the
 * process serves) and {@code GET /readyz} (200, or 503 with {@link Readiness#reason()}).
 *
 * <p>Security: no authentication and no TLS, so it binds loopback unless told otherwise
 * ({@link Options#allowNonLoopback}); it answers nothing but these three GETs and never reads a
 * body. It serves on an {@link HttpListener}, whose bounds keep any client from hurting the node
 * through it (its own loop and worker thread; capped, evicting, time-limited connections; small
 * requests; at most two scrapes waiting, past that 503). Every refusal is counted
 * ({@code dmsg_metrics_http_refusals_total}). {@code /metrics} is rendered on the listener's
 * worker thread.
 */
public final class MetricsServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger("dmsg.metrics");

    /**
     * @param allowNonLoopback bind an address that is not loopback (the metrics are then readable
     *     by anyone who can reach it: firewall it, or put an authenticating proxy in front)
     * @param maxConnections connections at once
     * @param requestTimeout for a whole request and its answer
     * @param rttInterval how often each link's round trip is timed ({@link LinkRtt}); zero: never
     */
    public record Options(boolean allowNonLoopback, int maxConnections, Duration requestTimeout, Duration rttInterval) {
        public Options {
            if (maxConnections < 1) {
                throw new IllegalArgumentException("maxConnections " + maxConnections + " < 1");
            }
        }

        /** Loopback only, 16 connections, 10 s per request, round trips every 5 s. */
        public static Options defaults() {
            return new Options(false, 16, Duration.ofSeconds(10), Duration.ofSeconds(5));
        }

        public Options withAllowNonLoopback(boolean allow) {
            return new Options(allow, maxConnections, requestTimeout, rttInterval);
        }

        public Options withMaxConnections(int n) {
            return new Options(allowNonLoopback, n, requestTimeout, rttInterval);
        }

        public Options withRequestTimeout(Duration d) {
            return new Options(allowNonLoopback, maxConnections, d, rttInterval);
        }

        public Options withRttInterval(Duration d) {
            return new Options(allowNonLoopback, maxConnections, requestTimeout, d);
        }
    }

    private final PrometheusRegistry registry = new PrometheusRegistry();
    private final PrometheusTextFormatWriter writer = PrometheusTextFormatWriter.create();
    private final ListenerStats stats = new ListenerStats();
    private HttpListener http;

    private MetricsServer() {}

    /**
     * Serves {@code node}'s metrics and health on {@code host:port} (port 0: any free port).
     *
     * @throws IOException if the address cannot be bound, or is not loopback and
     *     {@link Options#allowNonLoopback} is not set (the message says which and why)
     */
    public static MetricsServer start(Node node, String host, int port, Options options) throws IOException {
        InetAddress addr = InetAddress.getByName(host);
        if (!addr.isLoopbackAddress() && !options.allowNonLoopback()) {
            throw new IOException("metrics on " + host + ":" + port + ": not a loopback address; the metrics listener "
                + "has no authentication, so it binds elsewhere only when asked (--metrics-public)");
        }
        MetricsServer m = new MetricsServer();
        LinkRtt rtt = options.rttInterval().isZero() ? null : new LinkRtt(System::nanoTime);
        m.registry.register(new NodeCollector(node, rtt, m.stats));
        HttpListener.Routes routes = new HttpListener.Routes()
            .fixed("/healthz", () -> Response.text(HttpResponseStatus.OK, "ok\n"))
            .fixed("/readyz", () -> {
                Readiness r = node.readiness();
                return Response.text(r.ready() ? HttpResponseStatus.OK : HttpResponseStatus.SERVICE_UNAVAILABLE,
                    r.reason() + "\n");
            })
            .work("/metrics", m::scrape);
        m.http = HttpListener.start("metrics", addr, port,
            new HttpListener.Options(options.maxConnections(), options.requestTimeout()), routes, m.stats);
        if (rtt != null) {
            m.http.every(options.rttInterval(), () -> rtt.probe(node.endpoint().links()));
        }
        InetSocketAddress a = m.address();
        log.info("metrics on http://{}:{}/metrics (and /healthz, /readyz)", a.getHostString(), a.getPort());
        return m;
    }

    private Response scrape() {
        ByteArrayOutputStream out = new ByteArrayOutputStream(16 << 10);
        try {
            writer.write(out, registry.scrape());
        } catch (IOException e) {
            log.warn("metrics: scrape failed: {}", e.toString());
            return Response.text(HttpResponseStatus.INTERNAL_SERVER_ERROR, "scrape failed\n");
        }
        return Response.ok(writer.getContentType(), out.toByteArray());
    }

    public InetSocketAddress address() {
        return http.address();
    }

    /** What the listener refused so far, by reason. */
    public ListenerStats stats() {
        return stats;
    }

    /** The registry the collector is in: {@code /metrics} is its scrape. */
    public PrometheusRegistry registry() {
        return registry;
    }

    @Override
    public void close() {
        if (http != null) {
            http.close();
        }
    }
}
