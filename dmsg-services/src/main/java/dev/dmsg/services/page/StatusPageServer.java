package dev.dmsg.services.page;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import dev.dmsg.services.http.HttpListener;
import dev.dmsg.services.http.HttpListener.Response;
import dev.dmsg.services.http.ListenerStats;
import dev.dmsg.services.node.Node;
import io.netty.handler.codec.http.HttpResponseStatus;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A node's status page over HTTP (docs/STATUS-PAGE.md): {@code GET /} the page (one self-contained
 * HTML file kept in the jar, {@code status-page.html}), {@code /graph.json} the {@link MeshGraph}
 * it draws, {@code /graph.dot} the same in DOT ({@link Dot}), {@code /healthz}.
 *
 * <p>Read-only, no authentication, so loopback only: TLS with a trusted client key for other
 * addresses (issue 18) is not built yet, and {@link #start} refuses them. It serves on an
 * {@link HttpListener} with the metrics listener's bounds; the graph is gathered on the listener's
 * worker ({@link GraphSource}: bounded and cached), never on a link's event loop.
 */
public final class StatusPageServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger("dmsg.page");

    /** The graph as JSON: snake_case names, as the status document. */
    static final ObjectMapper JSON = new ObjectMapper().setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE);

    private final GraphSource source;
    private final ListenerStats stats = new ListenerStats();
    private HttpListener http;

    private StatusPageServer(GraphSource source) {
        this.source = source;
    }

    /** 16 connections, 10 s per request: the metrics listener's defaults. */
    public static HttpListener.Options defaults() {
        return new HttpListener.Options(16, Duration.ofSeconds(10));
    }

    /**
     * Serves {@code node}'s status page on {@code host:port} (port 0: any free port).
     *
     * @throws IOException if the address cannot be bound, or is not a loopback address
     */
    public static StatusPageServer start(Node node, String host, int port, HttpListener.Options options)
            throws IOException {
        return start(GraphSource.of(node), host, port, options);
    }

    /** Serves the graphs {@code source} gathers (tests give their own). */
    public static StatusPageServer start(GraphSource source, String host, int port, HttpListener.Options options)
            throws IOException {
        InetAddress addr = InetAddress.getByName(host);
        if (!addr.isLoopbackAddress()) {
            throw new IOException("--http " + host + ":" + port + ": not a loopback address; the status page has no "
                + "authentication, and serving it elsewhere (TLS with a trusted client key) is not implemented yet: "
                + "bind 127.0.0.1 and reach it through an SSH tunnel (docs/STATUS-PAGE.md)");
        }
        byte[] page = page();
        StatusPageServer s = new StatusPageServer(source);
        HttpListener.Routes routes = new HttpListener.Routes()
            .fixed("/", () -> Response.ok("text/html; charset=utf-8", page))
            .fixed("/healthz", () -> Response.text(HttpResponseStatus.OK, "ok\n"))
            .work("/graph.json", s::json)
            .work("/graph.dot", s::dot);
        s.http = HttpListener.start("status page", addr, port, options, routes, s.stats);
        InetSocketAddress a = s.address();
        log.info("status page on http://{}:{}/", a.getHostString(), a.getPort());
        return s;
    }

    static byte[] page() {
        try (InputStream in = StatusPageServer.class.getResourceAsStream("status-page.html")) {
            if (in == null) {
                throw new IllegalStateException("status-page.html missing from the jar");
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private Response json() {
        try {
            GraphSource.Gathered g = source.graph();
            Map<String, Object> out = new LinkedHashMap<>();
            out.put("self", g.graph().self());
            out.put("generated", Instant.now().toString());
            out.put("gather_ms", g.tookNanos() / 1_000_000);
            out.put("nodes", g.graph().nodes());
            out.put("links", g.graph().links());
            out.put("circuits", g.graph().circuits());
            return Response.ok("application/json", JSON.writeValueAsBytes(out));
        } catch (Exception e) {
            return failed(e);
        }
    }

    private Response dot() {
        try {
            return Response.ok("text/vnd.graphviz; charset=utf-8",
                Dot.of(source.graph().graph()).getBytes(StandardCharsets.UTF_8));
        } catch (Exception e) {
            return failed(e);
        }
    }

    private static Response failed(Exception e) {
        if (e instanceof InterruptedException) {
            Thread.currentThread().interrupt();
        }
        log.warn("status page: no graph: {}", e.toString());
        return Response.text(HttpResponseStatus.SERVICE_UNAVAILABLE, "no graph: " + e + "\n");
    }

    public InetSocketAddress address() {
        return http.address();
    }

    /** What the listener refused so far, by reason. */
    public ListenerStats stats() {
        return stats;
    }

    @Override
    public void close() {
        if (http != null) {
            http.close();
        }
    }
}
