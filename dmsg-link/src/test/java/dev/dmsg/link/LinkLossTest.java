package dev.dmsg.link;

import static dev.dmsg.link.LinkScript.ECHO;
import static dev.dmsg.wire.Dmsg.CREATE;
import static dev.dmsg.wire.Dmsg.DELETE;
import static dev.dmsg.wire.Dmsg.REPLY;
import static org.assertj.core.api.Assertions.assertThat;

import dev.dmsg.testkit.LeakDetector;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.Message;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * docs/PROFILE.md §3: when a link dies, every open transaction — both directions, every state, circuit 0
 * and attached circuits — gets exactly one simulated LNK_ERROR|ABORT|DELETE with LOSTLINK
 * (+REPLY for ours, +CREATE where the peer never answered; docs/REFERENCE.md §2.7), and both tables end
 * empty.
 */
@ExtendWith(LeakDetector.class)
class LinkLossTest {
    static final int SIM = Dmsg.LNK_ERROR | Dmsg.ABORT | DELETE;
    final LinkScript s = new LinkScript();
    /** Per transaction label, every message its handler received. */
    final Map<String, List<Message>> got = new LinkedHashMap<>();

    @AfterEach
    void down() {
        got.values().forEach(l -> l.forEach(Message::release));
        s.close();
    }

    TransactionHandler rec(String label) {
        got.put(label, new ArrayList<>());
        return (t, m) -> got.get(label).add(m.retain());
    }

    Message lastOf(String label) {
        List<Message> l = got.get(label);
        return l.get(l.size() - 1);
    }

    @Test
    void everyOpenTransactionInEveryStateGetsExactlyOneLostlinkAbort() {
        String[] remote = {"remote-open", "remote-answered", "remote-half-closed"};
        int[] nextRemote = {0};
        s.services.accept(ECHO, (txn, create) -> rec(remote[nextRemote[0]++]));
        s.up();
        s.link.circuits().attach(0x77);

        Transaction localOpen = s.link.open(ECHO, rec("local-open"));                   // LOCAL_OPEN
        Transaction localAnswered = s.link.open(ECHO, rec("local-answered"));           // OPEN
        s.in(ECHO | CREATE | REPLY, localAnswered.msgid(), 0);
        Transaction localHalf = s.link.open(ECHO, rec("local-half-closed"));            // HALF_CLOSED_LOCAL
        s.in(ECHO | CREATE | REPLY, localHalf.msgid(), 0);
        localHalf.close();
        Transaction localOneShot = s.link.open(ECHO | DELETE, rec("local-one-shot"));   // awaiting reply
        s.in(ECHO | CREATE, 101, 0);                                                    // REMOTE_OPEN
        s.in(ECHO | CREATE, 102, 0);                                                    // OPEN
        s.in(ECHO | CREATE, 103, 0);                                                    // HALF_CLOSED_REMOTE
        s.in(Dmsg.LNK_ERROR | DELETE, 103, 0);
        s.out();
        assertThat(localOneShot.state()).isEqualTo(TxnState.LOCAL_CLOSED_AWAITING_REPLY);
        got.values().forEach(l -> l.forEach(Message::release));
        got.values().forEach(List::clear);
        int before = s.link.stats().openTransactions();
        assertThat(before).isEqualTo(9); // 7 above + both LNK_CONNs

        s.link.fail("test: socket reset");

        assertThat(got).allSatisfy((label, msgs) -> {
            assertThat(msgs).as(label).hasSize(1);
            assertThat(msgs.get(0).error()).as(label).isEqualTo(Dmsg.ERR_LOSTLINK);
            assertThat(msgs.get(0).isDelete() && msgs.get(0).isAbort()).as(label).isTrue();
        });
        assertThat(lastOf("local-open").cmd()).isEqualTo(SIM | REPLY | CREATE);   // the peer never answered
        assertThat(lastOf("local-one-shot").cmd()).isEqualTo(SIM | REPLY | CREATE);
        assertThat(lastOf("local-answered").cmd()).isEqualTo(SIM | REPLY);
        assertThat(lastOf("local-half-closed").cmd()).isEqualTo(SIM | REPLY);
        assertThat(lastOf("remote-open").cmd()).isEqualTo(SIM);
        assertThat(lastOf("remote-answered").cmd()).isEqualTo(SIM);
        assertThat(lastOf("remote-half-closed").cmd()).isEqualTo(SIM);
        assertThat(lastOf("local-open").msgid()).isEqualTo(localOpen.msgid());
        assertThat(lastOf("remote-open").msgid()).isEqualTo(101);

        assertThat(s.link.stats().openTransactions()).isZero();
        assertThat(s.link.state()).isEqualTo(LinkState.CLOSED);
        assertThat(s.events).containsOnlyOnce("down test: socket reset aborted=9");
        assertThat(s.link.closeFuture()).isCompletedWithValue("test: socket reset");
        assertThat(s.out()).isEmpty(); // nothing is sent on a dead link
        assertThat(s.transport.closes).isEqualTo(1);

        s.link.fail("again");
        assertThat(s.events).filteredOn(e -> e.startsWith("down")).hasSize(1);
        assertThat(got).allSatisfy((label, msgs) -> assertThat(msgs).as(label).hasSize(1));
    }

