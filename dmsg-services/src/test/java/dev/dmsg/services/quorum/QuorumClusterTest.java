package dev.dmsg.services.quorum;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.dmsg.link.tls.Grants;
import dev.dmsg.link.tls.Role;
import dev.dmsg.services.node.Node;
import dev.dmsg.services.testing.TestCluster;
import dev.dmsg.testkit.LeakDetector;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.qrm.Batch;
import dev.dmsg.wire.qrm.Blob;
import dev.dmsg.wire.qrm.Compare;
import dev.dmsg.wire.qrm.Op;
import dev.dmsg.wire.qrm.WatchEvent;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A quorum group of three TLS nodes in one JVM, used from a fourth node that is not a member
 * (docs/QUORUM.md): writes one- and two-phase, reads, a watch, a leader stopped under writes,
 * and rights checked on the originator of a request relayed by a member.
 */
@Timeout(120)
@ExtendWith(LeakDetector.class)
class QuorumClusterTest {
    static final Duration T = Duration.ofSeconds(20);

    @TempDir
    Path tmp;

    @RegisterExtension
    final TestCluster cluster = new TestCluster(() -> tmp).pinning(Role.MEMBER);

    static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    /** Members a, b, c and client x linked to a. */
    Node group() throws Exception {
        List<Node> members = cluster.quorum("g", "a", "b", "c");
        Node x = cluster.start("x");
        TestCluster.link(x, members.get(0));
        return x;
    }

    QuorumClient client(Node at) {
        return cluster.closing(new QuorumClient(at.mesh(), "g", T));
    }

    @Test
    void writesReadsAndAWatchThroughANonMember() throws Exception {
        QuorumClient c = client(group());
        List<WatchEvent> seen = new CopyOnWriteArrayList<>();
        KvWatch w = c.watch(Blob.utf8("/k/"), true, 0, seen::addAll, e -> { }).get(30, TimeUnit.SECONDS);

        long r1 = c.put("/k/1", utf8("one")).get(30, TimeUnit.SECONDS);
        assertThat(new String(c.get("/k/1").get(10, TimeUnit.SECONDS), StandardCharsets.UTF_8)).isEqualTo("one");

        Prepared p = c.prepare(new Batch(List.of(Compare.value(Blob.utf8("/k/1"), Compare.Result.EQUAL, Blob.utf8("one"))),
            List.of(Op.put(Blob.utf8("/k/2"), Blob.utf8("two"))), List.of()), null).get(10, TimeUnit.SECONDS);
        assertThat(p.held()).isTrue();
        assertThat(p.index()).isPositive();
        QuorumClient.Committed done = p.commit().get(10, TimeUnit.SECONDS);
        assertThat(done.revision()).isEqualTo(r1 + 1);

        QuorumClient.ReadResult r = c.read(Batch.of(Op.getPrefix(Blob.utf8("/k/"), 0)), false).get(10, TimeUnit.SECONDS);
        assertThat(r.results().results().get(0).kvs()).extracting(kv -> kv.key().utf8()).containsExactly("/k/1", "/k/2");

        cluster.await(() -> seen.size() == 2, "the watch saw both puts");
        assertThat(seen).extracting(e -> e.kv().key().utf8()).containsExactly("/k/1", "/k/2");
        w.close();
    }

    @Test
    void aCircuitClientReachesMembersThatAreAllItsNeighbours() throws Exception {
        List<Node> members = cluster.quorum("g", "a", "b", "c");
        Node x = cluster.start("x");
        members.forEach(m -> TestCluster.link(x, m)); // every member's span reaches x at dist 0
        cluster.await(() -> QuorumClient.members(x.mesh(), "g").join().stream().filter(m -> m.hops() == 1).count() == 3,
            "x sees the three members one hop away");
        QuorumClient c = client(x); // circuits only: it must not take a neighbour for itself
        c.put("/n", utf8("1")).get(30, TimeUnit.SECONDS);
        assertThat(c.member()).isIn("a", "b", "c");
    }

    @Test
    void aMemberServesAgainAfterARequestRanOutOfRetries() throws Exception {
        Node x = group(); // x's link is to a: every request goes through a's Ratis client
        QuorumClient c = cluster.closing(new QuorumClient(x.mesh(), () -> x.endpoint().links(), "g", T));
        c.put("/r", utf8("1")).get(30, TimeUnit.SECONDS);
        Node b = cluster.node("b");
        Node cc = cluster.node("c");
        cluster.stop(b);
        cluster.stop(cc);
        assertThatThrownBy(() -> c.put("/r", utf8("2")).get(30, TimeUnit.SECONDS)).cause()
            .isInstanceOf(QuorumException.class)
            .satisfies(e -> assertThat(((QuorumException) e).error()).isEqualTo(Dmsg.ERR_NOLEADER))
            // a proposed it: the entry may sit in a leader's log and be applied once b and c are back
            .satisfies(e -> assertThat(((QuorumException) e).outcomeUnknown()).as("outcome unknown").isTrue());
        cluster.restart(b);
        cluster.restart(cc);
        // a Ratis client whose request ran out of retries fails every later one at once: a must not keep it
        assertThat(c.put("/r", utf8("3")).get(30, TimeUnit.SECONDS)).isPositive();
        assertThat(new String(c.get("/r").get(30, TimeUnit.SECONDS), StandardCharsets.UTF_8)).isEqualTo("3");
    }

