package dev.dmsg.services.quorum;

import static dev.dmsg.wire.Dmsg.ABORT;
import static dev.dmsg.wire.Dmsg.CREATE;
import static dev.dmsg.wire.Dmsg.DELETE;
import static dev.dmsg.wire.Dmsg.REPLY;
import static org.assertj.core.api.Assertions.assertThat;

import dev.dmsg.link.LinkScript;
import dev.dmsg.link.tls.Role;
import dev.dmsg.quorum.store.LogEntry;
import dev.dmsg.services.Access;
import dev.dmsg.testkit.LeakDetector;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.ErrorCode;
import dev.dmsg.wire.Message;
import dev.dmsg.wire.QrmHeader;
import dev.dmsg.wire.qrm.Batch;
import dev.dmsg.wire.qrm.Blob;
import dev.dmsg.wire.qrm.Compare;
import dev.dmsg.wire.qrm.Op;
import dev.dmsg.wire.qrm.QrmCodec;
import dev.dmsg.wire.qrm.Results;
import io.netty.buffer.Unpooled;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The member's request handling (docs/QUORUM.md §3, §4, §6) against a scripted peer and a local
 * state: the two-phase commit's messages and log entries, and every refusal with its specific
 * error — with nothing applied by a refused request.
 */
@ExtendWith(LeakDetector.class)
class QrmServerTest {
    final LocalEngine engine = new LocalEngine();
    final AtomicReference<Role> role = new AtomicReference<>(Role.MEMBER);
    final LinkScript s = new LinkScript();
    final QrmBudgets budgets = new QrmBudgets(8, 2, 2);
    final QrmServer server = new QrmServer(new Access(l -> role.get()), Map.of("g", engine),
        new WatchServer(WatchServer.DEFAULT_MAX_QUEUED_BYTES), new AdminServer(), budgets);
    long msgid = 100;

    QrmServerTest() {
        server.register(s.services());
        s.up();
    }

    @AfterEach
    void close() {
        s.close();
    }

    static final Blob A = Blob.utf8("/a");

    long send(int cmd, QrmHeader h, byte[] aux) {
        long id = msgid++;
        s.in(Message.of(cmd | CREATE, id, 0, 0, h, aux == null ? null : Unpooled.wrappedBuffer(aux)));
        return id;
    }

    long prepare(Batch b) {
        return send(Dmsg.QRM_COMMIT, QrmHeader.of(QrmHeader.PREPARE, "g"), QrmCodec.encodeBatch(b));
    }

    Message only() {
        List<Message> out = s.out();
        assertThat(out).hasSize(1);
        return out.get(0);
    }

    static QrmHeader header(Message m) {
        return m.ext(QrmHeader.class);
    }

    static Results results(Message m) throws Exception {
        return QrmCodec.decodeResults(m.auxCopy());
    }

    @Test
    void aOnePhaseWriteIsOneEntryAndOneAnswer() throws Exception {
        send(Dmsg.QRM_COMMIT | DELETE, QrmHeader.of(QrmHeader.PREPARE, "g").withFlags(QrmHeader.ONE_PHASE),
            QrmCodec.encodeBatch(Batch.of(Op.put(A, Blob.utf8("1")))));
        Message m = only();
        assertThat(m.cmd()).isEqualTo(Dmsg.QRM_COMMIT | CREATE | REPLY | DELETE);
        assertThat(m.error()).isZero();
        assertThat(header(m).phase()).isEqualTo(QrmHeader.COMMITTED);
        assertThat(header(m).revision()).isEqualTo(1);
        assertThat(results(m).succeeded()).isTrue();
        assertThat(engine.entries()).singleElement().isInstanceOf(LogEntry.Write.class);
    }

