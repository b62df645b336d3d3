package dev.dmsg.services.node;

import static dev.dmsg.services.testing.TestCluster.link;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.dmsg.link.Link;
import dev.dmsg.link.LinkConfig;
import dev.dmsg.link.LinkListener;
import dev.dmsg.link.Services;
import dev.dmsg.link.TransactionHandler;
import dev.dmsg.link.netty.LinkEndpoint;
import dev.dmsg.link.tls.Crypto;
import dev.dmsg.link.tls.Fingerprints;
import dev.dmsg.link.tls.NodeKeys;
import dev.dmsg.link.tls.PeerIdentity;
import dev.dmsg.link.tls.Role;
import dev.dmsg.link.tls.TlsConfig;
import dev.dmsg.link.tls.TrustPolicy;
import dev.dmsg.mesh.CircuitException;
import dev.dmsg.mesh.CircuitHandle;
import dev.dmsg.mesh.MeshConfig;
import dev.dmsg.mesh.NodeKey;
import dev.dmsg.mesh.SpanExt;
import dev.dmsg.services.blk.BlkClient;
import dev.dmsg.services.blk.RemoteBlockDevice;
import dev.dmsg.services.shell.ShellService;
import dev.dmsg.services.testing.TestCluster;
import dev.dmsg.testkit.Await;
import dev.dmsg.wire.CircHello;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.LnkConn;
import dev.dmsg.wire.LnkSpan;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assertions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 13, item 2, as the attacks were made — a trusted {@code member}, mallory, linked to beta
 * on the line alpha - beta - gamma, gamma exporting disk0 — and the end-to-end checks that answer
 * them (docs/IDENTITY.md): a span flood fills only mallory's own share; spans naming gamma and
 * gamma/disk0 are refused where they enter; a circuit flood fills only mallory's share; a far end
 * that is not who its span names is refused and the honest route used. Honest traffic — a BLK
 * round trip from alpha to gamma/disk0 and {@code status} on every node — is checked while each
 * attack runs.
 */
@Timeout(120)
class MeshAttackTest {
    static final Duration T = Duration.ofSeconds(15);
    static final long SIZE = 4L << 20;

    @TempDir
    Path tmp;

    @RegisterExtension
    final TestCluster cluster = new TestCluster(() -> tmp).pinning(Role.MEMBER); // mallory is a trusted insider
    final List<AutoCloseable> others = new ArrayList<>();
    Node alpha;
    Node beta;
    Node gamma;
    Node mallory;

    @BeforeEach
    void mesh() throws Exception {
        Path disk = cluster.disk("disk0.img", SIZE);
        alpha = cluster.start("alpha");
        beta = cluster.start("beta");
        gamma = cluster.start("gamma", Node.Export.of("disk0", disk).withAllow("alpha")); // the honest user, by name
        mallory = cluster.start("mallory");
        link(beta, alpha);
        link(gamma, beta);
        link(mallory, beta);
        for (Node n : cluster.nodes()) {
            Await.until(() -> labels(n).containsAll(List.of("alpha", "beta", "gamma", "mallory")), T,
                "every node in " + n.identity().label() + "'s tree");
        }
        Await.until(() -> labels(alpha).contains("gamma/disk0"), T, "alpha sees gamma's export");
    }

    @AfterEach
    void stop() throws Exception {
        for (AutoCloseable c : others) {
            c.close();
        }
    }