    @Test
    void aConflictingPrepareIsRefusedUntilTheFirstEnds() throws Exception {
        QuorumClient c = client(group());
        Prepared first = c.prepare(Batch.of(Op.put(Blob.utf8("/a"), Blob.utf8("1"))), null).get(30, TimeUnit.SECONDS);
        assertThatThrownBy(() -> c.commit(Batch.of(Op.put(Blob.utf8("/a"), Blob.utf8("2")))).get(10, TimeUnit.SECONDS))
            .cause().isInstanceOf(QuorumException.class).hasMessageContaining("reserved by a prepared transaction");
        first.abort();
        cluster.await(() -> {
            try {
                c.commit(Batch.of(Op.put(Blob.utf8("/a"), Blob.utf8("2")))).get(10, TimeUnit.SECONDS);
                return true;
            } catch (ExecutionException e) {
                return false;
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        }, "the abort released /a");
        assertThat(new String(c.get("/a").get(10, TimeUnit.SECONDS), StandardCharsets.UTF_8)).isEqualTo("2");
    }

    @Test
    void aRelayedRequestIsJudgedOnItsOriginatorNotOnTheRelay() throws Exception {
        List<Node> members = cluster.quorum("g", "a", "b", "c");
        Node r = cluster.start("r"); // not in the group: every node trusts it as a member, as it does the others
        Node x = cluster.startUnpinned(cluster.settings("x"));
        r.trust().add("x", x.keys().fingerprint(), Role.MEMBER, 0); // x may forge circuits through r
        x.trust().add("r", r.keys().fingerprint(), Role.MEMBER, 0);
        for (Node m : members) { // ... but the members give x's key only client rights to read
            m.trust().add("x", x.keys().fingerprint(), Role.CLIENT, Grants.KV_READ);
            x.trust().add(m.identity().label(), m.keys().fingerprint(), Role.MEMBER, 0);
        }
        TestCluster.link(r, members.get(0));
        TestCluster.link(x, r);
        QuorumClient c = cluster.closing(new QuorumClient(x.mesh(), () -> x.endpoint().links(), "g", T));
        assertThatThrownBy(() -> c.put("/a", utf8("1")).get(30, TimeUnit.SECONDS)).cause()
            .isInstanceOf(QuorumException.class).hasMessageContaining("'x' (client, over a circuit via r)")
            .hasMessageContaining("needs the kv-write grant");
        QuorumClient.ReadResult read = c.read(Batch.of(Op.get(Blob.utf8("/a"))), false).get(30, TimeUnit.SECONDS);
        assertThat(read.results().results().get(0).kvs()).isEmpty();
    }

    @Test
    void aClientToolReachesItsNeighbourMemberOnItsOwnLinkWithItsGrants() throws Exception {
        List<Node> members = cluster.quorum("g", "a", "b", "c");
        Node x = cluster.startUnpinned(cluster.settings("x"));
        Node a = members.get(0);
        a.trust().add("x", x.keys().fingerprint(), Role.CLIENT, Grants.KV_READ); // a client may not forge circuits
        x.trust().add("a", a.keys().fingerprint(), Role.MEMBER, 0);
        TestCluster.link(x, a);
        QuorumClient c = cluster.closing(new QuorumClient(x.mesh(), () -> x.endpoint().links(), "g", T));
        assertThatThrownBy(() -> c.put("/a", utf8("1")).get(30, TimeUnit.SECONDS)).cause()
            .isInstanceOf(QuorumException.class).hasMessageContaining("'x' (client)")
            .hasMessageContaining("needs the kv-write grant");
        assertThat(c.member()).isEqualTo("a");
        QuorumClient.ReadResult read = c.read(Batch.of(Op.get(Blob.utf8("/a"))), false).get(30, TimeUnit.SECONDS);
        assertThat(read.results().results().get(0).kvs()).isEmpty();
    }

    @Test
    void theGroupElectsANewLeaderWhenTheLeaderStopsAndNothingAcknowledgedIsLost() throws Exception {
        Node x = group();
        QuorumClient c = client(x);
        for (int i = 0; i < 20; i++) {
            c.put("/w/" + i, utf8("v" + i)).get(30, TimeUnit.SECONDS);
        }
        Node leader = leaderOf(cluster.nodes().subList(0, 3));
        Node stay = cluster.nodes().stream().filter(n -> n != leader && n != x).findFirst().orElseThrow();
        if (leader == cluster.node("a")) { // x reaches the group through a: give it another way in
            TestCluster.link(x, stay);
        }
        cluster.stop(leader);
        long t0 = System.nanoTime();
        for (int i = 20; i < 30; i++) {
            c.put("/w/" + i, utf8("v" + i)).get(30, TimeUnit.SECONDS);
        }
        long resumedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
        QuorumClient.ReadResult r = c.read(Batch.of(Op.getPrefix(Blob.utf8("/w/"), 0)), false).get(10, TimeUnit.SECONDS);
        assertThat(r.results().results().get(0).kvs()).hasSize(30);
        assertThat(resumedMs).as("writes resumed after the leader stopped").isLessThan(20_000);
    }

    static Node leaderOf(List<Node> members) throws Exception {
        return TestCluster.leader(members, "g");
    }

    @Test
    void aMemberRefusesAGroupItIsNotIn() throws Exception {
        QuorumClient c = cluster.closing(new QuorumClient(group().mesh(), "nope", Duration.ofSeconds(1)));
        assertThatThrownBy(() -> c.put("/a", utf8("1")).get(10, TimeUnit.SECONDS)).cause()
            .isInstanceOf(QuorumException.class).extracting(e -> ((QuorumException) e).error())
            .isEqualTo(Dmsg.ERR_NOLEADER);
    }
}
