package dev.dmsg.services.http;

import io.netty.bootstrap.ServerBootstrap;
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
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslHandshakeCompletionEvent;
import io.netty.util.concurrent.ScheduledFuture;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.function.Supplier;
import javax.net.ssl.SSLSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A small read-only HTTP/1.1 listener with strict bounds: what the metrics listener
 * ({@code dev.dmsg.services.metrics.MetricsServer}) and the status page
 * ({@code dev.dmsg.services.page.StatusPageServer}) serve on. It answers GETs of a fixed set of
 * paths ({@link Routes}) and never reads a body.
 *
 * <p>Why Netty: the node already runs it, and every bound below is a setting of this listener
 * alone; the JDK's {@code com.sun.net.httpserver} has no cap on connections and takes its
 * timeouts from JVM-wide system properties.
 *
 * <p>Bounds, so that no client can hurt the node through it (docs/OPERATIONS.md "Who can reach
 * it"): its own event loop (one thread) and its own worker thread, never the links'; at most
 * {@link Options#maxConnections} connections, a newcomer evicting the oldest one that has not sent
 * a whole request yet (else it is refused); each request's line at most {@value #MAX_INITIAL_LINE}
 * bytes and its headers {@value #MAX_HEADER_BYTES}, its body 0 bytes; each connection must deliver
 * a whole request and read the whole answer within {@link Options#requestTimeout} of being
 * accepted or of its previous answer, else it is closed; one request at a time per connection
 * (reading stops until the answer is written), so pipelining buys nothing; at most
 * {@value #MAX_QUEUED_WORK} answers waiting for the worker, past that 503. Every refusal is counted
 * in {@link ListenerStats}. Optionally over TLS ({@link Tls}): the handshake falls within the
 * first request's deadline, and a client whose key may not read is closed before it is read.
 *
 * <p>Threads: the event loop owns the connections (the eviction queue is touched only there); a
 * {@link Routes#work} route is answered on the worker and written back on the loop, a
 * {@link Routes#fixed} one on the loop.
 */
public final class HttpListener implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger("dmsg.http");

    public static final int MAX_INITIAL_LINE = 4096;
    public static final int MAX_HEADER_BYTES = 8192;
    /** Answers that may wait for the worker beside the one it computes. */
    public static final int MAX_QUEUED_WORK = 2;

    /**
     * @param maxConnections connections at once
     * @param requestTimeout for a whole request and its answer
     */
    public record Options(int maxConnections, Duration requestTimeout) {
        public Options {
            if (maxConnections < 1) {
                throw new IllegalArgumentException("maxConnections " + maxConnections + " < 1");
            }
        }
    }

    /**
     * TLS for the listener: every connection starts with a handshake under {@code context} (which
     * should require a client certificate), within the request deadline, and is then checked by
     * {@code refusal}: null lets it in, else the reason it is closed for (counted
     * {@link ListenerStats#KEY_REFUSED}, logged at debug).
     */
    public record Tls(SslContext context, Function<SSLSession, String> refusal) {}

    /** One answer: a status, a content type and the whole body. */
    public record Response(HttpResponseStatus status, String contentType, byte[] body) {
        public static Response text(HttpResponseStatus status, String body) {
            return new Response(status, "text/plain; charset=utf-8", body.getBytes(StandardCharsets.UTF_8));
        }

        public static Response ok(String contentType, byte[] body) {
            return new Response(HttpResponseStatus.OK, contentType, body);
        }
    }

    /** The paths served (the query string is ignored), each answered on the loop or on the worker. */
    public static final class Routes {
        private record Route(boolean onWorker, Supplier<Response> answer) {}

        private final Map<String, Route> routes = new LinkedHashMap<>();

        /** A cheap answer, made on the event loop: it must not block. */
        public Routes fixed(String path, Supplier<Response> answer) {
            routes.put(path, new Route(false, answer));
            return this;
        }

        /** An answer that takes work (reads the node, may wait): made on the bounded worker. */
        public Routes work(String path, Supplier<Response> answer) {
            routes.put(path, new Route(true, answer));
            return this;
        }

        String known() {
            return String.join(", ", routes.keySet());
        }
    }

    private final String name;
    private final Options options;
    private final Routes routes;
    private final ListenerStats stats;
    private final Tls tls;
    private final MultiThreadIoEventLoopGroup group;
    private final ThreadPoolExecutor worker;
    /** Connections that have not delivered a whole request since they were accepted or last answered: oldest first. Loop only. */
    private final Deque<Channel> waiting = new ArrayDeque<>();
    private int connections; // loop only
    private Channel server;

    private HttpListener(String name, Options options, Routes routes, ListenerStats stats, Tls tls) {
        this.name = name;
        this.tls = tls;
        this.options = options;
        this.routes = routes;
        this.stats = stats;
        this.group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        this.worker = new ThreadPoolExecutor(1, 1, 0, TimeUnit.SECONDS, new ArrayBlockingQueue<>(MAX_QUEUED_WORK), r -> {
            Thread t = new Thread(r, name + "-http");
            t.setDaemon(true);
            return t;
        });
    }

    /**
     * Serves {@code routes} on {@code addr:port} (port 0: any free port). Whether the address may
     * be one other than loopback is the caller's decision, made before this.
     *
     * @param name what it serves, in its thread's name and its messages ({@code metrics}, {@code status page})
     * @throws IOException if the address cannot be bound
     */
    public static HttpListener start(String name, InetAddress addr, int port, Options options, Routes routes,
                                     ListenerStats stats) throws IOException {
        return start(name, addr, port, options, routes, stats, null);
    }

    /** As {@link #start(String, InetAddress, int, Options, Routes, ListenerStats)}, over {@code tls} (null: plain HTTP). */
    public static HttpListener start(String name, InetAddress addr, int port, Options options, Routes routes,
                                     ListenerStats stats, Tls tls) throws IOException {
        HttpListener h = new HttpListener(name, options, routes, stats, tls);
        try {
            h.server = new ServerBootstrap().group(h.group).channel(NioServerSocketChannel.class)
                .childOption(ChannelOption.WRITE_BUFFER_WATER_MARK, new WriteBufferWaterMark(32 << 10, 64 << 10))
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        h.accepted(ch);
                    }
                })
                .bind(new InetSocketAddress(addr, port)).sync().channel();
        } catch (Exception e) {
            h.close();
            throw new IOException("cannot listen for " + name + " on " + addr.getHostAddress() + ":" + port + ": "
                + e.getMessage(), e);
        }
        return h;
    }

    public InetSocketAddress address() {
        return (InetSocketAddress) server.localAddress();
    }

    public ListenerStats stats() {
        return stats;
    }

    /** Runs {@code task} on the listener's loop every {@code every}, first after one period (it must not block). */
    public void every(Duration every, Runnable task) {
        long ms = every.toMillis();
        group.next().scheduleAtFixedRate(task, ms, ms, TimeUnit.MILLISECONDS);
    }

    @Override
    public void close() {
        if (server != null) {
            server.close().syncUninterruptibly();
        }
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
        worker.shutdownNow();
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
        if (tls != null) {
            ch.pipeline().addLast(tls.context().newHandler(ch.alloc()));
        }
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
        /** Over TLS: the handshake is done and the client's key may read. Loop only. */
        private boolean admitted = tls == null;

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
            if (evt instanceof SslHandshakeCompletionEvent done && tls != null) {
                if (!done.isSuccess()) {
                    log.debug("{} connection {}: TLS handshake failed: {}", name, ctx.channel().remoteAddress(),
                        String.valueOf(done.cause()));
                    ctx.close();
                    return;
                }
                String why = tls.refusal().apply(ctx.pipeline().get(SslHandler.class).engine().getSession());
                if (why != null) {
                    stats.count(ListenerStats.KEY_REFUSED);
                    log.debug("{} connection {}: refused: {}", name, ctx.channel().remoteAddress(), why);
                    ctx.close();
                    return;
                }
                admitted = true;
            }
            super.userEventTriggered(ctx, evt);
        }

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
            if (!admitted) {
                ctx.close(); // a request before the key was checked: never answered
                return;
            }
            waiting.remove(ctx.channel());
            ctx.channel().config().setAutoRead(false); // one at a time: nothing more is read until this is answered
            boolean keepAlive = HttpUtil.isKeepAlive(req);
            if (req.decoderResult().isFailure()) {
                Throwable why = req.decoderResult().cause();
                HttpResponseStatus status = why instanceof TooLongHttpLineException ? HttpResponseStatus.REQUEST_URI_TOO_LONG
                    : why instanceof TooLongFrameException ? HttpResponseStatus.REQUEST_HEADER_FIELDS_TOO_LARGE
                    : HttpResponseStatus.BAD_REQUEST;
                stats.count(why instanceof TooLongFrameException ? ListenerStats.TOO_LARGE : ListenerStats.BAD_REQUEST);
                send(ctx, Response.text(status, status.reasonPhrase() + "\n"), false);
                return;
            }
            if (!req.method().equals(HttpMethod.GET)) {
                stats.count(ListenerStats.BAD_REQUEST);
                send(ctx, Response.text(HttpResponseStatus.METHOD_NOT_ALLOWED, "GET only\n"), false);
                return;
            }
            String path = req.uri();
            int q = path.indexOf('?');
            if (q >= 0) {
                path = path.substring(0, q);
            }
            Routes.Route route = routes.routes.get(path);
            if (route == null) {
                send(ctx, Response.text(HttpResponseStatus.NOT_FOUND, "not found: " + routes.known() + "\n"), keepAlive);
            } else if (!route.onWorker()) {
                send(ctx, answer(route), keepAlive);
            } else {
                try {
                    worker.execute(() -> {
                        Response r = answer(route);
                        ctx.executor().execute(() -> send(ctx, r, keepAlive));
                    });
                } catch (RejectedExecutionException e) {
                    stats.count(ListenerStats.BUSY);
                    send(ctx, Response.text(HttpResponseStatus.SERVICE_UNAVAILABLE, "busy: answers queued\n"), keepAlive);
                }
            }
        }

        private Response answer(Routes.Route route) {
            try {
                return route.answer().get();
            } catch (RuntimeException e) {
                log.warn("{}: answer failed: {}", name, e.toString());
                return Response.text(HttpResponseStatus.INTERNAL_SERVER_ERROR, "failed\n");
            }
        }

        /** Writes {@code r}; then reads the next request (keep-alive) or closes. The deadline runs until it is written. */
        private void send(ChannelHandlerContext ctx, Response r, boolean keepAlive) {
            if (!ctx.channel().isActive()) {
                return;
            }
            FullHttpResponse h = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, r.status(),
                Unpooled.wrappedBuffer(r.body()));
            h.headers().set(HttpHeaderNames.CONTENT_TYPE, r.contentType());
            if (r.status().equals(HttpResponseStatus.METHOD_NOT_ALLOWED)) {
                h.headers().set(HttpHeaderNames.ALLOW, "GET");
            }
            // Read-only pages of one node: never framed by another site, never cached, nothing sniffed.
            h.headers().set("X-Content-Type-Options", "nosniff");
            h.headers().set("X-Frame-Options", "DENY");
            h.headers().set(HttpHeaderNames.CACHE_CONTROL, "no-store");
            HttpUtil.setContentLength(h, r.body().length);
            h.headers().set(HttpHeaderNames.CONNECTION, keepAlive ? HttpHeaderValues.KEEP_ALIVE : HttpHeaderValues.CLOSE);
            ctx.writeAndFlush(h).addListener((ChannelFutureListener) f -> {
                if (!f.isSuccess() || !keepAlive) {
                    ctx.close();
                } else {
                    awaitRequest(ctx);
                }
            });
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            log.debug("{} connection {}: {}", name, ctx.channel().remoteAddress(), cause.toString());
            ctx.close();
        }
    }
}