    /** The labels in {@code n}'s span table: fs_label, and cl_label/… for exports. */
    static List<String> labels(Node n) {
        try {
            List<String> out = new ArrayList<>();
            for (JsonNode s : n.status().get("spans")) {
                out.add(s.get("peer_type").asText().equals("BLOCK") ? s.get("cl_label").asText() : s.get("fs_label").asText());
            }
            return out;
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    static long refusedAt(Node n, String neighbour) throws Exception {
        JsonNode r = n.status().get("security").get("spans_refused").get(neighbour);
        return r == null ? 0 : r.asLong();
    }

    /** Honest traffic: alpha writes 1 MiB to gamma/disk0 through beta and reads it back; every node answers status. */
    void honestTrafficWorks() throws Exception {
        RemoteBlockDevice d = BlkClient.open(alpha.mesh(), "gamma/disk0", true, RemoteBlockDevice.Options.defaults())
            .get(20, TimeUnit.SECONDS);
        try {
            byte[] data = new byte[1 << 20];
            new Random(7).nextBytes(data);
            d.write(0, Unpooled.wrappedBuffer(data), false).get(20, TimeUnit.SECONDS);
            d.flush().get(20, TimeUnit.SECONDS);
            ByteBuf back = d.read(0, data.length).get(20, TimeUnit.SECONDS);
            try {
                byte[] got = new byte[data.length];
                back.getBytes(back.readerIndex(), got);
                assertThat(Arrays.equals(got, data)).as("the 1 MiB read back from gamma/disk0").isTrue();
            } finally {
                back.release();
            }
        } finally {
            d.close();
        }
        for (Node n : cluster.nodes()) {
            assertThat(n.shell().execute("status").status()).as("status on " + n.identity().label()).isZero();
        }
    }

    static LnkSpan nodeSpan(String label) {
        return new LnkSpan(new UUID(0, 0), UUID.nameUUIDFromBytes(label.getBytes()), Dmsg.PFSTYPE_NONE,
            Dmsg.PEER_CLUSTER, Dmsg.SPAN_PROTO_1, 0, 0, 0, 0, 0, 0, "", label);
    }

    @Test
    void aSpanFloodFromAMemberFillsOnlyItsOwnShare() throws Exception {
        int flood = 4200; // more than a link's 4096 transactions: what cut gamma/disk0 off before
        for (int i = 0; i < flood; i++) {
            mallory.mesh().advertise(nodeSpan("mallory.flood." + i), l -> { });
        }
        int share = MeshConfig.DEFAULT_MAX_SPANS_PER_ORIGIN;
        Await.until(() -> {
            try {
                return refusedAt(beta, "mallory") >= flood + 1 - share;
            } catch (Exception e) {
                return false;
            }
        }, Duration.ofSeconds(60), "beta refuses what is over mallory's share");
        Await.until(() -> labels(alpha).stream().filter(l -> l.startsWith("mallory")).count() >= share, T,
            "alpha holds mallory's share");
        assertThat(labels(beta).stream().filter(l -> l.startsWith("mallory")).count()).as("mallory's spans at beta")
            .isEqualTo(share);
        assertThat(labels(alpha).stream().filter(l -> l.startsWith("mallory")).count()).isEqualTo(share);
        assertThat(labels(alpha)).contains("gamma", "gamma/disk0", "beta");
        honestTrafficWorks();
    }

    @Test
    void spansNamingAnotherNodeOrItsExportAreRefusedWhereTheyEnterAndNamesStayUnambiguous() throws Exception {
        String serial = gamma.status().get("exports").get(0).get("serial").asText();
        LnkSpan disk = new LnkSpan(new UUID(0, 0), new UUID(0, 0), Dmsg.PFSTYPE_SERVER, Dmsg.PEER_BLOCK, 1, 0, 0, 0, 0,
            SIZE, 4096, "gamma/disk0", serial);
        mallory.mesh().advertise(nodeSpan("gamma"), l -> { });
        mallory.mesh().advertise(disk, l -> { });
        Await.until(() -> {
            try {
                return refusedAt(beta, "mallory") >= 2;
            } catch (Exception e) {
                return false;
            }
        }, T, "beta refuses both");
        assertThat(beta.status().get("security").get("spans_refused").get("mallory").asLong()).isEqualTo(2);
        ShellService.Result r = alpha.shell().execute("@gamma links");
        assertThat(r.status()).as(r.output()).isZero();
        assertThat(BlkClient.find(alpha.mesh(), "gamma/disk0", Duration.ZERO).get(10, TimeUnit.SECONDS).serial())
            .isEqualTo(serial);
        assertThat(BlkClient.find(alpha.mesh(), serial, Duration.ZERO).get(10, TimeUnit.SECONDS).node()).isEqualTo("gamma");
        honestTrafficWorks();
    }

    @Test
    void aCircuitFloodFromAMemberFillsOnlyItsOwnShare() throws Exception {
        NodeKey disk = BlkClient.find(mallory.mesh(), "gamma/disk0", T).get(10, TimeUnit.SECONDS).key();
        int share = MeshConfig.DEFAULT_MAX_CIRCUITS_PER_ORIGINATOR;
        List<CircuitHandle> held = new ArrayList<>();
        int limited = 0;
        for (int i = 0; i < share + 40; i++) {
            try {
                held.add(mallory.mesh().openCircuit(disk).get(10, TimeUnit.SECONDS));
            } catch (ExecutionException e) {
                assertThat(e.getCause()).isInstanceOf(CircuitException.class);
                assertThat(((CircuitException) e.getCause()).error()).as(e.getCause().getMessage()).isEqualTo(Dmsg.ERR_LIMIT);
                limited++;
            }
        }
        assertThat(held).as("mallory's share").hasSize(share);
        assertThat(limited).isEqualTo(40);
        honestTrafficWorks(); // alpha's circuits through the same beta, to the same gamma
        held.forEach(CircuitHandle::close);
    }

    @Test
    void aFarEndWithTheWrongKeyIsRefusedAndTheHonestRouteIsUsed() throws Exception {
        // imp, a member linked to alpha, replays gamma's real span (its proof does not cover dist)
        // as one hop away and then answers circuits to gamma itself, with its own key.
        NodeKeys impKeys = NodeKeys.generate("imp");
        alpha.trust().add("imp", impKeys.fingerprint(), Role.MEMBER, 0);
        Map<String, LnkSpan> spans = new ConcurrentHashMap<>();
        Map<String, byte[]> proofs = new ConcurrentHashMap<>();
        AtomicInteger circuits = new AtomicInteger();
        Services services = new Services();
        services.accept(Dmsg.LNK_SPAN, (txn, create) -> {
            LnkSpan s = create.ext(LnkSpan.class);
            spans.put(s.fsLabel(), s);
            proofs.put(s.fsLabel(), create.auxCopy());
            return (t, m) -> {
                if (m.isDelete()) {
                    t.close();
                }
            };
        });
        services.accept(Dmsg.LNK_CIRC, (txn, create) -> {
            circuits.incrementAndGet();
            try {
                CircHello o = CircHello.parse(create.aux());
                byte[] eph = Crypto.x25519PrivateKey();
                byte[] originator = Fingerprints.sha256(Crypto.certificates(o.chain())[0].getPublicKey());
                CircHello unsigned = new CircHello(CircHello.ENDPOINT, CircHello.SEALED, Crypto.random(32),
                    Crypto.x25519PublicKey(eph), originator, Crypto.der(impKeys.chain()), new byte[0]);
                CircHello e = unsigned.signed(Crypto.sign(impKeys.privateKey(), unsigned.signedBytes(o)));
                txn.send(Dmsg.LNK_ERROR, 0, null, e.encode());
            } catch (Exception e) {
                txn.reply(Dmsg.ERR_IO);
            }
            return TransactionHandler.CLOSE_ON_DELETE;
        });
        UUID nil = new UUID(0, 0);
        LnkConn conn = SpanExt.mark(new LnkConn(nil, nil, nil, -1L, Dmsg.PEER_CLUSTER, Dmsg.PFSTYPE_NONE,
            Dmsg.SPAN_PROTO_1, 0, 0, 0, -1L, "", "imp"));
        TrustPolicy pins = TrustPolicy.of(List.of(new PeerIdentity("alpha", alpha.keys().fingerprint(), Role.MEMBER, 0)));
        LinkEndpoint imp = new LinkEndpoint(LinkConfig.builder().label("imp").conn(conn).tls(TlsConfig.of(impKeys, pins))
            .build(), services, LinkListener.NONE, 1);
        others.add(() -> imp.close(Duration.ofSeconds(2)));
        Link toAlpha = imp.connect("127.0.0.1", alpha.address().getPort()).get(10, TimeUnit.SECONDS);
        Await.until(() -> spans.containsKey("gamma") && proofs.get("gamma").length > 0, T, "imp hears gamma's span");
        LnkSpan g = spans.get("gamma");
        LnkSpan near = new LnkSpan(g.pfsClid(), g.pfsFsid(), g.pfsType(), g.peerType(), g.protoVersion(), g.status(),
            g.reserved02(), 0, 0, g.mediaBytes(), g.mediaBlksize(), g.clLabel(), g.fsLabel());
        toAlpha.execute(() -> toAlpha.open(Dmsg.LNK_SPAN, near, Unpooled.wrappedBuffer(proofs.get("gamma")), (t, m) -> { }));
        Await.until(() -> {
            try {
                for (JsonNode s : alpha.status().get("spans")) {
                    if (s.get("fs_label").asText().equals("gamma") && s.get("dist").asInt() == 0) {
                        return true;
                    }
                }
                return false;
            } catch (Exception e) {
                return false;
            }
        }, T, "alpha takes imp's replayed path as its shortest to gamma");

        ShellService.Result r = alpha.shell().execute("@gamma links");
        assertThat(r.status()).as(r.output()).isZero();
        assertThat(r.output()).as("gamma's own links: beta is one").contains("beta");
        assertThat(circuits.get()).as("imp was tried once and refused").isEqualTo(1);
        assertThat(alpha.shell().execute("@gamma links").status()).isZero();
        assertThat(circuits.get()).as("then avoided").isEqualTo(1);
        honestTrafficWorks();
    }

    @Test
    void anOriginatorTheExporterDoesNotTrustIsRefusedWhileTrustedOnesAreServed() throws Exception {
        Node stray = cluster.startUnpinned(Node.Settings.of("127.0.0.1", 0, tmp.resolve("stray"),
            Node.Identity.of("stray", "")));
        Node.trustEachOther(stray, beta, Role.MEMBER); // only its neighbour knows it
        link(stray, beta);
        Await.until(() -> labels(stray).contains("gamma/disk0"), T, "stray sees the export");
        NodeKey disk = BlkClient.find(stray.mesh(), "gamma/disk0", T).get(10, TimeUnit.SECONDS).key();
        ExecutionException e = Assertions.assertThrows(ExecutionException.class,
            () -> stray.mesh().openCircuit(disk).get(10, TimeUnit.SECONDS));
        assertThat(e.getCause()).isInstanceOf(CircuitException.class);
        assertThat(((CircuitException) e.getCause()).error()).isEqualTo(Dmsg.ERR_PERM);
        assertThat(e.getCause().getMessage()).contains("does not accept this node as the circuit's originator");
        honestTrafficWorks();
    }

    @Test
    void aNeighboursCircuitRidesItsLinksTlsAndAFartherOneIsSealedEndToEnd() throws Exception {
        CircuitHandle near = alpha.mesh().openCircuit(alpha.resolve("beta")).get(10, TimeUnit.SECONDS);
        assertThat(near.peer().name()).isEqualTo("beta");
        assertThat(near.sealed()).as("direct: the link's TLS is the circuit's").isFalse();
        CircuitHandle far = alpha.mesh().openCircuit(alpha.resolve("gamma")).get(10, TimeUnit.SECONDS);
        assertThat(far.peer().name()).isEqualTo("gamma");
        assertThat(far.sealed()).as("through beta: sealed").isTrue();
        // gamma holds it as its endpoint (the relay beta only passes it on)
        Await.until(() -> {
            try {
                return gamma.shell().execute("circuits").output().contains("endpoint");
            } catch (RuntimeException e) {
                return false;
            }
        }, T, "gamma holds the circuit");
        near.close();
        far.close();
    }
}
