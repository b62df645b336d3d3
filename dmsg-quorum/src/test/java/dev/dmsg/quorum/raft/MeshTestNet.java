package dev.dmsg.quorum.raft;

import static dev.dmsg.quorum.raft.RaftTestCluster.GROUP;

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

/**
 * Real nodes for the quorum tests, wired as the node service will wire them: a TLS endpoint on
 * loopback, a mesh with identities (every node trusts every other as a member), a
 * {@link MeshRaftTransport}, and the node's quorum span for {@link RaftTestCluster#GROUP}.
 */
final class MeshTestNet implements AutoCloseable {
    final Map<String, Node> nodes = new LinkedHashMap<>();

    static final class Node implements AutoCloseable {
        final String label;
        final ScheduledExecutorService meshThread = Executors.newSingleThreadScheduledExecutor();
        final Services services = new Services();
        final MeshNode mesh;
        final LinkEndpoint endpoint;
        final MeshRaftTransport transport;
        final InetSocketAddress bound;

        Node(String label, NodeKeys keys, TrustPolicy trust) throws Exception {
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

    /** Nodes {@code labels}, linked in a line in that order, once each sees every other's quorum span. */
    MeshTestNet line(List<String> labels) throws Exception {
        Map<String, NodeKeys> keys = new LinkedHashMap<>();
        List<PeerIdentity> pins = new ArrayList<>();
        for (String l : labels) {
            NodeKeys k = NodeKeys.generate(l);
            keys.put(l, k);
            pins.add(new PeerIdentity(l, k.fingerprint(), Role.MEMBER, 0));
        }
        TrustPolicy trust = TrustPolicy.of(pins);
        for (String l : labels) {
            nodes.put(l, new Node(l, keys.get(l), trust));
        }
        for (int i = 1; i < labels.size(); i++) {
            nodes.get(labels.get(i - 1)).endpoint.connect("127.0.0.1", nodes.get(labels.get(i)).bound.getPort())
                .get(10, TimeUnit.SECONDS);
        }
        for (Node n : nodes.values()) {
            for (String m : labels) {
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
        return this;
    }

    @Override
    public void close() {
        nodes.values().forEach(Node::close);
    }
}
