package dev.dmsg.services.quorum;

import dev.dmsg.services.node.Node;
import dev.dmsg.services.testing.TestCluster;
import dev.dmsg.wire.qrm.Batch;
import dev.dmsg.wire.qrm.Blob;
import dev.dmsg.wire.qrm.Op;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The stage of the quorum attack tests: members a, b, c of group {@code g} (TLS, fully meshed),
 * the honest node h and the attacker x — a member-role node outside the group, so it may forge
 * circuits but holds no admin rights — both linked to a. {@link #client} is h's client, on its link
 * to a: the honest traffic shares its member with the attack.
 */
record AttackRig(List<Node> members, Node honest, Node x, QuorumClient client) {
    static final Duration T = Duration.ofSeconds(20);

    static AttackRig start(TestCluster cluster) throws Exception {
        List<Node> members = cluster.quorum("g", "a", "b", "c");
        Node h = cluster.start("h");
        Node x = cluster.start("x");
        TestCluster.link(h, members.get(0));
        TestCluster.link(x, members.get(0));
        QuorumClient c = viaLink(cluster, h);
        c.put("/h/warm", "up".getBytes(StandardCharsets.UTF_8)).get(30, TimeUnit.SECONDS); // the group has a leader
        return new AttackRig(members, h, x, c);
    }

    /** A client of {@code n} that uses its link to a neighbour member. Closed with the cluster. */
    static QuorumClient viaLink(TestCluster cluster, Node n) {
        return cluster.closing(new QuorumClient(n.mesh(), () -> n.endpoint().links(), "g", T));
    }

    Node a() {
        return members.get(0);
    }

    /** The store's revision now (a linearizable read). */
    long revision() throws Exception {
        return client.read(Batch.of(Op.get(Blob.utf8("/"))), false).get(20, TimeUnit.SECONDS).revision();
    }

    /** The keys under {@code prefix}, read linearizably. */
    List<String> keys(String prefix) throws Exception {
        return client.read(Batch.of(Op.getPrefix(Blob.utf8(prefix), 0)), false).get(20, TimeUnit.SECONDS)
            .results().results().get(0).kvs().stream().map(kv -> kv.key().utf8()).toList();
    }

    /** Waits until no member holds a prepared batch. */
    void awaitNothingPrepared(TestCluster cluster) throws InterruptedException {
        for (Node m : members) {
            cluster.await(() -> m.quorum().engine("g").status().prepared() == 0,
                m.identity().label() + " holds no prepared batch");
        }
    }
}
