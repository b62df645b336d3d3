package dev.dmsg.link.netty;

import dev.dmsg.link.LinkDriver;
import dev.dmsg.link.Link;
import dev.dmsg.link.LinkConfig;
import dev.dmsg.link.LinkListener;
import dev.dmsg.link.Services;
import dev.dmsg.link.tls.LegacyPeers;
import dev.dmsg.link.tls.PeerIdentity;
import dev.dmsg.link.tls.Role;
import dev.dmsg.link.tls.TlsConfig;
import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.IoEventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.ByteToMessageDecoder;
import io.netty.resolver.DefaultAddressResolverGroup;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.channels.ClosedChannelException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLHandshakeException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Listens for and makes DMSG links over TCP. Owns its event loops (epoll where available, NIO
 * otherwise, or NIO when {@code -Ddmsg.transport=nio}). Every link it makes uses the same config,
 * services and listener.
 *
 * <p>With {@link LinkConfig#tls()} set, every link, accepted or made, runs TLS 1.3 with mutual
 * authentication and pinned keys first (docs/SECURITY.md §3); a peer that fails it never gets a
 * link. {@link #tlsStats()} counts the handshakes. The one exception is the configured legacy
 * peers ({@link TlsConfig#legacy()}, docs/SECURITY.md §6): a connection whose
 * first bytes are plaintext DMSG from such a source address, and one we dial to such an address,
 * run plaintext without LNK_AUTH or PING, the peer's role as configured; plaintext DMSG from any
 * other address is refused at once.
 */
public final class LinkEndpoint implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(LinkEndpoint.class);

    private final LinkConfig config;
    private final Services services;
    private final LinkListener listener;
    private final MultiThreadIoEventLoopGroup group;
    private final boolean epoll;
    private final List<Channel> servers = new CopyOnWriteArrayList<>();
    private final Set<Link> links = ConcurrentHashMap.newKeySet();
    /** Every open connection, for {@link #revalidate}. */
    private final Set<Channel> channels = ConcurrentHashMap.newKeySet();
    /** {@code null} for plaintext. */
    private final TlsSupport tls;

    public LinkEndpoint(LinkConfig config, Services services, LinkListener listener) {
        this(config, services, listener, 0);
    }

    /** @param ioThreads event-loop threads; 0 for Netty's default (2 x cores) */
    public LinkEndpoint(LinkConfig config, Services services, LinkListener listener, int ioThreads) {
        this.config = config;
        this.services = services;
        this.listener = new Tracking(listener);
        this.tls = config.tls() == null ? null : new TlsSupport(config.tls(), config.clock());
        this.epoll = Epoll.isAvailable() && !"nio".equals(System.getProperty("dmsg.transport"));
        IoHandlerFactory factory = epoll ? EpollIoHandler.newFactory() : NioIoHandler.newFactory();
        this.group = new MultiThreadIoEventLoopGroup(ioThreads, factory);
    }

    /**
     * The event loops its links run on. Another server may share them (the NBD bridge does, so
     * that a request goes from its NBD connection to the link without waking another thread);
     * they stop when this endpoint closes, so such a server must be closed first.
     */
    public IoEventLoopGroup eventLoops() {
        return group;
    }

    /** "epoll" or "nio". */
    public String transportName() {
        return epoll ? "epoll" : "nio";
    }

    /** The TLS provider in use, "JDK" or "OPENSSL"; {@code null} for plaintext. */
    public String tlsProvider() {
        return tls == null ? null : tls.providerName();
    }

    /** Handshake counters, both directions; {@code null} for plaintext. */
    public TlsStats tlsStats() {
        return tls == null ? null : tls.stats;
    }

    /**
     * Binds a listening socket; blocks until bound.
     *
     * @return the bound address (useful with port 0)
     * @throws IOException (sneakily, from Netty) if the address cannot be bound
     */
    public InetSocketAddress listen(String host, int port) throws InterruptedException {
        ServerBootstrap b = new ServerBootstrap()
            .group(group)
            .channel(epoll ? EpollServerSocketChannel.class : NioServerSocketChannel.class)
            .option(ChannelOption.SO_BACKLOG, 128)
            .option(ChannelOption.SO_REUSEADDR, true)
            .childHandler(new ChannelInitializer<SocketChannel>() {
                @Override
                protected void initChannel(SocketChannel ch) {
                    InetSocketAddress peer = ch.remoteAddress();
                    LinkEndpoint.this.initChannel(ch, new CompletableFuture<>(), false,
                        peer.getAddress().getHostAddress(), peer.getPort(), null);
                }
            });
        configureChild(b);
        Channel ch = b.bind(host, port).sync().channel();
        servers.add(ch);
        return (InetSocketAddress) ch.localAddress();
    }

    private void configureChild(ServerBootstrap b) {
        b.childOption(ChannelOption.TCP_NODELAY, true)
            .childOption(ChannelOption.SO_KEEPALIVE, true)
            .childOption(ChannelOption.WRITE_BUFFER_WATER_MARK,
                new WriteBufferWaterMark(config.writeBufferLowBytes(), config.writeBufferHighBytes()));
    }

    /**
     * Why a {@link #connect} failed, as one line for a user: a refused TLS handshake's own line
     * (who refused which key, what to run), a connection closed before the link came up, or the
     * root cause's message.
     */
    public static String describeConnectFailure(Throwable t) {
        for (Throwable x = t; x != null; x = x.getCause()) {
            if (x instanceof SSLHandshakeException) {
                return x.getMessage(); // the link's own line (TlsSupport.describe)
            }
        }
        while (t.getCause() != null) {
            t = t.getCause();
        }
        if (t instanceof ClosedChannelException) {
            return "the peer closed the connection before the link came up (not a DMSG node, or one that "
                + "refused us: its log says why)";
        }
        return t.getMessage() != null ? t.getMessage() : t.toString();
    }

    /**
     * Connects to a peer. The future completes with the link as soon as TCP is up (its state is
     * then OPENING; {@link LinkListener#onUp} follows when the peer's LNK_CONN arrives), or
     * exceptionally with the connect failure. With TLS it completes once the handshake is done
     * and the peer's first frame has shown that it accepted our key, or exceptionally with an
     * {@link SSLHandshakeException} saying why not (a refusal, the peer refusing
     * us, the handshake timeout); it never waits longer than connect plus handshake timeout.
     * With TLS, {@code host} is resolved first; if the address it resolves to is a configured
     * legacy peer (docs/SECURITY.md §6), the link is plaintext with legacy rules instead, and
     * completes as soon as TCP is up.
     */
    public CompletableFuture<Link> connect(String host, int port) {
        CompletableFuture<Link> ready = new CompletableFuture<>();
        InetSocketAddress unresolved = InetSocketAddress.createUnresolved(host, port);
        if (tls == null) {
            dial(unresolved, null, ready, host, port);
            return ready;
        }
        // Resolved here, as the Bootstrap would (the JDK resolver on an event loop), to know
        // which address is dialled before choosing TLS or plaintext.
        DefaultAddressResolverGroup.INSTANCE.getResolver(group.next()).resolve(unresolved).addListener(f -> {
            if (!f.isSuccess()) {
                ready.completeExceptionally(connectFailed(host, port, f.cause()));
                return;
            }
            InetSocketAddress to = (InetSocketAddress) f.getNow();
            try {
                Role role = tls.legacyRole(to, false);
                dial(to, role == null ? null : LegacyPeers.identity(to, role), ready, host, port);
            } catch (RuntimeException e) { // the node's lookup failed: no link, but never a hung future
                ready.completeExceptionally(e);
            }
        });
        return ready;
    }

    /** Connects to {@code to}; {@code legacy}: plaintext with that configured legacy peer. */
    private void dial(InetSocketAddress to, PeerIdentity legacy, CompletableFuture<Link> ready, String host, int port) {
        Bootstrap b = new Bootstrap()
            .group(group)
            .channel(epoll ? EpollSocketChannel.class : NioSocketChannel.class)
            .option(ChannelOption.TCP_NODELAY, true)
            .option(ChannelOption.SO_KEEPALIVE, true)
            .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, 5000)
            .option(ChannelOption.WRITE_BUFFER_WATER_MARK,
                new WriteBufferWaterMark(config.writeBufferLowBytes(), config.writeBufferHighBytes()))
            .handler(new ChannelInitializer<SocketChannel>() {
                @Override
                protected void initChannel(SocketChannel ch) {
                    LinkEndpoint.this.initChannel(ch, ready, true, host, port, legacy);
                }
            });
        ChannelFuture f = b.connect(to);
        f.addListener(done -> {
            if (!done.isSuccess()) {
                ready.completeExceptionally(connectFailed(host, port, done.cause()));
            }
        });
    }

    private static IOException connectFailed(String host, int port, Throwable cause) {
        return new IOException("connect to " + host + ":" + port + " failed: " + cause.getMessage(), cause);
    }

    /**
     * The pipeline of every link: {@code tls-first-bytes} and {@code tls} (with TLS only) →
     * {@code frame-decoder} → {@code link}. {@code peerHost}/{@code peerPort} name the peer in TLS
     * refusals. {@code legacy}: a link we dial to that configured legacy peer, plaintext from the
     * start; on a listener, {@code tls-first-bytes} may make a connection one (and remove
     * {@code tls}).
     */
    void initChannel(Channel ch, CompletableFuture<Link> ready, boolean client, String peerHost, int peerPort,
            PeerIdentity legacy) {
        ready.thenAccept(links::add);
        channels.add(ch);
        ch.closeFuture().addListener(f -> channels.remove(ch));
        TlsSupport.FirstBytes firstBytes = null;
        if (tls != null && legacy == null) {
            firstBytes = new TlsSupport.FirstBytes(!client);
            ch.pipeline()
                .addLast("tls-first-bytes", firstBytes)
                .addLast("tls", tls.newHandler(ch.alloc(), client, peerHost, peerPort));
        }
        FrameCodec.Decoder decoder = new FrameCodec.Decoder();
        if (tls != null) {
            // Behind TLS the frames arrive in 16 KiB records: composing them, rather than copying
            // each into one cumulation buffer, saves a copy of every byte received.
            decoder.setCumulator(ByteToMessageDecoder.COMPOSITE_CUMULATOR);
        }
        ch.pipeline()
            .addLast("frame-decoder", decoder)
            .addLast("link", new LinkChannelHandler(config, services, listener, ready, tls, firstBytes, legacy));
    }

    /**
     * Identifies every TLS link's peer again with the trust policy as it is now, and closes the
     * links whose peer it now refuses, each with the refusal as its reason (docs/IDENTITY.md §2.4):
     * what a node calls when its trust changes (a revocation list, a trust store edit). Any
     * thread; completes with the number of links closed.
     */
    public CompletableFuture<Integer> revalidate() {
        List<CompletableFuture<Boolean>> each = new ArrayList<>();
        for (Channel ch : channels) {
            LinkChannelHandler h = ch.pipeline().get(LinkChannelHandler.class);
            if (h == null) {
                continue;
            }
            CompletableFuture<Boolean> f = new CompletableFuture<>();
            each.add(f);
            try {
                ch.eventLoop().execute(() -> {
                    try {
                        f.complete(h.revalidate());
                    } catch (RuntimeException e) {
                        f.completeExceptionally(e);
                    }
                });
            } catch (RejectedExecutionException e) {
                f.complete(false); // shutting down
            }
        }
        return CompletableFuture.allOf(each.toArray(new CompletableFuture<?>[0]))
            .handle((v, e) -> (int) each.stream()
                .filter(f -> !f.isCompletedExceptionally() && Boolean.TRUE.equals(f.getNow(false))).count());
    }

    /** Links currently alive. */
    public List<Link> links() {
        return new ArrayList<>(links);
    }

    /**
     * Closes every link in order and waits up to {@code timeout} for them to go down, then stops
     * listening and shuts the event loops down.
     */
    public void close(Duration timeout) {
        for (Channel s : servers) {
            s.close();
        }
        List<CompletableFuture<String>> closing = new ArrayList<>();
        for (Link l : links()) {
            l.close();
            closing.add(l.closeFuture());
        }
        try {
            CompletableFuture.allOf(closing.toArray(new CompletableFuture<?>[0]))
                .get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (Exception e) {
            log.warn("{} link(s) did not close within {}", closing.stream().filter(c -> !c.isDone()).count(), timeout);
        }
        group.shutdownGracefully(0, timeout.toMillis(), TimeUnit.MILLISECONDS).syncUninterruptibly();
    }

    @Override
    public void close() {
        close(Duration.ofSeconds(5));
    }

    /**
     * Drops every link at once, as if this process had died: no DELETEs are sent, the peers see
     * the connection end. Local transactions still get their LOSTLINK abort. Then stops listening
     * and shuts the event loops down.
     */
    public void abort(String reason) {
        for (Channel s : servers) {
            s.close();
        }
        List<CompletableFuture<String>> closing = new ArrayList<>();
        for (Link l : links()) {
            l.execute(() -> ((LinkDriver) l).fail(reason)); // our links are their own engines
            closing.add(l.closeFuture());
        }
        CompletableFuture.allOf(closing.toArray(new CompletableFuture<?>[0])).orTimeout(5, TimeUnit.SECONDS)
            .exceptionally(e -> null).join();
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }

    /** Keeps {@link #links} current. */
    private final class Tracking implements LinkListener {
        private final LinkListener delegate;

        Tracking(LinkListener delegate) {
            this.delegate = delegate;
        }

        @Override
        public void onUp(Link link) {
            delegate.onUp(link);
        }

        @Override
        public void onConnResult(Link link, int error) {
            delegate.onConnResult(link, error);
        }

        @Override
        public void onDown(Link link, String reason, int aborted) {
            links.remove(link);
            delegate.onDown(link, reason, aborted);
        }
    }
}