    @Test
    void transactionsOnAnAttachedCircuitAreAbortedWithTheirCircuitId() {
        s.services.accept(ECHO, (txn, create) -> rec("on-circuit"));
        s.up();
        s.link.circuits().attach(0x77);
        s.in(ECHO | CREATE, 5, 0x77, 0, null);
        got.get("on-circuit").forEach(Message::release);
        got.get("on-circuit").clear();
        s.link.fail("gone");
        assertThat(got.get("on-circuit")).hasSize(1);
        assertThat(got.get("on-circuit").get(0).circuit()).isEqualTo(0x77);
        assertThat(got.get("on-circuit").get(0).cmd()).isEqualTo(SIM);
    }

    @Test
    void detachingACircuitAbortsOnlyItsTransactions() {
        String[] labels = {"on-77", "on-0"};
        int[] n = {0};
        s.services.accept(ECHO, (txn, create) -> rec(labels[n[0]++]));
        s.up();
        s.link.circuits().attach(0x77);
        s.in(ECHO | CREATE, 5, 0x77, 0, null);
        s.in(ECHO | CREATE, 5, 0, 0, null); // same msgid on circuit 0: separate tables
        assertThat(s.link.circuits().detach(0x77)).isEqualTo(1);
        assertThat(got.get("on-77")).extracting(Message::cmd).containsExactly(ECHO | CREATE, SIM);
        assertThat(got.get("on-0")).extracting(Message::cmd).containsExactly(ECHO | CREATE);
        assertThat(s.link.state()).isEqualTo(LinkState.UP);
        s.in(ECHO, 5, 0x77, 0, null); // the circuit is gone now: late, dropped without a breach
        assertThat(s.link.lateOnDetached()).isEqualTo(1);
        s.in(ECHO, 5, 0x78, 0, null); // never attached: a breach
        assertThat(s.link.stats().violations()).containsEntry(Violation.UNKNOWN_CIRCUIT, 1L);
    }

    @Test
    void sendsFromHandlersDuringTheAbortAreDiscardedNotThrown() {
        s.services.accept(ECHO, (txn, create) -> (t, m) -> {
            if (m.isDelete()) {
                t.send(ECHO | DELETE, null, null); // the natural "answer DELETE with DELETE"
                t.reply(0);
            }
        });
        s.up();
        s.in(ECHO | CREATE, 5, 0);
        s.link.fail("gone");
        assertThat(s.link.stats().handlerErrors()).isZero();
        assertThat(s.link.stats().sendsDiscarded()).isPositive();
        assertThat(s.out()).isEmpty();
    }

    @Test
    void openingOnADeadLinkDeliversTheAbortAtOnce() {
        s.up();
        s.link.fail("gone");
        Transaction t = s.link.open(ECHO, rec("late"));
        assertThat(got.get("late")).extracting(Message::cmd).containsExactly(SIM | REPLY | CREATE);
        assertThat(t.state()).isEqualTo(TxnState.CLOSED);
        assertThat(s.out()).isEmpty();
    }

    @Test
    void waitersForWritabilityRunOnceWhenTheLinkDies() {
        s.up();
        s.transport.writable = false;
        s.link.writabilityChanged(false);
        List<LinkState> ran = new ArrayList<>();
        s.link.whenWritable(() -> ran.add(s.link.state()));
        s.transport.runPending();
        assertThat(ran).as("parked while the link is not writable").isEmpty();

        s.link.transportClosed("connection reset");
        s.transport.runPending();
        assertThat(ran).containsExactly(LinkState.CLOSED);

        s.link.whenWritable(() -> ran.add(s.link.state())); // after the death: at once
        s.transport.runPending();
        assertThat(ran).containsExactly(LinkState.CLOSED, LinkState.CLOSED);
    }
}
