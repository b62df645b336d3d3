package dev.dmsg.quorum.raft;

import static dev.dmsg.quorum.raft.RaftTestCluster.GROUP;
import static dev.dmsg.quorum.raft.RaftTestCluster.items;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.dmsg.link.tls.Role;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.apache.ratis.proto.RaftProtos.AppendEntriesRequestProto;
import org.apache.ratis.proto.RaftProtos.ClientMessageEntryProto;
import org.apache.ratis.proto.RaftProtos.GroupManagementRequestProto;
import org.apache.ratis.proto.RaftProtos.GroupRemoveRequestProto;
import org.apache.ratis.proto.RaftProtos.RaftClientRequestProto;
import org.apache.ratis.proto.RaftProtos.RaftRpcRequestProto;
import org.apache.ratis.proto.RaftProtos.RequestVoteRequestProto;
import org.apache.ratis.proto.RaftProtos.WriteRequestTypeProto;
import org.apache.ratis.proto.netty.NettyProtos.RaftNettyServerRequestProto;
import org.apache.ratis.protocol.RaftGroupId;
import org.apache.ratis.thirdparty.com.google.protobuf.ByteString;
import org.apache.ratis.util.ProtoUtils;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The receiver's checks (docs/QUORUM.md §5) against the lesser role, the forged requestor id, the
 * non-member and the flood: each forged request is answered with an IOException naming why (not a
 * hang), counted, and never reaches Ratis — the leader and its term stay what they were, and
 * honest writes go on while 2,000 forged votes arrive.
 */
@Timeout(60)
class RaftGateTest {
    final LoopbackRaftTransport.Network net = new LoopbackRaftTransport.Network();
    final Map<String, LoopbackRaftTransport> transports = new HashMap<>();
    RaftTestCluster cluster;
    LoopbackRaftTransport mallory;
    LoopbackRaftTransport cli;
    String leader;

    @BeforeEach
    void start() throws Exception {
        cluster = new RaftTestCluster(List.of("alpha", "beta", "gamma"),
            l -> transports.computeIfAbsent(l, k -> net.join(k, Role.MEMBER)), RaftTestCluster.testSettings()).startAll();
        mallory = net.join("mallory", Role.MEMBER); // trusted in the mesh, not in the group
        cli = net.join("cli", Role.CLIENT);
        leader = cluster.awaitLeader();
    }

    @AfterEach
    void close() {
        cluster.close();
        net.close();
    }

    static RaftRpcRequestProto rpc(String requestor, String to, RaftGroupId group) {
        return RaftRpcRequestProto.newBuilder().setRequestorId(ByteString.copyFromUtf8(requestor))
            .setReplyId(ByteString.copyFromUtf8(to)).setRaftGroupId(ProtoUtils.toRaftGroupIdProtoBuilder(group))
            .setCallId(7).build();
    }

    static byte[] vote(String requestor, String to, long term) {
        return RaftEnvelope.request(RaftNettyServerRequestProto.newBuilder().setRequestVoteRequest(
            RequestVoteRequestProto.newBuilder().setServerRequest(rpc(requestor, to, QuorumIds.groupId(GROUP)))
                .setCandidateTerm(term)).build());
    }

    static byte[] append(String requestor, String to, long term) {
        return RaftEnvelope.request(RaftNettyServerRequestProto.newBuilder().setAppendEntriesRequest(
            AppendEntriesRequestProto.newBuilder().setServerRequest(rpc(requestor, to, QuorumIds.groupId(GROUP)))
                .setLeaderTerm(term)).build());
    }

    static byte[] write(String to, RaftGroupId group) {
        return RaftEnvelope.request(RaftNettyServerRequestProto.newBuilder().setRaftClientRequest(
            RaftClientRequestProto.newBuilder().setRpcRequest(rpc("0123456789abcdef", to, group))
                .setWrite(WriteRequestTypeProto.getDefaultInstance())
                .setMessage(ClientMessageEntryProto.newBuilder().setContent(ByteString.copyFromUtf8("forged")))).build());
    }

    /** The error the receiver answered {@code request} with. */
    static String refusal(RaftTransport from, String to, String group, byte[] request) throws Exception {
        byte[] reply = from.call(group, to, request).get(10, TimeUnit.SECONDS);
        try {
            RaftEnvelope.parseReply(reply);
        } catch (IOException e) {
            return e.getMessage();
        }
        throw new AssertionError("not refused");
    }

