package dev.dmsg.services.nbd;

import dev.dmsg.link.LogLimiter;
import dev.dmsg.services.blk.BlockDevice;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.IoEventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioServerDomainSocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.unix.DomainSocketAddress;
import io.netty.channel.unix.PeerCredentials;
import io.netty.util.concurrent.GlobalEventExecutor;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.function.LongSupplier;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Serves {@link BlockDevice}s to standard NBD clients (qemu, nbdcopy, nbdinfo, fio, the Linux
 * kernel's nbd-client): the fixed-newstyle handshake, then simple replies only. What is and is not
 * supported is listed in docs/BLK.md, "NBD bridge"; what an attacker can and cannot do to it in
 * "Hardening".
 *
 * <pre>
 * NbdServer server = NbdServer.builder()
 *     .export("disk0", device)            // or exports(Map), or exports(lookup, names)
 *     .tls(NbdTls.fromDirectory(dir, AUTO)) // optional: STARTTLS with pinned client keys, required
 *     .bind("127.0.0.1", 10809);         // 0: an ephemeral port, see localAddress()
 *                                        // or bindUnix(new UnixSocketFile(path, mode, group))
 * ...
 * server.close();                        // drains in-flight requests, then closes
 * </pre>
 *
 * <p>Threading: every connection's state is touched only on its event loop; device calls are
 * made from it (except the flush after a FUA trim, chained to the trim's completion) and never
 * waited for there: their completions hop back to it. The server owns a small
 * event-loop group ({@link Builder#ioThreads}) unless one is passed in
 * ({@link Builder#eventLoopGroup}), which it then never shuts down. The devices belong to the
 * caller: the server never closes them. The caps, the memory budget and the counters are shared
 * by all connections and thread-safe.
 *
 * <p>Limits (docs/BLK.md "Limits"): connections in all and per client ({@link ConnectionCaps}),
 * a handshake timeout, per connection {@link Builder#maxInFlight} requests and
 * {@link Builder#maxInFlightBytes} of payload, across connections a {@link MemoryBudget}
 * (requests beyond it wait, unallocated), and a stall timeout for clients that stop reading
 * their replies.
 */
public final class NbdServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(NbdServer.class);

    /** The largest READ or WRITE payload we advertise and accept: the protocol's 2^25 interoperability bound. */
    public static final int MAX_PAYLOAD_BYTES = 32 << 20;

    private final Config config;
    private final IoEventLoopGroup group;
    private final boolean ownsGroup;
    private final Channel serverChannel;
    private final UnixSocketFile socketFile;
    private final Acceptor acceptor;
    private final ChannelGroup connections;

    private NbdServer(Config config, IoEventLoopGroup group, boolean ownsGroup, Channel serverChannel,
                      UnixSocketFile socketFile, Acceptor acceptor) {
        this.config = config;
        this.acceptor = acceptor;
        this.connections = acceptor.connections;
        this.group = group;
        this.ownsGroup = ownsGroup;
        this.serverChannel = serverChannel;
        this.socketFile = socketFile;
        log.info("nbd: serving {} on {} (max payload {} bytes; {} connections, {} per client; memory budget {} MiB,"
                + " {} MiB per client; {})", config.describeExports(), where(), config.maxPayloadBytes,
            config.caps.maxTotal(), config.caps.maxPerClient(), config.budget.totalBytes() >> 20,
            config.budget.perClientBytes() >> 20,
            config.tls == null ? "no TLS" : "TLS required, clients pinned in " + config.tls.directory().resolve("trusted"));
    }

    private String where() {
        return socketFile != null ? "unix:" + socketFile.path() : String.valueOf(serverChannel.localAddress());
    }

    /** Who a connection comes from: the key its caps and budget are counted under, and how logs name it. */
    record Client(Object key, String text, String host, int port) {
        /** The key as log lines say it: an address, or "uid 1000". */
        String keyText() {
            return key instanceof InetAddress a ? a.getHostAddress() : key.toString();
        }

        static Client of(Channel ch) {
            SocketAddress remote = ch.remoteAddress();
            if (remote instanceof InetSocketAddress a) {
                String host = a.getAddress().getHostAddress();
                return new Client(a.getAddress(), host + ":" + a.getPort(), host, a.getPort());
            }
            // A Unix socket: SO_PEERCRED names the local user (epoll only); its connections share one budget.
            if (ch instanceof EpollDomainSocketChannel d) {
                try {
                    PeerCredentials c = d.peerCredentials();
                    return new Client("uid " + c.uid(), "unix uid " + c.uid() + " pid " + c.pid(), null, -1);
                } catch (IOException e) {
                    // fall through: unknown user
                }
            }
            return new Client("unix", "unix socket client", null, -1);
        }
    }

    /**
     * Admits or refuses each accepted connection (caps, counters, the rate-limited refusal line)
     * and keeps the open ones; exists before the listener is bound, so no connection can arrive
     * before it. Runs on the event loop of the connection it is given.
     */
    static final class Acceptor {
        final Config config;
        final ChannelGroup connections = new DefaultChannelGroup("nbd", GlobalEventExecutor.INSTANCE);
        volatile boolean closing;

        Acceptor(Config config) {
            this.config = config;
        }

        void accept(Channel ch) {
            Client client = Client.of(ch);
            if (closing) {
                ch.close();
                return;
            }
            ConnectionCaps.Refusal refused = config.caps.admit(client.key());
            if (refused != null) {
                String why;
                if (refused == ConnectionCaps.Refusal.TOTAL) {
                    config.stats.refusedTotalCap.increment();
                    why = config.caps.open() + " connections open (limit " + config.caps.maxTotal() + ")";
                } else {
                    config.stats.refusedPerClientCap.increment();
                    why = config.caps.openFrom(client.key()) + " connections from " + client.keyText() + " open (limit "
                        + config.caps.maxPerClient() + " per client)";
                }
                long n = config.stats.refusedTotalCap.sum() + config.stats.refusedPerClientCap.sum();
                String more = config.refusalLog.admit();
                if (more != null) {
                    log.warn("nbd: refused ({} so far): connection from {}: {}{}", n, client.text(), why, more);
                }
                ch.config().setOption(ChannelOption.SO_LINGER, 0); // a reset: no TIME_WAIT left per refusal
                ch.close();
                return;
            }
            config.stats.accepted.increment();
            ch.closeFuture().addListener(f -> config.caps.release(client.key()));
            connections.add(ch);
            if (closing) { // close() may have looked at the connections before this one was added
                ch.close();
                return;
            }
            ch.pipeline().addLast(NbdConnection.NAME, new NbdConnection(config, client));
    }
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Where the server listens (the real port when bound to port 0); {@code null} on a Unix socket. */
    public InetSocketAddress localAddress() {
        return serverChannel.localAddress() instanceof InetSocketAddress a ? a : null;
    }

    /** The Unix socket's path, or {@code null} on TCP. */
    public Path socketPath() {
        return socketFile == null ? null : socketFile.path();
    }

    /** Client connections open now (handshaking or transmitting). */
    public int connections() {
        return connections.size();
    }

    /**
     * The counters of refusals and of the memory budget (docs/BLK.md "Counters").
     *
     * @param accepted connections admitted
     * @param refusedTotalCap closed at accept: the server held its maximum of connections
     * @param refusedPerClientCap closed at accept: that client held its maximum
     * @param handshakeTimeouts closed for not choosing an export within the handshake timeout
     * @param malformed closed for malformed input (bad magic, unknown flags, oversized option ...)
     * @param tlsRequired options refused (NBD_REP_ERR_TLS_REQD) or connections closed because TLS is required
     * @param tlsFailed TLS handshakes that failed, untrusted or missing client certificates included
     * @param tlsSessions TLS handshakes that succeeded with a trusted client
     * @param stalled closed because the client did not read its replies within the stall timeout
     * @param errorReplies error replies sent (NBD_EINVAL, NBD_EIO ...)
     * @param connections connections open now
     * @param budgetUsedBytes payload bytes held now
     * @param budgetPeakBytes the most ever held at once
     * @param budgetWaits requests that had to wait for budget
     * @param budgetWaiting requests waiting now
     */
    public record Stats(long accepted, long refusedTotalCap, long refusedPerClientCap, long handshakeTimeouts,
                        long malformed, long tlsRequired, long tlsFailed, long tlsSessions, long stalled,
                        long errorReplies, int connections, long budgetUsedBytes, long budgetPeakBytes,
                        long budgetWaits, int budgetWaiting) {
        /** Connections refused or closed for misbehaving, in all. */
        public long refusals() {
            return refusedTotalCap + refusedPerClientCap + handshakeTimeouts + malformed + tlsRequired + tlsFailed
                + stalled;
        }

        /** One line: "refused 12 (over the per-client cap 10, handshake timeout 2), memory peak 64 MiB". */
        public String describe() {
            StringBuilder b = new StringBuilder();
            b.append(accepted).append(" connection(s) accepted, ").append(refusals()).append(" refused or closed");
            String[] names = {"over the total cap", "over the per-client cap", "handshake timeout", "malformed input",
                "TLS required", "TLS handshake failed", "stalled"};
            long[] counts = {refusedTotalCap, refusedPerClientCap, handshakeTimeouts, malformed, tlsRequired, tlsFailed,
                stalled};
            String sep = " (";
            for (int i = 0; i < names.length; i++) {
                if (counts[i] > 0) {
                    b.append(sep).append(names[i]).append(' ').append(counts[i]);
                    sep = ", ";
                }
            }
            if (!sep.equals(" (")) {
                b.append(')');
            }
            b.append("; ").append(errorReplies).append(" error replies; memory budget peak ")
                .append(budgetPeakBytes >> 20).append(" MiB, ").append(budgetWaits).append(" request(s) waited for it");
            return b.toString();
        }
    }

    public Stats stats() {
        NbdStats s = config.stats;
        return new Stats(s.accepted.sum(), s.refusedTotalCap.sum(), s.refusedPerClientCap.sum(),
            s.handshakeTimeouts.sum(), s.malformed.sum(), s.tlsRequiredRefusals.sum(), s.tlsHandshakeFailures.sum(),
            s.tlsSessions.sum(), s.stalledClosed.sum(), s.errorReplies.sum(), connections.size(),
            config.budget.usedBytes(), config.budget.peakBytes(), config.budget.waits(), config.budget.waiting());
    }

    /** Runs every connection's stall check now, on its event loop, and waits for them (tests, with a fake clock). */
    void checkStalls() {
        for (Channel ch : connections) {
            NbdConnection c = ch.pipeline().get(NbdConnection.class);
            if (c != null) {
                ch.eventLoop().submit(c::checkStall).awaitUninterruptibly(5, TimeUnit.SECONDS);
            }
        }
    }

    /**
     * Stops accepting, lets every connection in the transmission phase finish the requests it has
     * already read (none are read after this; up to the drain timeout), closes every connection,
     * removes the Unix socket, and shuts down the event-loop group if the server made it.
     * Idempotent; blocks until done, so never call it from an event loop.
     */
    @Override
    public void close() {
        if (acceptor.closing) {
            return;
        }
        acceptor.closing = true;
        serverChannel.close().awaitUninterruptibly();
        if (socketFile != null) {
            socketFile.remove();
        }
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
        log.info("nbd: stopped serving on {}: {}", where(), stats().describe());
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

    /** Settings and shared state of the connections: immutable, or thread-safe. */
    static final class Config {
        final Exports exports;
        final int maxPayloadBytes;
        final int maxInFlight;
        final long maxInFlightBytes;
        final Duration handshakeTimeout;
        final Duration stallTimeout;
        final Duration drainTimeout;
        final boolean multiConn;
        final NbdTls tls;
        final ConnectionCaps caps;
        final MemoryBudget budget;
        final NbdStats stats = new NbdStats();
        final LongSupplier nanoClock;
        /** Connections refused at accept (caps). */
        final LogLimiter refusalLog;
        /** Misbehaving clients: malformed input, timeouts, TLS refusals, error replies. */
        final LogLimiter misbehaviourLog;
        /** Connections closing (INFO): a client cycling connections cannot flood the log either. */
        final LogLimiter sessionLog;

        Config(Builder b) {
            this.exports = new Exports(b.lookup, b.names, b.defaultName);
            this.maxPayloadBytes = b.maxPayloadBytes;
            this.maxInFlight = b.maxInFlight;
            this.maxInFlightBytes = b.maxInFlightBytes;
            this.handshakeTimeout = b.handshakeTimeout;
            this.stallTimeout = b.stallTimeout;
            this.drainTimeout = b.drainTimeout;
            this.multiConn = b.multiConn;
            this.tls = b.tls;
            this.caps = new ConnectionCaps(b.maxConnections, b.maxConnectionsPerClient);
            if (b.budgetPerClientBytes < b.maxPayloadBytes) {
                throw new IllegalArgumentException("memory budget per client " + b.budgetPerClientBytes
                    + " < max payload " + b.maxPayloadBytes + ": a request of the largest size could never run");
            }
            this.budget = new MemoryBudget(b.budgetBytes, b.budgetPerClientBytes);
            this.nanoClock = b.nanoClock;
            this.refusalLog = new LogLimiter(10, Duration.ofMinutes(1), b.nanoClock);
            this.misbehaviourLog = new LogLimiter(20, Duration.ofMinutes(1), b.nanoClock);
            this.sessionLog = new LogLimiter(60, Duration.ofMinutes(1), b.nanoClock);
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

    /** Settings; {@link #bind} or {@link #bindUnix} starts the server. */
    public static final class Builder {
        /** docs/BLK.md "Limits": far more than honest clients open (nbdcopy: 4), far fewer than hurt. */
        public static final int DEFAULT_MAX_CONNECTIONS = 128;
        public static final int DEFAULT_MAX_CONNECTIONS_PER_CLIENT = 16;
        public static final Duration DEFAULT_HANDSHAKE_TIMEOUT = Duration.ofSeconds(10);
        public static final Duration DEFAULT_STALL_TIMEOUT = Duration.ofSeconds(30);
        public static final long DEFAULT_MAX_IN_FLIGHT_BYTES = 32L << 20;
        public static final long DEFAULT_BUDGET_BYTES = 128L << 20;
        public static final long DEFAULT_BUDGET_PER_CLIENT_BYTES = 64L << 20;

        private Function<String, BlockDevice> lookup;
        private Supplier<? extends Collection<String>> names;
        private final Map<String, BlockDevice> fixed = new TreeMap<>();
        private String defaultName;
        private IoEventLoopGroup group;
        private int ioThreads = 1;
        private int maxPayloadBytes = MAX_PAYLOAD_BYTES;
        private int maxInFlight = 64;
        private long maxInFlightBytes = DEFAULT_MAX_IN_FLIGHT_BYTES;
        private int maxConnections = DEFAULT_MAX_CONNECTIONS;
        private int maxConnectionsPerClient = DEFAULT_MAX_CONNECTIONS_PER_CLIENT;
        private long budgetBytes = DEFAULT_BUDGET_BYTES;
        private long budgetPerClientBytes = DEFAULT_BUDGET_PER_CLIENT_BYTES;
        private Duration handshakeTimeout = DEFAULT_HANDSHAKE_TIMEOUT;
        private Duration stallTimeout = DEFAULT_STALL_TIMEOUT;
        private Duration drainTimeout = Duration.ofSeconds(10);
        private boolean multiConn = true;
        private NbdTls tls;
        private LongSupplier nanoClock = System::nanoTime;

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

        /**
         * READ and WRITE payload bytes of one connection's unanswered requests (a READ's until its
         * reply is on the socket) beyond which it reads no more requests; a request alone may pass
         * it. Default 32 MiB.
         */
        public Builder maxInFlightBytes(long bytes) {
            if (bytes < 1) {
                throw new IllegalArgumentException("maxInFlightBytes must be at least 1, not " + bytes);
            }
            this.maxInFlightBytes = bytes;
            return this;
        }

        /**
         * The payload bytes all connections may hold at once, and one client (source address,
         * or local user on a Unix socket) of them; a request beyond either waits, unallocated,
         * and its connection reads nothing more meanwhile. Defaults 128 MiB and 64 MiB. The share
         * per client must hold the largest payload.
         */
        public Builder memoryBudget(long totalBytes, long perClientBytes) {
            if (perClientBytes < 1 || totalBytes < perClientBytes) {
                throw new IllegalArgumentException("memory budget: need 1 <= per client <= total, not per client "
                    + perClientBytes + " and total " + totalBytes);
            }
            this.budgetBytes = totalBytes;
            this.budgetPerClientBytes = perClientBytes;
            return this;
        }

        /** Connections held at once in all (default 128); one more is closed at accept, counted and logged. */
        public Builder maxConnections(int connections) {
            if (connections < 1) {
                throw new IllegalArgumentException("maxConnections must be at least 1, not " + connections);
            }
            this.maxConnections = connections;
            this.maxConnectionsPerClient = Math.min(maxConnectionsPerClient, connections);
            return this;
        }

        /** Connections held at once from one client (source address, or local user on a Unix socket); default 16. */
        public Builder maxConnectionsPerClient(int connections) {
            if (connections < 1) {
                throw new IllegalArgumentException("maxConnectionsPerClient must be at least 1, not " + connections);
            }
            this.maxConnectionsPerClient = connections;
            return this;
        }

        /** A client that has not entered the transmission phase by then is disconnected (default 10 s, as qemu-nbd). */
        public Builder handshakeTimeout(Duration timeout) {
            this.handshakeTimeout = positive(timeout, "handshakeTimeout");
            return this;
        }

        /**
         * A client with replies waiting to be written that has taken none of them for this long
         * is disconnected, and the memory its replies held is freed (default 30 s;
         * {@link Duration#ZERO}: never).
         */
        public Builder stallTimeout(Duration timeout) {
            Objects.requireNonNull(timeout, "timeout");
            if (timeout.isNegative()) {
                throw new IllegalArgumentException("stallTimeout must not be negative: " + timeout);
            }
            this.stallTimeout = timeout;
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
         * Requires TLS: every client must send NBD_OPT_STARTTLS before anything but NBD_OPT_ABORT
         * and present a certificate {@code tls} trusts (docs/BLK.md "TLS"); {@code null}: no TLS.
         */
        public Builder tls(NbdTls tls) {
            this.tls = tls;
            return this;
        }

        /** The clock of the log rate limits and the stall timeout (tests pass a fake one). */
        public Builder nanoClock(LongSupplier clock) {
            this.nanoClock = Objects.requireNonNull(clock, "clock");
            return this;
        }

        /**
         * Binds {@code host:port} (port 0: ephemeral) and starts serving; blocks until bound.
         *
         * @throws IOException (sneakily, from Netty) if the address cannot be bound
         */
        public NbdServer bind(String host, int port) throws InterruptedException {
            return start((acceptor, g) -> {
                Class<? extends ServerChannel> channelClass = g.isIoType(EpollIoHandler.class)
                    ? EpollServerSocketChannel.class : NioServerSocketChannel.class;
                ServerBootstrap b = bootstrap(acceptor, g, channelClass)
                    .option(ChannelOption.SO_REUSEADDR, true)
                    .childOption(ChannelOption.TCP_NODELAY, true)
                    .childOption(ChannelOption.SO_KEEPALIVE, true);
                return new Bound(b.bind(host, port).sync().channel(), null);
            });
        }

        /**
         * Listens on a Unix-domain socket at {@code socket.path()} with its mode and group (docs/BLK.md
         * "Unix socket"): a stale socket there is replaced, anything else refused; the path is
         * removed by {@link NbdServer#close}. On an epoll group the channel is epoll's (its
         * SO_PEERCRED names each client's user, the key of its caps and budget); on NIO, the
         * JDK's Unix sockets (all clients then share one key).
         *
         * @throws IOException (sneakily) naming what is in the way, or why it cannot bind
         */
        public NbdServer bindUnix(UnixSocketFile socket) throws InterruptedException {
            return start((acceptor, g) -> {
                socket.clear();
                Path dir = socket.bindDirectory();
                Path bound = dir.resolve("s");
                try {
                    boolean epoll = g.isIoType(EpollIoHandler.class);
                    Class<? extends ServerChannel> channelClass = epoll
                        ? EpollServerDomainSocketChannel.class : NioServerDomainSocketChannel.class;
                    SocketAddress address = epoll ? new DomainSocketAddress(bound.toString())
                        : UnixDomainSocketAddress.of(bound);
                    Channel ch = bootstrap(acceptor, g, channelClass).bind(address).sync().channel();
                    try {
                        socket.publish(bound);
                    } catch (IOException | RuntimeException e) {
                        ch.close().awaitUninterruptibly();
                        throw e;
                    }
                    return new Bound(ch, socket);
                } finally {
                    UnixSocketFile.discard(dir, bound);
                }
            });
        }

        private ServerBootstrap bootstrap(Acceptor acceptor, IoEventLoopGroup g,
                                          Class<? extends ServerChannel> channelClass) {
            return new ServerBootstrap()
                .group(g)
                .channel(channelClass)
                .option(ChannelOption.SO_BACKLOG, 128)
                .childHandler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        acceptor.accept(ch);
                    }
                });
        }

        private record Bound(Channel channel, UnixSocketFile socket) {}

        private interface Binder {
            Bound bind(Acceptor acceptor, IoEventLoopGroup group) throws Exception;
        }

        private NbdServer start(Binder binder) throws InterruptedException {
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
            Acceptor acceptor = new Acceptor(config);
            try {
                Bound bound = binder.bind(acceptor, g);
                return new NbdServer(config, g, owns, bound.channel(), bound.socket(), acceptor);
            } catch (InterruptedException | RuntimeException e) {
                if (owns) {
                    g.shutdownGracefully(0, 1, TimeUnit.SECONDS);
                }
                throw e;
            } catch (Exception e) {
                // bind failures (java.net.BindException, a path in the way) arrive undeclared
                if (owns) {
                    g.shutdownGracefully(0, 1, TimeUnit.SECONDS);
                }
                throw sneaky(e);
            }
        }

        private static Duration positive(Duration d, String what) {
            Objects.requireNonNull(d, what);
            if (d.isNegative() || d.isZero()) {
                throw new IllegalArgumentException(what + " must be positive, not " + d);
            }
            return d;
        }

        private static void checkName(String name) {
            int bytes = name.getBytes(StandardCharsets.UTF_8).length;
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
