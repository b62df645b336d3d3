package dev.dmsg.cli;

import dev.dmsg.link.LogLimiter;
import dev.dmsg.link.tls.CaIssuer;
import dev.dmsg.link.tls.CertProfile;
import dev.dmsg.link.tls.ClusterCa;
import dev.dmsg.link.tls.JoinClient;
import dev.dmsg.link.tls.JoinToken;
import dev.dmsg.link.tls.NodeKeys;
import dev.dmsg.link.tls.Role;
import dev.dmsg.link.tls.TlsConfig;
import dev.dmsg.mesh.MeshConfig;
import dev.dmsg.quorum.GroupSpec;
import dev.dmsg.quorum.raft.RaftHost;
import dev.dmsg.services.metrics.MetricsServer;
import dev.dmsg.services.page.StatusPageServer;
import dev.dmsg.services.node.ExportSpec;
import dev.dmsg.services.node.Node;
import dev.dmsg.services.node.Security;
import dev.dmsg.services.node.SpanDialer;
import dev.dmsg.services.node.VolconfTable;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.PeerType;
import dev.dmsg.wire.PfsType;
import dev.dmsg.wire.VolData;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Properties;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code dmsg node}: runs a node (docs/OPERATIONS.md). Every option can also come from a
 * {@code --config} properties file (the option's name without dashes as the key; a flag on the
 * command line wins). The VOLCONF table and the node's identity live in the data directory.
 */
@Command(name = "node", mixinStandardHelpOptions = true,
    description = {"Runs a DMSG node: listens, joins the mesh (advertises itself, relays spans), keeps the links "
        + "its VOLCONF table lists, logs link changes, serves the shell. SIGTERM/Ctrl-C: spans withdrawn, "
        + "links closed in order.",
        "Options may also come from --config FILE (Java properties; keys are option names without the dashes, "
            + "e.g. listen=0.0.0.0:987, label=alpha, connect=10.0.0.2:987,10.0.0.3:987, export=disk0=/dev/vdb,ro)."})
