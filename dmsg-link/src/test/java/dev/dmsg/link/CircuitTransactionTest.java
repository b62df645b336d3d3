package dev.dmsg.link;

import static dev.dmsg.link.LinkScript.ECHO;
import static dev.dmsg.wire.Dmsg.CREATE;
import static dev.dmsg.wire.Dmsg.DELETE;
import static dev.dmsg.wire.Dmsg.REPLY;
import static org.assertj.core.api.Assertions.assertThat;

import dev.dmsg.link.tls.PeerIdentity;
import dev.dmsg.link.tls.Role;
import dev.dmsg.testkit.LeakDetector;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.Message;
import io.netty.buffer.Unpooled;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Transactions opened on a circuit attached to the link (the end-to-end API of virtual circuits,
 * docs/PROFILE.md §6): same rules as circuit 0, their own tables, LOSTLINK when the circuit is not there.
 */
@ExtendWith(LeakDetector.class)
class CircuitTransactionTest {
    final LinkScript s = new LinkScript();
    final List<String> got = new ArrayList<>();

    @AfterEach
    void down() {
        s.close();
    }

    @Test
    void aTransactionOnAnAttachedCircuitCarriesItsIdBothWays() {
        s.up();
        s.link.circuits().attach(0x77);
        Transaction t = s.link.open(0x77, ECHO | DELETE, null, null, s.recorder("c77", got));
        List<Message> out = s.out();
        assertThat(out).hasSize(1);
        assertThat(out.get(0).cmd()).isEqualTo(ECHO | CREATE | DELETE);
        assertThat(out.get(0).circuit()).isEqualTo(0x77);
        assertThat(t.circuit()).isEqualTo(0x77);
        assertThat(s.link.stats().openTransactions()).isEqualTo(3); // + both LNK_CONNs

        s.in(ECHO | CREATE | DELETE | REPLY, t.msgid(), 0, 0, null); // the same msgid on circuit 0: not ours
        assertThat(got).isEmpty();
        s.in(ECHO | CREATE | DELETE | REPLY, t.msgid(), 0x77, 0, null);
        assertThat(got).containsExactly("c77: " + LinkScript.describe(Message.of(ECHO | CREATE | DELETE | REPLY, 0, 0, 0)));
        assertThat(t.state()).isEqualTo(TxnState.CLOSED);
        assertThat(s.link.stats().openTransactions()).isEqualTo(2);
        assertThat(s.link.stats().violations().get(Violation.UNKNOWN_MSGID)).isEqualTo(1L); // the circuit-0 reply
    }

    @Test
    void anUnattachedCircuitGivesLostlinkAtOnceAndSendsNothing() {
        s.up();
        s.link.open(0x99, ECHO, null, null, s.recorder("c99", got));
        assertThat(s.out()).isEmpty();
        assertThat(got).containsExactly("c99: " + LinkScript.describe(
            Message.of(Dmsg.LNK_ERROR | Dmsg.ABORT | DELETE | REPLY | CREATE, 0, 0, Dmsg.ERR_LOSTLINK)));
    }

    @Test
    void detachingTheCircuitAbortsItsTransactionsOnly() {
        s.up();
        s.link.circuits().attach(0x77);
        s.link.open(0x77, ECHO, null, null, s.recorder("c77", got));
        s.link.open(ECHO, s.recorder("c0", got));
        s.out();
        assertThat(s.link.circuits().detach(0x77)).isEqualTo(1);
        assertThat(got).containsExactly("c77: " + LinkScript.describe(
            Message.of(Dmsg.LNK_ERROR | Dmsg.ABORT | DELETE | REPLY | CREATE, 0, 0, Dmsg.ERR_LOSTLINK)));
        assertThat(s.link.stats().openTransactions()).isEqualTo(3); // c0 and both LNK_CONNs
    }

    @Test
    void aOneWayMessageOnACircuitCarriesItsIdAndMsgidZeroAndIsDroppedOnceDetached() {
        s.up();
        s.link.circuits().attach(0x77);
        s.link.sendOneWay(0x77, ECHO, null, null);
        List<Message> out = s.out();
        assertThat(out).hasSize(1);
        assertThat(out.get(0).cmd()).isEqualTo(ECHO);
        assertThat(out.get(0).circuit()).isEqualTo(0x77);
        assertThat(out.get(0).msgid()).isZero();
        s.link.circuits().detach(0x77);
        long discarded = s.link.stats().sendsDiscarded();
        s.link.sendOneWay(0x77, ECHO, null, null);
        assertThat(s.out()).isEmpty();
        assertThat(s.link.stats().sendsDiscarded()).isEqualTo(discarded + 1);
    }

