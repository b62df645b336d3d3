package dev.dmsg.services.quorum;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.dmsg.link.Link;
import dev.dmsg.link.tls.Grants;
import dev.dmsg.link.tls.Role;
import dev.dmsg.mesh.CircuitHandle;
import dev.dmsg.quorum.raft.QuorumIds;
import dev.dmsg.services.node.Node;
import dev.dmsg.services.testing.TestCluster;
import dev.dmsg.testkit.LeakDetector;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.ErrorCode;
import dev.dmsg.wire.QrmHeader;
import dev.dmsg.wire.qrm.Batch;
import dev.dmsg.wire.qrm.Blob;
import dev.dmsg.wire.qrm.Op;
import dev.dmsg.wire.qrm.QrmCodec;
import dev.dmsg.wire.qrm.QrmFormatException;
import io.netty.buffer.Unpooled;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.ratis.proto.RaftProtos.AppendEntriesRequestProto;
import org.apache.ratis.proto.RaftProtos.RaftRpcRequestProto;
import org.apache.ratis.proto.RaftProtos.RequestVoteRequestProto;
import org.apache.ratis.proto.netty.NettyProtos.RaftNettyServerRequestProto;
import org.apache.ratis.thirdparty.com.google.protobuf.ByteString;
import org.apache.ratis.util.ProtoUtils;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Bad input and lesser roles against a running group through the real stack (docs/QUORUM.md §3,
 * §5, §6; issue 16): raw QRM frames sent by hand on a link and on a circuit, requests from
 * originators without the rights, forged Raft traffic. Each refusal is pinned by error and
 * reason, nothing is applied, and an honest client's writes and reads go on throughout.
 */
@Timeout(120)
@ExtendWith(LeakDetector.class)
class QuorumAttackTest {
    static final Duration T = Duration.ofSeconds(20);

    @TempDir
    Path tmp;

    @RegisterExtension
    final TestCluster cluster = new TestCluster(() -> tmp).pinning(Role.MEMBER);

    AttackRig rig() throws Exception {
        return AttackRig.start(cluster);
    }

    static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    static QrmHeader prepare() {
        return QrmHeader.of(QrmHeader.PREPARE, "g");
    }

    static byte[] batch(Op... ops) {
        return QrmCodec.encodeBatch(Batch.of(ops));
    }