    @Test
    void twoPhasesPrepareThenCommitOnTheInitiatorsUpdate() throws Exception {
        long id = prepare(new Batch(List.of(Compare.number(Compare.Target.VERSION, A, Compare.Result.EQUAL, 0)),
            List.of(Op.put(A, Blob.utf8("x"))), List.of()));
        Message p = only();
        assertThat(p.cmd()).isEqualTo(Dmsg.QRM_COMMIT | CREATE | REPLY); // mid-transaction: no DELETE
        assertThat(header(p).phase()).isEqualTo(QrmHeader.PREPARED);
        assertThat(header(p).index()).isEqualTo(1);
        assertThat(p.auxCopy()).containsExactly(1); // the compares held
        assertThat(engine.state.revision()).isZero(); // prepared, not applied

        s.in(Dmsg.QRM_COMMIT, id, QrmHeader.of(QrmHeader.COMMIT, "g"));
        Message c = only();
        assertThat(c.cmd()).isEqualTo(Dmsg.QRM_COMMIT | REPLY | DELETE);
        assertThat(header(c).phase()).isEqualTo(QrmHeader.COMMITTED);
        assertThat(header(c).revision()).isEqualTo(1);
        assertThat(header(c).index()).isEqualTo(2);
        assertThat(engine.entries()).extracting(e -> e.getClass().getSimpleName()).containsExactly("Prepare", "Commit");
    }

    @Test
    void anAbortReleasesThePreparedBatchAndAppliesNothing() {
        long id = prepare(Batch.of(Op.put(A, Blob.utf8("x"))));
        only();
        s.in(Dmsg.LNK_ERROR | ABORT | DELETE, id, 0); // what Transaction.abortClose sends
        assertThat(engine.entries()).extracting(e -> e.getClass().getSimpleName()).containsExactly("Prepare", "Abort");
        assertThat(((LogEntry.Abort) engine.entries().get(1)).why()).isEqualTo(LogEntry.Why.INITIATOR);
        assertThat(engine.state.preparedCount()).isZero();
        assertThat(engine.state.revision()).isZero();
    }

    @Test
    void aLostInitiatorsBatchIsAbortedAtOnce() {
        prepare(Batch.of(Op.put(A, Blob.utf8("x"))));
        only();
        s.lose("connection reset");
        assertThat(engine.entries()).extracting(e -> e.getClass().getSimpleName()).containsExactly("Prepare", "Abort");
        assertThat(((LogEntry.Abort) engine.entries().get(1)).why()).isEqualTo(LogEntry.Why.LOST_INITIATOR);
        assertThat(engine.state.preparedCount()).isZero();
    }

    @Test
    void aCommitBeforePreparedIsRefusedAndThePrepareReleasedOnceItLands() {
        engine.immediate = false;
        long id = prepare(Batch.of(Op.put(A, Blob.utf8("x"))));
        assertThat(s.out()).isEmpty();
        s.in(Dmsg.QRM_COMMIT, id, QrmHeader.of(QrmHeader.COMMIT, "g"));
        Message r = only();
        assertThat(r.error()).isEqualTo(Dmsg.ERR_NOTPREPARED);
        assertThat(r.auxString()).contains("not prepared (preparing)");
        engine.immediate = true;
        engine.applyAll();
        assertThat(engine.entries()).extracting(e -> e.getClass().getSimpleName()).containsExactly("Prepare", "Abort");
        assertThat(engine.state.preparedCount()).isZero();
        assertThat(s.out()).isEmpty(); // no PREPARED after the refusal
    }

    @Test
    void aConflictingPrepareIsRefusedNamingTheKeyAndLeavesNothing() {
        prepare(Batch.of(Op.put(A, Blob.utf8("x"))));
        only();
        prepare(Batch.of(Op.deletePrefix(Blob.utf8("/"))));
        Message r = only();
        assertThat(r.cmd() & DELETE).isNotZero();
        assertThat(r.error()).isEqualTo(Dmsg.ERR_CONFLICT);
        assertThat(r.auxString()).contains("reserved by a prepared transaction (index 1)");
        assertThat(engine.state.preparedCount()).isEqualTo(1);
    }

