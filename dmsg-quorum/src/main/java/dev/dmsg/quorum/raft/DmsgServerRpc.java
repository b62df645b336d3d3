package dev.dmsg.quorum.raft;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.Collection;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.ratis.client.impl.ClientProtoUtils;
import org.apache.ratis.proto.RaftProtos.AppendEntriesReplyProto;
import org.apache.ratis.proto.RaftProtos.AppendEntriesRequestProto;
import org.apache.ratis.proto.RaftProtos.InstallSnapshotReplyProto;
import org.apache.ratis.proto.RaftProtos.RaftGroupIdProto;
import org.apache.ratis.proto.RaftProtos.InstallSnapshotRequestProto;
import org.apache.ratis.proto.RaftProtos.ReadIndexReplyProto;
import org.apache.ratis.proto.RaftProtos.ReadIndexRequestProto;
import org.apache.ratis.proto.RaftProtos.RequestVoteReplyProto;
import org.apache.ratis.proto.RaftProtos.RequestVoteRequestProto;
import org.apache.ratis.proto.RaftProtos.StartLeaderElectionReplyProto;
import org.apache.ratis.proto.RaftProtos.StartLeaderElectionRequestProto;
import org.apache.ratis.proto.netty.NettyProtos.RaftNettyServerReplyProto;
import org.apache.ratis.proto.netty.NettyProtos.RaftNettyServerRequestProto;
import org.apache.ratis.protocol.RaftClientReply;
import org.apache.ratis.protocol.RaftPeer;
import org.apache.ratis.protocol.RaftPeerId;
import org.apache.ratis.rpc.RpcType;
import org.apache.ratis.server.RaftServer;
import org.apache.ratis.server.RaftServerConfigKeys;
import org.apache.ratis.server.RaftServerRpc;
import org.apache.ratis.server.protocol.RaftServerAsynchronousProtocol;
import org.apache.ratis.thirdparty.com.google.protobuf.ByteString;
import org.apache.ratis.util.ProtoUtils;

/**
 * Ratis's server RPC over a {@link RaftTransport} (docs/QUORUM.md §5): what NettyRpcService does,
 * with a transport in place of its sockets. Outbound, each server request (vote, append, snapshot,
 * election, read index) is wrapped in the envelope ({@link RaftEnvelope}) and sent to the peer
 * named by its reply id; a failure is the IOException Ratis retries on. Inbound, every request is
 * checked by the {@link RaftGate} and then handed to Ratis on this RPC's own pool — never on the
 * transport's thread, which may be a link's event loop — using Ratis's asynchronous methods where
 * it has them (append entries, read index, client and admin requests).
 *
 * <p>The pool is small and its queue bounded: a full queue answers "busy" (an IOException the
 * sender retries), so a flood is refused rather than queued without limit.
 */
final class DmsgServerRpc implements RaftServerRpc, RaftServerAsynchronousProtocol {
    static final int POOL_THREADS = 4;
    static final int POOL_QUEUE = 1024;

    private final RaftServer server;
    private final RaftWiring wiring;
    private final RaftTransport transport;
    private final RaftGate gate;
    private final long requestTimeoutMs;
    private final long readIndexTimeoutMs;
    private final ThreadPoolExecutor pool;

    DmsgServerRpc(RaftServer server, RaftWiring wiring) {
        this.server = server;
        this.wiring = wiring;
        this.transport = wiring.transport;
        this.gate = new RaftGate(server, wiring.refused);
        this.requestTimeoutMs = RaftServerConfigKeys.Rpc.requestTimeout(server.getProperties()).toLong(TimeUnit.MILLISECONDS);
        this.readIndexTimeoutMs = RaftServerConfigKeys.Read.timeout(server.getProperties()).toLong(TimeUnit.MILLISECONDS);
        AtomicInteger n = new AtomicInteger();
        this.pool = new ThreadPoolExecutor(POOL_THREADS, POOL_THREADS, 60, TimeUnit.SECONDS,
            new ArrayBlockingQueue<>(POOL_QUEUE), r -> {
                Thread t = new Thread(r, "quorum-raft-" + transport.label() + "-" + n.incrementAndGet());
                t.setDaemon(true);
                return t;
            });
    }

    @Override
    public RpcType getRpcType() {
        return DmsgRpcType.INSTANCE;
    }

    @Override
    public void start() {
        transport.serve(this::receive);
    }

    /** No socket of its own: Ratis builds the peer's address from this and accepts none. */
    @Override
    public InetSocketAddress getInetSocketAddress() {
        return null;
    }

