package dev.dmsg.quorum.raft;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import java.util.stream.Stream;
import org.apache.ratis.client.RaftClient;
import org.apache.ratis.conf.Parameters;
import org.apache.ratis.conf.RaftProperties;
import org.apache.ratis.protocol.ClientId;
import org.apache.ratis.protocol.GroupManagementRequest;
import org.apache.ratis.protocol.RaftClientReply;
import org.apache.ratis.protocol.RaftGroup;
import org.apache.ratis.protocol.RaftGroupId;
import org.apache.ratis.protocol.RaftPeer;
import org.apache.ratis.protocol.RaftPeerId;
import org.apache.ratis.retry.RetryPolicies;
import org.apache.ratis.server.RaftServer;
import org.apache.ratis.server.RaftServerConfigKeys;
import org.apache.ratis.server.leader.FollowerInfo;
import org.apache.ratis.statemachine.SnapshotInfo;
import org.apache.ratis.statemachine.StateMachine;
import org.apache.ratis.util.SizeInBytes;
import org.apache.ratis.util.TimeDuration;

/**
 * This node's part in its quorum groups (docs/QUORUM.md §1, §5): one Ratis {@link RaftServer}
 * whose peer id is the node's label, speaking our RPC ({@link DmsgRpcType}) over the given
 * {@link RaftTransport}, with one division per group. What the node service calls: start it with
 * the groups, get a {@link RaftClient} per group (a member forwarding to the leader, reads,
 * configuration changes), read a group's {@link GroupStatus}, close it.
 *
 * <p>Storage: Ratis's layout under the given directory — one subdirectory per group, named by the
 * group id ({@link QuorumIds#groupId}), holding the log, the metadata and the state machine's
 * {@code sm/} snapshots. A group whose directory is new is FORMATted with its initial members;
 * one that exists is RECOVERed from it (a restarted member keeps its log, and its membership is
 * what the log says, not the list it was started with).
 *
 * <p>Ratis is configured so that its units fit QRM_RAFT chunks (§5): append-entries batches of at
 * most {@value #APPEND_BYTES} bytes, install-snapshot chunks of {@value #SNAPSHOT_CHUNK_BYTES};
 * reads are linearizable (ReadIndex, §2.1); a snapshot is taken every
 * {@link Settings#snapshotThreshold} applied entries and the log purged up to it.
 */
public final class RaftHost implements AutoCloseable {
    static final int APPEND_BYTES = 256 << 10;
    static final int SNAPSHOT_CHUNK_BYTES = 48 << 10;

    /**
     * One group this node serves: its name, its initial members (used only when its storage is
     * new; a node joining an existing group lists the members and itself), and a maker of its
     * state machine. The state machine keeps its snapshots in Ratis's storage ({@code sm/}), and
     * for install-snapshot to work it must drive its own {@code LifeCycle}: RUNNING after
     * {@code initialize}, PAUSED by {@code pause()}, RUNNING again after {@code reinitialize()}
     * has reloaded the installed snapshot (Ratis checks PAUSED before it reloads).
     */
    public record GroupSpec(String name, List<String> initialMembers, Supplier<? extends StateMachine> stateMachine) {
        public GroupSpec {
            QuorumIds.checkGroupName(name);
            initialMembers = List.copyOf(initialMembers);
            if (initialMembers.isEmpty()) {
                throw new IllegalArgumentException("group '" + name + "': no initial members");
            }
            Objects.requireNonNull(stateMachine, "stateMachine");
        }
    }

