package dev.dmsg.services.node;

import dev.dmsg.mesh.MeshConfig;
import dev.dmsg.quorum.GroupSpec;
import dev.dmsg.quorum.raft.RaftHost;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;

/**
 * Builds {@link Node.Settings}: where the node listens, where it keeps its data and who it is are
 * given; everything else starts at the defaults of {@code dmsg node} (docs/OPERATIONS.md) and is
 * changed by name. {@link #build} checks the whole ({@link Node.Settings}'s constructor).
 */
public final class SettingsBuilder {
    private String listenHost;
    private int listenPort;
    private Path dataDir;
    private Node.Identity identity;
    private MeshConfig mesh = MeshConfig.defaults();
    private Duration pingInterval = Duration.ofSeconds(1);
    private Duration deadTimeout = Duration.ofSeconds(10);
    private boolean logFrames;
    private int ioThreads;
    private Security security = Security.defaults();
    private List<Node.Export> exports = List.of();
    private List<GroupSpec> quorums = List.of();
    private RaftHost.Settings quorumRaft = RaftHost.Settings.defaults();

    SettingsBuilder(String listenHost, int listenPort, Path dataDir, Node.Identity identity) {
        this.listenHost = listenHost;
        this.listenPort = listenPort;
        this.dataDir = dataDir;
        this.identity = identity;
    }

    SettingsBuilder(Node.Settings s) {
        this(s.listenHost(), s.listenPort(), s.dataDir(), s.identity());
        mesh = s.mesh();
        pingInterval = s.pingInterval();
        deadTimeout = s.deadTimeout();
        logFrames = s.logFrames();
        ioThreads = s.ioThreads();
        security = s.security();
        exports = s.exports();
        quorums = s.quorums();
        quorumRaft = s.quorumRaft();
    }

    public SettingsBuilder listen(String host, int port) {
        this.listenHost = host;
        this.listenPort = port;
        return this;
    }

    public SettingsBuilder dataDir(Path dir) {
        this.dataDir = dir;
        return this;
    }

    public SettingsBuilder identity(Node.Identity id) {
        this.identity = id;
        return this;
    }

    /** The span engine's tuning (docs/MESH.md); default {@link MeshConfig#defaults()}. */
    public SettingsBuilder mesh(MeshConfig m) {
        this.mesh = m;
        return this;
    }

    /** LNK_PING after this long without sending; default 1 s. */
    public SettingsBuilder pingInterval(Duration d) {
        this.pingInterval = d;
        return this;
    }

    /** A link is dead after this long without receiving; default 10 s. */
    public SettingsBuilder deadTimeout(Duration d) {
        this.deadTimeout = d;
        return this;
    }

    /** Log every frame (DEBUG); default off. */
    public SettingsBuilder logFrames(boolean on) {
        this.logFrames = on;
        return this;
    }

    /** Event loops for the links; 0 (the default): {@link Node.Settings#autoIoThreads()}. */
    public SettingsBuilder ioThreads(int n) {
        this.ioThreads = n;
        return this;
    }

    /** How links are secured (docs/SECURITY.md); default {@link Security#defaults()}. */
    public SettingsBuilder security(Security s) {
        this.security = s;
        return this;
    }

    /** The BLK exports (docs/BLK.md); default none. */
    public SettingsBuilder exports(List<Node.Export> e) {
        this.exports = e;
        return this;
    }

    /** The quorum groups this node is a member of (docs/QUORUM.md §1); default none. */
    public SettingsBuilder quorums(List<GroupSpec> q) {
        this.quorums = q;
        return this;
    }

    /**
     * The Raft settings of this node's quorum groups: election timeouts, snapshot threshold, log
     * segment size (docs/QUORUM.md §2, §5); default {@link RaftHost.Settings#defaults()}.
     */
    public SettingsBuilder quorumRaft(RaftHost.Settings r) {
        this.quorumRaft = r;
        return this;
    }

    /**
     * The quorum groups, copied: each name once, and each naming this node ({@code label}) among
     * its initial members, or the node would serve a group it can never join by itself.
     */
    static List<GroupSpec> checkQuorums(String label, List<GroupSpec> quorums) {
        List<GroupSpec> copy = quorums == null ? List.of() : List.copyOf(quorums);
        Set<String> names = new HashSet<>();
        for (GroupSpec g : copy) {
            if (!names.add(g.name())) {
                throw new IllegalArgumentException("quorum group '" + g.name() + "' given twice");
            }
            if (!g.hasMember(label)) {
                throw new IllegalArgumentException("quorum " + g + ": this node ('" + label
                    + "') is not in the list; a node joining a group lists the members and itself (docs/QUORUM.md §1)");
            }
        }
        return copy;
    }

    /**
     * Checks the settings ({@link Node.Settings}'s constructor): ioThreads not negative, a
     * security, export names unique.
     *
     * @return the exports, copied
     */
    static List<Node.Export> check(int ioThreads, Security security, List<Node.Export> exports) {
        if (ioThreads < 0) {
            throw new IllegalArgumentException("ioThreads must be >= 0, not " + ioThreads);
        }
        Objects.requireNonNull(security, "security");
        List<Node.Export> copy = exports == null ? List.of() : List.copyOf(exports);
        Set<String> names = new HashSet<>();
        for (Node.Export e : copy) {
            if (!names.add(e.name())) {
                throw new IllegalArgumentException("export '" + e.name() + "' given twice");
            }
        }
        return copy;
    }

    /** @throws IllegalArgumentException as {@link Node.Settings} does (negative ioThreads, an export twice) */
    public Node.Settings build() {
        return new Node.Settings(listenHost, listenPort, dataDir, identity, mesh, pingInterval, deadTimeout,
            logFrames, ioThreads, security, exports, quorums, quorumRaft);
    }
}
