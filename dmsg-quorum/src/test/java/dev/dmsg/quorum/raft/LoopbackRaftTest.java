package dev.dmsg.quorum.raft;

import static dev.dmsg.quorum.raft.RaftTestCluster.GROUP;
import static dev.dmsg.quorum.raft.RaftTestCluster.WAIT;
import static dev.dmsg.quorum.raft.RaftTestCluster.items;
import static org.assertj.core.api.Assertions.assertThat;

import dev.dmsg.link.tls.Role;
import dev.dmsg.testkit.Await;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.ratis.protocol.Message;
import org.apache.ratis.client.RaftClient;
import org.apache.ratis.protocol.RaftClientReply;
import org.apache.ratis.protocol.RaftPeerId;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Ratis over our RPC and the in-JVM transport (docs/QUORUM.md §5, §8): a group of three elects,
 * commits, serves a linearizable read on a follower, survives its leader, lets a restarted member
 * catch up from its own log, and brings a member that missed more than the log keeps up to date by
 * install-snapshot.
 */
@Timeout(60)
class LoopbackRaftTest {
    final LoopbackRaftTransport.Network net = new LoopbackRaftTransport.Network();
    final Map<String, LoopbackRaftTransport> transports = new HashMap<>();
    RaftTestCluster cluster;

    RaftTestCluster cluster(RaftHost.Settings settings) throws Exception {
        cluster = new RaftTestCluster(List.of("alpha", "beta", "gamma"),
            l -> transports.computeIfAbsent(l, k -> net.join(k, Role.MEMBER)), settings);
        return cluster.startAll();
    }

    @AfterEach
    void close() {
        if (cluster != null) {
            cluster.close();
        }
        net.close();
    }

    @Test
    void electsCommitsAndReadsLinearizablyOnAFollower() throws Exception {
        cluster(RaftTestCluster.testSettings());
        String leader = cluster.awaitLeader();
        String follower = cluster.follower(leader);
        // written through a follower's client: our client RPC finds the leader by Ratis's NotLeader replies
        assertThat(cluster.write(follower, items("a", 10))).containsExactly(1, 2, 3, 4, 5, 6, 7, 8, 9, 10);
        // a linearizable read on a follower: ReadIndex from the leader, then the follower's state
        RaftClientReply r = cluster.hosts.get(follower).client(GROUP).io()
            .sendReadOnly(Message.valueOf("size"), RaftPeerId.valueOf(follower));
        assertThat(r.isSuccess()).as("%s", r.getException()).isTrue();
        assertThat(r.getServerId().toString()).isEqualTo(follower);
        assertThat(r.getMessage().getContent().toStringUtf8()).isEqualTo("10:2");
        for (String m : cluster.members) {
            cluster.awaitSize(m, 10);
            assertThat(cluster.machines.get(m).items()).isEqualTo(items("a", 10));
        }
        RaftHost.GroupStatus s = cluster.hosts.get(leader).status(GROUP);
        assertThat(s.members()).containsExactly("alpha", "beta", "gamma");
        assertThat(s.leader()).isEqualTo(leader);
        assertThat(s.commitIndex()).isGreaterThanOrEqualTo(10);
        Await.until(() -> {
            try {
                Map<String, Long> match = cluster.hosts.get(leader).status(GROUP).matchIndex();
                return match.size() == 3 && match.values().stream().allMatch(i -> i >= 10);
            } catch (Exception e) {
                return false;
            }
        }, WAIT, "the leader's match index for every member");
        assertThat(cluster.hosts.get(follower).status(GROUP).matchIndex()).as("only the leader knows").isEmpty();
        assertThat(cluster.hosts.values().stream().mapToLong(RaftHost::refusals).sum()).isZero();
    }

    @Test
    void aNewLeaderTakesOverWhenTheLeaderIsClosed() throws Exception {
        cluster(RaftTestCluster.testSettings());
        String leader = cluster.awaitLeader();
        String survivor = cluster.follower(leader);
        cluster.write(survivor, items("x", 5));
        long term = cluster.hosts.get(survivor).status(GROUP).term();
        cluster.stop(leader);
        String next = cluster.awaitLeader();
        assertThat(next).isNotEqualTo(leader);
        assertThat(cluster.hosts.get(next).status(GROUP).term()).isGreaterThan(term);
        assertThat(cluster.write(survivor, items("y", 5))).containsExactly(6, 7, 8, 9, 10);
        for (String m : cluster.hosts.keySet()) {
            cluster.awaitSize(m, 10);
        }
    }