    /** Peers are reached by label through the transport: nothing to set up per peer. */
    @Override
    public void addRaftPeers(Collection<RaftPeer> peers) {
    }

    /** The transport re-forges a lost path on the next call by itself. */
    @Override
    public void handleException(RaftPeerId serverId, Exception e, boolean reconnect) {
    }

    @Override
    public RaftServerAsynchronousProtocol async() {
        return this;
    }

    @Override
    public void close() {
        transport.serve(null);
        pool.shutdownNow();
    }

    // ---- outbound: this node's Ratis asking a peer ----

    @Override
    public RequestVoteReplyProto requestVote(RequestVoteRequestProto request) throws IOException {
        return RaftCalls.await(send(request.getServerRequest().getRaftGroupId(), request.getServerRequest().getReplyId(),
            RaftEnvelope.request(RaftNettyServerRequestProto.newBuilder().setRequestVoteRequest(request).build()),
            requestTimeoutMs), requestTimeoutMs).getRequestVoteReply();
    }

    @Override
    public AppendEntriesReplyProto appendEntries(AppendEntriesRequestProto request) throws IOException {
        return RaftCalls.await(appendEntriesAsync(request), requestTimeoutMs,
            () -> reset(request.getServerRequest().getRaftGroupId(), request.getServerRequest().getReplyId()));
    }

    @Override
    public CompletableFuture<AppendEntriesReplyProto> appendEntriesAsync(AppendEntriesRequestProto request) {
        return send(request.getServerRequest().getRaftGroupId(), request.getServerRequest().getReplyId(),
            RaftEnvelope.request(RaftNettyServerRequestProto.newBuilder().setAppendEntriesRequest(request).build()),
            requestTimeoutMs).thenApply(RaftNettyServerReplyProto::getAppendEntriesReply);
    }

    @Override
    public InstallSnapshotReplyProto installSnapshot(InstallSnapshotRequestProto request) throws IOException {
        return RaftCalls.await(send(request.getServerRequest().getRaftGroupId(), request.getServerRequest().getReplyId(),
            RaftEnvelope.request(RaftNettyServerRequestProto.newBuilder().setInstallSnapshotRequest(request).build()),
            requestTimeoutMs), requestTimeoutMs).getInstallSnapshotReply();
    }

    @Override
    public StartLeaderElectionReplyProto startLeaderElection(StartLeaderElectionRequestProto request)
        throws IOException {
        return RaftCalls.await(send(request.getServerRequest().getRaftGroupId(), request.getServerRequest().getReplyId(),
            RaftEnvelope.request(RaftNettyServerRequestProto.newBuilder().setStartLeaderElectionRequest(request).build()),
            requestTimeoutMs), requestTimeoutMs).getStartLeaderElectionReply();
    }

    @Override
    public CompletableFuture<ReadIndexReplyProto> readIndexAsync(ReadIndexRequestProto request) {
        return RaftCalls.call(wiring, request.getServerRequest().getRaftGroupId(), request.getServerRequest().getReplyId(),
            RaftEnvelope.request(request), readIndexTimeoutMs).thenCompose(b -> RaftCalls.decode(b,
                RaftEnvelope::parseReadIndexReply));
    }

    private CompletableFuture<RaftNettyServerReplyProto> send(
        RaftGroupIdProto group, ByteString peer, byte[] request, long timeoutMs) {
        return RaftCalls.call(wiring, group, peer, request, timeoutMs)
            .thenCompose(b -> RaftCalls.decode(b, RaftEnvelope::parseReply));
    }

    /** A call to the peer {@code replyId} of {@code group} outlived its timeout: the transport drops its path there. */
    private void reset(RaftGroupIdProto group, ByteString replyId) {
        String name = wiring.nameOf(ProtoUtils.toRaftGroupId(group));
        if (name != null) {
            transport.reset(name, RaftPeerId.valueOf(replyId).toString());
        }
    }

    // ---- inbound: a peer asking this node ----

    private CompletableFuture<byte[]> receive(String groupName, RaftOrigin origin, byte[] bytes) {
        CompletableFuture<byte[]> out = new CompletableFuture<>();
        try {
            pool.execute(() -> serve(groupName, origin, bytes, out));
        } catch (RejectedExecutionException e) {
            out.complete(RaftEnvelope.error(null, new IOException(server.getId() + ": busy (" + POOL_QUEUE
                + " Raft requests queued)")));
        }
        return out;
    }

