package dev.dmsg.services.quorum;

import static org.assertj.core.api.Assertions.assertThat;

import dev.dmsg.link.tls.Role;
import dev.dmsg.services.node.Node;
import dev.dmsg.services.testing.TestCluster;
import dev.dmsg.testkit.LeakDetector;
import dev.dmsg.wire.qrm.Batch;
import dev.dmsg.wire.qrm.Blob;
import dev.dmsg.wire.qrm.Op;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A prepared batch whose initiator goes away, through the real stack (docs/QUORUM.md §4 "Lost
 * initiator"): when the member sees the initiator's link die it aborts at once; when the member
 * itself dies, the group's leader expires the batch after its lease — and not before.
 */
@Timeout(120)
@ExtendWith(LeakDetector.class)
class QuorumLeaseTest {
    static final Duration T = Duration.ofSeconds(20);

    @TempDir
    Path tmp;

    @RegisterExtension
    final TestCluster cluster = new TestCluster(() -> tmp).pinning(Role.MEMBER);

    static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    /** Polls (every 50 ms) a conflicting write until it goes through; the ms it took from {@code t0}. */
    long writeOnceFree(QuorumClient c, String key, long t0Nanos) throws Exception {
        long deadline = System.nanoTime() + T.toNanos();
        while (true) {
            try {
                c.put(key, utf8("honest")).get(20, TimeUnit.SECONDS);
                return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0Nanos);
            } catch (ExecutionException e) {
                QuorumException q = (QuorumException) QuorumClient.unwrap(e.getCause());
                assertThat(q.getMessage()).contains("reserved by a prepared transaction");
            }
            assertThat(System.nanoTime()).as(key + " still reserved after " + T).isLessThan(deadline);
            Thread.sleep(50); // the release is a log entry on another node: nothing to wait on here
        }
    }

    static String conflict(QuorumClient c, String key) {
        return QuorumAttackTest.refusal(() -> c.put(key, utf8("honest")).get(20, TimeUnit.SECONDS));
    }

    @Test
    void theMemberAbortsAtOnceWhenTheInitiatorsLinkDies() throws Exception {
        List<Node> members = cluster.quorum("g", "a", "b", "c");
        Node h = cluster.start("h");
        Node y = cluster.start("y");
        TestCluster.link(h, members.get(1));
        TestCluster.link(y, members.get(0));
        QuorumClient honest = AttackRig.viaLink(cluster, h);
        QuorumClient initiator = AttackRig.viaLink(cluster, y);
        honest.put("/h/warm", utf8("up")).get(30, TimeUnit.SECONDS);

        // a long lease: a release within seconds can only be the member's ABORT, not the lease
        Prepared p = initiator.prepare(Batch.of(Op.put(Blob.utf8("/lk/1"), Blob.utf8("prepared"))), Duration.ofSeconds(30))
            .get(30, TimeUnit.SECONDS);
        assertThat(initiator.member()).isEqualTo("a");
        assertThat(conflict(honest, "/lk/1")).isEqualTo("CONFLICT: key \"/lk/1\": reserved by a prepared transaction (index "
            + p.index() + ")");

        long t0 = System.nanoTime();
        cluster.stop(y); // the initiator's node goes, and its link to a with it
        long freeMs = writeOnceFree(honest, "/lk/1", t0);
        System.out.printf("the lost initiator's keys were free again after %d ms (lease 30 s)%n", freeMs);
        assertThat(freeMs).as("released by the member's ABORT, well before the lease").isLessThan(5_000);
        assertThat(new String(honest.get("/lk/1").get(20, TimeUnit.SECONDS), StandardCharsets.UTF_8)).isEqualTo("honest");
        for (Node m : members) {
            cluster.await(() -> m.quorum().engine("g").status().prepared() == 0, "nothing prepared at " + m.identity().label());
        }
    }

    @Test
    void theLeaderExpiresTheBatchOfAMemberThatDiedAfterItsLease() throws Exception {
        List<Node> members = cluster.quorum("g", "a", "b", "c");
        Node leader = QuorumClusterTest.leaderOf(members);
        List<Node> followers = members.stream().filter(n -> n != leader).toList();
        Node m = followers.get(0); // the member that dies: not the leader, which counts the lease
        Node h = cluster.start("h");
        Node y = cluster.start("y");
        TestCluster.link(h, leader);
        TestCluster.link(y, m); // y reaches the group through m only
        QuorumClient honest = AttackRig.viaLink(cluster, h);
        QuorumClient initiator = AttackRig.viaLink(cluster, y);
        honest.put("/h/warm", utf8("up")).get(30, TimeUnit.SECONDS);

        long leaseMs = 3_000;
        Prepared p = initiator.prepare(Batch.of(Op.put(Blob.utf8("/ls/1"), Blob.utf8("prepared"))), Duration.ofMillis(leaseMs))
            .get(30, TimeUnit.SECONDS);
        long prepared = System.nanoTime();
        assertThat(initiator.member()).isEqualTo(m.identity().label());
        String refused = "CONFLICT: key \"/ls/1\": reserved by a prepared transaction (index " + p.index() + ")";
        assertThat(conflict(honest, "/ls/1")).isEqualTo(refused);

        // a crash gives the dying member no chance to propose ABORT: its Raft server goes first, so
        // that what its closing links tell it cannot reach the log
        m.quorum().close();
        cluster.stop(m);
        assertThat(conflict(honest, "/ls/1")).isEqualTo(refused);
        long refusedAtMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - prepared);
        assertThat(refusedAtMs).as("the CONFLICT after the member died came before the lease ran out").isLessThan(leaseMs);

        long freeMs = writeOnceFree(honest, "/ls/1", prepared);
        System.out.printf("the dead member's batch was expired after %d ms (lease %d ms)%n", freeMs, leaseMs);
        // the leader counts from its own apply of the PREPARE, a little before the PREPARED reached us
        assertThat(freeMs).as("expired by the leader after the lease").isBetween(leaseMs - 500, leaseMs + 5_000);
        assertThat(new String(honest.get("/ls/1").get(20, TimeUnit.SECONDS), StandardCharsets.UTF_8)).isEqualTo("honest");
        assertThat(leader.quorum().engine("g").status().prepared()).isZero();
    }
}