    @Test
    void aNodeStartedToJoinIsAddedByAConfigurationChange() throws Exception {
        cluster(RaftTestCluster.testSettings());
        String leader = cluster.awaitLeader();
        cluster.write(leader, items("a", 5));
        List<String> four = List.of("alpha", "beta", "gamma", "delta");
        cluster.start("delta", four); // waits, refused by the members, until they add it
        RaftClientReply r = cluster.hosts.get(cluster.follower(leader)).client(GROUP).admin()
            .setConfiguration(RaftHost.peers(four));
        assertThat(r.isSuccess()).as("%s", r.getException()).isTrue();
        cluster.awaitSize("delta", 5);
        assertThat(cluster.machines.get("delta").items()).isEqualTo(items("a", 5));
        assertThat(cluster.hosts.get(leader).status(GROUP).members()).containsExactly("alpha", "beta", "delta", "gamma");
        assertThat(cluster.write("delta", items("b", 2))).containsExactly(6, 7);
        cluster.awaitSize("alpha", 7);
    }

    /**
     * A client whose requests failed for good is replaced (RaftHost.discardClient): Ratis closes
     * its ordered window then, and without a new client a member answered NOLEADER for ever even
     * once a majority was back (QuorumProcessTest, five members with three killed then one back).
     */
    @Test
    void aDiscardedClientIsReplacedAndAStaleDiscardKeepsTheNewOne() throws Exception {
        cluster(RaftTestCluster.testSettings());
        String leader = cluster.awaitLeader();
        RaftHost h = cluster.hosts.get(leader);
        RaftClient first = h.client(GROUP);
        assertThat(h.client(GROUP)).isSameAs(first);
        h.discardClient(GROUP, first);
        RaftClient second = h.client(GROUP);
        assertThat(second).isNotSameAs(first);
        h.discardClient(GROUP, first); // a late failure of the old one
        assertThat(h.client(GROUP)).isSameAs(second);
        assertThat(cluster.write(leader, items("a", 3))).containsExactly(1, 2, 3);
    }

    @Test
    void aRestartedMemberKeepsItsLogAndCatchesUp() throws Exception {
        cluster(RaftTestCluster.testSettings());
        String leader = cluster.awaitLeader();
        String f = cluster.follower(leader);
        cluster.write(leader, items("a", 5));
        cluster.awaitSize(f, 5);
        cluster.stop(f);
        cluster.write(leader, items("b", 5));
        RaftHost again = cluster.start(f); // same storage: RECOVER
        // its state before it hears from anyone is what its own log held
        Await.until(() -> cluster.machines.get(f).size() == 10, WAIT, f + " catches up");
        assertThat(cluster.machines.get(f).items().subList(0, 5)).isEqualTo(items("a", 5));
        assertThat(again.status(GROUP).members()).containsExactly("alpha", "beta", "gamma");
        assertThat(cluster.machines.get(f).reloads.get()).as("caught up from the log, not a snapshot").isZero();
    }

    @Test
    void aMemberThatMissedMoreThanTheLogKeepsCatchesUpByInstallSnapshot() throws Exception {
        cluster(RaftTestCluster.testSettings().withSnapshots(8, 1024));
        String leader = cluster.awaitLeader();
        String f = cluster.follower(leader);
        net.cutOff(f);
        // values of ~300 bytes so that segments of 1 KiB roll and the purge has whole segments to drop
        List<String> batch = items("v".repeat(300), 60);
        cluster.write(leader, batch);
        Await.until(() -> {
            try {
                return cluster.hosts.get(leader).division(GROUP).getRaftLog().getStartIndex() > 10;
            } catch (Exception e) {
                return false;
            }
        }, WAIT, "the leader snapshots and purges its log");
        net.reconnect(f);
        cluster.awaitSize(f, 60);
        assertThat(cluster.machines.get(f).reloads.get()).as("the follower installed a snapshot").isPositive();
        assertThat(cluster.machines.get(f).items()).isEqualTo(batch);
        assertThat(cluster.hosts.get(f).status(GROUP).snapshotIndex()).isPositive();
    }
}
