package dev.dmsg.quorum.raft;

import static dev.dmsg.quorum.raft.RaftTestCluster.GROUP;
import static dev.dmsg.quorum.raft.RaftTestCluster.items;
import static org.assertj.core.api.Assertions.assertThat;

import dev.dmsg.link.LinkConfig;
import dev.dmsg.link.Services;
import dev.dmsg.link.netty.LinkEndpoint;
import dev.dmsg.link.tls.NodeKeys;
import dev.dmsg.link.tls.PeerIdentity;
import dev.dmsg.link.tls.Role;
import dev.dmsg.link.tls.TlsConfig;
import dev.dmsg.link.tls.TrustPolicy;
import dev.dmsg.mesh.MeshConfig;
import dev.dmsg.mesh.MeshNode;
import dev.dmsg.mesh.MeshScheduler;
import dev.dmsg.mesh.SpanEngine;
import dev.dmsg.mesh.SpanExt;
import dev.dmsg.testkit.Await;
import dev.dmsg.testkit.LeakDetector;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
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
 * Each advertises its quorum span; the group elects and commits over QRM_RAFT transactions, and a
 * 200 KiB write — more than three chunks each way — arrives whole everywhere.
 */
@ExtendWith(LeakDetector.class)
@Timeout(60)
class MeshRaftTest {
    static final List<String> LABELS = List.of("alpha", "beta", "gamma");
    final Map<String, MeshTestNode> nodes = new LinkedHashMap<>();
    RaftTestCluster cluster;

    /** A node as the node service would wire one: TLS endpoint, mesh with identities, the Raft transport. */
    static final class MeshTestNode implements AutoCloseable {
        final String label;
        final ScheduledExecutorService meshThread = Executors.newSingleThreadScheduledExecutor();
        final Services services = new Services();
        final MeshNode mesh;
        final LinkEndpoint endpoint;
        final MeshRaftTransport transport;
        final InetSocketAddress bound;

        MeshTestNode(String label, NodeKeys keys, TrustPolicy trust) throws Exception {
            this.label = label;
            SpanEngine engine = new SpanEngine(MeshConfig.defaults(), System::nanoTime, label.hashCode() | 1, 7);
            this.mesh = new MeshNode(engine, MeshScheduler.of(meshThread), keys, trust);
            mesh.register(services);
            this.endpoint = new LinkEndpoint(LinkConfig.builder().label(label)
                .conn(SpanExt.mark(LinkConfig.defaultConn(label))).tls(TlsConfig.of(keys, trust)).build(),
                services, mesh.listener(), 1);
            this.bound = endpoint.listen("127.0.0.1", 0);
            meshThread.scheduleAtFixedRate(() -> engine.tick(System.nanoTime()), 250, 250, TimeUnit.MILLISECONDS);
            this.transport = new MeshRaftTransport(mesh, label, services);
            mesh.advertise(QuorumIds.memberSpan(GROUP, label), l -> { });
        }

        boolean sees(String member) throws Exception {
            CompletableFuture<Boolean> f = new CompletableFuture<>();
            mesh.execute(() -> f.complete(mesh.engine().bestLinkFor(QuorumIds.memberKey(GROUP, member)) != null));
            return f.get(5, TimeUnit.SECONDS);
        }

        @Override
        public void close() {
            transport.close();
            endpoint.close();
            meshThread.shutdownNow();
        }
    }

    void mesh() throws Exception {
        Map<String, NodeKeys> keys = new LinkedHashMap<>();
        List<PeerIdentity> pins = new ArrayList<>();
        for (String l : LABELS) {
            NodeKeys k = NodeKeys.generate(l);
            keys.put(l, k);
            pins.add(new PeerIdentity(l, k.fingerprint(), Role.MEMBER, 0));
        }
        TrustPolicy trust = TrustPolicy.of(pins);
        for (String l : LABELS) {
            nodes.put(l, new MeshTestNode(l, keys.get(l), trust));
        }
        link("alpha", "beta");
        link("beta", "gamma");
        for (MeshTestNode n : nodes.values()) {
            for (String m : LABELS) {
                if (!m.equals(n.label)) {
                    Await.until(() -> {
                        try {
                            return n.sees(m);
                        } catch (Exception e) {
                            return false;
                        }
                    }, Duration.ofSeconds(10), n.label + " sees " + m + "'s quorum span");
                }
            }
        }
    }

    void link(String from, String to) throws Exception {
        nodes.get(from).endpoint.connect("127.0.0.1", nodes.get(to).bound.getPort()).get(10, TimeUnit.SECONDS);
    }

    @AfterEach
    void close() {
        if (cluster != null) {
            cluster.close();
        }
        nodes.values().forEach(MeshTestNode::close);
    }

    @Test
    void aGroupElectsAndCommitsOverCircuitsAndA200KiBWriteArrivesWhole() throws Exception {
        mesh();
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
    }
}
