package dev.dmsg.link;

import static dev.dmsg.link.LinkScript.ECHO;
import static dev.dmsg.wire.Dmsg.ABORT;
import static dev.dmsg.wire.Dmsg.CREATE;
import static dev.dmsg.wire.Dmsg.DELETE;
import static dev.dmsg.wire.Dmsg.REPLY;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.dmsg.testkit.LeakDetector;
import dev.dmsg.wire.BlkError;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.Message;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * What we send: the flags of the reply helpers (docs/REFERENCE.md §2.5: REPLY when the peer opened the
 * transaction, CREATE on our first message, DELETE for reply/close), and the seed's four uses of
 * ABORT, sending and receiving.
 */
@ExtendWith(LeakDetector.class)
class TransactionSendTest {
    LinkScript s;
    final List<String> seen = new ArrayList<>();
    final AtomicReference<Transaction> accepted = new AtomicReference<>();

    @BeforeEach
    void up() {
        s = new LinkScript();
        s.services.accept(ECHO, (txn, create) -> {
            accepted.set(txn);
            return s.recorder("echo", seen);
        });
        s.up();
    }

    @AfterEach
    void down() {
        s.close();
    }

    List<Integer> sent() {
        return s.out().stream().map(Message::cmd).toList();
    }

    // ---- reply helpers on a transaction the peer opened ----

    @Test
    void resultThenElementsThenReplyOnThePeersTransaction() {
        s.in(ECHO | CREATE, 5, 0);
        Transaction t = accepted.get();
        assertThat(t.openedLocally()).isFalse();
        t.result(0);
        t.send(ECHO, null, null);
        t.reply(7);
        t.reply(0); // our direction is closed: nothing
        List<Message> out = s.out();
        assertThat(out).extracting(Message::cmd).containsExactly(0xa00fff01, 0x2010fe01, 0x600fff01);
        assertThat(out).extracting(Message::msgid).containsOnly(5L);
        assertThat(out.get(2).error()).isEqualTo(7);
        assertThat(t.state()).isEqualTo(TxnState.HALF_CLOSED_LOCAL);
        assertThatThrownBy(() -> t.send(ECHO, null, null))
            .isInstanceOf(IllegalStateException.class).hasMessageContaining("already sent DELETE");
    }

    @Test
    void sendWithAnErrorCarriesTheErrorAndTheFields() {
        // a BLK_ERROR answer: the error code in the header, keyid/resid/buf in its fields (docs/BLK.md)
        s.in(ECHO | CREATE | DELETE, 5, 0);
        accepted.get().send(Dmsg.BLK_ERROR | DELETE, Dmsg.ERR_PERM, new BlkError(0, 0, "read-only"), null);
        Message m = s.out().get(0);
        assertThat(m.cmd()).isEqualTo(Dmsg.BLK_ERROR | CREATE | DELETE | REPLY);
        assertThat(m.error()).isEqualTo(Dmsg.ERR_PERM);
        assertThat(m.ext(BlkError.class).buf()).isEqualTo("read-only");
        assertThat(accepted.get().state()).isEqualTo(TxnState.CLOSED);
    }

    @Test
    void anImmediateReplyCarriesCreateDeleteReply() {
        s.in(ECHO | CREATE | DELETE, 5, 0);
        accepted.get().reply(0);
        assertThat(sent()).containsExactly(0xe00fff01);
        assertThat(accepted.get().state()).isEqualTo(TxnState.CLOSED);
        assertThat(s.link.stats().openTransactions()).isEqualTo(2);
    }

    // ---- on a transaction we opened ----

    @Test
    void elementsResultAndCloseOnOurTransaction() {
        Transaction t = s.link.open(ECHO, s.recorder("ours", seen));
        t.send(ECHO, null, null);
        t.result(0);
        t.close();
        t.close();
        assertThat(sent()).containsExactly(0x8010fe01, 0x0010fe01, 0x000fff01, 0x400fff01);
        assertThat(t.state()).isEqualTo(TxnState.LOCAL_CLOSED_AWAITING_REPLY);
    }