    @Test
    void badInputGetsItsSpecificErrorAndNothingIsProposed() {
        send(Dmsg.QRM_COMMIT, new QrmHeader(2, QrmHeader.PREPARE, 0, 0, 0, 0, 0, "g"), QrmCodec.encodeBatch(Batch.of()));
        assertThat(refusal()).isEqualTo("PARAM: QRM header version 2 (this node speaks 1)");
        send(Dmsg.QRM_COMMIT, QrmHeader.of(QrmHeader.PREPARE, "g").withFlags(0x100), QrmCodec.encodeBatch(Batch.of()));
        assertThat(refusal()).startsWith("PARAM: QRM header flags 0x0100");
        send(Dmsg.QRM_COMMIT, QrmHeader.of(QrmHeader.PREPARE, "other"), QrmCodec.encodeBatch(Batch.of()));
        assertThat(refusal()).isEqualTo("NOSUPP: this node is not a member of quorum group 'other'");
        send(Dmsg.QRM_COMMIT, QrmHeader.of(QrmHeader.PREPARE, "g"), new byte[] {1, 0, 0, 0, 1, 0, 0, 0, 9, 9});
        assertThat(refusal()).startsWith("PARAM: ");
        send(Dmsg.QRM_COMMIT, QrmHeader.of(QrmHeader.COMMIT, "g"), QrmCodec.encodeBatch(Batch.of()));
        assertThat(refusal()).isEqualTo("PARAM: a QRM_COMMIT opens with PREPARE, not COMMIT");
        send(Dmsg.QRM_READ | DELETE, QrmHeader.of(QrmHeader.READ, "g"), QrmCodec.encodeBatch(Batch.of(Op.put(A, A))));
        assertThat(refusal()).isEqualTo("PARAM: a QRM_READ batch has GETs only and no compares");
        assertThat(engine.entries()).isEmpty();
    }

    @Test
    void anUnknownPhaseIsNosuppAndAWrongOpeningPhaseIsParam() {
        send(Dmsg.QRM_COMMIT, QrmHeader.of(77, "g"), QrmCodec.encodeBatch(Batch.of(Op.put(A, A))));
        assertThat(refusal()).isEqualTo("NOSUPP: QRM phase 77 is unknown");
        send(Dmsg.QRM_READ | DELETE, QrmHeader.of(0, "g"), QrmCodec.encodeBatch(Batch.of(Op.get(A))));
        assertThat(refusal()).isEqualTo("NOSUPP: QRM phase 0 is unknown");
        // a known phase where another belongs: a read sent as PREPARE was served as a read before
        send(Dmsg.QRM_READ | DELETE, QrmHeader.of(QrmHeader.PREPARE, "g"), QrmCodec.encodeBatch(Batch.of(Op.get(A))));
        assertThat(refusal()).isEqualTo("PARAM: a QRM_READ opens with READ, not PREPARE");
        send(Dmsg.QRM_WATCH, QrmHeader.of(QrmHeader.EVENTS, "g"), QrmCodec.encodeBatch(Batch.of(Op.get(A))));
        assertThat(refusal()).isEqualTo("PARAM: a QRM_WATCH opens with READ, not EVENTS");
        send(Dmsg.QRM_ADMIN | DELETE, QrmHeader.of(QrmHeader.READ, "g"), "{\"op\":\"status\"}".getBytes());
        assertThat(refusal()).isEqualTo("PARAM: a QRM_ADMIN opens with ADMIN, not READ");
        assertThat(engine.entries()).isEmpty();
        assertThat(server.refusals()).containsEntry("NOSUPP(0x20)", 2L).containsEntry("PARAM(0x23)", 3L);
    }

    @Test
    void aClientWithoutGrantsMayNeitherWriteNorRead() {
        role.set(Role.CLIENT);
        prepare(Batch.of(Op.put(A, Blob.utf8("x"))));
        assertThat(refusal()).startsWith("PERM: ").contains("may not write to quorum group g (needs the kv-write grant)");
        send(Dmsg.QRM_READ | DELETE, QrmHeader.of(QrmHeader.READ, "g"), QrmCodec.encodeBatch(Batch.of(Op.get(A))));
        assertThat(refusal()).contains("may not read quorum group g (needs the kv-read grant)");
        send(Dmsg.QRM_ADMIN | DELETE, QrmHeader.of(QrmHeader.ADMIN, "g"), "{\"op\":\"status\"}".getBytes());
        assertThat(refusal()).startsWith("PERM: ");
        assertThat(engine.entries()).isEmpty();
    }

