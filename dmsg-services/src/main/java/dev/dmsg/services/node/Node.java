package dev.dmsg.services.node;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dmsg.link.Link;
import dev.dmsg.link.LinkConfig;
import dev.dmsg.link.LinkListener;
import dev.dmsg.link.LinkStats;
import dev.dmsg.link.Services;
import dev.dmsg.link.netty.LinkEndpoint;
import dev.dmsg.link.tls.NodeKeys;
import dev.dmsg.link.tls.PeerIdentity;
import dev.dmsg.link.tls.Role;
import dev.dmsg.link.tls.TlsConfig;
import dev.dmsg.link.tls.TrustStore;
import dev.dmsg.mesh.MeshConfig;
import dev.dmsg.mesh.MeshNode;
import dev.dmsg.mesh.MeshScheduler;
import dev.dmsg.mesh.NodeKey;
import dev.dmsg.mesh.SpanEngine;
import dev.dmsg.mesh.SpanExt;
import dev.dmsg.mesh.auth.SpanTrust;
import dev.dmsg.services.Access;
import dev.dmsg.services.EchoService;
import dev.dmsg.services.blk.BlkServer;
import dev.dmsg.services.blk.ExportAccess;
import dev.dmsg.services.shell.ShellService;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.ErrorCode;
import dev.dmsg.wire.LnkConn;
import dev.dmsg.wire.LnkSpan;
import dev.dmsg.wire.LnkVolconf;
import dev.dmsg.wire.Message;
import dev.dmsg.wire.PeerType;
import dev.dmsg.wire.PfsType;
import dev.dmsg.wire.VolData;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A running node: links (LinkEndpoint), the mesh (span engine on its own thread, advertising this
 * node), the VOLCONF table and the links it keeps up, and the shell that inspects all of it.
 * {@code dmsg node} is a thin command line around this class.
 *
 * <p>Threads: Netty's event loops run the links; {@code mesh} runs the span engine; {@code admin}
 * runs shell commands and VOLCONF changes (they touch files and wait for the mesh, so never on an
 * event loop); {@code blk-io} (8 threads, a bounded queue) does the exports' disk I/O for the BLK
 * server (docs/BLK.md).
 */
