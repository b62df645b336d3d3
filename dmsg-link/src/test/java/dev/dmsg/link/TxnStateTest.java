package dev.dmsg.link;

import static org.assertj.core.api.Assertions.assertThat;

import dev.dmsg.wire.Dmsg;
import org.junit.jupiter.api.Test;

/** The one transition method, {@link TxnState#next}, as the table of docs/LINK-INTERNALS.md states it. */
class TxnStateTest {
    static final int C = Dmsg.CREATE;
    static final int D = Dmsg.DELETE;
    static final int A = Dmsg.ABORT;

    @Test
    void ourTransactionFromCreateToClosed() {
        TxnState s = TxnState.IDLE.next(TxnState.Event.SENT, C);
        assertThat(s).isEqualTo(TxnState.LOCAL_OPEN);
        s = s.next(TxnState.Event.RECEIVED, C | Dmsg.REPLY);
        assertThat(s).isEqualTo(TxnState.OPEN);
        s = s.next(TxnState.Event.SENT, D);
        assertThat(s).isEqualTo(TxnState.HALF_CLOSED_LOCAL);
        s = s.next(TxnState.Event.RECEIVED, D | Dmsg.REPLY);
        assertThat(s).isEqualTo(TxnState.CLOSED);
    }

    @Test
    void thePeersOneMessageTransactionAwaitsOurReply() {
        TxnState s = TxnState.IDLE.next(TxnState.Event.RECEIVED, C | D);
        assertThat(s).isEqualTo(TxnState.REMOTE_CLOSED_AWAITING_REPLY);
        assertThat(s.next(TxnState.Event.SENT, C | D | Dmsg.REPLY)).isEqualTo(TxnState.CLOSED);
    }

    @Test
    void abortAloneChangesNoPhaseAndAbortDeleteClosesThroughDelete() {
        assertThat(TxnState.OPEN.next(TxnState.Event.RECEIVED, A)).isEqualTo(TxnState.OPEN);
        assertThat(TxnState.OPEN.next(TxnState.Event.SENT, A)).isEqualTo(TxnState.OPEN);
        assertThat(TxnState.OPEN.next(TxnState.Event.RECEIVED, A | D)).isEqualTo(TxnState.HALF_CLOSED_REMOTE);
        // abort-after-DELETE: our direction stays closed
        assertThat(TxnState.HALF_CLOSED_LOCAL.next(TxnState.Event.SENT, A | D)).isEqualTo(TxnState.HALF_CLOSED_LOCAL);
    }

    @Test
    void aSecondCreateDoesNotReopenAndLostClosesFromAnyState() {
        assertThat(TxnState.HALF_CLOSED_LOCAL.next(TxnState.Event.SENT, C)).isEqualTo(TxnState.HALF_CLOSED_LOCAL);
        for (TxnState s : TxnState.values()) {
            assertThat(s.next(TxnState.Event.LOST, 0)).as("%s on LOST", s).isEqualTo(TxnState.CLOSED);
        }
    }

    @Test
    void everyStateIsTheProductOfItsPhases() {
        for (TxnState s : TxnState.values()) {
            assertThat(TxnState.of(s.tx, s.rx)).isEqualTo(s);
        }
    }
}
