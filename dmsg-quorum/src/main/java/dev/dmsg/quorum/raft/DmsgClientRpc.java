package dev.dmsg.quorum.raft;

import java.io.IOException;
import java.util.Collection;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.apache.ratis.client.RaftClientConfigKeys;
import org.apache.ratis.client.RaftClientRpc;
import org.apache.ratis.client.impl.ClientProtoUtils;
import org.apache.ratis.conf.RaftProperties;
import org.apache.ratis.proto.netty.NettyProtos.RaftNettyServerReplyProto;
import org.apache.ratis.proto.netty.NettyProtos.RaftNettyServerRequestProto;
import org.apache.ratis.protocol.GroupInfoRequest;
import org.apache.ratis.protocol.GroupListRequest;
import org.apache.ratis.protocol.GroupManagementRequest;
import org.apache.ratis.protocol.LeaderElectionManagementRequest;
import org.apache.ratis.protocol.RaftClientReply;
import org.apache.ratis.protocol.RaftClientRequest;
import org.apache.ratis.protocol.RaftPeer;
import org.apache.ratis.protocol.SetConfigurationRequest;
import org.apache.ratis.protocol.SnapshotManagementRequest;
import org.apache.ratis.protocol.TransferLeadershipRequest;

/**
 * Ratis's client RPC over a {@link RaftTransport} (docs/QUORUM.md §5): a member's client requests
 * (writes and reads forwarded to the leader, configuration changes, group info, leadership
 * transfer, snapshots) in the same envelope as NettyClientRpc sends them, to the server the
 * request names. The wait is bounded by the client's request timeout plus the request's own
 * (a watch or a read may legitimately wait that long at the server).
 */
final class DmsgClientRpc implements RaftClientRpc {
    private final RaftWiring wiring;
    private final long timeoutMs;

    DmsgClientRpc(RaftWiring wiring, RaftProperties properties) {
        this.wiring = wiring;
        this.timeoutMs = RaftClientConfigKeys.Rpc.requestTimeout(properties).toLong(TimeUnit.MILLISECONDS);
    }

    /**
     * As Ratis's gRPC client does: a reply saying "not the leader" or "leader not ready" fails the
     * future with that exception, which is what makes the asynchronous client retry at the
     * suggested leader (OrderedAsync only retries on an exception; a reply is final).
     */
    @Override
    public CompletableFuture<RaftClientReply> sendRequestAsync(RaftClientRequest request) {
        return send(request).thenCompose(r -> {
            if (r.getNotLeaderException() != null) {
                return CompletableFuture.failedFuture(r.getNotLeaderException());
            }
            if (r.getLeaderNotReadyException() != null) {
                return CompletableFuture.failedFuture(r.getLeaderNotReadyException());
            }
            return CompletableFuture.completedFuture(r);
        });
    }

    private CompletableFuture<RaftClientReply> send(RaftClientRequest request) {
        return RaftCalls.call(wiring, request.getRaftGroupId(), request.getServerId(),
                RaftEnvelope.request(envelope(request)), timeoutMs + Math.max(0, request.getTimeoutMs()))
            .thenCompose(b -> RaftCalls.decode(b, RaftEnvelope::parseReply))
            .thenApply(r -> reply(request, r));
    }

    @Override
    public CompletableFuture<RaftClientReply> sendRequestAsyncUnordered(RaftClientRequest request) {
        return sendRequestAsync(request);
    }

    @Override
    public RaftClientReply sendRequest(RaftClientRequest request) throws IOException {
        // the blocking client reads leader exceptions from the reply
        return RaftCalls.await(send(request), timeoutMs + Math.max(0, request.getTimeoutMs()));
    }

    /** Servers are reached by label through the transport: nothing to set up per peer. */
    @Override
    public void addRaftPeers(Collection<RaftPeer> servers) {
    }

    /** The transport is the node's, shared: closing a client leaves it alone. */
    @Override
    public void close() {
    }

    private static RaftClientReply reply(RaftClientRequest request, RaftNettyServerReplyProto r) {
        if (request instanceof GroupListRequest) {
            return ClientProtoUtils.toGroupListReply(r.getGroupListReply());
        } else if (request instanceof GroupInfoRequest) {
            return ClientProtoUtils.toGroupInfoReply(r.getGroupInfoReply());
        }
        return ClientProtoUtils.toRaftClientReply(r.getRaftClientReply());
    }

    /** As NettyClientRpc.buildRequestProto. */
    static RaftNettyServerRequestProto envelope(RaftClientRequest request) {
        RaftNettyServerRequestProto.Builder b = RaftNettyServerRequestProto.newBuilder();
        if (request instanceof GroupManagementRequest g) {
            b.setGroupManagementRequest(ClientProtoUtils.toGroupManagementRequestProto(g));
        } else if (request instanceof SetConfigurationRequest s) {
            b.setSetConfigurationRequest(ClientProtoUtils.toSetConfigurationRequestProto(s));
        } else if (request instanceof GroupListRequest g) {
            b.setGroupListRequest(ClientProtoUtils.toGroupListRequestProto(g));
        } else if (request instanceof GroupInfoRequest g) {
            b.setGroupInfoRequest(ClientProtoUtils.toGroupInfoRequestProto(g));
        } else if (request instanceof TransferLeadershipRequest t) {
            b.setTransferLeadershipRequest(ClientProtoUtils.toTransferLeadershipRequestProto(t));
        } else if (request instanceof SnapshotManagementRequest s) {
            b.setSnapshotManagementRequest(ClientProtoUtils.toSnapshotManagementRequestProto(s));
        } else if (request instanceof LeaderElectionManagementRequest l) {
            b.setLeaderElectionManagementRequest(ClientProtoUtils.toLeaderElectionManagementRequestProto(l));
        } else {
            b.setRaftClientRequest(ClientProtoUtils.toRaftClientRequestProto(request));
        }
        return b.build();
    }
}
