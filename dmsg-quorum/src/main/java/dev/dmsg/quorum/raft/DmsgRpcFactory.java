package dev.dmsg.quorum.raft;

import java.util.concurrent.ConcurrentHashMap;
import org.apache.ratis.client.ClientFactory;
import org.apache.ratis.client.RaftClientRpc;
import org.apache.ratis.conf.RaftProperties;
import org.apache.ratis.protocol.ClientId;
import org.apache.ratis.rpc.RpcType;
import org.apache.ratis.server.RaftServer;
import org.apache.ratis.server.RaftServerRpc;
import org.apache.ratis.server.ServerFactory;
import org.apache.ratis.server.leader.FollowerInfo;
import org.apache.ratis.server.leader.LeaderState;
import org.apache.ratis.server.leader.LogAppender;

/**
 * Makes our server and client RPCs (Ratis asks a factory for both, as NettyFactory does). The log
 * appender is Ratis's default — one synchronous append at a time per follower over
 * {@link DmsgServerRpc#appendEntries} — and we note each follower's record for the status
 * (match index, lag: docs/QUORUM.md §7), which Ratis's public API does not otherwise expose.
 */
final class DmsgRpcFactory implements ServerFactory, ClientFactory {
    private final RaftWiring wiring;

    DmsgRpcFactory(RaftWiring wiring) {
        this.wiring = wiring;
    }

    @Override
    public RpcType getRpcType() {
        return DmsgRpcType.INSTANCE;
    }

    @Override
    public RaftServerRpc newRaftServerRpc(RaftServer server) {
        return new DmsgServerRpc(server, wiring);
    }

    @Override
    public RaftClientRpc newRaftClientRpc(ClientId clientId, RaftProperties properties) {
        return new DmsgClientRpc(wiring, properties);
    }

    @Override
    public LogAppender newLogAppender(RaftServer.Division server, LeaderState state, FollowerInfo f) {
        wiring.followers.computeIfAbsent(server.getMemberId().getGroupId(), g -> new ConcurrentHashMap<>())
            .put(f.getId(), f);
        return LogAppender.newLogAppenderDefault(server, state, f);
    }
}