    @Test
    void membershipChangesNeedAnAdmin() {
        send(Dmsg.QRM_ADMIN | DELETE, QrmHeader.of(QrmHeader.ADMIN, "g"), "{\"op\":\"add\",\"label\":\"d\"}".getBytes());
        assertThat(refusal()).startsWith("PERM: ").contains("needs admin");
        role.set(Role.ADMIN);
        send(Dmsg.QRM_ADMIN | DELETE, QrmHeader.of(QrmHeader.ADMIN, "g"), "{\"op\":\"add\",\"label\":\"d\"}".getBytes());
        Message m = only();
        assertThat(m.error()).isZero();
        assertThat(m.auxString()).contains("add d (test)");
        send(Dmsg.QRM_ADMIN | DELETE, QrmHeader.of(QrmHeader.ADMIN, "g"), "{nope".getBytes());
        assertThat(refusal()).startsWith("PARAM: QRM_ADMIN: the request is not JSON");
    }

    @Test
    void anOriginatorsPreparedBudgetIsEnforcedAndGivenBack() {
        long first = prepare(Batch.of(Op.put(Blob.utf8("/1"), A)));
        prepare(Batch.of(Op.put(Blob.utf8("/2"), A)));
        assertThat(s.out()).hasSize(2);
        prepare(Batch.of(Op.put(Blob.utf8("/3"), A)));
        assertThat(refusal()).isEqualTo("LIMIT: 2 prepared batches of this originator here");
        s.in(Dmsg.QRM_COMMIT, first, QrmHeader.of(QrmHeader.COMMIT, "g"));
        assertThat(only().error()).isZero();
        prepare(Batch.of(Op.put(Blob.utf8("/3"), A)));
        assertThat(only().error()).isZero(); // the committed one gave its place back
        assertThat(budgets.refused()).isEqualTo(1);
    }

    @Test
    void theBudgetIsFreeWhenTheFinalAnswerLeaves() {
        // An initiator sends its next PREPARE as soon as it reads COMMITTED; with the budget given
        // back after the answer, a client at its limit was refused LIMIT now and then.
        List<Integer> heldAtAnswer = new ArrayList<>();
        long id = prepare(Batch.of(Op.put(Blob.utf8("/1"), A)));
        only();
        s.transport().onWrite(m -> heldAtAnswer.add(budgets.originators()));
        s.in(Dmsg.QRM_COMMIT, id, QrmHeader.of(QrmHeader.COMMIT, "g"));
        assertThat(header(only()).phase()).isEqualTo(QrmHeader.COMMITTED);
        assertThat(heldAtAnswer).containsExactly(0);

        heldAtAnswer.clear();
        send(Dmsg.QRM_COMMIT | DELETE, QrmHeader.of(QrmHeader.PREPARE, "g").withFlags(QrmHeader.ONE_PHASE),
            QrmCodec.encodeBatch(Batch.of(Op.put(A, Blob.utf8("1")))));
        assertThat(header(only()).phase()).isEqualTo(QrmHeader.COMMITTED);
        assertThat(heldAtAnswer).containsExactly(0);
    }

    @Test
    void noLeaderIsRefusedAsSuch() {
        engine.noLeader = true;
        send(Dmsg.QRM_COMMIT | DELETE, QrmHeader.of(QrmHeader.PREPARE, "g").withFlags(QrmHeader.ONE_PHASE),
            QrmCodec.encodeBatch(Batch.of(Op.put(A, A))));
        assertThat(refusal()).isEqualTo("NOLEADER: no leader (test)");
    }

    @Test
    void aReadAnswersAtTheStoresRevision() throws Exception {
        send(Dmsg.QRM_COMMIT | DELETE, QrmHeader.of(QrmHeader.PREPARE, "g").withFlags(QrmHeader.ONE_PHASE),
            QrmCodec.encodeBatch(Batch.of(Op.put(A, Blob.utf8("v")))));
        only();
        send(Dmsg.QRM_READ | DELETE, QrmHeader.of(QrmHeader.READ, "g"), QrmCodec.encodeBatch(Batch.of(Op.get(A))));
        Message m = only();
        assertThat(m.error()).isZero();
        assertThat(header(m).revision()).isEqualTo(1);
        assertThat(results(m).results().get(0).kvs().get(0).value()).isEqualTo(Blob.utf8("v"));
    }

    /** The one message sent: a refusal ending the transaction, as "ERROR: reason". */
    String refusal() {
        Message m = only();
        assertThat(m.cmd() & DELETE).as("a refusal ends the transaction").isNotZero();
        assertThat(m.error()).isNotZero();
        return ErrorCode.of(m.error()).name() + ": " + m.auxString();
    }
}
