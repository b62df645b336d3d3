package dev.dmsg.link;

import static dev.dmsg.link.LinkScript.ECHO;
import static dev.dmsg.link.LinkScript.OPAQUE;
import static dev.dmsg.wire.Dmsg.ABORT;
import static dev.dmsg.wire.Dmsg.CREATE;
import static dev.dmsg.wire.Dmsg.DELETE;
import static dev.dmsg.wire.Dmsg.REPLY;
import static org.assertj.core.api.Assertions.assertThat;

import dev.dmsg.testkit.LeakDetector;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.LnkVolconf;
import dev.dmsg.wire.Message;
import dev.dmsg.wire.VolData;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The receive table of docs/REFERENCE.md §2.3 as docs/PROFILE.md §2 adjusts it, row by row, for both tables:
 * transactions the peer opened (found by messages without REPLY) and ones we opened (found by
 * messages with REPLY). A violation is dropped and counted, never fatal, never answered.
 */
@ExtendWith(LeakDetector.class)
class TransactionRulesTest {
    LinkScript s;
    final List<String> seen = new ArrayList<>();

    @BeforeEach
    void up() {
        s = new LinkScript();
        s.services.accept(ECHO, (txn, create) -> s.recorder("echo", seen));
        s.services.oneWay(OPAQUE, (link, m) -> {
            seen.add("oneway: " + LinkScript.describe(m));
        });
        s.up();
    }

    @AfterEach
    void down() {
        s.close();
    }

    LinkStats stats() {
        return s.link.stats();
    }

    @Test
    void oneWayWithoutStateGoesToItsOneWayHandlerAndIsNeverAnswered() {
        s.in(OPAQUE, 0, 0);
        s.in(OPAQUE, 0x1234, 0); // a msgid with no transaction: still one-way
        assertThat(seen).containsExactly("oneway: 0010fd01 err=0", "oneway: 0010fd01 err=0");
        assertThat(s.out()).isEmpty();
    }

    @Test
    void oneWayInsideAnOpenTransactionGoesToThatTransaction() {
        s.in(ECHO | CREATE, 5, 0);
        s.in(OPAQUE, 5, 0);
        assertThat(seen).containsExactly("echo: 8010fe01 err=0", "echo: 0010fd01 err=0");
    }

    @Test
    void volconfInsideThePeersConnReachesItsOneWayHandler() {
        List<LnkVolconf> got = new ArrayList<>();
        s.services.oneWay(Dmsg.LNK_VOLCONF, (link, m) -> got.add(m.ext(LnkVolconf.class)));
        VolData slot = new VolData(1, 0, 0, 0, Dmsg.VOLF_ENABLED, 0, 0, 0, new UUID(0, 0), "", "span:host");
        s.in(Dmsg.LNK_VOLCONF, 0x7777, new LnkVolconf(slot, 1, new UUID(0, 0)));
        assertThat(got).extracting(v -> v.copy().path()).containsExactly("span:host");
        assertThat(s.out()).isEmpty();
    }

    @Test
    void midStreamAbortForUnknownOrUncreatedStateIsDiscardedSilently() {
        s.in(ECHO | ABORT, 99, 0);              // no such transaction
        s.in(ECHO | ABORT | REPLY, 99, 0);      // nor in our table
        Transaction t = s.link.open(ECHO, s.recorder("ours", seen));
        s.in(Dmsg.LNK_ERROR | ABORT | REPLY, t.msgid(), 0); // ours exists but the reply was never created
        assertThat(seen).isEmpty();
        assertThat(stats().abortsDiscarded()).isEqualTo(3);
        assertThat(stats().violationCount()).isZero();
        assertThat(s.out()).extracting(Message::cmd).containsExactly(ECHO | CREATE);
    }

    @Test
    void createOpensAStateAndReachesTheAcceptor() {
        s.in(ECHO | CREATE, 5, 0);
        assertThat(seen).containsExactly("echo: 8010fe01 err=0");
        assertThat(stats().openTransactions()).isEqualTo(3); // both LNK_CONNs and this one
    }

    @Test
    void duplicateCreateIsDroppedAndCountedAndTheFirstTransactionIsUnaffected() {
        s.in(ECHO | CREATE, 5, 0);
        s.in(ECHO | CREATE, 5, 0);
        s.in(ECHO, 5, 0); // the first transaction still receives
        assertThat(seen).containsExactly("echo: 8010fe01 err=0", "echo: 0010fe01 err=0");
        assertThat(stats().violations()).containsEntry(Violation.DUPLICATE_CREATE, 1L);
        assertThat(s.out()).isEmpty();
    }

    @Test
    void deleteForAnUnknownMsgid() {
        s.in(Dmsg.LNK_ERROR | DELETE, 42, 0);
        assertThat(stats().violations()).containsEntry(Violation.UNKNOWN_MSGID, 1L);
        s.in(Dmsg.LNK_ERROR | DELETE | ABORT, 42, 0);
        assertThat(stats().abortsDiscarded()).isEqualTo(1);
        assertThat(stats().violations()).containsEntry(Violation.UNKNOWN_MSGID, 1L);
        assertThat(s.out()).isEmpty();
    }