    private void serve(String groupName, RaftOrigin origin, byte[] bytes, CompletableFuture<byte[]> out) {
        RaftEnvelope.Request r;
        try {
            r = RaftEnvelope.parseRequest(bytes);
        } catch (IOException e) {
            out.complete(RaftEnvelope.error(null, gate.refuse(groupName, origin, "request", e.getMessage())));
            return;
        }
        String why = gate.check(groupName, origin, r);
        if (why != null) {
            out.complete(RaftEnvelope.error(r.rpc(), gate.refuse(groupName, origin, r.kind(), why)));
            return;
        }
        CompletableFuture<byte[]> reply;
        try {
            reply = dispatch(r);
        } catch (IOException | RuntimeException e) {
            reply = CompletableFuture.failedFuture(e);
        }
        reply.whenComplete((b, e) -> out.complete(e == null ? b : RaftEnvelope.error(r.rpc(), RaftCalls.ioException(e))));
    }

    /** As NettyRpcService.handle, asynchronous where Ratis is. */
    private CompletableFuture<byte[]> dispatch(RaftEnvelope.Request r) throws IOException {
        if (r.readIndex() != null) {
            return server.readIndexAsync(r.readIndex()).thenApply(RaftEnvelope::reply);
        }
        RaftNettyServerRequestProto p = r.netty();
        RaftNettyServerReplyProto.Builder b = RaftNettyServerReplyProto.newBuilder();
        switch (p.getRaftNettyServerRequestCase()) {
            case REQUESTVOTEREQUEST:
                return done(b.setRequestVoteReply(server.requestVote(p.getRequestVoteRequest())));
            case APPENDENTRIESREQUEST:
                return server.appendEntriesAsync(p.getAppendEntriesRequest())
                    .thenApply(a -> reply(RaftNettyServerReplyProto.newBuilder().setAppendEntriesReply(a)));
            case INSTALLSNAPSHOTREQUEST:
                return done(b.setInstallSnapshotReply(server.installSnapshot(p.getInstallSnapshotRequest())));
            case STARTLEADERELECTIONREQUEST:
                return done(b.setStartLeaderElectionReply(server.startLeaderElection(p.getStartLeaderElectionRequest())));
            case RAFTCLIENTREQUEST:
                return client(server.submitClientRequestAsync(ClientProtoUtils.toRaftClientRequest(p.getRaftClientRequest())));
            case SETCONFIGURATIONREQUEST:
                return client(server.setConfigurationAsync(
                    ClientProtoUtils.toSetConfigurationRequest(p.getSetConfigurationRequest())));
            case TRANSFERLEADERSHIPREQUEST:
                return client(server.transferLeadershipAsync(
                    ClientProtoUtils.toTransferLeadershipRequest(p.getTransferLeadershipRequest())));
            case SNAPSHOTMANAGEMENTREQUEST:
                return client(server.snapshotManagementAsync(
                    ClientProtoUtils.toSnapshotManagementRequest(p.getSnapshotManagementRequest())));
            case LEADERELECTIONMANAGEMENTREQUEST:
                return client(server.leaderElectionManagementAsync(
                    ClientProtoUtils.toLeaderElectionManagementRequest(p.getLeaderElectionManagementRequest())));
            case GROUPINFOREQUEST:
                return server.getGroupInfoAsync(ClientProtoUtils.toGroupInfoRequest(p.getGroupInfoRequest()))
                    .thenApply(g -> reply(RaftNettyServerReplyProto.newBuilder()
                        .setGroupInfoReply(ClientProtoUtils.toGroupInfoReplyProto(g))));
            case GROUPLISTREQUEST:
                return server.getGroupListAsync(ClientProtoUtils.toGroupListRequest(p.getGroupListRequest()))
                    .thenApply(g -> reply(RaftNettyServerReplyProto.newBuilder()
                        .setGroupListReply(ClientProtoUtils.toGroupListReplyProto(g))));
            default: // group management is refused by the gate; nothing else is left
                throw new IOException("Raft request " + r.kind() + " is not served here");
        }
    }

    private static CompletableFuture<byte[]> client(CompletableFuture<RaftClientReply> f) {
        return f.thenApply(c -> reply(RaftNettyServerReplyProto.newBuilder()
            .setRaftClientReply(ClientProtoUtils.toRaftClientReplyProto(c))));
    }

    private static CompletableFuture<byte[]> done(RaftNettyServerReplyProto.Builder b) {
        return CompletableFuture.completedFuture(reply(b));
    }

    private static byte[] reply(RaftNettyServerReplyProto.Builder b) {
        return RaftEnvelope.reply(b.build());
    }
}