    /**
     * Timing and sizes.
     *
     * @param electionTimeoutMin a follower that hears nothing from a leader for a random time
     *     between min and max starts an election; the leader's heartbeat is min/2
     * @param requestTimeout how long one Raft RPC may wait for its answer
     * @param snapshotThreshold applied entries between automatic snapshots
     * @param segmentBytes a log segment's size; the log is purged by whole closed segments, so
     *     this bounds what a snapshot leaves behind
     */
    public record Settings(Duration electionTimeoutMin, Duration electionTimeoutMax, Duration requestTimeout,
                           long snapshotThreshold, long segmentBytes) {
        public Settings {
            if (electionTimeoutMin.isNegative() || electionTimeoutMin.isZero()
                || electionTimeoutMax.compareTo(electionTimeoutMin) <= 0) {
                throw new IllegalArgumentException("election timeouts must be 0 < min < max, not " + electionTimeoutMin
                    + ", " + electionTimeoutMax);
            }
            if (snapshotThreshold < 1 || segmentBytes < 1024) {
                throw new IllegalArgumentException("snapshotThreshold " + snapshotThreshold + " must be >= 1 and segmentBytes "
                    + segmentBytes + " >= 1024");
            }
        }

        /**
         * For a mesh on a LAN: elections after 1–2 s of silence (heartbeats every 500 ms). Ratis's
         * own 150–300 ms assume a direct socket; ours cross relays, TLS and the peers' event
         * loops, where a stall or a GC pause of a few hundred ms must not depose a healthy leader,
         * while a dead one is still replaced in about 2–3 s — well inside the 10 s a client waits
         * for a leader (docs/QUORUM.md §3.2 NOLEADER). Snapshots every 10,000 entries (§2).
         */
        public static Settings defaults() {
            return new Settings(Duration.ofSeconds(1), Duration.ofSeconds(2), Duration.ofSeconds(3), 10_000, 8L << 20);
        }

        public Settings withElectionTimeouts(Duration min, Duration max) {
            return new Settings(min, max, requestTimeout, snapshotThreshold, segmentBytes);
        }

        public Settings withSnapshots(long threshold, long segment) {
            return new Settings(electionTimeoutMin, electionTimeoutMax, requestTimeout, threshold, segment);
        }
    }

    /**
     * A group as this member sees it (docs/QUORUM.md §7).
     *
     * @param role LEADER, FOLLOWER, CANDIDATE or LISTENER
     * @param leader the leader's label, or {@code null} if none is known
     * @param snapshotIndex the log index of the latest snapshot, or -1
     * @param matchIndex on the leader: each member's match index (its own: its last log index);
     *     elsewhere empty
     */
    public record GroupStatus(String group, String self, String role, String leader, long term, long commitIndex,
                              long appliedIndex, long snapshotIndex, List<String> members, Map<String, Long> matchIndex) {}

    private final String label;
    private final RaftServer server;
    private final RaftWiring wiring;
    private final RaftProperties properties;
    private final Parameters parameters;
    private final Map<String, RaftGroupId> groups;
    private final Map<String, RaftClient> clients = new ConcurrentHashMap<>();
    /** Clients {@link #discardClient} dropped, closed {@link #RETIRED_CLOSE_SECONDS} later or with the host. */
    private final Set<RaftClient> retired = ConcurrentHashMap.newKeySet();
    /** Longer than a request's retries (50 x 200 ms): what is still in a dropped client's window gets its answer. */
    static final long RETIRED_CLOSE_SECONDS = 30;

    private RaftHost(String label, RaftServer server, RaftWiring wiring, RaftProperties properties,
                     Map<String, RaftGroupId> groups) {
        this.label = label;
        this.server = server;
        this.wiring = wiring;
        this.properties = properties;
        this.parameters = wiring.parameters();
        this.groups = groups;
    }