final class NodeCommand implements Callable<Integer> {
    private static final Logger log = LoggerFactory.getLogger("dmsg.node");

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "--config", paramLabel = "FILE", description = "a properties file with any of these options")
    Path config;

    @Option(names = "--listen", paramLabel = "HOST:PORT", converter = HostPort.Converter.class, defaultValue = "0.0.0.0:987",
        description = "address to accept links on; 987 is DMSG's port and needs root or a lowered "
            + "net.ipv4.ip_unprivileged_port_start, else the node says so and exits 1 (default: ${DEFAULT-VALUE})")
    HostPort listen;

    @Option(names = "--data-dir", paramLabel = "DIR",
        description = "where the VOLCONF table and the node's identity are kept; one live node per directory "
            + "(DIR/node.lock) (default: dmsg-data/LABEL in the working directory; the systemd unit passes /var/lib/dmsg)")
    Path dataDir;

    @Option(names = "--label", description = "this node's label: its fs_label in the mesh (default: the host name, "
        + "up to its first dot)")
    String label;

    @Option(names = "--cluster", description = "cl_label of this node's span (default: empty)")
    String cluster = "";

    @Option(names = "--peer-type", defaultValue = "CLUSTER", description = "peer type advertised (default: ${DEFAULT-VALUE})")
    String peerType;

    @Option(names = "--pfs-type", defaultValue = "NONE", description = "PFS type advertised (default: ${DEFAULT-VALUE})")
    String pfsType;

    @Option(names = "--pfs-clid", description = "pfs_clid advertised (default: nil)")
    UUID pfsClid;

    @Option(names = "--pfs-fsid", description = "pfs_fsid advertised (default: random, made once and kept in the data dir)")
    UUID pfsFsid;

    @Option(names = "--connect", paramLabel = "HOST:PORT", converter = HostPort.Converter.class, split = ",",
        description = "keep a link to this peer: an enabled span: slot in the VOLCONF table (repeatable)")
    List<HostPort> connect = new ArrayList<>();

    @Option(names = "--top-n", defaultValue = "2", description = "paths relayed per node per link (default: ${DEFAULT-VALUE})")
    int topN;

    @Option(names = "--ping-interval", paramLabel = "DURATION", defaultValue = "1s", converter = Durations.class,
        description = "send LNK_PING after this long without sending (default: ${DEFAULT-VALUE})")
    Duration pingInterval;

    @Option(names = "--dead-timeout", paramLabel = "DURATION", defaultValue = "10s", converter = Durations.class,
        description = "a link is dead after this long without receiving (default: ${DEFAULT-VALUE})")
    Duration deadTimeout;

    @Option(names = "--io-threads", paramLabel = "N", defaultValue = "0",
        description = "event loops for the node's links; 0: half the cores, at least 1 (default: ${DEFAULT-VALUE}; "
            + "docs/BENCHMARKS.md, Circuits)")
    int ioThreads;

    @Option(names = "--legacy", paramLabel = "HOST[:PORT]=ROLE", split = ",",
        description = "a 2013 C peer allowed to speak plaintext (no TLS, no LNK_AUTH), with its role "
            + "(admin, member, client); repeatable. A wildcard address is refused (docs/SECURITY.md)")
    List<String> legacy = new ArrayList<>();

    @Option(names = "--tls-provider", paramLabel = "JDK|OPENSSL|AUTO", defaultValue = "AUTO",
        description = "TLS implementation: the JDK's, BoringSSL (netty-tcnative), or BoringSSL where it loads, "
            + "else the JDK's (default: ${DEFAULT-VALUE}; BoringSSL measured faster, docs/BENCHMARKS.md)")
    TlsConfig.Provider tlsProvider;

    @Option(names = "--handshake-timeout", paramLabel = "DURATION", defaultValue = "10s", converter = Durations.class,
        description = "TLS and LNK_AUTH must complete within this (default: ${DEFAULT-VALUE})")
    Duration handshakeTimeout;

    @Option(names = "--export", paramLabel = "NAME=PATH[,ro][,allow=WHO+…]", converter = ExportConverter.class,
        description = "serve the file or block device at PATH as the BLK export NAME, advertised as LABEL/NAME "
            + "(docs/BLK.md); ro: read-only; blksize=N: the advertised block size (512..65536, default 4096); "
            + "allow=WHO+…: who besides admins may open it, roles (member, client) and node labels (default: "
            + "admins only; docs/IDENTITY.md §5); repeatable. A PATH that does not exist or is empty stops the node "
            + "at start (exit 1)")
    List<Node.Export> exports = new ArrayList<>();

    @Option(names = "--quorum", paramLabel = "NAME=LABEL,LABEL,…", converter = QuorumConverter.class,
        description = "be a member of the quorum group NAME (docs/QUORUM.md §1): its replicated store, kept in "
            + "DATA/quorum/NAME; the labels are the group's initial members, this node among them (used only when the "
            + "group's storage is first made; later membership changes go through 'dmsg quorum add|remove'); "
            + "repeatable. Config file: quorum.NAME=LABEL,LABEL,…")
    List<GroupSpec> quorums = new ArrayList<>();

    @Option(names = "--quorum-snapshot-every", paramLabel = "N", defaultValue = "10000",
        description = "quorum groups: a snapshot every N applied entries, the log purged up to it; a member further "
            + "behind is sent the snapshot (docs/QUORUM.md §2; default: ${DEFAULT-VALUE})")
    int quorumSnapshotEvery;

    // Testing knobs (docs/QUORUM.md §8), hidden: a small segment lets a few hundred entries be
    // purged (Ratis purges whole closed segments only), a short election timeout shortens failover
    // tests; neither is a setting an operator should need.
    @Option(names = "--quorum-segment-bytes", paramLabel = "BYTES", defaultValue = "8388608", hidden = true,
        description = "quorum groups: the size of a Raft log segment (at least 1024; default: ${DEFAULT-VALUE})")
    int quorumSegmentBytes;

    @Option(names = "--quorum-election-timeout", paramLabel = "DURATION", defaultValue = "1s", hidden = true,
        converter = Durations.class,
        description = "quorum groups: elections after DURATION to 2 x DURATION without a leader (default: ${DEFAULT-VALUE})")
    Duration quorumElectionTimeout;

    @Option(names = "--metrics", paramLabel = "HOST:PORT", converter = HostPort.Converter.class,
        description = "serve Prometheus metrics on http://HOST:PORT/metrics, with /healthz and /readyz "
            + "(docs/OPERATIONS.md \"Metrics and health\"); a loopback address unless --metrics-public (default: off)")
    HostPort metrics;

    @Option(names = "--metrics-public",
        description = "allow --metrics on an address that is not loopback: the listener has no authentication, "
            + "so firewall it or put an authenticating proxy in front")
    boolean metricsPublic;

    @Option(names = "--http", paramLabel = "HOST:PORT", converter = HostPort.Converter.class,
        description = "serve a read-only status page on http://HOST:PORT/: the mesh as a graph, live "
            + "(docs/STATUS-PAGE.md); on an address that is not loopback, HTTPS only, to clients whose key this "
            + "node trusts to read (default: off)")
    HostPort http;

    @Option(names = "--log-frames", description = "log every frame sent and received (DEBUG)")
    boolean logFrames;

    @Option(names = "--log-level", paramLabel = "LEVEL", defaultValue = "${env:DMSG_LOG_LEVEL:-INFO}",
        description = "trace, debug, info, warn or error; a tool's link to this node (dmsg status, kv, …) is logged "
            + "at debug (default: ${DEFAULT-VALUE}, from DMSG_LOG_LEVEL if set)")
    Logging.LogLevel logLevel;

    @Option(names = "--log-format", paramLabel = "text|json", defaultValue = "${env:DMSG_LOG_FORMAT:-TEXT}",
        description = "text lines with ISO-8601 dates, or one JSON object per line (default: ${DEFAULT-VALUE}, "
            + "from DMSG_LOG_FORMAT if set)")
    Logging.LogFormat logFormat;

    @Option(names = "--join", paramLabel = "TOKEN@HOST:PORT",
        description = "join a cluster first: make this node's key, redeem the token (dmsg ca token) at HOST:PORT for a "
            + "certificate and the CA's, and keep a link to HOST:PORT (a span: slot). Run again with the same option, "
            + "it sees it has joined and does not use the token again (docs/IDENTITY.md §2.6)")
    String join;

    @Option(names = "--new-cluster", paramLabel = "NAME",
        description = "the first node of a new cluster, in one command: makes the cluster CA (its root in DATA/ca-root, "
            + "online: for production keep the root offline with 'dmsg ca init'), makes this node its issuer and signs "
            + "its key; with --tokens, prints that many join tokens. Run again, it finds the cluster made "
            + "(docs/IDENTITY.md §2.7)")
    String newCluster;

    @Option(names = "--tokens", paramLabel = "N", defaultValue = "0",
        description = "with --new-cluster: one-use join tokens to print (role member, valid 1 h; default: ${DEFAULT-VALUE})")
    int tokens;

    /** {@code NAME=LABEL,LABEL,…}: the commas belong to the group, so the option is never split on them. */
    static final class QuorumConverter implements CommandLine.ITypeConverter<GroupSpec> {
        @Override
        public GroupSpec convert(String value) {
            try {
                return GroupSpec.parse(value);
            } catch (IllegalArgumentException e) {
                throw new CommandLine.TypeConversionException(e.getMessage());
            }
        }
    }

    /** {@code NAME=PATH[,ro][,blksize=N]}; commas belong to the export, so the option is never split on them. */
    static final class ExportConverter implements CommandLine.ITypeConverter<Node.Export> {
        @Override
        public Node.Export convert(String value) {
            try {
                return ExportSpec.parse(value);
            } catch (IllegalArgumentException e) {
                throw new CommandLine.TypeConversionException(e.getMessage());
            }
        }
    }

    private final CountDownLatch stopped = new CountDownLatch(1);

    @Override
    public Integer call() throws Exception {
        try {
            applyConfigFile();
        } catch (IOException | IllegalArgumentException e) {
            log.error("config {}: {}", config, e.getMessage());
            return 2;
        }
        Logging.format(logFormat);
        Logging.level(logLevel);
        String name = label != null ? label : HostName.label();
        if (logFrames) {
            Logging.setLevel("dev.dmsg.link", "DEBUG");
        }
        if (join != null && newCluster != null) {
            log.error("--join and --new-cluster: a node joins a cluster or starts one, not both");
            return 2;
        }
        if (tokens < 0 || tokens > 1000 || (tokens > 0 && newCluster == null)) {
            log.error("--tokens N: 0..1000, with --new-cluster");
            return 2;
        }
        Path dir = dataDir != null ? dataDir : DataDirOption.defaultDir(name);
        DataDirLock lock;
        try {
            lock = DataDirLock.acquire(dir);
        } catch (IOException e) {
            log.error("{}", e.getMessage());
            return 1;
        }
        boolean running = false;
        try {
            running = run(dir, name, lock);
            return running ? 0 : exitStatus;
        } finally {
            if (!running) {
                lock.close();
            }
        }
    }

    /** Set by {@link #run} when it returns false: the status {@link #call} exits with. */
    private int exitStatus;

    /**
     * Starts the node holding {@code lock}; true once it has run and stopped (the shutdown hook
     * released the lock), false with {@link #exitStatus} set if it did not start.
     */
    private boolean run(Path dir, String name, DataDirLock lock) throws Exception {
        if (join != null) {
            try {
                connect.add(Joining.join(join, dir, name));
            } catch (IOException | IllegalArgumentException | CommandLine.TypeConversionException e) {
                log.error("{}", e.getMessage());
                exitStatus = 1;
                return false;
            }
        }
        List<String> joinTokens = List.of();
        if (newCluster != null) {
            try {
                joinTokens = NewCluster.make(newCluster, dir, name, tokens);
            } catch (IOException | IllegalArgumentException e) {
                log.error("--new-cluster {}: {}", newCluster, e.getMessage());
                exitStatus = 1;
                return false;
            }
        }
        Node node = null;
        try {
            node = Node.start(settings(dir, name));
            for (HostPort peer : connect) {
                ensureSlot(node.volconf(), peer);
            }
            for (String t : joinTokens) { // where this node listens, now that it does
                System.out.println("dmsg node --join " + t + "@" + node.address().getHostString() + ":"
                    + node.address().getPort() + " --label NAME");
            }
            System.out.flush();
        } catch (IOException | IllegalArgumentException e) {
            log.error("{}", e.getMessage());
            if (node != null) {
                node.close(); // it must not outlive the lock released on return
            }
            exitStatus = 1;
            return false;
        }
        Node running = node;
        MetricsServer metricsServer = null;
        if (metrics != null) {
            try {
                metricsServer = MetricsServer.start(running, metrics.host(), metrics.port(),
                    MetricsServer.Options.defaults().withAllowNonLoopback(metricsPublic));
            } catch (IOException e) {
                log.error("{}", e.getMessage());
                running.close(); // it must not outlive the lock released on return
                exitStatus = 1;
                return false;
            }
        }
        StatusPageServer pageServer = null;
        if (http != null) {
            try {
                pageServer = StatusPageServer.start(running, http.host(), http.port(), StatusPageServer.defaults());
            } catch (IOException e) {
                log.error("{}", e.getMessage());
                if (metricsServer != null) {
                    metricsServer.close();
                }
                running.close(); // it must not outlive the lock released on return
                exitStatus = 1;
                return false;
            }
        }
        MetricsServer served = metricsServer;
        StatusPageServer page = pageServer;
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            log.info("stopping: withdrawing spans, closing {} link(s)", running.endpoint().links().size());
            if (served != null) {
                served.close();
            }
            if (page != null) {
                page.close();
            }
            running.close();
            log.info("stopped");
            try {
                lock.close();
            } catch (IOException e) {
                log.warn("{}: {}", DataDirLock.FILE, e.getMessage()); // the lock goes with the process anyway
            }
            stopped.countDown();
        }, "shutdown"));
        stopped.await();
        return true;
    }

    /**
     * The node's settings from the options, as given on the command line or, where not, in the
     * --config file ({@link #applyConfigFile}): the one place where options become settings.
     *
     * @throws IOException if the pfs_fsid kept in {@code dir} cannot be read or made
     * @throws IllegalArgumentException for a bad peer or PFS type, legacy peer or export
     */
    Node.Settings settings(Path dir, String name) throws IOException {
        UUID fsid = pfsFsid != null ? pfsFsid : Identity.fsid(dir);
        Node.Identity id = new Node.Identity(name, PeerType.parse(peerType), PfsType.parse(pfsType), cluster,
            pfsClid != null ? pfsClid : new UUID(0, 0), fsid);
        return Node.Settings.builder(listen.host(), listen.port(), dir, id)
            .mesh(MeshConfig.defaults().withTopN(topN))
            .pingInterval(pingInterval).deadTimeout(deadTimeout).logFrames(logFrames).ioThreads(ioThreads)
            .security(new Security(true, tlsProvider, handshakeTimeout,
                legacy.stream().map(Security.LegacyPeer::parse).toList()))
            .exports(exports)
            .quorums(quorums)
            .quorumRaft(RaftHost.Settings.defaults()
                .withElectionTimeouts(quorumElectionTimeout, quorumElectionTimeout.multipliedBy(2))
                .withSnapshots(quorumSnapshotEvery, quorumSegmentBytes))
            .build();
    }

    /** An enabled {@code span:HOST:PORT} slot for {@code peer}: the one already there, or the first free. */
    static void ensureSlot(VolconfTable t, HostPort peer) throws IOException {
        String path = "span:" + peer;
        List<VolData> slots = t.slots();
        for (int i = 0; i < slots.size(); i++) {
            if (slots.get(i).path().equals(path)) {
                if (!VolconfTable.enabled(slots.get(i))) {
                    t.set(i, enabledSlot(i, path));
                }
                return;
            }
        }
        int i = t.firstFree();
        if (i < 0) {
            throw new IOException("VOLCONF table full: cannot add " + path);
        }
        t.set(i, enabledSlot(i, path));
    }

    static VolData enabledSlot(int index, String path) {
        if (SpanDialer.Target.parse(path) == null) {
            throw new IllegalArgumentException("not a span:HOST[:PORT] path: " + path);
        }
        return new VolData(index, 0, 0, 0, Dmsg.VOLF_ENABLED, 0, 0, 0, new UUID(0, 0), "", path);
    }

    /** Options not given on the command line take their value from the --config file. */
    private void applyConfigFile() throws IOException {
        if (config == null) {
            return;
        }
        Properties p = new Properties();
        try (InputStream in = Files.newInputStream(config)) {
            p.load(in);
        }
        CommandLine.ParseResult parsed = spec.commandLine().getParseResult();
        boolean quorumsGiven = parsed.hasMatchedOption("--quorum");
        for (String key : p.stringPropertyNames()) {
            if (key.startsWith("quorum.")) { // quorum.NAME=alpha,beta,gamma
                if (!quorumsGiven) {
                    quorums.add(GroupSpec.of(key.substring("quorum.".length()), p.getProperty(key)));
                }
                continue;
            }
            CommandLine.Model.OptionSpec o = spec.findOption("--" + key);
            if (o == null || key.equals("config")) {
                throw new IllegalArgumentException("unknown key '" + key + "' (options: "
                    + spec.options().stream().map(x -> x.longestName().substring(2)).toList() + ")");
            }
            if (!parsed.hasMatchedOption(o)) {
                String v = p.getProperty(key).trim();
                if (key.equals("export")) {
                    exports.addAll(ExportSpec.parseList(v)); // "a=/x,ro,b=/y": options stay with their export
                } else if (o.typeInfo().isMultiValue()) {
                    for (String part : v.split(",")) {
                        Object x;
                        try {
                            x = o.converters().length > 0 ? o.converters()[0].convert(part.trim()) : part.trim();
                        } catch (Exception e) {
                            throw new IllegalArgumentException(key + "=" + v + ": " + e.getMessage());
                        }
                        ((List<Object>) o.getValue()).add(x);
                    }
                } else if (o.arity().max() == 0) {
                    o.setValue(Boolean.parseBoolean(v));
                } else {
                    o.setValue(convert(o, v));
                }
            }
        }
    }

    private static Object convert(CommandLine.Model.OptionSpec o, String v) {
        Class<?> t = o.type();
        try {
            if (o.converters().length > 0) {
                return o.converters()[0].convert(v);
            }
            if (t == int.class || t == Integer.class) return Integer.parseInt(v);
            if (t == Path.class) return Path.of(v);
            if (t == UUID.class) return UUID.fromString(v);
            if (t.isEnum()) {
                @SuppressWarnings({"unchecked", "rawtypes"})
                Object e = Enum.valueOf((Class) t, v.toUpperCase(Locale.ROOT));
                return e;
            }
            return v;
        } catch (Exception e) {
            throw new IllegalArgumentException(o.longestName().substring(2) + "=" + v + ": " + e.getMessage());
        }
    }

    /**
     * {@code --new-cluster NAME [--tokens N]}: the quick start of docs/IDENTITY.md §2.7 — what
     * {@code dmsg ca init}, {@code ca issuer} and {@code ca token} do, with the root kept in the
     * node's own data directory.
     */
    static final class NewCluster {
        static final String ROOT_DIR = "ca-root";

        /** Makes the cluster unless it is made; returns the new join tokens (none if it was made already). */
        static List<String> make(String cluster, Path dir, String label, int tokens) throws IOException {
            Path root = dir.resolve(ROOT_DIR);
            Clock clock = Clock.systemUTC();
            if (Files.exists(root.resolve(ClusterCa.KEY_FILE))) {
                ClusterCa ca = ClusterCa.load(root, clock);
                if (!ca.name().equals(cluster)) {
                    throw new IllegalArgumentException("this node's data directory holds cluster '" + ca.name() + "'");
                }
                log.info("cluster '{}' ({}) made already in {}; more join tokens: dmsg ca token --data-dir {}", cluster,
                    ca.fingerprint(), root, dir);
                return List.of();
            }
            ClusterCa ca = ClusterCa.init(root, cluster, Duration.ofDays(3650), clock);
            NodeKeys k = ca.signNode(dir, label, Role.MEMBER, 0,
                CertProfile.NODE_VALIDITY);
            ca.installIssuer(dir, k.label(), Role.MEMBER, 0, Duration.ofDays(365));
            log.info("made cluster '{}' ({}): its root in {} (online; revoke with dmsg ca revoke --ca-dir {}), this node "
                + "its issuer", cluster, ca.fingerprint(), root, root);
            List<String> out = new ArrayList<>();
            if (tokens > 0) {
                try (CaIssuer issuer = CaIssuer.open(dir, clock, () -> null,
                        Set.of(), LogLimiter.perMinute())) {
                    for (JoinToken t : issuer.createTokens(Role.MEMBER, 0,
                            Duration.ofHours(1), tokens)) {
                        out.add(t.format());
                    }
                }
            }
            return out;
        }
    }

    /** {@code --join TOKEN@HOST:PORT} (docs/IDENTITY.md §2.6). */
    static final class Joining {
        /** Joins unless the data directory has joined that cluster already; returns HOST:PORT to keep a link to. */
        static HostPort join(String spec, Path dir, String label) throws IOException {
            int at = spec.lastIndexOf('@');
            if (at <= 0) {
                throw new IllegalArgumentException("--join: expected TOKEN@HOST:PORT");
            }
            JoinToken token = JoinToken.parse(spec.substring(0, at));
            HostPort hp = HostPort.parse(spec.substring(at + 1));
            if (JoinClient.joined(dir, token)) {
                log.info("joined the cluster of {} already ({}): not using {} again", token.caFingerprint(), dir, token);
                return hp;
            }
            JoinClient.Result r = JoinClient.joinAndInstall(dir, label, token,
                hp.host(), hp.port(), Duration.ofSeconds(15));
            log.info("joined cluster '{}' ({}) as {} ({}) through {} ({}) in {} ms; certificate until {}",
                NodeKeys.commonNameOrEmpty(r.root()), token.caFingerprint(), r.keys().label(),
                r.claim().describe(), hp, r.listener() == null ? "?" : r.listener().name(), r.tookNanos() / 1_000_000,
                r.keys().certificate().getNotAfter().toInstant());
            return hp;
        }
    }

    /** The node's pfs_fsid: made once, kept in {@code DIR/identity}. */
    static final class Identity {
        static UUID fsid(Path dir) throws IOException {
            Path f = dir.resolve("identity");
            if (Files.exists(f)) {
                try {
                    return UUID.fromString(Files.readString(f).trim());
                } catch (IllegalArgumentException e) {
                    throw new IOException(f + ": not a UUID: " + e.getMessage());
                }
            }
            Files.createDirectories(dir);
            UUID u = UUID.randomUUID();
            Files.writeString(f, u + "\n");
            return u;
        }
    }
}
