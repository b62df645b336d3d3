package dev.dmsg.quorum.raft;

import dev.dmsg.link.LogLimiter;
import dev.dmsg.link.tls.Role;
import java.io.IOException;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.ratis.proto.RaftProtos.RaftPeerRole;
import org.apache.ratis.proto.RaftProtos.RaftRpcRequestProto;
import org.apache.ratis.proto.netty.NettyProtos.RaftNettyServerRequestProto.RaftNettyServerRequestCase;
import org.apache.ratis.protocol.RaftGroupId;
import org.apache.ratis.protocol.RaftPeerId;
import org.apache.ratis.server.RaftConfiguration;
import org.apache.ratis.server.RaftServer;
import org.apache.ratis.util.ProtoUtils;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Who may talk Raft to this node (docs/QUORUM.md §5), checked on every received request before
 * Ratis sees it. The originator is the one the transport authenticated; the request must
 * <ul>
 *   <li>come from an {@code admin} or {@code member} (a client-role node cannot vote, append, or
 *       pretend to be a leader);</li>
 *   <li>be for the group its header names (the Raft group id inside = the name's id);</li>
 *   <li>if it is server-to-server traffic, carry the originator's own label as its requestor id
 *       (no member can speak for another); a client request carries a random client id, so for
 *       it only the originator counts;</li>
 *   <li>come from a peer of the group's configuration as this node knows it (current or, during
 *       a change, the old one; listeners included) — for a group this node does not serve (yet)
 *       Ratis itself answers GroupMismatch, which is nobody's fault and not counted;</li>
 *   <li>not be group management: which groups a node serves is its own configuration, never a
 *       peer's request.</li>
 * </ul>
 * A refusal is counted and logged (rate-limited) and answered as an IOException reply.
 */
final class RaftGate {
    private static final Logger log = LoggerFactory.getLogger(RaftGate.class);

    private final RaftServer server;
    private final AtomicLong refused;
    private final LogLimiter logLimit = LogLimiter.perMinute();

    RaftGate(RaftServer server, AtomicLong refused) {
        this.server = server;
        this.refused = refused;
    }

    /** Why {@code request} from {@code origin} is refused, or {@code null} if it may go to Ratis. */
    String check(String groupName, RaftOrigin origin, RaftEnvelope.Request request) {
        if (origin.role() != Role.ADMIN && origin.role() != Role.MEMBER) {
            return origin + " may not take part in a quorum group: Raft traffic needs the admin or member role";
        }
        RaftRpcRequestProto rpc = request.rpc();
        RaftGroupId expected = QuorumIds.groupId(groupName);
        RaftGroupId inside = rpc.hasRaftGroupId() ? ProtoUtils.toRaftGroupId(rpc.getRaftGroupId()) : null;
        if (!expected.equals(inside)) {
            return "the request is for Raft group " + inside + ", not " + expected + " (group '" + groupName + "')";
        }
        if (request.netty() != null && request.netty().getRaftNettyServerRequestCase()
            == RaftNettyServerRequestCase.GROUPMANAGEMENTREQUEST) {
            return "group management is not served to peers (a node's groups are its own configuration)";
        }
        if (request.serverRpc()) {
            String requestor = rpc.getRequestorId().toStringUtf8();
            if (!requestor.equals(origin.label())) {
                return "requestor id '" + requestor + "' is not the originator " + origin;
            }
        }
        RaftConfiguration conf;
        try {
            conf = server.getDivision(expected).getRaftConf();
        } catch (IOException e) {
            return null; // not (yet) serving it: Ratis answers that itself, and it is no one's fault
        }
        if (conf.getPeer(RaftPeerId.valueOf(origin.label()), RaftPeerRole.FOLLOWER, RaftPeerRole.LISTENER) == null) {
            return origin + " is not a member of group '" + groupName + "'";
        }
        return null;
    }

    /** Counts and logs a refusal; returns the exception to answer with. */
    IOException refuse(String groupName, RaftOrigin origin, String kind, String why) {
        refused.incrementAndGet();
        String more = logLimit.admit();
        if (more != null) {
            log.warn("{}: refused {} for group '{}' from {}: {}{}", server.getId(), kind, groupName, origin, why, more);
        }
        return new IOException("refused by " + server.getId() + ": " + why);
    }
}