    /**
     * Starts this node's Raft server over {@code transport} with {@code specs}, its storage under
     * {@code storageDir} (created if missing).
     *
     * @throws IOException if the storage cannot be used (it holds a group not in {@code specs}, or
     *     Ratis cannot format or recover it), or a group cannot be started
     * @throws IllegalArgumentException if a group is named twice or does not list this node
     */
    public static RaftHost start(RaftTransport transport, Path storageDir, List<GroupSpec> specs, Settings settings)
        throws IOException {
        String label = transport.label();
        Map<RaftGroupId, GroupSpec> byId = new LinkedHashMap<>();
        Map<String, RaftGroupId> names = new TreeMap<>();
        for (GroupSpec g : specs) {
            if (byId.put(QuorumIds.groupId(g.name()), g) != null) {
                throw new IllegalArgumentException("group '" + g.name() + "' is named twice");
            }
            if (!g.initialMembers().contains(label)) {
                throw new IllegalArgumentException("group '" + g.name() + "': its members " + g.initialMembers()
                    + " do not include this node '" + label + "'");
            }
            names.put(g.name(), QuorumIds.groupId(g.name()));
        }
        Files.createDirectories(storageDir);
        checkStorage(storageDir, byId);
        List<GroupSpec> fresh = specs.stream()
            .filter(g -> !Files.isDirectory(storageDir.resolve(QuorumIds.groupUuid(g.name()).toString()))).toList();
        RaftWiring wiring = new RaftWiring(transport);
        specs.forEach(g -> wiring.name(g.name()));
        RaftProperties p = properties(storageDir, settings);
        RaftServer server = RaftServer.newBuilder()
            .setServerId(RaftPeerId.valueOf(label))
            .setStateMachineRegistry(gid -> byId.get(gid).stateMachine().get())
            .setProperties(p)
            .setParameters(wiring.parameters())
            .build();
        RaftHost host = new RaftHost(label, server, wiring, p, names);
        try {
            server.start();
            for (GroupSpec g : fresh) { // new storage: FORMAT with the initial members; the rest Ratis recovered
                RaftGroup group = RaftGroup.valueOf(QuorumIds.groupId(g.name()), peers(g.initialMembers()));
                RaftClientReply r = server.groupManagement(GroupManagementRequest.newAdd(ClientId.randomId(),
                    server.getId(), 0, group, true));
                if (!r.isSuccess()) {
                    throw new IOException("cannot start quorum group '" + g.name() + "': " + r.getException());
                }
            }
        } catch (IOException | RuntimeException e) {
            host.close();
            throw e;
        }
        return host;
    }

