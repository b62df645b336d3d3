package dev.dmsg.services.blk;

import static dev.dmsg.services.testing.TestCluster.link;
import static dev.dmsg.services.testing.TestCluster.span;
import static dev.dmsg.services.testing.TestCluster.status;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import dev.dmsg.link.Link;
import dev.dmsg.link.LinkConfig;
import dev.dmsg.link.LinkListener;
import dev.dmsg.link.Services;
import dev.dmsg.link.netty.LinkEndpoint;
import dev.dmsg.link.tls.Grants;
import dev.dmsg.link.tls.NodeKeys;
import dev.dmsg.link.tls.PeerIdentity;
import dev.dmsg.link.tls.Role;
import dev.dmsg.link.tls.TlsConfig;
import dev.dmsg.link.tls.TrustPolicy;
import dev.dmsg.mesh.CircuitHandle;
import dev.dmsg.mesh.NodeKey;
import dev.dmsg.services.Access;
import dev.dmsg.services.node.Node;
import dev.dmsg.services.testing.TestCluster;
import dev.dmsg.testkit.LeakDetector;
import dev.dmsg.wire.BlkIo;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.LnkConn;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The BLK export server on real nodes over TLS on loopback (docs/BLK.md "Exports" and "The
 * wire"): the export's span two hops away, raw BLK transactions over a circuit and over a direct
 * link, every refusal with its code, the roles of docs/SECURITY.md §5, and what a dead link or
 * circuit leaves behind (nothing: no open, no buffer).
 * The bounds on requests in flight and queued per open run on the simulator: BlkSimTest.
 */
@Timeout(60)
@ExtendWith(LeakDetector.class)
class BlkServerTest {
    static final Duration T = Duration.ofSeconds(10);
    static final long SIZE = 4L << 20;
    static final int K64 = 64 * 1024;

    @TempDir
    Path tmp;

    @RegisterExtension
    final TestCluster cluster = new TestCluster(() -> tmp);

    // ------------------------------------------------------------------------------------------
    // Fixtures

    Path disk(String name) throws Exception {
        return cluster.disk(name, SIZE);
    }

    Node start(String label, Node.Export... exports) throws Exception {
        // the role rules are what these tests exercise: every role may be on the list (docs/IDENTITY.md §5)
        return cluster.start(label, Arrays.stream(exports)
            .map(e -> e.allow().isEmpty() ? e.withAllow("member", "client") : e).toArray(Node.Export[]::new));
    }

    /** A peer with its own key, trusted by {@code node} as {@code role} with {@code grants}, on a direct link. */
    Peer peer(Node node, String name, Role role, int grants) throws Exception {
        NodeKeys keys = NodeKeys.generate(name);
        node.trust().add(name, keys.fingerprint(), role, grants);
        TrustPolicy pins = TrustPolicy.of(List.of(new PeerIdentity(node.identity().label(), node.keys().fingerprint(),
            Role.MEMBER, 0)));
        UUID nil = new UUID(0, 0);
        LnkConn conn = new LnkConn(nil, nil, nil, 0L, Dmsg.PEER_NONE, Dmsg.PFSTYPE_NONE, Dmsg.SPAN_PROTO_1, 0, 0, 0L,
            0L, "", name);
        LinkEndpoint ep = new LinkEndpoint(LinkConfig.builder().label(name).conn(conn).tls(TlsConfig.of(keys, pins))
            .build(), new Services(), LinkListener.NONE, 1);
        Peer p = new Peer(ep, ep.connect("127.0.0.1", node.address().getPort()).get(10, TimeUnit.SECONDS));
        cluster.closing(p);
        return p;
    }

    record Peer(LinkEndpoint endpoint, Link link) implements AutoCloseable {
        Blk blk() {
            return new Blk(link::open);
        }

        @Override
        public void close() {
            endpoint.close(Duration.ofSeconds(2));
        }
    }

    static long denied(Link l) throws Exception {
        CompletableFuture<Long> f = new CompletableFuture<>();
        l.execute(() -> f.complete(l.stats().denied()));
        return f.get(5, TimeUnit.SECONDS);
    }

    static Link sideOf(Node n, String peerName) {
        return n.endpoint().links().stream().filter(l -> l.peer() != null && l.peer().name().equals(peerName))
            .findFirst().orElseThrow();
    }

    static byte[] pattern(int bytes, int seed) {
        byte[] b = new byte[bytes];
        for (int i = 0; i < bytes; i++) {
            b[i] = (byte) (i * 31 + seed * 7 + 1);
        }
        return b;
    }

    static final int ANSWER = Dmsg.REPLY | Dmsg.CREATE | Dmsg.DELETE;

    // ------------------------------------------------------------------------------------------
    // Tests

    @Test
    void anExportIsAdvertisedTwoHopsAwayAndReadOverACircuitAuthenticatedEndToEnd() throws Exception {
        Path file = disk("disk0.img");
        byte[] data = pattern(K64, 1);
        try (RandomAccessFile r = new RandomAccessFile(file.toFile(), "rw")) {
            r.seek(1 << 20);
            r.write(data);
        }
        Node exp = start("exp", Node.Export.of("disk0", file));
        Node relay = start("relay");
        Node far = start("far");
        link(relay, exp, Role.ADMIN);
        link(far, relay, Role.MEMBER);
        String serial = status(exp).get("exports").get(0).get("serial").asText();
        // docs/IDENTITY.md §4: exp authorises far itself, by its own pin, not because the relay vouches
        exp.trust().add("far", far.keys().fingerprint(), Role.MEMBER, 0);
        far.trust().add("exp", exp.keys().fingerprint(), Role.MEMBER, 0);

        cluster.await(() -> span(far, "exp/disk0") != null, "far sees exp's export");
        JsonNode s = span(far, "exp/disk0");
        assertThat(s.get("peer_type").asText()).isEqualTo("BLOCK");
        assertThat(s.get("pfs_type").asText()).isEqualTo("SERVER");
        assertThat(s.get("fs_label").asText()).isEqualTo(serial);
        assertThat(s.get("bytes").asLong()).isEqualTo(SIZE);
        assertThat(s.get("blksize").asInt()).isEqualTo(4096);
        assertThat(s.get("dist").asInt()).isEqualTo(1);

        NodeKey key = far.resolve(serial);
        CircuitHandle c = far.mesh().openCircuit(key).get(10, TimeUnit.SECONDS);
        assertThat(c.hops()).isEqualTo(2);
        Blk blk = new Blk(c::open);
        Link relaySide = sideOf(exp, "relay");

        assertThat(c.peer().name()).as("far authenticated exp end to end").isEqualTo("exp");
        assertThat(c.sealed()).as("through a relay: sealed").isTrue();
        // far, a member of exp by exp's own pin, may write
        Blk.Opened rw = blk.open(Dmsg.BLKOPEN_RD | Dmsg.BLKOPEN_WR, null);
        assertThat(rw.first().cmd()).isEqualTo(Dmsg.BLK_ERROR | Dmsg.CREATE | Dmsg.REPLY);
        assertThat(blk.write(rw.keyid(), 0, 4096, pattern(4096, 9)).error()).isZero();
        assertThat(blk.read(rw.keyid(), 0, 4096).aux()).isEqualTo(pattern(4096, 9));
        rw.txn().close();
        assertThat(rw.closed().get(10, TimeUnit.SECONDS).error()).isZero();
        assertThat(denied(relaySide)).isZero();

        Blk.Opened rd = blk.open(Dmsg.BLKOPEN_RD, null);
        assertThat(rd.first().cmd()).as("open: BLK_ERROR|CREATE|REPLY, held open").isEqualTo(Dmsg.BLK_ERROR
            | Dmsg.CREATE | Dmsg.REPLY);
        long keyid = rd.keyid();
        assertThat(keyid).isNotZero();
        cluster.await(() -> status(exp).get("exports").get(0).get("opens").asInt() == 1, "one open at exp");

        Blk.Reply read = blk.read(keyid, 1 << 20, K64);
        assertThat(read.cmd()).isEqualTo(Dmsg.LNK_ERROR | ANSWER);
        assertThat(read.error()).isZero();
        assertThat(read.aux()).isEqualTo(data);

        Blk.Reply big = blk.read(keyid, 0, K64 + 1);
        assertThat(big.cmd()).isEqualTo(Dmsg.BLK_ERROR | ANSWER);
        assertThat(big.error()).isEqualTo(Dmsg.ERR_PARAM);
        assertThat(big.buf()).isEqualTo("bytes 65537 not in 1..65536");
        assertThat(big.blk().resid()).isEqualTo(K64 + 1);
        Blk.Reply past = blk.read(keyid, SIZE - 4096, 8192);
        assertThat(past.error()).isEqualTo(Dmsg.ERR_PARAM);
        assertThat(past.buf()).isEqualTo("offset 4190208+8192 past the end (4194304)");
        assertThat(blk.read(keyid, -1, 512).error()).isEqualTo(Dmsg.ERR_PARAM);
        Blk.Reply wrong = blk.read(keyid + 1, 0, 4096);
        assertThat(wrong.error()).isEqualTo(Dmsg.ERR_PARAM);
        assertThat(wrong.buf()).isEqualTo(String.format("no open with keyid %016x", keyid + 1));
        Blk.Reply ro = blk.write(keyid, 0, 4096, new byte[4096]);
        assertThat(ro.error()).isEqualTo(Dmsg.ERR_PERM);
        assertThat(ro.buf()).isEqualTo("BLK_WRITE under an open without WR");
        assertThat(blk.call(Dmsg.BLK_FLUSH, new BlkIo(keyid, 0, 0, 0), null).error()).isEqualTo(Dmsg.ERR_PERM);
        assertThat(blk.call(Dmsg.BLK_FREEBLKS, new BlkIo(keyid, 0, 4096, 0), null).error()).isEqualTo(Dmsg.ERR_PERM);

        // the keyid is the circuit's: on a direct link it names nothing
        Peer root = peer(exp, "root", Role.ADMIN, 0);
        assertThat(root.blk().read(keyid, 0, 4096).error()).isEqualTo(Dmsg.ERR_PARAM);

        // closing the BLK_OPEN transaction kills the keyid
        rd.txn().close();
        assertThat(rd.closed().get(10, TimeUnit.SECONDS).error()).isZero();
        assertThat(blk.read(keyid, 0, 4096).error()).isEqualTo(Dmsg.ERR_PARAM);
        cluster.await(() -> status(exp).get("exports").get(0).get("opens").asInt() == 0, "no open left at exp");
        assertThat(exp.blk().refusals()).isEqualTo(9);
        assertThat(status(exp).get("blk").get("refused").asLong()).isEqualTo(9);
        c.close();
    }

    @Test
    void anAdminOnADirectLinkWritesReadsZeroFillsFreesAndFlushes() throws Exception {
        Path file = disk("disk0.img");
        Node exp = start("exp", Node.Export.of("disk0", file));
        Blk blk = peer(exp, "root", Role.ADMIN, 0).blk();
        long keyid = blk.open(Dmsg.BLKOPEN_RD | Dmsg.BLKOPEN_WR, null).keyid();

        byte[] data = pattern(K64, 2);
        Blk.Reply w = blk.write(keyid, 128 * 1024, K64, data);
        assertThat(w.cmd()).isEqualTo(Dmsg.LNK_ERROR | ANSWER);
        assertThat(w.error()).isZero();
        assertThat(blk.read(keyid, 128 * 1024, K64).aux()).isEqualTo(data);

        // aux shorter than bytes: the tail is written as zeros (docs/REFERENCE.md §6.2, as C did)
        byte[] head = new byte[4096];
        Arrays.fill(head, (byte) 0xAA);
        assertThat(blk.write(keyid, 128 * 1024, 8192, head).error()).isZero();
        byte[] back = blk.read(keyid, 128 * 1024, 8192).aux();
        assertThat(Arrays.copyOfRange(back, 0, 4096)).containsOnly((byte) 0xAA);
        assertThat(Arrays.copyOfRange(back, 4096, 8192)).containsOnly((byte) 0);
        // no aux at all: zeros; more aux than bytes: PARAM
        assertThat(blk.write(keyid, 0, 512, null).error()).isZero();
        Blk.Reply over = blk.write(keyid, 0, 512, new byte[1024]);
        assertThat(over.error()).isEqualTo(Dmsg.ERR_PARAM);
        assertThat(over.buf()).isEqualTo("aux_bytes 1024 > bytes 512");

        // FREEBLKS: the range reads as zeros; FLUSH: 0, and the file holds what was written
        Blk.Reply free = blk.call(Dmsg.BLK_FREEBLKS, new BlkIo(keyid, 128 * 1024 + 8192, K64 - 8192, 0), null);
        assertThat(free.cmd()).isEqualTo(Dmsg.LNK_ERROR | ANSWER);
        assertThat(free.error()).isZero();
        assertThat(blk.read(keyid, 128 * 1024 + 8192, K64 - 8192).aux()).containsOnly((byte) 0);
        Blk.Reply flush = blk.call(Dmsg.BLK_FLUSH, new BlkIo(keyid, 0, 0, 0), null);
        assertThat(flush.cmd()).isEqualTo(Dmsg.LNK_ERROR | ANSWER);
        assertThat(flush.error()).isZero();
        byte[] onDisk = Files.readAllBytes(file);
        assertThat(Arrays.copyOfRange(onDisk, 128 * 1024, 128 * 1024 + 4096)).containsOnly((byte) 0xAA);
        assertThat(Arrays.copyOfRange(onDisk, 128 * 1024 + 4096, 128 * 1024 + K64)).containsOnly((byte) 0);

        assertThat(blk.read(keyid, 0, 0).error()).isEqualTo(Dmsg.ERR_PARAM); // bytes 0
        assertThat(blk.call(Dmsg.BLK_FREEBLKS, new BlkIo(keyid, 0, K64 + 1, 0), null).error()).isEqualTo(Dmsg.ERR_PARAM);

        JsonNode e = status(exp).get("exports").get(0);
        assertThat(e.get("name").asText()).isEqualTo("disk0");
        assertThat(e.get("path").asText()).isEqualTo(file.toString());
        assertThat(e.get("size").asLong()).isEqualTo(SIZE);
        assertThat(e.get("read_only").asBoolean()).isFalse();
        assertThat(e.get("cl_label").asText()).isEqualTo("exp/disk0");
        assertThat(e.get("opens").asInt()).isEqualTo(1);
        assertThat(e.get("writes").asLong()).isEqualTo(3);
        assertThat(e.get("bytes_written").asLong()).isEqualTo(K64 + 8192 + 512);
        assertThat(e.get("bytes_read").asLong()).isEqualTo(K64 + 8192 + K64 - 8192);
        assertThat(e.get("flushes").asLong()).isEqualTo(1);
        assertThat(e.get("trims").asLong()).isEqualTo(1);
        assertThat(e.get("refused").asLong()).isEqualTo(3);
        String text = exp.shell().execute("status").output();
        assertThat(text).contains("exports:\n  disk0        " + file + "  4194304 bytes  blksize 4096  serial "
            + e.get("serial").asText()).contains("opens 1  read 131072 B in 3  written 74240 B in 3  errors 0  refused 3");
        assertThat(text).contains("(" + e.get("serial").asText() + ") dist 0 [this node] bytes 4194304 blksize 4096");
    }

    @Test
    void theExportIsChosenByNameOnADirectLinkAndAReadOnlyExportRefusesWriteOpens() throws Exception {
        Node exp = start("exp", Node.Export.of("a", disk("a.img")),
            new Node.Export("b", disk("b.img"), true, 512));
        Blk blk = peer(exp, "root", Role.ADMIN, 0).blk();
        Blk.Opened which = blk.open(Dmsg.BLKOPEN_RD, null);
        assertThat(which.first().error()).isEqualTo(Dmsg.ERR_PARAM);
        assertThat(which.first().buf()).isEqualTo("which export? name it in the BLK_OPEN aux");
        assertThat(blk.open(Dmsg.BLKOPEN_RD, "nosuch").first().buf()).isEqualTo("no export 'nosuch' here");
        Blk.Opened rw = blk.open(Dmsg.BLKOPEN_RD | Dmsg.BLKOPEN_WR, "b");
        assertThat(rw.first().error()).isEqualTo(Dmsg.ERR_PERM);
        assertThat(rw.first().buf()).isEqualTo("export 'b' is read-only");
        assertThat(blk.open(0, "a").first().error()).isEqualTo(Dmsg.ERR_PARAM);
        assertThat(blk.open(4, "a").first().buf()).isEqualTo("modes 4: must be RD (1) and/or WR (2)");

        // two opens, two exports: each I/O hits the export of its open
        long a = blk.open(Dmsg.BLKOPEN_RD | Dmsg.BLKOPEN_WR, "a").keyid();
        long b = blk.open(Dmsg.BLKOPEN_RD, "b").keyid();
        assertThat(blk.write(a, 0, 4096, pattern(4096, 3)).error()).isZero();
        assertThat(blk.read(a, 0, 4096).aux()).isEqualTo(pattern(4096, 3));
        assertThat(blk.read(b, 0, 4096).aux()).containsOnly((byte) 0);
        JsonNode ex = status(exp).get("exports");
        assertThat(ex.get(1).get("read_only").asBoolean()).isTrue();
        assertThat(ex.get(1).get("blksize").asInt()).isEqualTo(512);
        cluster.await(() -> span(exp, "exp/b") != null, "exp's own span for b");
        assertThat(span(exp, "exp/b").get("blksize").asInt()).isEqualTo(512);
        assertThat(span(exp, "exp/b").get("local").asBoolean()).isTrue();
    }

    @Test
    void rolesOnADirectLinkFollowSecurityTable() throws Exception {
        Node exp = start("exp", Node.Export.of("disk0", disk("disk0.img")));
        int rdwr = Dmsg.BLKOPEN_RD | Dmsg.BLKOPEN_WR;

        Blk nothing = peer(exp, "ops", Role.CLIENT, Grants.SHELL_RO).blk();
        Blk.Opened refused = nothing.open(Dmsg.BLKOPEN_RD, null);
        assertThat(refused.first().error()).isEqualTo(Dmsg.ERR_PERM);
        assertThat(refused.first().buf()).isEqualTo("open needs admin, member, or a client with blk-read");
        assertThat(denied(sideOf(exp, "ops"))).isEqualTo(1);

        Blk reader = peer(exp, "reader", Role.CLIENT, Grants.BLK_READ).blk();
        long k = reader.open(Dmsg.BLKOPEN_RD, null).keyid();
        assertThat(reader.read(k, 0, 4096).error()).isZero();
        assertThat(reader.open(rdwr, null).first().error()).isEqualTo(Dmsg.ERR_PERM);
        assertThat(denied(sideOf(exp, "reader"))).isEqualTo(1);

        Blk writer = peer(exp, "writer", Role.CLIENT, Grants.BLK_RW).blk();
        long w = writer.open(rdwr, null).keyid();
        assertThat(writer.write(w, 0, 4096, pattern(4096, 4)).error()).isZero();

        Blk member = peer(exp, "beta", Role.MEMBER, 0).blk();
        assertThat(member.read(member.open(Dmsg.BLKOPEN_RD, null).keyid(), 0, 4096).aux()).isEqualTo(pattern(4096, 4));
        long mw = member.open(rdwr, null).keyid();
        assertThat(member.write(mw, 4096, 4096, pattern(4096, 6)).error()).isZero();

        // a keyid is its link's: another peer may not use it
        assertThat(member.read(w, 0, 4096).error()).isEqualTo(Dmsg.ERR_PARAM);
    }

    @Test
    void twoHundredConcurrentReadsOnOneOpenAllComplete() throws Exception {
        Node exp = start("exp", Node.Export.of("disk0", disk("disk0.img")));
        Blk blk = peer(exp, "root", Role.ADMIN, 0).blk();
        long keyid = blk.open(Dmsg.BLKOPEN_RD | Dmsg.BLKOPEN_WR, null).keyid();
        byte[] data = pattern(K64, 5);
        assertThat(blk.write(keyid, 0, K64, data).error()).isZero();
        List<CompletableFuture<Blk.Reply>> reads = new ArrayList<>();
        for (int i = 0; i < 200; i++) {
            reads.add(blk.send(Dmsg.BLK_READ, new BlkIo(keyid, (i % 16) * 4096L, 4096, 0), null));
        }
        for (int i = 0; i < 200; i++) {
            Blk.Reply r = reads.get(i).get(10, TimeUnit.SECONDS);
            assertThat(r.error()).isZero();
            int at = (i % 16) * 4096;
            assertThat(r.aux()).isEqualTo(Arrays.copyOfRange(data, at, at + 4096));
        }
    }

    @Test
    void aLinkKilledMidFlightForgetsItsOpensAndEveryReplyAndBufferGoesIntoTheVoid() throws Exception {
        Node exp = start("exp");
        GatedDevice slow = new GatedDevice();
        cluster.closing(slow);
        BlkServer server = new BlkServer(Access.plaintextAdmin(), Map.of("slow", slow), (l, c) -> null);
        server.register(exp.services());
        Peer root = peer(exp, "root", Role.ADMIN, 0);
        Blk blk = root.blk();
        long keyid = blk.open(Dmsg.BLKOPEN_RD | Dmsg.BLKOPEN_WR, null).keyid();
        List<CompletableFuture<Blk.Reply>> sent = new ArrayList<>();
        for (int i = 0; i < 100; i++) { // 64 on the device, 36 queued, each with 64 KiB of data
            sent.add(blk.send(Dmsg.BLK_WRITE, new BlkIo(keyid, (long) (i % 64) * K64, K64, 0), pattern(K64, i)));
        }
        // answered at once, and after the 100 (the link is ordered): all of them have arrived
        assertThat(blk.read(keyid + 1, 0, 512).error()).isEqualTo(Dmsg.ERR_PARAM);
        assertThat(slow.pending.get()).isEqualTo(BlkServer.MAX_IN_FLIGHT);
        assertThat(server.opens()).isEqualTo(1);

        root.endpoint().abort("killed mid-flight");
        for (CompletableFuture<Blk.Reply> f : sent) {
            assertThat(f.get(10, TimeUnit.SECONDS).error()).isEqualTo(Dmsg.ERR_LOSTLINK); // the client's own abort
        }
        cluster.await(() -> server.opens() == 0, "the open forgotten");
        slow.release(); // the device finishes what it held: nobody to answer
        cluster.await(() -> server.discardedReplies() == BlkServer.MAX_IN_FLIGHT, "64 replies discarded");
        assertThat(slow.pending.get()).isZero();
        assertThat(slow.maxPending.get()).as("the queued 36 never reached the device").isEqualTo(BlkServer.MAX_IN_FLIGHT);
        // LeakDetector: the 36 queued writes' data were released with their transactions
    }

    @Test
    void aCircuitClosedMidFlightLeavesNoOpenInTheStatusAndNoBuffer() throws Exception {
        Node exp = start("exp", Node.Export.of("disk0", disk("disk0.img")));
        Node far = start("far");
        link(far, exp, Role.MEMBER);
        cluster.await(() -> span(far, "exp/disk0") != null, "far sees the export");
        NodeKey key = far.resolve("exp/disk0/" + status(exp).get("exports").get(0).get("serial").asText());
        CircuitHandle c = far.mesh().openCircuit(key).get(10, TimeUnit.SECONDS);
        Blk blk = new Blk(c::open);
        long keyid = blk.open(Dmsg.BLKOPEN_RD, null).keyid();
        cluster.await(() -> status(exp).get("exports").get(0).get("opens").asInt() == 1, "one open");
        List<CompletableFuture<Blk.Reply>> reads = new ArrayList<>();
        for (int i = 0; i < 200; i++) {
            reads.add(blk.send(Dmsg.BLK_READ, new BlkIo(keyid, (long) (i % 64) * K64, K64, 0), null));
        }
        c.close();
        for (CompletableFuture<Blk.Reply> f : reads) {
            assertThat(f.get(10, TimeUnit.SECONDS).error()).isIn(0, Dmsg.ERR_LOSTLINK); // answered, or lost with the circuit
        }
        cluster.await(() -> status(exp).get("exports").get(0).get("opens").asInt() == 0, "the open forgotten at exp");
        cluster.await(() -> exp.mesh().circuits().isEmpty(), "the circuit gone at exp");
    }

    @Test
    void theSerialIsMadeOncePerExportAndSurvivesARestart() throws Exception {
        Path f = disk("disk0.img");
        Node first = start("exp", Node.Export.of("disk0", f), Node.Export.of("disk1", disk("disk1.img")));
        String s0 = status(first).get("exports").get(0).get("serial").asText();
        String s1 = status(first).get("exports").get(1).get("serial").asText();
        assertThat(s0).isNotEqualTo(s1).hasSize(36);
        cluster.stop(first);
        assertThat(Files.readString(tmp.resolve("exp").resolve("exports").resolve("disk0.serial")).trim()).isEqualTo(s0);

        Node again = start("exp", new Node.Export("disk0", f, true, 4096));
        assertThat(status(again).get("exports").get(0).get("serial").asText()).isEqualTo(s0);
        cluster.await(() -> span(again, "exp/disk0") != null, "the span again");
        assertThat(span(again, "exp/disk0").get("fs_label").asText()).isEqualTo(s0);
    }

    @Test
    void aMissingFileADirectoryOrATooLongLabelStopsTheNodeAtStart() {
        Path missing = tmp.resolve("missing.img");
        assertThatThrownBy(() -> start("exp", Node.Export.of("disk0", missing)))
            .isInstanceOf(IOException.class)
            .hasMessage("export disk0: " + missing + " does not exist");
        assertThatThrownBy(() -> start("exp", Node.Export.of("disk0", tmp)))
            .isInstanceOf(IOException.class)
            .hasMessage("export disk0: " + tmp + " is a directory, not a file or a block device");
        assertThatThrownBy(() -> start("x".repeat(100), Node.Export.of("n".repeat(30), missing)))
            .isInstanceOf(IllegalArgumentException.class)
            .hasMessageContaining("is 131 bytes; max 127");
    }

    @Test
    void aReOpenNamingTheOldKeyidKillsItDropsItsQueueAndIsAnsweredOnlyOnceItsRunningRequestsAreDone() throws Exception {
        Node exp = start("exp");
        GatedDevice slow = new GatedDevice();
        cluster.closing(slow);
        BlkServer server = new BlkServer(Access.plaintextAdmin(), Map.of("slow", slow), (l, c) -> null);
        server.register(exp.services());
        Blk before = peer(exp, "before", Role.ADMIN, 0).blk(); // the path that is failing
        Blk after = peer(exp, "after", Role.ADMIN, 0).blk();   // the path failed over to
        int rdwr = Dmsg.BLKOPEN_RD | Dmsg.BLKOPEN_WR;
        long old = before.open(rdwr, null).keyid();
        List<CompletableFuture<Blk.Reply>> stale = new ArrayList<>();
        for (int i = 0; i < 100; i++) { // 64 on the device, 36 queued
            stale.add(before.send(Dmsg.BLK_WRITE, new BlkIo(old, (long) (i % 64) * K64, K64, 0), pattern(K64, i)));
        }
        assertThat(before.read(old + 1, 0, 512).error()).isEqualTo(Dmsg.ERR_PARAM); // the 100 have arrived
        assertThat(slow.pending.get()).isEqualTo(BlkServer.MAX_IN_FLIGHT);

        CompletableFuture<Blk.Opened> reopen = after.openLater(rdwr, String.format("supersedes=%016x", old));
        // the 36 queued are refused at once, on the old path that is still up; later ones name a dead keyid
        for (int i = BlkServer.MAX_IN_FLIGHT; i < 100; i++) {
            Blk.Reply r = stale.get(i).get(10, TimeUnit.SECONDS);
            assertThat(r.error()).isEqualTo(Dmsg.ERR_LOSTLINK);
            assertThat(r.buf()).isEqualTo("superseded by a re-open");
        }
        assertThat(before.write(old, 0, 512, new byte[512]).buf()).isEqualTo(String.format("no open with keyid %016x", old));
        assertThat(reopen).as("no answer while 64 writes of the old keyid run").isNotDone();
        assertThat(server.opens()).as("the new open, not yet answered").isEqualTo(1);

        slow.release();
        long fresh = reopen.get(10, TimeUnit.SECONDS).keyid();
        assertThat(fresh).isNotEqualTo(old);
        for (int i = 0; i < BlkServer.MAX_IN_FLIGHT; i++) {
            assertThat(stale.get(i).get(10, TimeUnit.SECONDS).error()).isZero(); // ran before the re-open's answer
        }
        assertThat(slow.maxPending.get()).as("the dropped 36 never reached the device").isEqualTo(BlkServer.MAX_IN_FLIGHT);
        assertThat(after.write(fresh, 0, 512, new byte[512]).error()).isZero();

        // nothing left of the old keyid: naming it again (or one never seen) is answered at once
        assertThat(after.openLater(Dmsg.BLKOPEN_RD, String.format("supersedes=%016x", old)).get(10, TimeUnit.SECONDS)
            .keyid()).isNotZero();
        Blk.Opened bad = after.open(Dmsg.BLKOPEN_RD, "supersedes=xyz");
        assertThat(bad.first().error()).isEqualTo(Dmsg.ERR_PARAM);
        assertThat(bad.first().buf()).isEqualTo("BLK_OPEN aux: bad supersedes=xyz");
    }

    /**
     * docs/IDENTITY.md §5: an export admits admins and whom its list names — by role or by node
     * label, checked against the originator at the far end of the circuit, not the relay — and
     * counts what each originator did.
     */
    @Test
    void anExportsListAdmitsAdminsAndWhomItNamesAndCountsByOriginator() throws Exception {
        Node exp = start("exp", Node.Export.of("locked", disk("locked.img")).withAllow("admin"),
            Node.Export.of("named", disk("named.img")).withAllow("far"),
            Node.Export.of("members", disk("members.img")).withAllow("member"));
        Node relay = start("relay");
        Node far = start("far");
        Node other = start("other");
        link(relay, exp, Role.ADMIN);
        link(far, relay, Role.MEMBER);
        link(other, relay, Role.MEMBER);
        for (Node n : List.of(far, other)) {
            exp.trust().add(n.identity().label(), n.keys().fingerprint(), Role.MEMBER, 0);
            n.trust().add("exp", exp.keys().fingerprint(), Role.MEMBER, 0);
        }
        cluster.await(() -> span(far, "exp/members") != null && span(other, "exp/members") != null, "both see the exports");

        record Try(Node from, String export, boolean admitted) {}
        for (Try t : List.of(new Try(far, "locked", false), new Try(far, "named", true), new Try(far, "members", true),
                new Try(other, "locked", false), new Try(other, "named", false), new Try(other, "members", true))) {
            String serial = span(t.from(), "exp/" + t.export()).get("fs_label").asText();
            CircuitHandle c = t.from().mesh().openCircuit(t.from().resolve(serial)).get(10, TimeUnit.SECONDS);
            Blk.Opened o = new Blk(c::open).open(Dmsg.BLKOPEN_RD | Dmsg.BLKOPEN_WR, null);
            if (t.admitted()) {
                assertThat(o.first().error()).as("%s", t).isZero();
                o.txn().close();
            } else {
                assertThat(o.first().error()).as("%s", t).isEqualTo(Dmsg.ERR_PERM);
                assertThat(o.first().buf()).startsWith("export '" + t.export() + "' admits admin");
            }
            c.close();
        }
        JsonNode exports = status(exp).get("exports");
        JsonNode locked = exports.get(0).get("name").asText().equals("locked") ? exports.get(0) : null;
        for (JsonNode e : exports) {
            if (e.get("name").asText().equals("named")) {
                assertThat(e.get("allow").asText()).isEqualTo("admin, far");
                assertThat(e.get("by_originator").get("far").get("opens").asInt()).isEqualTo(1);
                assertThat(e.get("by_originator").get("other").get("refused").asInt()).isEqualTo(1);
                assertThat(e.get("by_originator").has("relay")).as("the relay is not who opened it").isFalse();
            }
            if (e.get("name").asText().equals("locked")) {
                locked = e;
            }
        }
        assertThat(locked.get("allow").asText()).isEqualTo("admin");
        assertThat(locked.get("by_originator").get("far").get("refused").asInt()).isEqualTo(1);
    }
}
