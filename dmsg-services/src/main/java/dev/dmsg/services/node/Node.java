package dev.dmsg.services.node;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dmsg.link.Link;
import dev.dmsg.link.LinkConfig;
import dev.dmsg.link.Services;
import dev.dmsg.link.netty.LinkEndpoint;
import dev.dmsg.link.tls.NodeKeys;
import dev.dmsg.link.tls.Role;
import dev.dmsg.link.tls.TlsConfig;
import dev.dmsg.link.tls.TrustStore;
import dev.dmsg.mesh.MeshConfig;
import dev.dmsg.mesh.MeshNode;
import dev.dmsg.mesh.MeshScheduler;
import dev.dmsg.mesh.NodeKey;
import dev.dmsg.mesh.SpanEngine;
import dev.dmsg.mesh.SpanExt;
import dev.dmsg.quorum.GroupSpec;
import dev.dmsg.quorum.raft.RaftHost;
import dev.dmsg.services.Access;
import dev.dmsg.services.EchoService;
import dev.dmsg.services.blk.BlkServer;
import dev.dmsg.services.cac.CacServer;
import dev.dmsg.services.quorum.QuorumMember;
import dev.dmsg.services.shell.ShellService;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.LnkConn;
import dev.dmsg.wire.LnkSpan;
import dev.dmsg.wire.VolData;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A running node, the composition root: links ({@link LinkEndpoint}), the mesh (span engine on
 * its own thread, advertising this node), the VOLCONF table and the links it keeps up, and the
 * node's services ({@link NodeService}: the shell, the BLK exports), each built from the
 * {@link Settings} ({@link NodeServices}) and handed a {@link NodeContext}. {@code dmsg node} is a
 * thin command line around this class.
 *
 * <p>Who calls whom: {@link #start} checks and loads (data directory, VOLCONF table, keys), makes
 * the threads ({@link NodeExecutors}), wires the link endpoint, mesh and VOLCONF here, advertises
 * this node, starts each service, listens and dials. {@link #status} assembles the status
 * document (docs/STATUS.md) from {@link NodeStatus} records and the services' sections.
 * {@link #close} undoes it in reverse.
 *
 * <p>Threads: Netty's event loops run the links, {@link NodeExecutors} says what runs where else.
 */
public final class Node implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger("dmsg.node");

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
    public record Export(String name, Path path, boolean readOnly, int blockSize, List<String> allow, String fence) {
        public static final int DEFAULT_BLOCK_SIZE = 4096;

        public Export {
            allow = ExportSpec.check(name, path, blockSize, allow);
            ExportSpec.checkFence(name, fence);
        }

        /** Not fenced. */
        public Export(String name, Path path, boolean readOnly, int blockSize, List<String> allow) {
            this(name, path, readOnly, blockSize, allow, null);
        }

        /** Admins only. */
        public Export(String name, Path path, boolean readOnly, int blockSize) {
            this(name, path, readOnly, blockSize, List.of());
        }

        /** This export, fenced by the lock on {@code key} (docs/CAC.md §6). */
        public Export withFence(String key) {
            return new Export(name, path, readOnly, blockSize, allow, key);
        }

        /** Read-write, blksize 4096, admins only. */
        public static Export of(String name, Path path) {
            return new Export(name, path, false, DEFAULT_BLOCK_SIZE);
        }

        /** This export, open also to {@code who}: roles and node labels. */
        public Export withAllow(String... who) {
            return new Export(name, path, readOnly, blockSize, List.of(who), fence);
        }

        /**
         * {@code NAME=PATH[,ro][,blksize=N][,allow=WHO+…][,fence=KEY]}: what {@code dmsg node --export} takes.
         *
         * @throws IllegalArgumentException saying what is wrong with {@code spec}
         * @see ExportSpec#parse
         */
        public static Export parse(String spec) {
            return ExportSpec.parse(spec);
        }

        /** Several exports in one value, as a config file's {@code export=} gives them ({@link ExportSpec#parseList}). */
        public static List<Export> parseList(String value) {
            return ExportSpec.parseList(value);
        }

        @Override
        public String toString() {
            return ExportSpec.format(this);
        }
    }

    /**
     * Everything a node is started with; build it with {@link #builder}.
     *
     * @param ioThreads event loops for its links; 0: {@link #autoIoThreads()}. A relay hands each
     *     message from one link's loop to the other's, a wake-up when the two differ; a node has a
     *     few links, and one loop carries several GB/s (docs/BENCHMARKS.md, Circuits)
     * @param exports the block devices it serves over BLK (docs/BLK.md); names unique
     * @param quorumRaft the Raft timing, snapshot and segment settings of its quorum groups
     *     (docs/QUORUM.md §2, §5); null: {@link RaftHost.Settings#defaults()}
     */
    public record Settings(String listenHost, int listenPort, Path dataDir, Identity identity, MeshConfig mesh,
                           Duration pingInterval, Duration deadTimeout, boolean logFrames, int ioThreads,
                           Security security, List<Export> exports, List<GroupSpec> quorums,
                           RaftHost.Settings quorumRaft) {
        public Settings {
            exports = SettingsBuilder.check(ioThreads, security, exports);
            quorums = SettingsBuilder.checkQuorums(identity.label(), quorums);
            quorumRaft = quorumRaft == null ? RaftHost.Settings.defaults() : quorumRaft;
        }

        /**
         * The defaults of {@code dmsg node} for everything but where it listens, where it keeps its
         * data and who it is: the mesh's, LNK_PING after 1 s idle, dead after 10 s, no frame log,
         * {@link #autoIoThreads()}, TLS ({@link Security#defaults()}), no exports.
         */
        public static SettingsBuilder builder(String listenHost, int listenPort, Path dataDir, Identity identity) {
            return new SettingsBuilder(listenHost, listenPort, dataDir, identity);
        }

        /** The defaults of {@code dmsg node} ({@link #builder}). */
        public static Settings of(String listenHost, int listenPort, Path dataDir, Identity identity) {
            return builder(listenHost, listenPort, dataDir, identity).build();
        }

        /** A builder holding these settings, to change some of them. */
        public SettingsBuilder toBuilder() {
            return new SettingsBuilder(this);
        }

        public Settings withSecurity(Security s) {
            return toBuilder().security(s).build();
        }

        public Settings withExports(List<Export> e) {
            return toBuilder().exports(e).build();
        }

        /**
         * Half the cores, at least 1 — not Netty's 2 x cores: on 2 cores a relay with one loop
         * forwarded 30 % more pipelined transactions with 15 µs less RTT than with four
         * (docs/BENCHMARKS.md, Circuits).
         */
        public static int autoIoThreads() {
            return Math.max(1, Runtime.getRuntime().availableProcessors() / 2);
        }
    }

    private final Settings settings;
    private final VolconfTable volconf;
    private final NodeExecutors executors;
    private final SpanEngine engine;
    private final MeshNode mesh;
    private final Services services;
    private final Access access;
    /** TLS identity; null on a plaintext node (tests of other layers only). */
    private final NodeKeys keys;
    /** Own key, store, cluster CA, issuer (docs/IDENTITY.md §1–2); with the upkeep of links when they change. */
    private final NodeTrust nodeTrust;
    private final TrustUpkeep upkeep;
    private final LinkWatch links;
    private final LinkEndpoint endpoint;
    private final SpanDialer dialer;
    /** The services, in start order ({@link NodeServices}); those started, to stop in reverse. */
    private final List<NodeService> nodeServices;
    private final List<NodeService> started = Collections.synchronizedList(new ArrayList<>());
    /** The spans this node and its services advertised; mesh thread only. */
    private final List<SpanEngine.SpanLink> ownSpans = new ArrayList<>();
    private InetSocketAddress bound;
    /** When the node started: wall clock for the status document, nanoTime for its uptime. */
    private final Instant startedAt = Instant.now();
    private final long startedNanos = System.nanoTime();
    /** Set as {@link #close} begins: the node is no longer ready ({@link #readiness}). */
    private volatile boolean closing;

    private Node(Settings settings, List<NodeService> nodeServices, VolconfTable volconf, NodeTrust nodeTrust,
                 NodeExecutors executors) {
        this.settings = settings;
        this.nodeServices = nodeServices;
        this.volconf = volconf;
        this.keys = nodeTrust == null ? null : nodeTrust.keys();
        this.nodeTrust = nodeTrust;
        this.executors = executors;
        ThreadLocalRandom r = ThreadLocalRandom.current();
        this.engine = new SpanEngine(settings.mesh(), System::nanoTime, r.nextInt() | 1, r.nextInt() | 1);
        MeshScheduler meshThread = MeshScheduler.of(executors.mesh());
        // docs/IDENTITY.md §3: with keys, our spans are signed and every received one is checked
        this.mesh = keys == null ? new MeshNode(engine, meshThread)
            : new MeshNode(engine, meshThread, keys, nodeTrust); // the same trust as the links
        this.access = Access.plaintextAdmin(); // until TLS is on: every link is plaintext (docs/SECURITY.md)
        this.services = EchoService.register(new Services());
        mesh.register(services);
        services.oneWay(Dmsg.LNK_VOLCONF, new VolconfUpdates(volconf, access, executors.admin())::onVolconf);
        LinkConfig config = LinkConfig.builder().label(settings.identity().label())
            .conn(SpanExt.mark(conn(settings.identity())))
            .pingInterval(settings.pingInterval()).deadTimeout(settings.deadTimeout())
            .logFrames(settings.logFrames())
            .tls(settings.security().tlsConfig(keys, nodeTrust)).build();
        this.links = new LinkWatch(mesh.listener());
        this.endpoint = new LinkEndpoint(config, services, links,
            settings.ioThreads() == 0 ? Settings.autoIoThreads() : settings.ioThreads());
        this.dialer = new SpanDialer(endpoint, executors.admin());
        this.upkeep = nodeTrust == null ? null : new TrustUpkeep(nodeTrust, endpoint, executors.admin());
        if (upkeep != null) {
            upkeep.register(services);
            links.upkeep(upkeep);
        }
    }

    /**
     * Starts a node: loads (or creates) its VOLCONF table and keys, advertises itself, starts its
     * services (the BLK one opens and advertises the exports), listens, and dials the table's
     * {@code span:} slots.
     *
     * @throws IOException if the data directory or the table cannot be read or written, an
     *     export's file is missing, empty or not accessible, or the listen address cannot be bound
     *     (the message says which and why)
     * @throws IllegalArgumentException if an export's {@code LABEL/NAME} does not fit a cl_label
     */
    public static Node start(Settings settings) throws IOException, InterruptedException {
        List<NodeService> nodeServices = NodeServices.of(settings); // checks them before anything is opened
        DataDirCheck.check(settings.dataDir()); // docs/SECURITY.md §2: nobody else may write it
        VolconfTable volconf = VolconfTable.open(settings.dataDir());
        NodeExecutors executors = new NodeExecutors();
        NodeTrust nodeTrust = null;
        Node n;
        try {
            nodeTrust = NodeTrust.load(settings.security(), settings.dataDir(), settings.identity().label());
            n = new Node(settings, nodeServices, volconf, nodeTrust, executors);
        } catch (IOException | RuntimeException e) {
            if (nodeTrust != null) {
                nodeTrust.close();
            }
            executors.close();
            throw e;
        }
        Identity id = settings.identity();
        try {
            n.advertiseOwn(new LnkSpan(id.pfsClid(), id.pfsFsid(), id.pfsType(), id.peerType(), Dmsg.SPAN_PROTO_1,
                0, 0, 0, 0, 0, 0, id.clLabel(), id.label()), self -> {});
            NodeContext context = new NodeContext(n);
            for (NodeService s : nodeServices) {
                s.start(context);
                n.started.add(s);
            }
        } catch (IOException | RuntimeException e) {
            n.close();
            throw e;
        }
        try {
            n.bound = n.endpoint.listen(settings.listenHost(), settings.listenPort());
        } catch (Exception e) {
            n.close();
            throw new IOException(bindError(settings, e), e);
        }
        n.executors.mesh().scheduleAtFixedRate(() -> n.engine.tick(System.nanoTime()), 250, 250,
            TimeUnit.MILLISECONDS);
        if (n.upkeep != null) {
            n.upkeep.start(n.executors.admin());
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

    static String bindError(Settings s, Exception e) {
        String why = e.getMessage() == null ? e.toString() : e.getMessage();
        String msg = "cannot listen on " + s.listenHost() + ":" + s.listenPort() + ": " + why;
        if (s.listenPort() < 1024 && why.toLowerCase().contains("permission")) {
            msg += " (port " + s.listenPort() + " is privileged: run as root, lower"
                + " net.ipv4.ip_unprivileged_port_start, or choose --listen HOST:PORT above 1023)";
        }
        return msg;
    }

    /** A span of this node or one of its services; withdrawn by {@link #close}. */
    void advertiseOwn(LnkSpan span, Consumer<SpanEngine.SpanLink> advertised) {
        mesh.advertise(span, link -> {
            ownSpans.add(link); // the mesh thread
            advertised.accept(link);
        });
    }

    /**
     * Replaces own span {@code old} by {@code span}, the same node with new fields (an export's
     * new size): the mesh sees the old one withdrawn and the new one advertised. Returns the new
     * handle, or {@code null} if {@code old} is no longer advertised (the node is closing). On the
     * mesh thread only.
     */
    SpanEngine.SpanLink replaceOwn(SpanEngine.SpanLink old, LnkSpan span) {
        if (old == null || !ownSpans.remove(old)) {
            return null;
        }
        engine.withdraw(old);
        SpanEngine.SpanLink now = engine.advertise(span);
        ownSpans.add(now);
        return now;
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
        BlkNodeService b = NodeServices.find(nodeServices, BlkNodeService.class);
        return b == null ? null : b.server();
    }

    /** This node as a member of its quorum groups (docs/QUORUM.md), or {@code null} if it is in none. */
    public QuorumMember quorum() {
        QuorumNodeService q = NodeServices.find(nodeServices, QuorumNodeService.class);
        return q == null ? null : q.member();
    }

    /** The lock service of its quorum groups (docs/CAC.md), or {@code null} if it is in none. */
    public CacServer locks() {
        QuorumNodeService q = NodeServices.find(nodeServices, QuorumNodeService.class);
        return q == null ? null : q.locks();
    }

    public InetSocketAddress address() {
        return bound;
    }

    /** When it started (the status document's {@code node.started}). */
    public Instant started() {
        return startedAt;
    }

    /** Nanoseconds since it started. */
    public long uptimeNanos() {
        return System.nanoTime() - startedNanos;
    }

    /** This build's version ({@code node.version}): the project's version, {@code unknown} if not packaged with it. */
    public static String version() {
        return NodeVersion.VERSION;
    }

    /**
     * Whether this node is ready to serve (what {@code /readyz} and {@code dmsg health} report;
     * docs/OPERATIONS.md "Metrics and health"). Any thread; reads no file and waits for nothing
     * but the quorum groups' state.
     */
    public Readiness readiness() {
        if (closing) {
            return Readiness.notReady("node stopping");
        }
        return Readiness.of(bound, volconf.slots(), dialer.links(), quorum());
    }

    /**
     * The span engine's table now (docs/MESH.md), taken on the mesh thread: what the status
     * document's {@code spans} and the metrics read.
     */
    public List<SpanEngine.NodeView> spans() throws Exception {
        return executors.mesh().submit(engine::snapshot).get(5, TimeUnit.SECONDS);
    }

    public VolconfTable volconf() {
        return volconf;
    }

    public ShellService shell() {
        ShellNodeService s = NodeServices.find(nodeServices, ShellNodeService.class);
        return s == null ? null : s.shell();
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

    public Settings settings() {
        return settings;
    }

    /** The node's threads besides the links' event loops. */
    public NodeExecutors executors() {
        return executors;
    }

    Access access() {
        return access;
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
        return nodeTrust == null ? null : nodeTrust.store();
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
        a.trust().add(b.keys.label(), b.keys.fingerprint(), role, 0);
        b.trust().add(a.keys.label(), a.keys.fingerprint(), role, 0);
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
        return NodeNames.resolve(name, executors.mesh().submit(() -> NodeNames.ranks(engine.snapshot()))
            .get(5, TimeUnit.SECONDS));
    }

    /** The status document (docs/STATUS.md) as a tree. */
    public ObjectNode status() throws Exception {
        return (ObjectNode) NodeStatus.tree(statusDocument());
    }

    /** The status document (docs/STATUS.md) as Jackson serialises it ({@link NodeStatus#document}). */
    Map<String, Object> statusDocument() throws Exception {
        return NodeStatus.document(this, engine.origin(), spans(), links, nodeServices, dialer.links());
    }

    /**
     * Stops in order: withdraws this node's spans and closes every relay (peers see the spans go,
     * not a dead link), stops dialling, then closes the links (LNK_CONN DELETEs, pending output
     * flushed), drains the block I/O, stops the services (the exports' files are closed: what the
     * devices still finished was discarded, its buffers released), and the threads.
     */
    @Override
    public void close() {
        closing = true;
        dialer.stop();
        try {
            executors.mesh().submit(() -> {
                ownSpans.forEach(engine::withdraw);
                ownSpans.clear();
                for (Link l : endpoint.links()) {
                    engine.connDown(mesh.portFor(l));
                }
            }).get(5, TimeUnit.SECONDS);
        } catch (Exception e) {
            log.warn("withdrawing spans: {}", e.toString());
        }
        endpoint.close(Duration.ofSeconds(5));
        executors.drainBlkIo();
        List<NodeService> stopping = new ArrayList<>(started);
        Collections.reverse(stopping);
        for (NodeService s : stopping) {
            try {
                s.stop();
            } catch (RuntimeException e) {
                log.warn("stopping {}: {}", s.name(), e.toString());
            }
        }
        started.clear();
        executors.close();
        if (nodeTrust != null) {
            nodeTrust.close();
        }
    }

    private static LnkConn conn(Identity id) {
        UUID nil = new UUID(0, 0);
        return new LnkConn(nil, id.pfsClid(), id.pfsFsid(), -1L, id.peerType(), id.pfsType(), Dmsg.SPAN_PROTO_1,
            0, 0, 0, -1L, id.clLabel(), id.label());
    }
}