public final class Node implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger("dmsg.node");
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /** What this node advertises about itself (its LNK_SPAN and LNK_CONN). */
    public record Identity(String label, int peerType, int pfsType, String clLabel, UUID pfsClid, UUID pfsFsid) {
        /** A cluster node (PEER_CLUSTER, PFSTYPE_NONE, nil pfs_clid) in cluster {@code clLabel}, with a new pfs_fsid. */
        public static Identity of(String label, String clLabel) {
            return new Identity(label, Dmsg.PEER_CLUSTER, Dmsg.PFSTYPE_NONE, clLabel, new UUID(0, 0), UUID.randomUUID());
        }
    }

    /**
     * A block device this node exports (docs/BLK.md "Exports"): the file or block device node at
     * {@code path}, advertised as {@code LABEL/NAME} (peer_type BLOCK, pfs_type SERVER).
     *
     * @param name 1..64 of {@code A-Z a-z 0-9 . _ -}
     * @param blockSize the advertised blksize: a power of two in 512..65536
     * @param allow who besides admins may open it: roles and node labels (docs/IDENTITY.md §5);
     *     empty: admins only
     */
    public record Export(String name, Path path, boolean readOnly, int blockSize, List<String> allow) {
        public static final int DEFAULT_BLOCK_SIZE = 4096;
        private static final Pattern NAME = Pattern.compile("[A-Za-z0-9._-]{1,64}");

        public Export {
            Objects.requireNonNull(name, "name");
            Objects.requireNonNull(path, "path");
            if (!NAME.matcher(name).matches()) {
                throw new IllegalArgumentException("export name '" + name + "': 1..64 of A-Z a-z 0-9 . _ -");
            }
            if (blockSize < 512 || blockSize > 65536 || Integer.bitCount(blockSize) != 1) {
                throw new IllegalArgumentException("export " + name + ": blksize must be a power of two in 512..65536, "
                    + "not " + blockSize);
            }
            allow = new ExportAccess(allow == null ? List.of() : allow).allow(); // checked
        }

        /** Admins only. */
        public Export(String name, Path path, boolean readOnly, int blockSize) {
            this(name, path, readOnly, blockSize, List.of());
        }

        /** Read-write, blksize 4096, admins only. */
        public static Export of(String name, Path path) {
            return new Export(name, path, false, DEFAULT_BLOCK_SIZE);
        }

        /** This export, open also to {@code who}: roles and node labels. */
        public Export withAllow(String... who) {
            return new Export(name, path, readOnly, blockSize, List.of(who));
        }

        /**
         * {@code NAME=PATH[,ro][,blksize=N]}: what {@code dmsg node --export} takes.
         *
         * @throws IllegalArgumentException saying what is wrong with {@code spec}
         */
        public static Export parse(String spec) {
            String[] parts = spec.split(",");
            int eq = parts[0].indexOf('=');
            if (eq <= 0 || eq == parts[0].length() - 1) {
                throw new IllegalArgumentException("export '" + spec + "': expected NAME=PATH[,ro][,blksize=N][,allow=WHO+…]");
            }
            boolean ro = false;
            int bs = DEFAULT_BLOCK_SIZE;
            List<String> allow = List.of();
            for (int i = 1; i < parts.length; i++) {
                String p = parts[i].trim();
                if (p.equals("ro")) {
                    ro = true;
                } else if (p.equals("rw")) {
                    ro = false;
                } else if (p.startsWith("blksize=")) {
                    try {
                        bs = Integer.parseInt(p.substring("blksize=".length()));
                    } catch (NumberFormatException e) {
                        throw new IllegalArgumentException("export '" + spec + "': blksize is not a number: " + p);
                    }
                } else if (p.startsWith("allow=")) {
                    allow = List.of(p.substring("allow=".length()).split("\\+"));
                } else {
                    throw new IllegalArgumentException("export '" + spec + "': unknown option '" + p
                        + "' (options: ro, rw, blksize=N, allow=ROLE|LABEL[+…])");
                }
            }
            return new Export(parts[0].substring(0, eq).trim(), Path.of(parts[0].substring(eq + 1).trim()), ro, bs, allow);
        }

        /**
         * Several exports in one comma-separated value, as a config file's {@code export=} gives
         * them: {@code a=/x,ro,b=/y,blksize=512}. An option word belongs to the export before it.
         */
        public static List<Export> parseList(String value) {
            List<String> specs = new ArrayList<>();
            for (String part : value.split(",")) {
                String p = part.trim();
                if (p.isEmpty()) {
                    continue;
                }
                boolean option = p.equals("ro") || p.equals("rw") || p.startsWith("blksize=") || p.startsWith("allow=");
                if (option && !specs.isEmpty()) {
                    specs.set(specs.size() - 1, specs.get(specs.size() - 1) + "," + p);
                } else {
                    specs.add(p);
                }
            }
            return specs.stream().map(Export::parse).toList();
        }

        @Override
        public String toString() {
            return name + "=" + path + (readOnly ? ",ro" : "") + (blockSize == DEFAULT_BLOCK_SIZE ? "" : ",blksize=" + blockSize)
                + (allow.isEmpty() ? "" : ",allow=" + String.join("+", allow));
        }
    }

    /**
     * Everything a node is started with.
     *
     * @param ioThreads event loops for its links; 0: {@link #autoIoThreads()}. A relay hands each
     *     message from one link's loop to the other's, a wake-up when the two differ; a node has a
     *     few links, and one loop carries several GB/s (docs/BENCHMARKS.md, Circuits)
     * @param exports the block devices it serves over BLK (docs/BLK.md); names unique
     */
    public record Settings(String listenHost, int listenPort, Path dataDir, Identity identity, MeshConfig mesh,
                           Duration pingInterval, Duration deadTimeout, boolean logFrames, int ioThreads,
                           Security security, List<Export> exports) {
        public Settings {
            if (ioThreads < 0) {
                throw new IllegalArgumentException("ioThreads must be >= 0, not " + ioThreads);
            }
            Objects.requireNonNull(security, "security");
            exports = exports == null ? List.of() : List.copyOf(exports);
            Set<String> names = new HashSet<>();
            for (Export e : exports) {
                if (!names.add(e.name())) {
                    throw new IllegalArgumentException("export '" + e.name() + "' given twice");
                }
            }
        }

        /** Without exports. */
        public Settings(String listenHost, int listenPort, Path dataDir, Identity identity, MeshConfig mesh,
                        Duration pingInterval, Duration deadTimeout, boolean logFrames, int ioThreads,
                        Security security) {
            this(listenHost, listenPort, dataDir, identity, mesh, pingInterval, deadTimeout, logFrames, ioThreads,
                security, List.of());
        }

        public Settings withSecurity(Security s) {
            return new Settings(listenHost, listenPort, dataDir, identity, mesh, pingInterval, deadTimeout, logFrames,
                ioThreads, s, exports);
        }

        public Settings withExports(List<Export> e) {
            return new Settings(listenHost, listenPort, dataDir, identity, mesh, pingInterval, deadTimeout, logFrames,
                ioThreads, security, e);
        }

        /**
         * Half the cores, at least 1 — not Netty's 2 x cores: on 2 cores a relay with one loop
         * forwarded 30 % more pipelined transactions with 15 µs less RTT than with four
         * (docs/BENCHMARKS.md, Circuits).
         */
        public static int autoIoThreads() {
            return Math.max(1, Runtime.getRuntime().availableProcessors() / 2);
        }

        /** With {@link #autoIoThreads()} event loops. */
        public Settings(String listenHost, int listenPort, Path dataDir, Identity identity, MeshConfig mesh,
                        Duration pingInterval, Duration deadTimeout, boolean logFrames) {
            this(listenHost, listenPort, dataDir, identity, mesh, pingInterval, deadTimeout, logFrames, 0,
                Security.defaults());
        }

        /** The defaults of {@code dmsg node}: the mesh's, LNK_PING after 1 s idle, dead after 10 s, no frame log. */
        public static Settings of(String listenHost, int listenPort, Path dataDir, Identity identity) {
            return new Settings(listenHost, listenPort, dataDir, identity, MeshConfig.defaults(), Duration.ofSeconds(1),
                Duration.ofSeconds(10), false);
        }
    }

    static final int SHELL_THREADS = 4;
    static final int SHELL_QUEUE = 64;

    private final Settings settings;
    private final VolconfTable volconf;
    private final ScheduledExecutorService meshThread;
    private final ScheduledExecutorService admin;
    /** Shell commands: a few at once (a remote one waits for its circuit), a bounded queue behind them. */
    private final ThreadPoolExecutor shellPool;
    private final SpanEngine engine;
    private final MeshNode mesh;
    private final ShellService shell;
    private final Services services;
    private final Access access;
    /** TLS identity and trust; null on a plaintext node (tests of other layers only). */
    private final NodeKeys keys;
    private final TrustStore trust;
    /** Own key, store, cluster CA, issuer (docs/IDENTITY.md §1–2); with the upkeep of links when they change. */
    private final NodeTrust nodeTrust;
    private final TrustUpkeep upkeep;
    private final LinkEndpoint endpoint;
    private final SpanDialer dialer;
    private final Map<Link, Long> upSince = new ConcurrentHashMap<>();
    private InetSocketAddress bound;
    private volatile SpanEngine.SpanLink self;
    /** What this node exports (docs/BLK.md), and the server for it (null without exports). */
    private final Exports exports;
    private final BlkServer blk;
    /** Each export's span key, to tell which export a circuit ending here was forged to. */
    private final Map<NodeKey, String> exportKeys = new ConcurrentHashMap<>();
    /** The exports' spans as advertised; mesh thread only. */
    private final List<SpanEngine.SpanLink> exportSpans = new ArrayList<>();

    private Node(Settings settings, VolconfTable volconf, NodeKeys keys, TrustStore trust, NodeTrust nodeTrust,
                 Exports exports) {
        this.settings = settings;
        this.volconf = volconf;
        this.keys = keys;
        this.trust = trust;
        this.nodeTrust = nodeTrust;
        this.exports = exports;
        this.meshThread = Executors.newSingleThreadScheduledExecutor(named("mesh"));
        this.admin = Executors.newSingleThreadScheduledExecutor(named("admin"));
        ThreadLocalRandom r = ThreadLocalRandom.current();
        this.engine = new SpanEngine(settings.mesh(), System::nanoTime, r.nextInt() | 1, r.nextInt() | 1);
        // docs/IDENTITY.md §3: with keys, our spans are signed and every received one is checked
        this.mesh = keys == null ? new MeshNode(engine, MeshScheduler.of(meshThread))
            : new MeshNode(engine, MeshScheduler.of(meshThread), keys,
                nodeTrust != null ? nodeTrust : new NodeTrust(keys, trust)); // the same trust as the links
        this.shellPool = new ThreadPoolExecutor(SHELL_THREADS, SHELL_THREADS, 30, TimeUnit.SECONDS,
            new ArrayBlockingQueue<>(SHELL_QUEUE), named("shell"));
        shellPool.allowCoreThreadTimeOut(true);
        this.access = Access.plaintextAdmin(); // until TLS is on: every link is plaintext (docs/SECURITY.md)
        this.shell = new ShellService(shellPool, access).self(settings.identity().label(),
            keys == null ? null : keys.fingerprint());
        addCommands();
        new RemoteCommands(this, mesh).addTo(shell);
        this.services = EchoService.register(new Services());
        mesh.register(services);
        shell.register(services);
        services.oneWay(Dmsg.LNK_VOLCONF, this::onVolconf);
        if (exports.served.isEmpty()) {
            this.blk = null; // no BLK service: BLK_OPEN is answered NOSUPP by the link
        } else {
            Map<String, ExportAccess> acls = new HashMap<>();
            exports.served.forEach((n, e) -> acls.put(n, new ExportAccess(e.export().allow())));
            this.blk = new BlkServer(access, exports.devices(), acls, (link, circuit) -> {
                NodeKey k = mesh.circuitTarget(link, circuit);
                return k == null ? null : exportKeys.get(k);
            });
            blk.register(services);
        }
        Security sec = settings.security();
        LinkConfig config = LinkConfig.builder().label(settings.identity().label())
            .conn(SpanExt.mark(conn(settings.identity())))
            .pingInterval(settings.pingInterval()).deadTimeout(settings.deadTimeout())
            .logFrames(settings.logFrames())
            .tls(keys == null ? null : new TlsConfig(keys, nodeTrust, sec.provider(),
                sec.handshakeTimeout(), sec.legacyPeers(), TlsConfig.DEFAULT_MAX_UNAUTHENTICATED,
                TlsConfig.DEFAULT_MAX_UNAUTHENTICATED_PER_ADDRESS))
            .build();
        this.endpoint = new LinkEndpoint(config, services, listener(mesh.listener()),
            settings.ioThreads() == 0 ? Settings.autoIoThreads() : settings.ioThreads());
        this.dialer = new SpanDialer(endpoint, admin);
        this.upkeep = nodeTrust == null ? null : new TrustUpkeep(nodeTrust, endpoint, admin);
        if (upkeep != null) {
            upkeep.register(services);
        }
    }

    /**
     * Starts a node: loads (or creates) its VOLCONF table, opens its exports, listens, advertises
     * itself and its exports, and dials the table's {@code span:} slots.
     *
     * @throws IOException if the data directory or the table cannot be read or written, an
     *     export's file is missing, empty or not accessible, or the listen address cannot be bound
     *     (the message says which and why)
     * @throws IllegalArgumentException if an export's {@code LABEL/NAME} does not fit a cl_label
     */
    public static Node start(Settings settings) throws IOException, InterruptedException {
        for (Export e : settings.exports()) {
            int bytes = (settings.identity().label() + "/" + e.name()).getBytes(StandardCharsets.UTF_8).length;
            if (bytes > LnkSpan.LABEL_BYTES - 1) {
                throw new IllegalArgumentException("export " + e.name() + ": its cl_label '" + settings.identity().label()
                    + "/" + e.name() + "' is " + bytes + " bytes; max " + (LnkSpan.LABEL_BYTES - 1));
            }
        }
        DataDirCheck.check(settings.dataDir()); // docs/SECURITY.md §2: nobody else may write it
        VolconfTable volconf = VolconfTable.open(settings.dataDir());
        Exports exports = Exports.open(settings.dataDir(), settings.exports());
        NodeKeys keys = null;
        TrustStore trust = null;
        NodeTrust nodeTrust = null;
        Node n;
        try {
            if (settings.security().tls()) {
                Path kd = settings.security().keyDir() != null ? settings.security().keyDir()
                    : settings.dataDir();
                keys = NodeKeys.loadOrCreate(kd, settings.identity().label());
                trust = TrustStore.open(kd);
                nodeTrust = NodeTrust.open(kd, keys, trust, settings.security().keyDir() == null);
            }
            n = new Node(settings, volconf, keys, trust, nodeTrust, exports);
        } catch (IOException | RuntimeException e) {
            if (nodeTrust != null) {
                nodeTrust.close();
            }
            exports.close();
            throw e;
        }
        try {
            n.bound = n.endpoint.listen(settings.listenHost(), settings.listenPort());
        } catch (Exception e) {
            n.close();
            throw new IOException(bindError(settings, e), e);
        }
        n.meshThread.scheduleAtFixedRate(() -> n.engine.tick(System.nanoTime()), 250, 250, TimeUnit.MILLISECONDS);
        if (n.upkeep != null) {
            n.upkeep.start(n.admin);
        }
        Identity id = settings.identity();
        LnkSpan span = new LnkSpan(id.pfsClid(), id.pfsFsid(), id.pfsType(), id.peerType(), Dmsg.SPAN_PROTO_1,
            0, 0, 0, 0, 0, 0, id.clLabel(), id.label());
        n.mesh.advertise(span, link -> n.self = link);
        for (Exports.Served e : exports.served.values()) {
            LnkSpan es = exportSpan(id.label(), e);
            n.exportKeys.put(NodeKey.of(es), e.export().name());
            n.mesh.advertise(es, n.exportSpans::add);
        }
        volconf.onChange((i, v) -> n.dialer.slot(i, v));
        List<VolData> slots = volconf.slots();
        for (int i = 0; i < slots.size(); i++) {
            n.dialer.slot(i, slots.get(i));
        }
        log.info("node {} listening on {}:{} ({}); data in {}", id.label(), n.bound.getHostString(), n.bound.getPort(),
            n.endpoint.transportName(), settings.dataDir());
        return n;
    }

    /**
     * An export's span (docs/BLK.md "Exports", docs/REFERENCE.md §3.3): PEER_BLOCK, PFSTYPE_SERVER,
     * cl_label {@code LABEL/NAME}, fs_label the serial, the media union's bytes and blksize; the
     * UUIDs nil, as the C disk export sent them.
     */
    static LnkSpan exportSpan(String label, Exports.Served e) {
        UUID nil = new UUID(0, 0);
        return new LnkSpan(nil, nil, Dmsg.PFSTYPE_SERVER, Dmsg.PEER_BLOCK, Dmsg.SPAN_PROTO_1, 0, 0, 0, 0,
            e.device().sizeBytes(), e.device().blockSize(), label + "/" + e.export().name(), e.serial());
    }

    static String bindError(Settings s, Exception e) {
        String why = e.getMessage() == null ? e.toString() : e.getMessage();
        String msg = "cannot listen on " + s.listenHost() + ":" + s.listenPort() + ": " + why;
        if (s.listenPort() < 1024 && why.toLowerCase().contains("permission")) {
            msg += " (port " + s.listenPort() + " is privileged: run as root, lower"
                + " net.ipv4.ip_unprivileged_port_start, or choose --listen HOST:PORT above 1023)";
        }
        return msg;
    }

    /**
     * Advertises a service of this node to the mesh (an export, a PFS …) as its own span (dist 0).
     * The future completes with the handle that {@link #withdraw} takes.
     */
    public CompletableFuture<SpanEngine.SpanLink> advertise(LnkSpan span) {
        var f = new CompletableFuture<SpanEngine.SpanLink>();
        mesh.advertise(span, f::complete);
        return f;
    }

    /** Withdraws a span {@link #advertise} made: every peer sees it go. */
    public void withdraw(SpanEngine.SpanLink advertised) {
        mesh.withdraw(advertised);
    }

    /** The BLK export server (docs/BLK.md), or {@code null} if this node exports nothing. */
    public BlkServer blk() {
        return blk;
    }

    public InetSocketAddress address() {
        return bound;
    }

    public VolconfTable volconf() {
        return volconf;
    }

    public ShellService shell() {
        return shell;
    }

    public LinkEndpoint endpoint() {
        return endpoint;
    }

    /**
     * What this node accepts, on circuit 0 and on every circuit ending here. A service added here
     * at any time is served from then on (advertise it with {@link #advertise} if it has a span).
     */
    public Services services() {
        return services;
    }

    /** This node's part in the mesh: spans, and circuits to other nodes ({@link MeshNode#openCircuit}). */
    public MeshNode mesh() {
        return mesh;
    }

    public Identity identity() {
        return settings.identity();
    }

    /** The node's key pair and certificate (docs/SECURITY.md §1), or {@code null} without TLS. */
    public NodeKeys keys() {
        return keys;
    }

    /** This node's whole trust (own key, store, cluster CA, issuer), or {@code null} without TLS. */
    public NodeTrust trustPolicy() {
        return nodeTrust;
    }

    /** The peers this node trusts (DATA/trusted), or {@code null} without TLS. */
    public TrustStore trust() {
        return trust;
    }

    /**
     * Makes {@code a} and {@code b} trust each other's keys with {@code role} (each under the name
     * in the other's certificate): what {@code dmsg trust add} does on each side, for nodes in one
     * process (the demo, tests). No-op for an entry already there.
     *
     * @throws IllegalStateException if a name or key is already trusted differently
     */
    public static void trustEachOther(Node a, Node b, Role role) throws IOException {
        if (a.keys == null || b.keys == null) {
            throw new IllegalStateException("trustEachOther: both nodes need TLS (Security.defaults())");
        }
        a.trust.add(b.keys.label(), b.keys.fingerprint(), role, 0);
        b.trust.add(a.keys.label(), a.keys.fingerprint(), role, 0);
    }

    /**
     * TLS settings for a client on this machine acting as this node itself (its own key, which
     * it trusts as admin): how the demo, the tests and {@code dmsg shell --identity DATA_DIR}
     * reach it. {@code null} without TLS.
     */
    public TlsConfig clientTls() {
        return keys == null ? null : TlsConfig.of(keys, nodeTrust);
    }

    /**
     * The node of the mesh that {@code name} names: a node's label (its span's fs_label), or the
     * start of its pfs_fsid (8 hex digits or more). Spans of exports and other services are named
     * {@code cl_label/fs_label} when their fs_label alone is not unique. Among several that fit, a
     * verified node wins over unverified and legacy ones (docs/IDENTITY.md §3.5).
     *
     * @throws IllegalArgumentException naming the nodes known when there is none or more than one
     */
    public NodeKey resolve(String name) throws Exception {
        Map<NodeKey, Integer> ranks = meshThread.submit(() -> {
            Map<NodeKey, Integer> m = new LinkedHashMap<>();
            engine.snapshot().forEach(v -> m.put(v.key(), v.trustRank()));
            return m;
        }).get(5, TimeUnit.SECONDS);
        return NodeNames.resolve(name, ranks);
    }

    /**
     * Stops in order: withdraws this node's spans and closes every relay (peers see the spans go,
     * not a dead link), stops dialling, then closes the links (LNK_CONN DELETEs, pending output
     * flushed) and the threads.
     */
    @Override
    public void close() {
        dialer.stop();
        try {
            meshThread.submit(() -> {
                if (self != null) {
                    engine.withdraw(self);
                }
                exportSpans.forEach(engine::withdraw);
                exportSpans.clear();
                for (Link l : endpoint.links()) {
                    engine.connDown(mesh.portFor(l));
                }
            }).get(5, TimeUnit.SECONDS);
        } catch (Exception e) {
            log.warn("withdrawing spans: {}", e.toString());
        }
        endpoint.close(Duration.ofSeconds(5));
        exports.close(); // after the links: what the devices still finish is discarded, its buffers released
        meshThread.shutdownNow();
        admin.shutdownNow();
        shellPool.shutdownNow();
        if (nodeTrust != null) {
            nodeTrust.close();
        }
    }

    // ------------------------------------------------------------------------------------------

    private static LnkConn conn(Identity id) {
        UUID nil = new UUID(0, 0);
        return new LnkConn(nil, id.pfsClid(), id.pfsFsid(), -1L, id.peerType(), id.pfsType(), Dmsg.SPAN_PROTO_1,
            0, 0, 0, -1L, id.clLabel(), id.label());
    }

    private LinkListener listener(LinkListener meshListener) {
        return new LinkListener() {
            @Override
            public void onUp(Link link) {
                upSince.put(link, System.nanoTime());
                log.info("link up: {} ({})", link.peerLabel(), link.remoteAddress());
                meshListener.onUp(link);
                if (upkeep != null) {
                    upkeep.onUp(link);
                }
            }

            @Override
            public void onConnResult(Link link, int error) {
                if (error == 0) {
                    log.info("link {}: peer accepted our LNK_CONN", link.peerLabel());
                } else {
                    log.warn("link {}: peer refused our LNK_CONN: {}", link.peerLabel(), ErrorCode.nameOf(error));
                }
            }

            @Override
            public void onDown(Link link, String reason, int aborted) {
                upSince.remove(link);
                LinkStats s = link.stats();
                log.info("link down: {} ({}): {}; {} open transaction(s) aborted; {} msgs in, {} out, {} pings sent",
                    link.peerLabel(), link.remoteAddress(), reason, aborted, s.msgsIn(), s.msgsOut(), s.pingsSent());
                meshListener.onDown(link, reason, aborted);
            }
        };
    }

    /** LNK_VOLCONF inside a peer's LNK_CONN (docs/REFERENCE.md §3.6): sets one slot of our table. */
    private void onVolconf(Link link, Message m) {
        if (!access.allows(link, m.circuit(), Access.Level.CHANGE)) {
            link.denied("LNK_VOLCONF from " + access.who(link, m.circuit()) + ": changing the table needs the admin role");
            return; // one-way: counted and logged, never answered
        }
        LnkVolconf v = m.ext(LnkVolconf.class);
        if (v == null || v.index() < 0 || v.index() >= Dmsg.COPYID_COUNT) {
            log.warn("LNK_VOLCONF from {}: index {} is not 0..255; ignored", link.peerLabel(), v == null ? "?" : v.index());
            return;
        }
        if (!v.mediaid().equals(new UUID(0, 0))) {
            log.warn("LNK_VOLCONF from {}: mediaid {} is not this node's table (nil); ignored", link.peerLabel(), v.mediaid());
            return;
        }
        admin.execute(() -> {
            try {
                volconf.set(v.index(), v.copy());
                log.info("volconf slot {} set by {}: {}", v.index(), link.peerLabel(), v.copy().describe());
            } catch (IOException e) {
                log.error("volconf slot {}: cannot persist the table: {}", v.index(), e.getMessage());
            }
        });
    }

    // ------------------------------------------------------------------------------------------
    // Shell commands and status

    private void addCommands() {
        shell.add("status", "status [--json]           identity, links, span tree and VOLCONF table", (args, out) -> {
            ObjectNode s = status();
            out.append(args.contains("--json") ? JSON.writeValueAsString(s) + "\n" : StatusText.render(s));
            return 0;
        });
        shell.add("tree", "tree                      the span tree", (args, out) -> {
            out.append(StatusText.tree(status()));
            return 0;
        });
        shell.add("links", "links                     this node's links", (args, out) -> {
            out.append(StatusText.links(status()));
            return 0;
        });
        shell.add("volconf", "volconf [--json]          the VOLCONF table (slots in use)", (args, out) -> {
            ObjectNode s = status();
            out.append(args.contains("--json") ? JSON.writeValueAsString(s.get("volconf")) + "\n" : StatusText.volconf(s));
            return 0;
        });
        shell.add("span", "span HOST[:PORT]          keep a link to HOST (a VOLCONF slot)", Access.Level.CHANGE, (args, out) -> {
            if (args.size() != 1 || SpanDialer.Target.parse("span:" + args.get(0)) == null) {
                throw new IllegalArgumentException("expected one HOST[:PORT]");
            }
            synchronized (volconf) { // shell commands run on several threads: pick and fill a slot at once
                return addSpanSlot(args.get(0), out);
            }
        });
    }

    private int addSpanSlot(String hostPort, StringBuilder out) throws IOException {
        int i = volconf.firstFree();
        if (i < 0) {
            out.append("VOLCONF table full\n");
            return Dmsg.ERR_IO;
        }
        volconf.set(i, new VolData(i, 0, 0, 0, Dmsg.VOLF_ENABLED, 0, 0, 0, new UUID(0, 0), "", "span:" + hostPort));
        out.append("slot ").append(i).append(": span:").append(hostPort).append('\n');
        return 0;
    }

    /** The status document (docs/OPERATIONS.md, "status --json"). */
    public ObjectNode status() throws Exception {
        List<SpanEngine.NodeView> spans = meshThread.submit(engine::snapshot).get(5, TimeUnit.SECONDS);
        ObjectNode root = JSON.createObjectNode();
        Identity id = settings.identity();
        ObjectNode node = root.putObject("node");
        node.put("label", id.label());
        node.put("listen", bound.getHostString() + ":" + bound.getPort());
        node.put("peer_type", PeerType.nameOf(id.peerType()));
        node.put("pfs_type", PfsType.nameOf(id.pfsType()));
        node.put("cl_label", id.clLabel());
        node.put("pfs_clid", id.pfsClid().toString());
        node.put("pfs_fsid", id.pfsFsid().toString());
        node.put("origin", String.format("%08x", engine.origin()));
        node.put("data_dir", settings.dataDir().toString());
        node.put("fingerprint", keys == null ? null : keys.fingerprint());
        node.put("tls", keys == null ? "off" : "TLSv1.3 " + endpoint.tlsProvider());
        if (keys != null) {
            // docs/SECURITY.md §7: every refusal and limit, counted
            var ts = endpoint.tlsStats();
            ObjectNode sec = root.putObject("security");
            sec.put("handshakes_completed", ts.completed());
            sec.put("handshakes_failed", ts.failed());
            sec.put("keys_refused", ts.refused());
            sec.put("handshakes_timed_out", ts.timedOut());
            sec.put("connections_over_cap", ts.overCap());
            sec.put("handshakes_evicted", ts.evicted());
            sec.put("plaintext_refused", ts.plaintextRefused());
            sec.put("legacy_links", ts.legacy());
            sec.put("log_lines_suppressed", ts.logLinesSuppressed());
            ObjectNode refused = sec.putObject("spans_refused"); // docs/IDENTITY.md §3.3, by neighbour
            new TreeMap<>(mesh.spansRefused()).forEach(refused::put);
            ObjectNode ca = nodeTrust.status();
            if (ca != null) {
                root.set("ca", ca); // docs/IDENTITY.md §2
            }
        }

        ArrayNode links = root.putArray("links");
        long now = System.nanoTime();
        for (Link l : endpoint.links()) {
            ObjectNode o = links.addObject();
            LinkStats st = l.stats();
            Long since = upSince.get(l);
            o.put("peer", l.peerLabel());
            o.put("address", l.remoteAddress());
            PeerIdentity who = l.peer();
            o.put("identity", who == null ? null : who.name());
            o.put("role", who == null ? "admin (plaintext)" : who.role().word());
            o.put("state", l.state().name());
            o.put("age_s", since == null ? 0 : (now - since) / 1_000_000_000L);
            o.put("msgs_in", st.msgsIn());
            o.put("msgs_out", st.msgsOut());
            o.put("bytes_in", st.bytesIn());
            o.put("bytes_out", st.bytesOut());
            o.put("open_transactions", st.openTransactions());
            o.put("denied", st.denied());
            o.put("refused_over_limit", st.refusedOverLimit());
        }

        ArrayNode sp = root.putArray("spans");
        for (SpanEngine.NodeView v : spans) {
            NodeKey k = v.key();
            ObjectNode o = sp.addObject();
            o.put("peer_type", PeerType.nameOf(k.peerType()));
            o.put("pfs_type", PfsType.nameOf(v.pfsType()));
            o.put("cl_label", k.clLabel());
            o.put("fs_label", k.fsLabel());
            o.put("pfs_clid", k.pfsClid().toString());
            o.put("pfs_fsid", k.pfsFsid().toString());
            boolean local = v.links().stream().anyMatch(lv -> lv.via().equals("local"));
            o.put("local", local);
            int best = v.links().stream().filter(SpanEngine.LinkView::feasible).mapToInt(SpanEngine.LinkView::dist)
                .min().orElse(-1);
            o.put("dist", local ? 0 : best);
            if (k.peerType() == Dmsg.PEER_BLOCK) {
                o.put("bytes", v.mediaBytes());
                o.put("blksize", v.mediaBlksize());
            }
            ArrayNode ls = o.putArray("links");
            for (SpanEngine.LinkView lv : v.links()) {
                ObjectNode x = ls.addObject();
                x.put("dist", lv.dist());
                x.put("via", lv.via());
                x.put("feasible", lv.feasible());
                if (lv.trust() != null && lv.trust().kind() != SpanTrust.Kind.OPEN) {
                    x.put("trust", lv.trust().kind().word()); // docs/IDENTITY.md §3.3
                    x.put("signer", lv.trust().signer());
                    x.put("signer_id", lv.trust().signerId());
                }
                if (lv.msgid() != 0) {
                    x.put("msgid", String.format("%016x", lv.msgid()));
                }
                if (lv.seqno() >= 0) {
                    x.put("seqno", lv.seqno());
                }
                ArrayNode relays = x.putArray("relays");
                lv.relayedTo().forEach(relays::add);
            }
        }

        ArrayNode cs = root.putArray("circuits");
        for (MeshNode.CircuitView v : mesh.circuits()) {
            ObjectNode o = cs.addObject();
            o.put("role", v.role());
            o.put("node", v.target().fsLabel());
            o.put("link", v.link());
            o.put("id", Long.toHexString(v.id()));
            if (v.otherLink() != null) {
                o.put("other_link", v.otherLink());
                o.put("other_id", Long.toHexString(v.otherId()));
                o.put("forwarded", v.forwarded());
                o.put("returned", v.returned());
            }
            o.put("open", v.open());
            o.put("age_s", v.ageNanos() / 1_000_000_000L);
        }

        if (blk != null) {
            ObjectNode b = root.putObject("blk");
            b.put("opens", blk.opens());
            b.put("refused", blk.refusals());
            b.put("replies_discarded", blk.discardedReplies());
        }
        ArrayNode ex = root.putArray("exports");
        Map<String, BlkServer.ExportStats> blkStats = new HashMap<>();
        if (blk != null) {
            blk.stats().forEach(st -> blkStats.put(st.name(), st));
        }
        for (Exports.Served e : exports.served.values()) {
            ObjectNode o = ex.addObject();
            BlkServer.ExportStats st = blkStats.get(e.export().name());
            o.put("name", e.export().name());
            o.put("path", e.export().path().toString());
            o.put("size", e.device().sizeBytes());
            o.put("blksize", e.device().blockSize());
            o.put("read_only", e.device().readOnly());
            o.put("cl_label", id.label() + "/" + e.export().name());
            o.put("serial", e.serial());
            o.put("opens", st.opens());
            o.put("reads", st.reads());
            o.put("writes", st.writes());
            o.put("bytes_read", st.bytesRead());
            o.put("bytes_written", st.bytesWritten());
            o.put("flushes", st.flushes());
            o.put("trims", st.trims());
            o.put("errors", st.errors());
            o.put("refused", st.refused());
            o.put("allow", st.allow()); // docs/IDENTITY.md §5
            ObjectNode by = o.putObject("by_originator");
            st.byOriginator().forEach((who, c) -> {
                ObjectNode w = by.putObject(who);
                w.put("opens", c.opens());
                w.put("reads", c.reads());
                w.put("writes", c.writes());
                w.put("bytes_read", c.bytesRead());
                w.put("bytes_written", c.bytesWritten());
                w.put("refused", c.refused());
            });
        }

        ArrayNode vc = root.putArray("volconf");
        Map<Integer, Link> dialled = dialer.links();
        List<VolData> slots = volconf.slots();
        for (int i = 0; i < slots.size(); i++) {
            VolData d = slots.get(i);
            if (d.copyid() == 0 && d.path().isEmpty()) {
                continue;
            }
            ObjectNode o = vc.addObject();
            o.put("index", i);
            o.put("copyid", d.copyid());
            o.put("flags", d.flags());
            o.put("enabled", VolconfTable.enabled(d));
            o.put("path", d.path());
            o.put("label", d.label());
            Link l = dialled.get(i);
            o.put("link", l == null ? null : l.state().name());
        }
        return root;
    }

    private static ThreadFactory named(String name) {
        return r -> {
            Thread t = new Thread(r, name);
            t.setDaemon(true);
            return t;
        };
    }
}
