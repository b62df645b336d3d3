package dev.dmsg.services.metrics;

import dev.dmsg.services.node.Node;
import dev.dmsg.services.node.Readiness;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufOutputStream;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.TooLongFrameException;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMessage;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.TooLongHttpLineException;
import io.netty.util.concurrent.ScheduledFuture;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A node's metrics and health over HTTP (docs/OPERATIONS.md "Metrics and health"): {@code GET
 * /metrics} (Prometheus text format, {@link NodeCollector}), {@code GET /healthz} (200 while the
 * process serves) and {@code GET /readyz} (200, or 503 with {@link Readiness#reason()}).
 *
 * <p>Why Netty: the node already runs it, and every bound below is a setting of this listener
 * alone; the JDK's {@code com.sun.net.httpserver} has no cap on connections and takes its
 * timeouts from JVM-wide system properties.
 *
 * <p>Security: no authentication and no TLS, so it binds loopback unless told otherwise
 * ({@link Options#allowNonLoopback}); it answers nothing but these three GETs and never reads a
 * body. Bounds, so that no client can hurt the node through it: its own event loop (one thread)
 * and its own scrape thread, never the links'; at most {@link Options#maxConnections} connections,
 * a newcomer evicting the oldest one that has not sent a whole request yet (else it is refused);
 * each request's line and headers at most 8 KiB, its body 0 bytes; each connection must deliver a
 * whole request and read the whole answer within {@link Options#requestTimeout} of being accepted
 * or of its previous answer, else it is closed; one request at a time per connection (reading
 * stops until the answer is written), so pipelining buys nothing; at most two scrapes waiting,
 * past that 503. Every refusal is counted ({@code dmsg_metrics_http_refusals_total}).
 *
 * <p>Threads: the listener's event loop owns the connections (the eviction queue is touched only
 * there); {@code /metrics} is rendered on the scrape thread and written back on the loop.
 */
public final class MetricsServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger("dmsg.metrics");

    static final int MAX_INITIAL_LINE = 4096;
    static final int MAX_HEADER_BYTES = 8192;

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

    private final Node node;
    private final Options options;
    private final PrometheusRegistry registry = new PrometheusRegistry();
    private final PrometheusTextFormatWriter writer = PrometheusTextFormatWriter.create();
    private final ListenerStats stats = new ListenerStats();
    private final MultiThreadIoEventLoopGroup group;
    private final ThreadPoolExecutor scrapes;
    /** Connections that have not delivered a whole request since they were accepted or last answered: oldest first. Loop only. */
    private final Deque<Channel> waiting = new ArrayDeque<>();
    private int connections; // loop only
    private Channel server;

    private MetricsServer(Node node, Options options) {
        this.node = node;
        this.options = options;
        this.group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        this.scrapes = new ThreadPoolExecutor(1, 1, 0, TimeUnit.SECONDS, new ArrayBlockingQueue<>(2), r -> {
            Thread t = new Thread(r, "metrics-scrape");
            t.setDaemon(true);
            return t;
        });
    }

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
        MetricsServer m = new MetricsServer(node, options);
        LinkRtt rtt = options.rttInterval().isZero() ? null : new LinkRtt(System::nanoTime);
        m.registry.register(new NodeCollector(node, rtt, m.stats));
        try {
            m.server = new ServerBootstrap().group(m.group).channel(NioServerSocketChannel.class)
                .childOption(ChannelOption.WRITE_BUFFER_WATER_MARK, new WriteBufferWaterMark(32 << 10, 64 << 10))
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        m.accepted(ch);
                    }
                })
                .bind(new InetSocketAddress(addr, port)).sync().channel();
        } catch (Exception e) {
            m.close();
            throw new IOException("cannot listen for metrics on " + host + ":" + port + ": " + e.getMessage(), e);
        }
        if (rtt != null) {
            long every = options.rttInterval().toMillis();
            m.group.next().scheduleAtFixedRate(() -> rtt.probe(node.endpoint().links()), every, every,
                TimeUnit.MILLISECONDS);
        }
        InetSocketAddress a = m.address();
        log.info("metrics on http://{}:{}/metrics (and /healthz, /readyz)", a.getHostString(), a.getPort());
        return m;
    }

    public InetSocketAddress address() {
        return (InetSocketAddress) server.localAddress();
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
        if (server != null) {
            server.close().syncUninterruptibly();
        }
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
        scrapes.shutdownNow();
    }

    // ------------------------------------------------------------------------------------------
    // connections: the listener's loop

    private void accepted(SocketChannel ch) {
        if (connections >= options.maxConnections()) {
            Channel oldest = waiting.pollFirst();
            if (oldest == null) {
                stats.count(ListenerStats.OVER_CAP);
                ch.close();
                return;
            }
            stats.count(ListenerStats.EVICTED);
            oldest.close(); // its closeFuture lowers the count
        }
        connections++;
        ch.closeFuture().addListener(f -> {
            connections--;
            waiting.remove(ch);
        });
        ch.pipeline()
            .addLast(new HttpServerCodec(MAX_INITIAL_LINE, MAX_HEADER_BYTES, 8192))
            .addLast(new HttpObjectAggregator(0) { // no body: a Content-Length over 0 is answered 413
                @Override
                protected void handleOversizedMessage(ChannelHandlerContext ctx, HttpMessage oversized) throws Exception {
                    stats.count(ListenerStats.TOO_LARGE);
                    HttpUtil.setKeepAlive(oversized, false); // answered 413 and closed: its body is not read
                    super.handleOversizedMessage(ctx, oversized);
                }
            })
            .addLast(new Handler());
    }

    /** One connection: one request at a time, each within the request timeout. */
    private final class Handler extends SimpleChannelInboundHandler<FullHttpRequest> {
        private ScheduledFuture<?> deadline;

        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            awaitRequest(ctx);
            ctx.fireChannelActive();
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            cancelDeadline();
            ctx.fireChannelInactive();
        }

        /** Waiting for the next request: evictable, and on the clock. */
        private void awaitRequest(ChannelHandlerContext ctx) {
            waiting.addLast(ctx.channel());
            ctx.channel().config().setAutoRead(true);
            armDeadline(ctx);
        }

        private void armDeadline(ChannelHandlerContext ctx) {
            cancelDeadline();
            deadline = ctx.executor().schedule(() -> {
                stats.count(ListenerStats.TIMEOUT);
                ctx.close();
            }, options.requestTimeout().toNanos(), TimeUnit.NANOSECONDS);
        }

        private void cancelDeadline() {
            if (deadline != null) {
                deadline.cancel(false);
                deadline = null;
            }
        }

        @Override
        protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest req) {
            waiting.remove(ctx.channel());
            ctx.channel().config().setAutoRead(false); // one at a time: nothing more is read until this is answered
            boolean keepAlive = HttpUtil.isKeepAlive(req);
            if (req.decoderResult().isFailure()) {
                Throwable why = req.decoderResult().cause();
                HttpResponseStatus status = why instanceof TooLongHttpLineException ? HttpResponseStatus.REQUEST_URI_TOO_LONG
                    : why instanceof TooLongFrameException ? HttpResponseStatus.REQUEST_HEADER_FIELDS_TOO_LARGE
                    : HttpResponseStatus.BAD_REQUEST;
                stats.count(why instanceof TooLongFrameException ? ListenerStats.TOO_LARGE : ListenerStats.BAD_REQUEST);
                respond(ctx, status, status.reasonPhrase() + "\n", false);
                return;
            }
            if (!req.method().equals(HttpMethod.GET)) {
                stats.count(ListenerStats.BAD_REQUEST);
                FullHttpResponse r = text(HttpResponseStatus.METHOD_NOT_ALLOWED, "GET only\n");
                r.headers().set(HttpHeaderNames.ALLOW, "GET");
                send(ctx, r, false);
                return;
            }
            String path = req.uri();
            int q = path.indexOf('?');
            if (q >= 0) {
                path = path.substring(0, q);
            }
            switch (path) {
                case "/healthz" -> respond(ctx, HttpResponseStatus.OK, "ok\n", keepAlive);
                case "/readyz" -> {
                    Readiness r = node.readiness();
                    respond(ctx, r.ready() ? HttpResponseStatus.OK : HttpResponseStatus.SERVICE_UNAVAILABLE,
                        r.reason() + "\n", keepAlive);
                }
                case "/metrics" -> scrape(ctx, keepAlive);
                default -> respond(ctx, HttpResponseStatus.NOT_FOUND, "not found: /metrics, /healthz, /readyz\n",
                    keepAlive);
            }
        }

        private void scrape(ChannelHandlerContext ctx, boolean keepAlive) {
            try {
                scrapes.execute(() -> {
                    ByteBuf body = ctx.alloc().buffer(16 << 10);
                    FullHttpResponse r;
                    try (ByteBufOutputStream out = new ByteBufOutputStream(body)) {
                        writer.write(out, registry.scrape());
                        r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK, body);
                        r.headers().set(HttpHeaderNames.CONTENT_TYPE, writer.getContentType());
                    } catch (IOException | RuntimeException e) {
                        body.release();
                        log.warn("metrics: scrape failed: {}", e.toString());
                        r = text(HttpResponseStatus.INTERNAL_SERVER_ERROR, "scrape failed\n");
                    }
                    FullHttpResponse done = r;
                    ctx.executor().execute(() -> send(ctx, done, keepAlive));
                });
            } catch (RejectedExecutionException e) {
                stats.count(ListenerStats.BUSY);
                respond(ctx, HttpResponseStatus.SERVICE_UNAVAILABLE, "busy: scrapes queued\n", keepAlive);
            }
        }

        private void respond(ChannelHandlerContext ctx, HttpResponseStatus status, String body, boolean keepAlive) {
            send(ctx, text(status, body), keepAlive);
        }

        /** Writes {@code r}; then reads the next request (keep-alive) or closes. The deadline runs until it is written. */
        private void send(ChannelHandlerContext ctx, FullHttpResponse r, boolean keepAlive) {
            if (!ctx.channel().isActive()) {
                r.release();
                return;
            }
            HttpUtil.setContentLength(r, r.content().readableBytes());
            if (keepAlive) {
                r.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.KEEP_ALIVE);
            } else {
                r.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
            }
            ctx.writeAndFlush(r).addListener((ChannelFutureListener) f -> {
                if (!f.isSuccess() || !keepAlive) {
                    ctx.close();
                } else {
                    awaitRequest(ctx);
                }
            });
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            log.debug("metrics connection {}: {}", ctx.channel().remoteAddress(), cause.toString());
            ctx.close();
        }
    }

    private static FullHttpResponse text(HttpResponseStatus status, String body) {
        FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status,
            Unpooled.copiedBuffer(body, StandardCharsets.UTF_8));
        r.headers().set(HttpHeaderNames.CONTENT_TYPE, "text/plain; charset=utf-8");
        return r;
    }
}
