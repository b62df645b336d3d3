package dev.dmsg.quorum.raft;

import static dev.dmsg.quorum.raft.RaftTestCluster.GROUP;
import static dev.dmsg.quorum.raft.RaftTestCluster.items;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.dmsg.testkit.LeakDetector;
import java.io.IOException;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.ratis.protocol.Message;
import org.apache.ratis.protocol.RaftClientReply;
import org.apache.ratis.protocol.RaftPeerId;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Ratis over real circuits (docs/QUORUM.md §5, §8): three nodes with TLS on loopback in a line,
 * alpha - beta - gamma, so that alpha and gamma talk through beta on a relayed, sealed circuit.
 * Each advertises its quorum span; the group elects and commits over QRM_RAFT transactions, a
 * 200 KiB write — more than three chunks each way — arrives whole everywhere, leadership moves on
 * request, and when the leader's Raft server stops the other two elect a new one.
 */
@ExtendWith(LeakDetector.class)
@Timeout(60)
class MeshRaftTest {
    static final List<String> LABELS = List.of("alpha", "beta", "gamma");
    final MeshTestNet net = new MeshTestNet();
    final Map<String, MeshTestNet.Node> nodes = net.nodes;
    RaftTestCluster cluster;

    @AfterEach
    void close() {
        if (cluster != null) {
            cluster.close();
        }
        net.close();
    }

    @Test
    void aGroupElectsAndCommitsOverCircuitsAndA200KiBWriteArrivesWhole() throws Exception {
        net.line(LABELS);
        cluster = new RaftTestCluster(LABELS, l -> nodes.get(l).transport, RaftTestCluster.testSettings()).startAll();
        String leader = cluster.awaitLeader();
        String follower = cluster.follower(leader);
        assertThat(cluster.write(follower, items("m", 5))).containsExactly(1, 2, 3, 4, 5);
        String big = "z".repeat(200 << 10); // > 3 chunks of 60 KiB: the client request, then each append
        assertThat(cluster.write(follower, List.of(big))).containsExactly(6);
        for (String m : LABELS) {
            cluster.awaitSize(m, 6);
            assertThat(cluster.machines.get(m).items().get(5)).isEqualTo(big);
        }
        RaftClientReply r = cluster.hosts.get(follower).client(GROUP).io()
            .sendReadOnly(Message.valueOf("size"), RaftPeerId.valueOf(follower));
        assertThat(r.getMessage().getContent().toStringUtf8()).isEqualTo("6:" + big.length());
        assertThat(cluster.hosts.values().stream().mapToLong(RaftHost::refusals).sum()).isZero();
        // leadership moved to alpha (an admin request on our client RPC); alpha and gamma are not
        // neighbours, so from now on the leader's appends to gamma cross beta on a relayed circuit
        if (!leader.equals("alpha")) {
            RaftClientReply t = cluster.hosts.get("gamma").client(GROUP).admin()
                .transferLeadership(RaftPeerId.valueOf("alpha"), 10_000);
            assertThat(t.isSuccess()).as("%s", t.getException()).isTrue();
        }
        assertThat(cluster.awaitLeader()).isEqualTo("alpha");
        assertThat(cluster.write("gamma", items("n", 3))).containsExactly(7, 8, 9);
        cluster.awaitSize("gamma", 9);
        assertThat(nodes.get("alpha").mesh.circuits()).anySatisfy(c -> {
            assertThat(c.role()).isEqualTo("origin");
            assertThat(c.target()).isEqualTo(QuorumIds.memberKey(GROUP, "gamma"));
        });
        assertThat(nodes.get("beta").mesh.circuits()).as("beta relays it").anySatisfy(c ->
            assertThat(c.target()).isEqualTo(QuorumIds.memberKey(GROUP, "gamma")));
        // gamma cannot speak for alpha: beta takes the originator from the circuit, not the bytes
        long term0 = cluster.hosts.get("beta").status(GROUP).term();
        byte[] forged = nodes.get("gamma").transport.call(GROUP, "beta", RaftGateTest.append("alpha", "beta", term0 + 50))
            .get(10, TimeUnit.SECONDS);
        assertThatThrownBy(() -> RaftEnvelope.parseReply(forged)).isInstanceOf(IOException.class)
            .hasMessageContaining("requestor id 'alpha' is not the originator 'gamma' (member)");
        assertThat(cluster.hosts.get("beta").refusals()).isEqualTo(1);
        assertThat(cluster.hosts.get("beta").status(GROUP).term()).isEqualTo(term0);
        // the leader's Raft server stops (its node stays, answering NOSUPP): the others elect over their circuit
        long term = cluster.hosts.get("gamma").status(GROUP).term();
        cluster.stop("alpha");
        String next = cluster.awaitLeader();
        assertThat(next).isIn("beta", "gamma");
        assertThat(cluster.hosts.get(next).status(GROUP).term()).isGreaterThan(term);
        assertThat(cluster.write("gamma", items("o", 2))).containsExactly(10, 11);
    }
}
