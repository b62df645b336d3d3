package dev.dmsg.services.nbd;

import dev.dmsg.services.blk.BlockDevice;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.IoEventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.util.concurrent.GlobalEventExecutor;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Serves {@link BlockDevice}s to standard NBD clients (qemu, nbdcopy, nbdinfo, fio, the Linux
 * kernel's nbd-client): the fixed-newstyle handshake, then simple replies only. What is and is not
 * supported is listed in docs/BLK.md, "NBD bridge".
 *
 * <pre>
 * NbdServer server = NbdServer.builder()
 *     .export("disk0", device)            // or exports(Map), or exports(lookup, names)
 *     .bind("127.0.0.1", 10809);         // 0: an ephemeral port, see localAddress()
 * ...
 * server.close();                        // drains in-flight requests, then closes
 * </pre>
 *
 * <p>Threading: every connection's state is touched only on its event loop; device calls are
 * made from it (except the flush after a FUA trim, chained to the trim's completion) and never
 * waited for there: their completions hop back to it. The server owns a small
 * event-loop group ({@link Builder#ioThreads}) unless one is passed in
 * ({@link Builder#eventLoopGroup}), which it then never shuts down. The devices belong to the
 * caller: the server never closes them.
 *
 * <p>Limits per connection: {@link Builder#maxInFlight} requests (64) and about
 * {@link Builder#maxInFlightBytes} of payload (64 MiB) between reading a request and writing its
 * reply; past either, the socket is not read until replies go out (backpressure, no queue).
 */
public final class NbdServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(NbdServer.class);

    /** The largest READ or WRITE payload we advertise and accept: the protocol's 2^25 interoperability bound. */
    public static final int MAX_PAYLOAD_BYTES = 32 << 20;

    private final Config config;
    private final IoEventLoopGroup group;
    private final boolean ownsGroup;
    private final Channel serverChannel;
    private final ChannelGroup connections = new DefaultChannelGroup("nbd", GlobalEventExecutor.INSTANCE);
    private volatile boolean closing;

    private NbdServer(Config config, IoEventLoopGroup group, boolean ownsGroup, String host, int port)
            throws InterruptedException {
        this.config = config;
        this.group = group;
        this.ownsGroup = ownsGroup;
        Class<? extends ServerChannel> channelClass = group.isIoType(EpollIoHandler.class)
            ? EpollServerSocketChannel.class : NioServerSocketChannel.class;
        ServerBootstrap b = new ServerBootstrap()
            .group(group)
            .channel(channelClass)
            .option(ChannelOption.SO_BACKLOG, 128)
            .option(ChannelOption.SO_REUSEADDR, true)
            .childOption(ChannelOption.TCP_NODELAY, true)
            .childOption(ChannelOption.SO_KEEPALIVE, true)
            .childHandler(new ChannelInitializer<SocketChannel>() {
                @Override
                protected void initChannel(SocketChannel ch) {
                    accept(ch);
                }
            });
        this.serverChannel = b.bind(host, port).sync().channel();
        log.info("nbd: serving {} on {} (max payload {} bytes, {} requests in flight per connection)",
            config.describeExports(), serverChannel.localAddress(), config.maxPayloadBytes, config.maxInFlight);
    }

    private void accept(SocketChannel ch) {
        String client = ch.remoteAddress().getAddress().getHostAddress() + ":" + ch.remoteAddress().getPort();
        if (closing) {
            ch.close();
            return;
        }
        if (connections.size() >= config.maxConnections) {
            log.warn("nbd client {}: refused, already {} connections (the limit)", client, connections.size());
            ch.close();
            return;
        }
        connections.add(ch);
        if (closing) { // close() may have looked at the connections before this one was added
            ch.close();
            return;
        }
        ch.pipeline().addLast(new NbdConnection(config, client));
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Where the server listens (the real port when bound to port 0). */
    public InetSocketAddress localAddress() {
        return (InetSocketAddress) serverChannel.localAddress();
    }

    /** Client connections open now (handshaking or transmitting). */
    public int connections() {
        return connections.size();
    }

    /**
     * Stops accepting, lets every connection in the transmission phase finish the requests it has
     * already read (none are read after this; up to the drain timeout), closes every connection,
     * and shuts down the event-loop group if the server made it. Idempotent; blocks until done, so
     * never call it from an event loop.
     */
    @Override
    public void close() {
        if (closing) {
            return;
        }
        closing = true;
        serverChannel.close().awaitUninterruptibly();
        for (Channel ch : connections) {
            NbdConnection c = ch.pipeline().get(NbdConnection.class);
            if (c != null) {
                ch.eventLoop().execute(() -> c.shutdown("the server is shutting down"));
            }
        }
        long drainNanos = config.drainTimeout.toNanos();
        if (!connections.newCloseFuture().awaitUninterruptibly(drainNanos, TimeUnit.NANOSECONDS)) {
            log.warn("nbd: {} connection(s) still had requests in flight after {} ms; closing them",
                connections.size(), config.drainTimeout.toMillis());
            connections.close().awaitUninterruptibly(2, TimeUnit.SECONDS);
        }
        if (ownsGroup) {
            group.shutdownGracefully(0, 2, TimeUnit.SECONDS).awaitUninterruptibly(10, TimeUnit.SECONDS);
        }
        log.info("nbd: stopped serving on {}", serverChannel.localAddress());
    }

    /** Where exports come from: a lookup by name, and the names NBD_OPT_LIST shows. */
    record Exports(Function<String, BlockDevice> lookup, Supplier<? extends Collection<String>> names,
                   String defaultName) {
        /** The export a client named, {@code ""} meaning the default; {@code null} if none. */
        BlockDevice find(String name) {
            String n = name.isEmpty() ? defaultName : name;
            if (n == null || n.isEmpty()) {
                return null;
            }
            return lookup.apply(n);
        }
    }

    /** Immutable settings shared by the connections. */
    static final class Config {
        final Exports exports;
        final int maxPayloadBytes;
        final int maxInFlight;
        final long maxInFlightBytes;
        final int maxConnections;
        final Duration handshakeTimeout;
        final Duration drainTimeout;
        final boolean multiConn;

        Config(Builder b) {
            this.exports = new Exports(b.lookup, b.names, b.defaultName);
            this.maxPayloadBytes = b.maxPayloadBytes;
            this.maxInFlight = b.maxInFlight;
            this.maxInFlightBytes = b.maxInFlightBytes;
            this.maxConnections = b.maxConnections;
            this.handshakeTimeout = b.handshakeTimeout;
            this.drainTimeout = b.drainTimeout;
            this.multiConn = b.multiConn;
        }

        String describeExports() {
            try {
                Collection<String> names = exports.names().get();
                return names.isEmpty() ? "no exports" : "exports " + String.join(", ", names);
            } catch (RuntimeException e) {
                return "exports (the list failed: " + e.getMessage() + ")";
            }
        }
    }

    /** Settings; {@link #bind} starts the server. */
    public static final class Builder {
        private Function<String, BlockDevice> lookup;
        private Supplier<? extends Collection<String>> names;
        private final Map<String, BlockDevice> fixed = new TreeMap<>();
        private String defaultName;
        private IoEventLoopGroup group;
        private int ioThreads = 1;
        private int maxPayloadBytes = MAX_PAYLOAD_BYTES;
        private int maxInFlight = 64;
        private long maxInFlightBytes = 64L << 20;
        private int maxConnections = 128;
        private Duration handshakeTimeout = Duration.ofSeconds(30);
        private Duration drainTimeout = Duration.ofSeconds(10);
        private boolean multiConn = true;

        private Builder() {}

        /** Adds one export under {@code name} (1..4096 bytes of UTF-8). */
        public Builder export(String name, BlockDevice device) {
            checkName(name);
            fixed.put(name, Objects.requireNonNull(device, "device"));
            return this;
        }

        /** Adds every entry of {@code exports}. */
        public Builder exports(Map<String, ? extends BlockDevice> exports) {
            exports.forEach(this::export);
            return this;
        }

        /**
         * Exports found at connect time: {@code lookup} answers a name with its device, or
         * {@code null}; {@code names} is what NBD_OPT_LIST shows. Both are called on an event loop
         * and must not block. Every connection to a name must get the same device (or one that
         * shares its cache), or turn {@link #multiConn} off. Replaces {@link #export}s.
         */
        public Builder exports(Function<String, BlockDevice> lookup, Supplier<? extends Collection<String>> names) {
            this.lookup = Objects.requireNonNull(lookup, "lookup");
            this.names = Objects.requireNonNull(names, "names");
            return this;
        }

        /** The export a client gets when it asks for the empty name; by default the only export if there is one. */
        public Builder defaultExport(String name) {
            this.defaultName = name;
            return this;
        }

        /** Runs on this group (which the server never shuts down) instead of one of its own. */
        public Builder eventLoopGroup(IoEventLoopGroup group) {
            this.group = group;
            return this;
        }

        /** Event-loop threads of the server's own group. */
        public Builder ioThreads(int threads) {
            if (threads < 1) {
                throw new IllegalArgumentException("ioThreads must be at least 1, not " + threads);
            }
            this.ioThreads = threads;
            return this;
        }

        /** The maximum payload advertised in NBD_INFO_BLOCK_SIZE: 65536 .. 32 MiB. */
        public Builder maxPayloadBytes(int bytes) {
            if (bytes < 65536 || bytes > MAX_PAYLOAD_BYTES) {
                throw new IllegalArgumentException("maxPayloadBytes must be in 65536.." + MAX_PAYLOAD_BYTES + ", not " + bytes);
            }
            this.maxPayloadBytes = bytes;
            return this;
        }

        /** Requests read from one connection and not yet answered, at most. */
        public Builder maxInFlight(int requests) {
            if (requests < 1) {
                throw new IllegalArgumentException("maxInFlight must be at least 1, not " + requests);
            }
            this.maxInFlight = requests;
            return this;
        }

        /** READ and WRITE payload bytes of one connection's unanswered requests before it stops reading (one request may pass it). */
        public Builder maxInFlightBytes(long bytes) {
            if (bytes < 1) {
                throw new IllegalArgumentException("maxInFlightBytes must be at least 1, not " + bytes);
            }
            this.maxInFlightBytes = bytes;
            return this;
        }

        public Builder maxConnections(int connections) {
            if (connections < 1) {
                throw new IllegalArgumentException("maxConnections must be at least 1, not " + connections);
            }
            this.maxConnections = connections;
            return this;
        }

        /** A client that has not entered the transmission phase by then is disconnected. */
        public Builder handshakeTimeout(Duration timeout) {
            this.handshakeTimeout = Objects.requireNonNull(timeout, "timeout");
            return this;
        }

        /** How long {@link NbdServer#close} waits for in-flight requests before closing anyway. */
        public Builder drainTimeout(Duration timeout) {
            this.drainTimeout = Objects.requireNonNull(timeout, "timeout");
            return this;
        }

        /**
         * Whether to advertise NBD_FLAG_CAN_MULTI_CONN (default yes): correct when every connection
         * to an export shares one device, since {@link BlockDevice#flush} covers every write
         * completed before it, whoever sent it.
         */
        public Builder multiConn(boolean multiConn) {
            this.multiConn = multiConn;
            return this;
        }

        /**
         * Binds {@code host:port} (port 0: ephemeral) and starts serving; blocks until bound.
         *
         * @throws java.io.IOException (sneakily, from Netty) if the address cannot be bound
         */
        public NbdServer bind(String host, int port) throws InterruptedException {
            if (lookup == null) {
                if (fixed.isEmpty()) {
                    throw new IllegalStateException("no exports: call export(name, device) or exports(...) first");
                }
                Map<String, BlockDevice> copy = Map.copyOf(fixed);
                List<String> list = List.copyOf(fixed.keySet());
                lookup = copy::get;
                names = () -> list;
                if (defaultName == null && fixed.size() == 1) {
                    defaultName = list.get(0);
                }
            }
            Config config = new Config(this);
            boolean owns = group == null;
            IoEventLoopGroup g = owns ? new MultiThreadIoEventLoopGroup(ioThreads,
                Epoll.isAvailable() && !"nio".equals(System.getProperty("dmsg.transport"))
                    ? EpollIoHandler.newFactory() : NioIoHandler.newFactory()) : group;
            try {
                return new NbdServer(config, g, owns, host, port);
            } catch (InterruptedException | RuntimeException e) {
                if (owns) {
                    g.shutdownGracefully(0, 1, TimeUnit.SECONDS);
                }
                throw e;
            } catch (Exception e) {
                // bind failures (java.net.BindException) arrive undeclared from sync()
                if (owns) {
                    g.shutdownGracefully(0, 1, TimeUnit.SECONDS);
                }
                throw sneaky(e);
            }
        }

        private static void checkName(String name) {
            int bytes = name.getBytes(java.nio.charset.StandardCharsets.UTF_8).length;
            if (bytes < 1 || bytes > Nbd.MAX_NAME_BYTES) {
                throw new IllegalArgumentException("export name must be 1.." + Nbd.MAX_NAME_BYTES
                    + " bytes of UTF-8, not " + bytes);
            }
        }

        @SuppressWarnings("unchecked")
        private static <E extends Throwable> RuntimeException sneaky(Throwable e) throws E {
            throw (E) e;
        }
    }
}