    /** Refuses storage holding a group this node is not configured for: Ratis would recover it with no state machine. */
    private static void checkStorage(Path dir, Map<RaftGroupId, GroupSpec> configured) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            for (Path sub : (Iterable<Path>) s::iterator) {
                UUID id;
                try {
                    id = UUID.fromString(sub.getFileName().toString());
                } catch (IllegalArgumentException e) {
                    continue; // not a group directory: Ratis ignores it too
                }
                if (Files.isDirectory(sub) && !configured.containsKey(RaftGroupId.valueOf(id))) {
                    throw new IOException(sub + " holds Raft group " + id
                        + ", which is none of this node's quorum groups; move it away to drop that group");
                }
            }
        }
    }

    static RaftProperties properties(Path storageDir, Settings s) {
        RaftProperties p = new RaftProperties();
        DmsgRpcType.use(p);
        RaftServerConfigKeys.setStorageDir(p, List.of(storageDir.toFile()));
        // not Ratis's /tmp default: beside the groups (not a group id, so start-up skips it)
        RaftServerConfigKeys.setRemovedGroupsDir(p, storageDir.resolve("removed-groups").toFile());
        RaftServerConfigKeys.Rpc.setTimeoutMin(p, millis(s.electionTimeoutMin()));
        RaftServerConfigKeys.Rpc.setTimeoutMax(p, millis(s.electionTimeoutMax()));
        RaftServerConfigKeys.Rpc.setRequestTimeout(p, millis(s.requestTimeout()));
        RaftServerConfigKeys.Read.setOption(p, RaftServerConfigKeys.Read.Option.LINEARIZABLE);
        RaftServerConfigKeys.Log.Appender.setBufferByteLimit(p, SizeInBytes.valueOf(APPEND_BYTES));
        RaftServerConfigKeys.Log.Appender.setSnapshotChunkSizeMax(p, SizeInBytes.valueOf(SNAPSHOT_CHUNK_BYTES));
        RaftServerConfigKeys.Log.Appender.setInstallSnapshotEnabled(p, true);
        RaftServerConfigKeys.Log.setSegmentSizeMax(p, SizeInBytes.valueOf(s.segmentBytes()));
        RaftServerConfigKeys.Log.setPurgeUptoSnapshotIndex(p, true);
        RaftServerConfigKeys.Log.setPurgeGap(p, (int) Math.min(1024, s.snapshotThreshold()));
        RaftServerConfigKeys.Snapshot.setAutoTriggerEnabled(p, true);
        RaftServerConfigKeys.Snapshot.setAutoTriggerThreshold(p, s.snapshotThreshold());
        RaftServerConfigKeys.Snapshot.setCreationGap(p, Math.min(1024, s.snapshotThreshold()));
        return p;
    }

    private static TimeDuration millis(Duration d) {
        return TimeDuration.valueOf(d.toMillis(), TimeUnit.MILLISECONDS);
    }

    /**
     * Raft peers for {@code labels}, id = address = label (docs/QUORUM.md §1; the transport turns
     * a label into a path): what {@code client(group).admin().setConfiguration(...)} takes.
     */
    public static List<RaftPeer> peers(Collection<String> labels) {
        List<RaftPeer> out = new ArrayList<>();
        for (String l : labels) {
            out.add(RaftPeer.newBuilder().setId(l).setAddress(l).build());
        }
        return out;
    }

    public String label() {
        return label;
    }

    /** The groups this node serves, by name. */
    public List<String> groups() {
        return List.copyOf(groups.keySet());
    }

    /** The Ratis server itself (for what this class does not wrap). */
    public RaftServer server() {
        return server;
    }

    /** This node's division of {@code group}. @throws IOException if it does not serve it */
    public RaftServer.Division division(String group) throws IOException {
        return server.getDivision(id(group));
    }

    /**
     * A client of {@code group} on our RPC, made once and kept until {@link #close}: writes
     * ({@code io().send}), linearizable reads ({@code io().sendReadOnly} — on a follower, through
     * ReadIndex), admin ({@code admin().setConfiguration}, {@code admin().transferLeadership}).
     * Requests go to the leader it learns of; it retries for about 10 s (docs/QUORUM.md §3.2).
     */
    public RaftClient client(String group) throws IOException {
        id(group); // refuses a group this node does not serve before anything is built
        RaftClient c = clients.get(group);
        if (c == null) {
            RaftClient made = clientBuilder(group).build();
            c = clients.putIfAbsent(group, made);
            if (c == null) {
                c = made;
            } else {
                made.close();
            }
        }
        return c;
    }

    /**
     * Drops {@code c} if it is still {@code group}'s client: the next {@link #client} builds a new
     * one. Call it when a request on {@code c} failed. A Ratis client sends its requests through
     * one ordered sliding window, and once a request there fails for good (its retries ran out, or
     * a non-retryable error) every later request on that client fails at once with
     * AlreadyClosedException (Ratis OrderedAsync.failAllAsyncRequests, SlidingWindow.Client.fail):
     * kept, it would shut this member out of its group until restarted. {@code c} is closed a
     * while later, once the requests still in its window have had their answers.
     */
    public void discardClient(String group, RaftClient c) {
        if (clients.remove(group, c)) {
            retired.add(c);
            CompletableFuture.delayedExecutor(RETIRED_CLOSE_SECONDS, TimeUnit.SECONDS).execute(() -> closeRetired(c));
        }
    }

    private void closeRetired(RaftClient c) {
        if (retired.remove(c)) {
            try {
                c.close();
            } catch (IOException e) {
                // a client that failed to close: nothing more to do
            }
        }
    }

    /** A builder for another client of {@code group} on our RPC, to set its own retry policy or leader; the caller closes what it builds. */
    public RaftClient.Builder clientBuilder(String group) throws IOException {
        RaftGroupId gid = id(group);
        Collection<RaftPeer> peers = server.getDivision(gid).getRaftConf().getCurrentPeers();
        return RaftClient.newBuilder()
            .setClientId(ClientId.randomId())
            .setRaftGroup(RaftGroup.valueOf(gid, peers))
            .setProperties(properties)
            .setParameters(parameters)
            .setRetryPolicy(RetryPolicies.retryUpToMaximumCountWithFixedSleep(50,
                TimeDuration.valueOf(200, TimeUnit.MILLISECONDS)));
    }

    /** The status of {@code group} as this member sees it. @throws IOException if it does not serve it */
    public GroupStatus status(String group) throws IOException {
        RaftServer.Division d = division(group);
        var info = d.getInfo();
        RaftPeerId leader = info.getLeaderId();
        SnapshotInfo snap = d.getStateMachine().getLatestSnapshot();
        List<String> members = d.getRaftConf().getCurrentPeers().stream().map(p -> p.getId().toString()).sorted().toList();
        Map<String, Long> match = new TreeMap<>();
        if (info.isLeader()) {
            match.put(label, d.getRaftLog().getLastEntryTermIndex() == null ? -1
                : d.getRaftLog().getLastEntryTermIndex().getIndex());
            Map<RaftPeerId, FollowerInfo> fs = wiring.followers.getOrDefault(id(group), new HashMap<>());
            for (String m : members) {
                FollowerInfo f = fs.get(RaftPeerId.valueOf(m));
                if (f != null && !m.equals(label)) {
                    match.put(m, f.getMatchIndex());
                }
            }
        }
        return new GroupStatus(group, label, info.getCurrentRole().name(), leader == null ? null : leader.toString(),
            info.getCurrentTerm(), d.getRaftLog().getLastCommittedIndex(), info.getLastAppliedIndex(),
            snap == null ? -1 : snap.getIndex(), members, match);
    }

    /**
     * On the leader of {@code group}: for each other member, how long ago it last answered the
     * leader (ms); elsewhere empty. What the lock service uses to treat a silent home's locks as
     * lost (docs/CAC.md §3).
     */
    public Map<String, Long> silence(String group) throws IOException {
        RaftServer.Division d = division(group);
        if (!d.getInfo().isLeader()) {
            return Map.of();
        }
        Map<String, Long> out = new TreeMap<>();
        Map<RaftPeerId, FollowerInfo> fs = wiring.followers.getOrDefault(id(group), new HashMap<>());
        for (var p : d.getRaftConf().getCurrentPeers()) {
            FollowerInfo f = fs.get(p.getId());
            if (f != null && !p.getId().toString().equals(label)) {
                out.put(p.getId().toString(), f.getLastRpcResponseTime().elapsedTimeMs());
            }
        }
        return out;
    }

    /** Raft requests this node refused so far (docs/QUORUM.md §5). */
    public long refusals() {
        return wiring.refused.get();
    }

    private RaftGroupId id(String group) throws IOException {
        RaftGroupId gid = groups.get(group);
        if (gid == null) {
            throw new IOException("this node does not serve quorum group '" + group + "' (it serves " + groups.keySet() + ")");
        }
        return gid;
    }

    /** Closes the clients, then the server (its divisions, their logs, our RPC). The transport stays the caller's. */
    @Override
    public void close() {
        for (RaftClient c : clients.values()) {
            try {
                c.close();
            } catch (IOException e) {
                // closing: nothing more to do about a client that failed to close
            }
        }
        clients.clear();
        new ArrayList<>(retired).forEach(this::closeRetired);
        try {
            server.close();
        } catch (IOException e) {
            throw new IllegalStateException(label + ": closing the Raft server failed: " + e.getMessage(), e);
        }
    }
}