    @Test
    void aSecondDeleteIsADuplicate() {
        s.in(ECHO | CREATE, 5, 0);
        s.in(Dmsg.LNK_ERROR | DELETE, 5, 0);
        s.in(Dmsg.LNK_ERROR | DELETE, 5, 0);
        assertThat(seen).hasSize(2);
        assertThat(stats().violations()).containsEntry(Violation.DUPLICATE_DELETE, 1L);
    }

    @Test
    void replyCreateForSomethingWeNeverOpened() {
        s.in(Dmsg.LNK_ERROR | CREATE | REPLY, 42, 0);
        assertThat(stats().violations()).containsEntry(Violation.UNKNOWN_MSGID, 1L);
        s.in(Dmsg.LNK_ERROR | CREATE | REPLY | ABORT, 42, 0);
        assertThat(stats().abortsDiscarded()).isEqualTo(1);
    }

    @Test
    void replyDeleteBeforeReplyCreate() {
        Transaction t = s.link.open(ECHO, s.recorder("ours", seen));
        s.in(Dmsg.LNK_ERROR | DELETE | REPLY, t.msgid(), 0);
        assertThat(stats().violations()).containsEntry(Violation.DELETE_BEFORE_CREATE, 1L);
        assertThat(seen).isEmpty();
        assertThat(t.state()).isEqualTo(TxnState.LOCAL_OPEN);
    }

    @Test
    void replyStreamIsDeliveredAndADuplicateReplyCreateIsNot() {
        Transaction t = s.link.open(ECHO, s.recorder("ours", seen));
        s.in(ECHO | CREATE | REPLY, t.msgid(), 0);
        s.in(ECHO | REPLY, t.msgid(), 0);
        s.in(ECHO | CREATE | REPLY, t.msgid(), 0);
        assertThat(seen).containsExactly("ours: a010fe01 err=0", "ours: 2010fe01 err=0");
        assertThat(stats().violations()).containsEntry(Violation.DUPLICATE_CREATE, 1L);
        assertThat(t.state()).isEqualTo(TxnState.OPEN);
    }

    @Test
    void createWithMsgidZeroIsRejected() {
        s.in(ECHO | CREATE, 0, 0);
        assertThat(seen).isEmpty();
        assertThat(stats().violations()).containsEntry(Violation.ZERO_MSGID, 1L);
        assertThat(s.out()).isEmpty();
    }

    @Test
    void aMessageForAnUnknownCircuitIsDroppedAndCounted() {
        s.in(ECHO | CREATE, 5, 0xabc, 0, null);
        assertThat(seen).isEmpty();
        assertThat(stats().violations()).containsEntry(Violation.UNKNOWN_CIRCUIT, 1L);
        assertThat(s.out()).isEmpty();
    }

    @Test
    void anUnknownTransactionalCommandGetsExactlyOneNosupp() {
        s.in(0x00300101 | CREATE, 5, 0); // a CAC command nobody serves
        List<Message> out = s.out();
        assertThat(out).hasSize(1);
        assertThat(out.get(0).cmd()).isEqualTo(0xe00fff01);
        assertThat(out.get(0).msgid()).isEqualTo(5);
        assertThat(out.get(0).error()).isEqualTo(Dmsg.ERR_NOSUPP);
        assertThat(stats().nosuppSent()).isEqualTo(1);
        // Our side is closed; the peer's is still open until it sends DELETE.
        assertThat(stats().openTransactions()).isEqualTo(3);
        s.in(Dmsg.LNK_ERROR | DELETE, 5, 0);
        assertThat(s.out()).isEmpty();
        assertThat(stats().openTransactions()).isEqualTo(2);
    }

    @Test
    void anUnknownOneMessageTransactionIsAnsweredAndForgotten() {
        s.in(0x00300101 | CREATE | DELETE, 5, 0);
        assertThat(s.out()).extracting(Message::cmd).containsExactly(0xe00fff01);
        assertThat(stats().openTransactions()).isEqualTo(2);
    }

    @Test
    void unknownOneWayCommandsAndOneWayErrorsAreNeverAnswered() {
        s.in(0x00300101, 0, 0);
        s.in(Dmsg.LNK_ERROR, 0, Dmsg.ERR_NOSUPP);
        s.in(Dmsg.LNK_ERROR | REPLY, 0, Dmsg.ERR_NOSUPP); // the C ping-pong hazard, docs/REFERENCE.md §2.6
        assertThat(s.out()).isEmpty();
        assertThat(stats().violations()).containsEntry(Violation.UNKNOWN_ONE_WAY, 1L);
        assertThat(stats().oneWayErrors()).as("a C peer's NOSUPP answers: expected, not breaches").isEqualTo(2);
    }

    @Test
    void stateIsKeptUntilDeleteIsBothSentAndReceived() {
        s.in(ECHO | CREATE, 5, 0);
        assertThat(stats().openTransactions()).isEqualTo(3);
        s.in(Dmsg.LNK_ERROR | DELETE, 5, 0);  // the peer closed its side
        assertThat(stats().openTransactions()).isEqualTo(3);
        Transaction ours = s.link.open(ECHO | DELETE, s.recorder("ours", seen)); // we send CREATE|DELETE
        assertThat(stats().openTransactions()).isEqualTo(4);
        s.in(Dmsg.LNK_ERROR | CREATE | DELETE | REPLY, ours.msgid(), 0);
        assertThat(ours.state()).isEqualTo(TxnState.CLOSED);
        assertThat(stats().openTransactions()).isEqualTo(3);
    }
}
