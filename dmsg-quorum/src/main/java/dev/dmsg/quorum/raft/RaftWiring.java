package dev.dmsg.quorum.raft;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.ratis.conf.Parameters;
import org.apache.ratis.protocol.RaftGroupId;
import org.apache.ratis.protocol.RaftPeerId;
import org.apache.ratis.server.leader.FollowerInfo;

/**
 * What our Ratis RPC needs from the node, handed to Ratis in its {@link Parameters} (as Ratis's
 * own factories take their TLS and channel settings): the transport, the group names behind the
 * group ids (the QRM header carries the name, docs/QUORUM.md §3.2), and where the RPC leaves what
 * the node's status reads (refusals, the leader's view of each follower).
 */
final class RaftWiring {
    static final String KEY = "dev.dmsg.quorum.raft.wiring";

    final RaftTransport transport;
    private final Map<RaftGroupId, String> names = new ConcurrentHashMap<>();
    /** The leader's follower records, by group and follower; written as Ratis makes log appenders. */
    final Map<RaftGroupId, Map<RaftPeerId, FollowerInfo>> followers = new ConcurrentHashMap<>();
    /** Requests this node refused (docs/QUORUM.md §5). */
    final AtomicLong refused = new AtomicLong();

    RaftWiring(RaftTransport transport) {
        this.transport = transport;
    }

    static RaftWiring of(Parameters p) {
        return p.getNonNull(KEY, RaftWiring.class);
    }

    Parameters parameters() {
        Parameters p = new Parameters();
        p.put(KEY, this, RaftWiring.class);
        return p;
    }

    void name(String group) {
        names.put(QuorumIds.groupId(group), group);
    }

    /** The group's name, or {@code null} for an id this node was never told about. */
    String nameOf(RaftGroupId id) {
        return names.get(id);
    }
}