    /** A batch written by hand (docs/QUORUM.md §3.3): no compares, {@code ops} in success. */
    static byte[] rawBatch(int ops, byte[]... opBytes) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(1); // version
        out.write(0); // reserved
        out.writeBytes(new byte[] {0, 0}); // n_compares
        out.writeBytes(le16(ops)); // n_success
        out.writeBytes(new byte[] {0, 0}); // n_failure
        for (byte[] o : opBytes) {
            out.writeBytes(o);
        }
        return out.toByteArray();
    }

    /** One op: u8 type, u8 flags, u16 key_len, key, then (PUT) u32 value_len, value. */
    static byte[] rawOp(int type, byte[] key, byte[] value) {
        ByteBuffer b = ByteBuffer.allocate(8 + key.length + (value == null ? 0 : value.length)).order(ByteOrder.LITTLE_ENDIAN);
        b.put((byte) type).put((byte) 0).putShort((short) key.length).put(key);
        if (value != null) {
            b.putInt(value.length).put(value);
        }
        return Arrays.copyOf(b.array(), b.position());
    }

    static byte[] le16(int v) {
        return new byte[] {(byte) v, (byte) (v >> 8)};
    }

    @Test
    void malformedFramesGetTheirSpecificErrorAndNothingIsApplied() throws Exception {
        AttackRig r = rig();
        long r0 = r.revision();
        HonestTraffic honest = cluster.closing(new HonestTraffic(r.client(), "/h/"));
        Link l = RawQrm.link(r.x(), "a");
        CircuitHandle c = r.x().mesh().openCircuit(QuorumIds.memberKey("g", "b"), T).get(20, TimeUnit.SECONDS);
        byte[] put = batch(Op.put(Blob.utf8("/atk/1"), Blob.utf8("x")));

        // the header (docs/QUORUM.md §3.2), on a link and on a circuit alike
        assertThat(RawQrm.open(l, Dmsg.QRM_COMMIT, new QrmHeader(2, QrmHeader.PREPARE, 0, 0, 0, 0, 0, "g"), put).refusal())
            .isEqualTo("PARAM: QRM header version 2 (this node speaks 1)");
        assertThat(RawQrm.open(c, Dmsg.QRM_COMMIT, prepare().withFlags(0x0100), put).refusal())
            .isEqualTo("PARAM: QRM header flags 0x0100: reserved bits set");
        assertThat(RawQrm.open(l, Dmsg.QRM_COMMIT, prepare().withLease(60_001), put).refusal())
            .isEqualTo("PARAM: QRM lease_ms 60001 is over 60000");
        assertThat(RawQrm.open(c, Dmsg.QRM_COMMIT, QrmHeader.of(77, "g"), put).refusal())
            .isEqualTo("NOSUPP: QRM phase 77 is unknown");
        assertThat(RawQrm.open(l, Dmsg.QRM_COMMIT, QrmHeader.of(QrmHeader.COMMITTED, "g"), put).refusal())
            .isEqualTo("PARAM: a QRM_COMMIT opens with PREPARE, not COMMITTED");
        assertThat(RawQrm.open(l, Dmsg.QRM_READ | Dmsg.DELETE, QrmHeader.of(QrmHeader.ADMIN, "g"),
            batch(Op.get(Blob.utf8("/atk/1")))).refusal()).isEqualTo("PARAM: a QRM_READ opens with READ, not ADMIN");
        assertThat(RawQrm.open(c, Dmsg.QRM_COMMIT, QrmHeader.of(QrmHeader.PREPARE, "nope"), put).refusal())
            .isEqualTo("NOSUPP: this node is not a member of quorum group 'nope'");

        // the batch (docs/QUORUM.md §3.3)
        assertThat(RawQrm.open(l, Dmsg.QRM_COMMIT, prepare(), Arrays.copyOf(put, put.length - 1)).refusal())
            .isEqualTo("PARAM: success op 0: value_len 1 but 0 bytes left");
        byte[] trailing = Arrays.copyOf(put, put.length + 2);
        assertThat(RawQrm.open(c, Dmsg.QRM_COMMIT, prepare(), trailing).refusal()).isEqualTo("PARAM: batch: 2 trailing bytes");
        assertThat(RawQrm.open(l, Dmsg.QRM_COMMIT, prepare(), rawBatch(1, rawOp(9, utf8("/atk/1"), null))).refusal())
            .isEqualTo("PARAM: success op 0: unknown type 9");
        byte[] longKey = new byte[1025];
        Arrays.fill(longKey, (byte) 'k');
        assertThat(RawQrm.open(l, Dmsg.QRM_COMMIT, prepare(), rawBatch(1, rawOp(1, longKey, utf8("v")))).refusal())
            .isEqualTo("PARAM: success op 0: key is 1025 bytes; max 1024");
        byte[][] many = new byte[1025][];
        Arrays.fill(many, rawOp(2, utf8("/atk/m"), null));
        assertThat(RawQrm.open(c, Dmsg.QRM_COMMIT, prepare(), rawBatch(1025, many)).refusal())
            .isEqualTo("PARAM: batch: 1025 ops; max 1024");
        // 65 KiB: over the frame's aux limit, so the link refuses to send it at all
        byte[] huge = rawBatch(1, rawOp(1, utf8("/atk/1"), new byte[65 * 1024]));
        assertThatThrownBy(() -> RawQrm.open(l, Dmsg.QRM_COMMIT, prepare(), huge))
            .isInstanceOf(IllegalArgumentException.class).hasMessage("aux_bytes 66582 > max 65536");
        assertThatThrownBy(() -> QrmCodec.encodeBatch(Batch.of(Op.put(Blob.utf8("/atk/1"), Blob.of(new byte[40_000])),
            Op.put(Blob.utf8("/atk/2"), Blob.of(new byte[40_000]))))).isInstanceOf(IllegalArgumentException.class)
            .hasMessageContaining("max 65536");
        assertThatThrownBy(() -> QrmCodec.decodeBatch(Unpooled.wrappedBuffer(huge)))
            .isInstanceOf(QrmFormatException.class);

        // the command's own rules (§3.3 READ, §3.4 WATCH, §7 ADMIN)
        assertThat(RawQrm.open(l, Dmsg.QRM_READ | Dmsg.DELETE, QrmHeader.of(QrmHeader.READ, "g"), put).refusal())
            .isEqualTo("PARAM: a QRM_READ batch has GETs only and no compares");
        assertThat(RawQrm.open(c, Dmsg.QRM_WATCH, QrmHeader.of(QrmHeader.READ, "g"),
            batch(Op.get(Blob.utf8("/atk/1")), Op.get(Blob.utf8("/atk/2")))).refusal())
            .isEqualTo("PARAM: a QRM_WATCH carries exactly one GET");
        assertThat(RawQrm.open(l, Dmsg.QRM_ADMIN | Dmsg.DELETE, QrmHeader.of(QrmHeader.ADMIN, "g"), utf8("{nope")).refusal())
            .startsWith("PARAM: QRM_ADMIN: the request is not JSON: ");
        assertThat(RawQrm.open(c, Dmsg.QRM_ADMIN | Dmsg.DELETE, QrmHeader.of(QrmHeader.ADMIN, "g"),
            utf8("{\"op\":\"explode\",\"label\":\"b\"}")).refusal())
            .isEqualTo("PARAM: QRM_ADMIN: unknown op 'explode' (status, add, remove, transfer)");

        // the message update (docs/QUORUM.md §4): COMMIT before PREPARED ...
        RawQrm early = RawQrm.open(l, Dmsg.QRM_COMMIT, prepare(), batch(Op.put(Blob.utf8("/atk/early"), Blob.utf8("x"))));
        early.txn.send(Dmsg.QRM_COMMIT, QrmHeader.of(QrmHeader.COMMIT, "g"), null);
        assertThat(early.refusal()).isEqualTo("NOTPREPARED: COMMIT for a batch that is not prepared (preparing)");
        assertThat(early.got).hasSize(1); // no PREPARED after the refusal
        // ... whose prepare, when it lands, is aborted at once
        r.awaitNothingPrepared(cluster);
        // ... and a second COMMIT after COMMITTED: the member's side is closed, so it cannot
        // answer; what matters is that nothing is applied twice
        RawQrm twice = new RawQrm(false).on(l, Dmsg.QRM_COMMIT, prepare(), batch(Op.put(Blob.utf8("/atk/twice"), Blob.utf8("1"))));
        cluster.await(() -> twice.first.isDone(), "PREPARED");
        assertThat(twice.first.get().header().phase()).isEqualTo(QrmHeader.PREPARED);
        twice.txn.send(Dmsg.QRM_COMMIT, QrmHeader.of(QrmHeader.COMMIT, "g"), null);
        RawQrm.Got committed = twice.answer();
        assertThat(committed.error()).isZero();
        assertThat(committed.header().phase()).isEqualTo(QrmHeader.COMMITTED);
        twice.txn.send(Dmsg.QRM_COMMIT, QrmHeader.of(QrmHeader.COMMIT, "g"), null);
        twice.txn.close();
        // a request after it on the same link is answered after the member handled the second COMMIT
        assertThat(RawQrm.open(l, Dmsg.QRM_READ | Dmsg.DELETE, QrmHeader.of(QrmHeader.READ, "g"),
            batch(Op.get(Blob.utf8("/atk/twice")))).answer().error()).isZero();
        assertThat(twice.got).as("nothing after COMMITTED").hasSize(2);

        int honestWrites = honest.stop(3);
        assertThat(r.keys("/atk/")).containsExactly("/atk/twice");
        var kv = r.client().read(Batch.of(Op.get(Blob.utf8("/atk/twice"))), false).get(20, TimeUnit.SECONDS)
            .results().results().get(0).kvs().get(0);
        assertThat(kv.version()).as("applied once").isEqualTo(1);
        assertThat(kv.modRevision()).isEqualTo(committed.header().revision());
        assertThat(r.revision()).as("only the honest writes and the one commit made revisions")
            .isEqualTo(r0 + honestWrites + 1);
        assertThat(r.members().get(0).quorum().status().refused()).containsKey("PARAM(0x23)"); // the link's
        assertThat(r.members().get(1).quorum().status().refused()).containsKeys("PARAM(0x23)", "NOSUPP(0x20)"); // the circuit's
    }

    @Test
    void lesserRolesAreRefusedAndTheGroupDoesNotMove() throws Exception {
        AttackRig r = rig();
        Node a = r.members().get(0);
        Node reader = client(a, "rd", Grants.KV_READ);
        Node writer = client(a, "wr", Grants.KV_WRITE);
        long r0 = r.revision();
        String leader = QuorumClusterTest.leaderOf(r.members()).identity().label();
        long term = a.quorum().engine("g").status().term();
        HonestTraffic honest = cluster.closing(new HonestTraffic(r.client(), "/h/"));

        // a client without kv-write writes, one- or two-phase
        QuorumClient rd = viaLink(reader);
        assertThat(refusal(() -> rd.put("/atk/1", utf8("x")).get(20, TimeUnit.SECONDS)))
            .isEqualTo("PERM: 'rd' (client) may not write to quorum group g (needs the kv-write grant)");
        assertThat(refusal(() -> rd.prepare(Batch.of(Op.put(Blob.utf8("/atk/2"), Blob.utf8("x"))), null).get(20, TimeUnit.SECONDS)))
            .isEqualTo("PERM: 'rd' (client) may not write to quorum group g (needs the kv-write grant)");
        // a client without kv-read reads, watches, asks for status
        QuorumClient wr = viaLink(writer);
        assertThat(refusal(() -> wr.get("/h/warm").get(20, TimeUnit.SECONDS)))
            .isEqualTo("PERM: 'wr' (client) may not read quorum group g (needs the kv-read grant)");
        assertThat(refusal(() -> wr.watch(Blob.utf8("/"), true, 0, e -> { }, e -> { }).get(20, TimeUnit.SECONDS)))
            .isEqualTo("PERM: 'wr' (client) may not read quorum group g (needs the kv-read grant)");
        assertThat(refusal(() -> wr.admin("{\"op\":\"status\"}").get(20, TimeUnit.SECONDS)))
            .isEqualTo("PERM: 'wr' (client) may not read quorum group g (needs the kv-read grant)");
        // a member that is not an admin changes the group
        QuorumClient x = viaLink(r.x());
        for (String op : List.of("add", "remove", "transfer")) {
            assertThat(refusal(() -> x.admin("{\"op\":\"" + op + "\",\"label\":\"b\"}").get(20, TimeUnit.SECONDS)))
                .isEqualTo("PERM: 'x' (member) may not " + op + " members of quorum group g (needs admin)");
        }

        // forged Raft traffic: a client on its own link, votes and appends with its own name or a member's
        Link rdLink = RawQrm.link(reader, "a");
        String follower = r.members().stream().map(n -> n.identity().label()).filter(n -> !n.equals(leader)).findFirst().orElseThrow();
        List<String> raftAnswers = new ArrayList<>();
        raftAnswers.add(raft(rdLink, vote("rd", "a", term + 100)));
        raftAnswers.add(raft(rdLink, vote(follower, "a", term + 100)));
        raftAnswers.add(raft(rdLink, append(leader, "a", term + 100)));
        // ... and a member-role node outside the group, on a circuit to a member, speaking for the leader
        CircuitHandle toB = r.x().mesh().openCircuit(QuorumIds.memberKey("g", "b"), T).get(20, TimeUnit.SECONDS);
        raftAnswers.add(raft(toB, append(leader, "b", term + 100)));
        raftAnswers.add(raft(toB, vote("x", "b", term + 100)));
        for (String a0 : raftAnswers.subList(0, 3)) { // the transport's own PERM: a link is not a circuit
            assertThat(a0).isEqualTo("error=" + Dmsg.ERR_PERM + " QRM_RAFT needs an authenticated circuit (docs/QUORUM.md §5)\0");
        }
        assertThat(raftAnswers.get(3)).contains("requestor id '" + leader + "' is not the originator 'x'");
        assertThat(raftAnswers.get(4)).contains("'x' (member) is not a member of group 'g'");

        int honestWrites = honest.stop(3);
        for (Node m : r.members()) {
            GroupStatus s = m.quorum().engine("g").status();
            assertThat(s.term()).as("%s: no forged term got through", m.identity().label()).isEqualTo(term);
            assertThat(s.leader()).isEqualTo(leader);
            assertThat(s.members()).hasSize(3);
        }
        assertThat(r.keys("/atk/")).isEmpty();
        assertThat(r.revision()).isEqualTo(r0 + honestWrites);
        // counted: the two on circuits by the Raft gate, the three on rd's link as denials of the link
        assertThat(a.quorum().status().raftRefusals() + r.members().get(1).quorum().status().raftRefusals()).isEqualTo(2);
        assertThat(RawQrm.link(a, "rd").stats().denied()).isGreaterThanOrEqualTo(3);
    }

    /** A client-role node {@code name} with {@code grants} on {@code at}, linked to it only (a client may not forge circuits). */
    Node client(Node at, String name, int grants) throws Exception {
        Node n = cluster.startUnpinned(cluster.settings(name));
        at.trust().add(name, n.keys().fingerprint(), Role.CLIENT, grants);
        n.trust().add(at.identity().label(), at.keys().fingerprint(), Role.MEMBER, 0);
        TestCluster.link(n, at);
        return n;
    }

    QuorumClient viaLink(Node n) {
        return AttackRig.viaLink(cluster, n);
    }

    interface Call {
        Object call() throws Exception;
    }

    /** The refusal {@code c} failed with, as "ERROR: reason". */
    static String refusal(Call c) {
        try {
            c.call();
        } catch (Exception e) {
            Throwable x = QuorumClient.unwrap(e instanceof ExecutionException ? e.getCause() : e);
            assertThat(x).isInstanceOf(QuorumException.class);
            QuorumException q = (QuorumException) x;
            return ErrorCode.of(q.error()).name() + ": " + q.getMessage();
        }
        throw new AssertionError("not refused");
    }

    static RaftRpcRequestProto rpc(String requestor, String to) {
        return RaftRpcRequestProto.newBuilder().setRequestorId(ByteString.copyFromUtf8(requestor))
            .setReplyId(ByteString.copyFromUtf8(to)).setRaftGroupId(ProtoUtils.toRaftGroupIdProtoBuilder(QuorumIds.groupId("g")))
            .setCallId(7).build();
    }

    /** A Raft request as QRM_RAFT carries it (docs/QUORUM.md §5): tag 1, then Ratis's Netty envelope. */
    static byte[] tagged(RaftNettyServerRequestProto p) {
        byte[] b = p.toByteArray();
        byte[] out = new byte[b.length + 1];
        out[0] = 1;
        System.arraycopy(b, 0, out, 1, b.length);
        return out;
    }

    static byte[] vote(String requestor, String to, long term) {
        return tagged(RaftNettyServerRequestProto.newBuilder().setRequestVoteRequest(RequestVoteRequestProto.newBuilder()
            .setServerRequest(rpc(requestor, to)).setCandidateTerm(term)).build());
    }

    static byte[] append(String requestor, String to, long term) {
        return tagged(RaftNettyServerRequestProto.newBuilder().setAppendEntriesRequest(AppendEntriesRequestProto.newBuilder()
            .setServerRequest(rpc(requestor, to)).setLeaderTerm(term)).build());
    }

    /** Sends one QRM_RAFT request; the answer's bytes as text (a refusal's reason is UTF-8 inside them). */
    static String raft(Link l, byte[] request) throws Exception {
        return text(RawQrm.open(l, Dmsg.QRM_RAFT | Dmsg.DELETE, QrmHeader.of(QrmHeader.RAFT, "g"), request).answer());
    }

    static String raft(CircuitHandle c, byte[] request) throws Exception {
        return text(RawQrm.open(c, Dmsg.QRM_RAFT | Dmsg.DELETE, QrmHeader.of(QrmHeader.RAFT, "g"), request).answer());
    }

    private static String text(RawQrm.Got g) {
        return "error=" + g.error() + " " + new String(g.aux(), StandardCharsets.UTF_8);
    }
}