    @Test
    void theLesserRoleTheForgedRequestorAndTheNonMemberAreRefused() throws Exception {
        String follower = cluster.follower(leader);
        long term = cluster.hosts.get(leader).status(GROUP).term();
        assertThat(refusal(cli, follower, GROUP, vote("cli", follower, term + 100)))
            .contains("'cli' (client) may not take part").contains("admin or member role");
        assertThat(refusal(mallory, follower, GROUP, append(leader, follower, term + 100)))
            .contains("requestor id '" + leader + "' is not the originator 'mallory' (member)");
        assertThat(refusal(mallory, follower, GROUP, vote("mallory", follower, term + 100)))
            .contains("'mallory' (member) is not a member of group 'g1'");
        assertThat(refusal(mallory, leader, GROUP, write(leader, QuorumIds.groupId(GROUP))))
            .contains("is not a member of group 'g1'");
        // a member may not name one group in the header and another inside
        assertThat(refusal(transports.get(follower), leader, GROUP, write(leader, QuorumIds.groupId("other"))))
            .contains("is for Raft group " + QuorumIds.groupId("other") + ", not " + QuorumIds.groupId(GROUP));
        // nor remove a group from another member
        byte[] remove = RaftEnvelope.request(RaftNettyServerRequestProto.newBuilder().setGroupManagementRequest(
            GroupManagementRequestProto.newBuilder().setRpcRequest(rpc("0123456789abcdef", leader, QuorumIds.groupId(GROUP)))
                .setGroupRemove(GroupRemoveRequestProto.newBuilder().setGroupId(
                    ProtoUtils.toRaftGroupIdProtoBuilder(QuorumIds.groupId(GROUP))))).build());
        assertThat(refusal(transports.get(follower), leader, GROUP, remove)).contains("group management is not served");
        // garbage is refused with what is wrong with it
        assertThat(refusal(mallory, leader, GROUP, new byte[] {9, 1, 2})).contains("Raft request tag 9");
        assertThat(cluster.hosts.get(follower).refusals() + cluster.hosts.get(leader).refusals()).isEqualTo(7);
        assertThat(cluster.hosts.get(leader).status(GROUP).term()).as("no forged term got through").isEqualTo(term);
        assertThat(cluster.hosts.get(follower).status(GROUP).leader()).isEqualTo(leader);
        assertThat(cluster.machines.get(leader).size()).as("the forged write was not applied").isZero();
    }

    @Test
    void honestWritesGoOnDuringAFloodOfForgedVotes() throws Exception {
        long term = cluster.hosts.get(leader).status(GROUP).term();
        int flood = 2000;
        List<CompletableFuture<byte[]>> forged = new ArrayList<>();
        CompletableFuture<List<Integer>> honest = CompletableFuture.supplyAsync(() -> {
            try {
                return cluster.write(cluster.follower(leader), items("h", 20));
            } catch (IOException e) {
                throw new RuntimeException(e);
            }
        });
        for (int i = 0; i < flood; i++) {
            String to = cluster.members.get(i % 3);
            forged.add((i % 2 == 0 ? mallory : cli).call(GROUP, to, vote(i % 2 == 0 ? "mallory" : "cli", to, term + 1 + i)));
        }
        assertThat(honest.get(30, TimeUnit.SECONDS)).hasSize(20).endsWith(20);
        int refused = 0;
        for (CompletableFuture<byte[]> f : forged) {
            byte[] reply = f.get(30, TimeUnit.SECONDS);
            assertThatThrownBy(() -> RaftEnvelope.parseReply(reply)).isInstanceOf(IOException.class)
                .hasMessageContaining("refused by");
            refused++;
        }
        assertThat(refused).isEqualTo(flood);
        assertThat(cluster.hosts.values().stream().mapToLong(RaftHost::refusals).sum()).isEqualTo(flood);
        assertThat(cluster.hosts.get(leader).status(GROUP).term()).isEqualTo(term);
        assertThat(cluster.hosts.get(leader).status(GROUP).role()).isEqualTo("LEADER");
        for (String m : cluster.members) {
            cluster.awaitSize(m, 20);
        }
    }
}