    /**
     * Issue 13: a shell command that finished after its circuit was torn down threw "already sent
     * DELETE" in the shell thread. A send on a transaction a LOSTLINK abort closed is discarded and
     * counted, like one on a dead link.
     */
    @Test
    void sendingOnATransactionWhoseCircuitWasDetachedIsDiscardedNotThrown() {
        s.up();
        s.link.circuits().attach(0x77);
        AtomicReference<Transaction> peers = new AtomicReference<>();
        s.services.accept(ECHO, (t, m) -> {
            peers.set(t);
            return (tt, mm) -> { };
        });
        s.in(ECHO | CREATE | DELETE, 9, 0x77, 0, null);
        Transaction t = peers.get();
        s.out();
        s.link.circuits().detach(0x77);
        assertThat(t.state()).isEqualTo(TxnState.CLOSED);
        long discarded = s.link.stats().sendsDiscarded();
        t.send(ECHO, null, Unpooled.buffer(8).writeLong(1)); // the late output
        t.reply(0);
        assertThat(s.out()).isEmpty();
        assertThat(s.link.stats().sendsDiscarded()).isEqualTo(discarded + 1);
    }

    /**
     * docs/IDENTITY.md §6: a peer's transactions on an authenticated circuit count against its
     * originator's budget, not the link's; a refusal there leaves the link's own count alone.
     */
    @Test
    void transactionsOnAnAuthenticatedCircuitCountAgainstItsOriginatorNotTheLink() {
        LinkScript s = new LinkScript(b -> b.maxPeerTransactions(3));
        try {
            budgetsOf(s);
        } finally {
            s.close();
        }
    }

    private static void budgetsOf(LinkScript s) {
        s.services.accept(ECHO, (txn, create) -> (t, m) -> { });
        s.up(); // the peer's LNK_CONN: 1 of the link's 3
        s.link.circuits().attach(0x77);
        PeerIdentity far = new PeerIdentity("far", "SHA256:" + "F".repeat(43),
            Role.MEMBER, 0);
        CircuitSecurity.Budget budget = new CircuitSecurity.Budget(2);
        s.link.circuits().secure(0x77, new CircuitSecurity(far, null, why -> { }, budget));
        assertThat(s.link.circuitPeer(0x77)).isEqualTo(far);
        for (long id = 1; id <= 3; id++) {
            s.in(ECHO | CREATE, id, 0x77, 0, null);
        }
        List<Message> out = s.out();
        assertThat(out).hasSize(1);
        assertThat(out.get(0).msgid()).isEqualTo(3);
        assertThat(out.get(0).error()).isEqualTo(Dmsg.ERR_LIMIT);
        assertThat(budget.open()).isEqualTo(2);
        // the link's own budget is untouched by the circuit's: two more fit on circuit 0, then LIMIT
        for (long id = 10; id <= 12; id++) {
            s.in(ECHO | CREATE, id, 0);
        }
        out = s.out();
        assertThat(out).hasSize(1);
        assertThat(out.get(0).msgid()).isEqualTo(12);
        assertThat(out.get(0).error()).isEqualTo(Dmsg.ERR_LIMIT);
        s.link.circuits().detach(0x77);
        assertThat(budget.open()).as("given back when the circuit goes").isZero();
        assertThat(s.link.circuitPeer(0x77)).isNull();
    }

    @Test
    void answersStillInFlightWhenWeClosedACircuitAreDroppedWithoutABreach() {
        s.up();
        s.link.circuits().attach(0x55);
        Transaction t = s.link.open(0x55, ECHO, null, null, s.recorder("echo", got));
        s.out();
        assertThat(s.link.circuits().detach(0x55)).isEqualTo(1); // closed here: the LOSTLINK abort, at once
        // the far end's reply crossed our close (a C relay forwards it until both sides closed)
        s.in(ECHO | Dmsg.CREATE | Dmsg.DELETE | Dmsg.REPLY, t.msgid(), 0x55, 0, null);
        assertThat(s.link.lateOnDetached()).isEqualTo(1);
        assertThat(s.link.stats().violationCount()).isZero();
        // a circuit never attached here is still a breach
        s.in(ECHO | Dmsg.CREATE, 9, 0x66, 0, null);
        assertThat(s.link.stats().violationCount()).isEqualTo(1);
        assertThat(s.out()).isEmpty();
    }
}
