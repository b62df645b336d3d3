package dev.dmsg.services.page;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import dev.dmsg.services.http.HttpListener;
import dev.dmsg.services.http.HttpListener.Response;
import dev.dmsg.link.tls.PeerIdentity;
import dev.dmsg.link.tls.PinnedTrustManager;
import dev.dmsg.link.tls.Refusal;
import dev.dmsg.services.Access;
import dev.dmsg.services.http.ListenerStats;
import dev.dmsg.services.node.Node;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.ssl.ClientAuth;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLPeerUnverifiedException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A node's status page over HTTP (docs/STATUS-PAGE.md): {@code GET /} the page (one self-contained
 * HTML file kept in the jar, {@code status-page.html}), {@code /graph.json} the {@link MeshGraph}
 * it draws, {@code /graph.dot} the same in DOT ({@link Dot}), {@code /healthz}.
 *
 * <p>Read-only. On a loopback address plain HTTP; on any other only HTTPS, with the node's key,
 * to clients presenting a key the node trusts to read ({@link #tls}). It serves on an
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
     * @throws IOException if the address cannot be bound, or is not loopback and the node has no TLS key
     */
    public static StatusPageServer start(Node node, String host, int port, HttpListener.Options options)
            throws IOException {
        InetAddress addr = InetAddress.getByName(host);
        HttpListener.Tls tls = null;
        if (!addr.isLoopbackAddress()) {
            if (node.keys() == null) {
                throw new IOException("--http " + host + ":" + port + ": not a loopback address, and this node has no "
                    + "TLS key: the page is served beyond loopback only over TLS to clients whose key it trusts "
                    + "(docs/STATUS-PAGE.md)");
            }
            tls = tls(node);
        }
        return start(GraphSource.of(node), addr, port, options, tls);
    }

    /**
     * HTTPS with the node's own key and certificate, a client certificate required, and only keys
     * this node trusts to read let in (docs/STATUS-PAGE.md "Who can reach it"): the shell's READ
     * level ({@link Access#allows}: admin, member, or a client granted {@code shell-ro}).
     */
    static HttpListener.Tls tls(Node node) throws IOException {
        PinnedTrustManager trust = new PinnedTrustManager(node.trustPolicy());
        SslContext ctx;
        try {
            ctx = SslContextBuilder.forServer(node.keys().privateKey(), node.keys().chain())
                .sslProvider(SslProvider.JDK)
                .protocols("TLSv1.3")
                .clientAuth(ClientAuth.REQUIRE)
                .trustManager(trust)
                .build();
        } catch (SSLException e) {
            throw new IOException("--http: cannot set up TLS: " + e.getMessage(), e);
        }
        return new HttpListener.Tls(ctx, session -> {
            try {
                Certificate[] certs = session.getPeerCertificates();
                X509Certificate[] chain = new X509Certificate[certs.length];
                for (int i = 0; i < certs.length; i++) {
                    chain[i] = (X509Certificate) certs[i];
                }
                PeerIdentity who = trust.identify(chain, "an HTTPS client");
                Access.Principal p = new Access.Principal(who.name(), who.fingerprint(), who.role(), who.grants(),
                    ", over HTTPS");
                return Access.allows(p, Access.Level.READ) ? null : p.describe() + " may not read this node";
            } catch (SSLPeerUnverifiedException | Refusal | ClassCastException e) {
                return String.valueOf(e.getMessage());
            }
        });
    }

    /** Serves the graphs {@code source} gathers on loopback (tests give their own). */
    public static StatusPageServer start(GraphSource source, String host, int port, HttpListener.Options options)
            throws IOException {
        InetAddress addr = InetAddress.getByName(host);
        if (!addr.isLoopbackAddress()) {
            throw new IOException("--http " + host + ":" + port + ": not a loopback address");
        }
        return start(source, addr, port, options, null);
    }

    private static StatusPageServer start(GraphSource source, InetAddress addr, int port, HttpListener.Options options,
                                          HttpListener.Tls tls) throws IOException {
        byte[] page = page();
        StatusPageServer s = new StatusPageServer(source);
        HttpListener.Routes routes = new HttpListener.Routes()
            .fixed("/", () -> Response.ok("text/html; charset=utf-8", page))
            .fixed("/healthz", () -> Response.text(HttpResponseStatus.OK, "ok\n"))
            .work("/graph.json", s::json)
            .work("/graph.dot", s::dot);
        s.http = HttpListener.start("status page", addr, port, options, routes, s.stats, tls);
        InetSocketAddress a = s.address();
        log.info("status page on {}://{}:{}/", tls == null ? "http" : "https", a.getHostString(), a.getPort());
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
