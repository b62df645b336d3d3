package dev.dmsg.services.nbd;

import dev.dmsg.services.blk.BlockDevice;
import io.netty.channel.Channel;
import io.netty.channel.IoEventLoopGroup;
import io.netty.channel.group.ChannelGroup;
import java.io.IOException;
import java.net.InetSocketAddress;
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
 *
 * <p>Parts: {@link NbdListener} binds the socket, {@link NbdAcceptor} admits or refuses each
 * connection, an {@link NbdConnection} serves it; {@link NbdConfig} is what they share. This class
 * is the public face: the builder, the counters, {@link #close}.
 */
public final class NbdServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(NbdServer.class);

    /** The largest READ or WRITE payload we advertise and accept: the protocol's 2^25 interoperability bound. */
    public static final int MAX_PAYLOAD_BYTES = 32 << 20;

    private final NbdConfig config;
    private final IoEventLoopGroup group;
    private final boolean ownsGroup;
    private final Channel serverChannel;
    private final UnixSocketFile socketFile;
    private final NbdAcceptor acceptor;
    private final ChannelGroup connections;

    NbdServer(NbdConfig config, IoEventLoopGroup group, boolean ownsGroup, Channel serverChannel,
              UnixSocketFile socketFile, NbdAcceptor acceptor) {
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

    public static final class Builder {
        /** docs/BLK.md "Limits": far more than honest clients open (nbdcopy: 4), far fewer than hurt. */
        public static final int DEFAULT_MAX_CONNECTIONS = 128;
        public static final int DEFAULT_MAX_CONNECTIONS_PER_CLIENT = 16;
        public static final Duration DEFAULT_HANDSHAKE_TIMEOUT = Duration.ofSeconds(10);
        public static final Duration DEFAULT_STALL_TIMEOUT = Duration.ofSeconds(30);
        public static final long DEFAULT_MAX_IN_FLIGHT_BYTES = 32L << 20;
        public static final long DEFAULT_BUDGET_BYTES = 128L << 20;
        public static final long DEFAULT_BUDGET_PER_CLIENT_BYTES = 64L << 20;

        // package-private, not private: NbdConfig's constructor reads them
        Function<String, BlockDevice> lookup;
        Supplier<? extends Collection<String>> names;
        final Map<String, BlockDevice> fixed = new TreeMap<>();
        String defaultName;
        IoEventLoopGroup group;
        int ioThreads = 1;
        int maxPayloadBytes = MAX_PAYLOAD_BYTES;
        int maxInFlight = 64;
        long maxInFlightBytes = DEFAULT_MAX_IN_FLIGHT_BYTES;
        int maxConnections = DEFAULT_MAX_CONNECTIONS;
        int maxConnectionsPerClient = DEFAULT_MAX_CONNECTIONS_PER_CLIENT;
        long budgetBytes = DEFAULT_BUDGET_BYTES;
        long budgetPerClientBytes = DEFAULT_BUDGET_PER_CLIENT_BYTES;
        Duration handshakeTimeout = DEFAULT_HANDSHAKE_TIMEOUT;
        Duration stallTimeout = DEFAULT_STALL_TIMEOUT;
        Duration drainTimeout = Duration.ofSeconds(10);
        boolean multiConn = true;
        NbdTls tls;
        LongSupplier nanoClock = System::nanoTime;

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
            return start(NbdListener.tcp(host, port));
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
            return start(NbdListener.unix(socket));
        }

        private NbdServer start(NbdListener.Binder binder) throws InterruptedException {
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
            return NbdListener.start(new NbdConfig(this), group, ioThreads, binder);
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
    }
}