    @Test
    void callersMayNotSetCreateOrReply() {
        Transaction t = s.link.open(ECHO, s.recorder("ours", seen));
        assertThatThrownBy(() -> t.send(ECHO | CREATE, null, null)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> t.send(ECHO | REPLY, null, null)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> s.link.open(ECHO | CREATE, s.recorder("x", seen))).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> s.link.sendOneWay(ECHO | DELETE, null, null)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> s.link.open(Dmsg.LNK_SPAN, s.recorder("x", seen)))
            .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("does not carry");
    }

    @Test
    void aOneWayInsideATransactionCarriesItsMsgidAndLeavesTheStateAlone() {
        Transaction t = s.link.open(ECHO, s.recorder("ours", seen));
        t.sendOneWay(Dmsg.DBG_SHELL, null, null);
        List<Message> out = s.out();
        assertThat(out).extracting(Message::cmd).containsExactly(0x8010fe01, 0x00100101);
        assertThat(out.get(1).msgid()).isEqualTo(t.msgid());
        assertThat(t.state()).isEqualTo(TxnState.LOCAL_OPEN);
    }

    // ---- the four ABORT uses of the seed ----

    @Test
    void abortCreateIsANonBlockingRequest() {
        s.link.open(ECHO | ABORT, s.recorder("ours", seen));
        assertThat(sent()).containsExactly(0x9010fe01);
        s.in(ECHO | CREATE | ABORT, 6, 0); // and received: the acceptor sees the ABORT flag
        assertThat(seen).containsExactly("echo: 9010fe01 err=0");
    }

    @Test
    void midStreamAbort() {
        Transaction ours = s.link.open(ECHO, s.recorder("ours", seen));
        ours.abort();
        s.in(ECHO | CREATE, 6, 0);
        accepted.get().abort(); // before we answered: needs CREATE so the peer has a state to abort
        assertThat(sent()).containsExactly(0x8010fe01, 0x100fff01, 0xb00fff01);
        // received mid-stream on an open transaction: delivered
        s.in(Dmsg.LNK_ERROR | ABORT, 6, 0);
        assertThat(seen).containsExactly("echo: 8010fe01 err=0", "echo: 100fff01 err=0");
    }

    @Test
    void abortDeleteIsAForcedCloseAndAllowedAfterOurDelete() {
        Transaction t = s.link.open(ECHO, s.recorder("ours", seen));
        t.close();                 // our DELETE
        t.abortClose();            // abort-after-DELETE: still sent
        s.in(Dmsg.LNK_ERROR | CREATE | DELETE | REPLY, t.msgid(), 0);
        assertThat(t.state()).isEqualTo(TxnState.CLOSED);
        t.abortClose();            // fully closed: nothing
        assertThat(sent()).containsExactly(0x8010fe01, 0x400fff01, 0x500fff01);
        // received: an ABORT|DELETE racing the full close is discarded silently
        s.in(Dmsg.LNK_ERROR | DELETE | ABORT | REPLY, t.msgid(), 0);
        assertThat(s.link.stats().abortsDiscarded()).isEqualTo(1);
        assertThat(s.link.stats().violationCount()).isZero();
    }

    @Test
    void aReceivedAbortDeleteClosesThePeersDirection() {
        s.in(ECHO | CREATE, 6, 0);
        s.in(Dmsg.LNK_ERROR | ABORT | DELETE, 6, 0);
        assertThat(seen).containsExactly("echo: 8010fe01 err=0", "echo: 500fff01 err=0");
        assertThat(accepted.get().state()).isEqualTo(TxnState.REMOTE_CLOSED_AWAITING_REPLY);
    }

    @Test
    void aHandlerThatThrowsAbortsItsTransactionAndTheLinkCarriesOn() {
        s.services.accept(0x0010fc01, (txn, create) -> (t, m) -> {
            throw new IllegalStateException("boom");
        });
        s.in(0x0010fc01 | CREATE, 9, 0);
        assertThat(sent()).containsExactly(0xf00fff01); // ABORT|DELETE|REPLY|CREATE
        assertThat(s.link.stats().handlerErrors()).isEqualTo(1);
        assertThat(s.link.state()).isEqualTo(LinkState.UP);
    }
}
