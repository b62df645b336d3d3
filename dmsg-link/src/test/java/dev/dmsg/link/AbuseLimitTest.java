package dev.dmsg.link;

import static dev.dmsg.link.LinkScript.ECHO;
import static dev.dmsg.wire.Dmsg.ABORT;
import static dev.dmsg.wire.Dmsg.CREATE;
import static dev.dmsg.wire.Dmsg.DELETE;
import static dev.dmsg.wire.Dmsg.REPLY;
import static org.assertj.core.api.Assertions.assertThat;

import dev.dmsg.testkit.LeakDetector;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.Message;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * docs/SECURITY.md §7 on one link with a fake clock: the cap on transactions the peer holds open
 * (answered LIMIT, counted, the link stays up and serves again once some close), and the
 * rapid-reset budget (ABORT|CREATE and open-then-abort churn: a burst passes, a flood closes the
 * link with the reason, a steady rate under the budget never does).
 */
@ExtendWith(LeakDetector.class)
class AbuseLimitTest {
    LinkScript s;

    @AfterEach
    void down() {
        s.close();
    }

    /** The peer holds transactions open: ECHO without DELETE, answered, left open. */
    @Test
    void transactionsPastTheCapAreAnsweredLimitAndTheLinkStaysUp() {
        s = new LinkScript(b -> b.maxPeerTransactions(5));
        s.services.accept(ECHO, (txn, create) -> (t, m) -> {
            if (m.isDelete()) {
                t.reply(0); // open until the peer closes; then closed both ways
            }
        });
        s.up(); // the peer's LNK_CONN is one of its open transactions
        for (long id = 1; id <= 4; id++) {
            s.in(ECHO | CREATE, id, 0);
        }
        assertThat(s.out()).isEmpty();
        s.in(ECHO | CREATE, 5, 0);
        List<Message> out = s.out();
        assertThat(out).hasSize(1);
        assertThat(out.get(0).cmd()).isEqualTo(Dmsg.LNK_ERROR | CREATE | DELETE | REPLY);
        assertThat(out.get(0).msgid()).isEqualTo(5);
        assertThat(out.get(0).error()).isEqualTo(Dmsg.ERR_LIMIT);
        assertThat(s.link.stats().refusedOverLimit()).isEqualTo(1);
        assertThat(s.link.state()).isEqualTo(LinkState.UP);
        // the refused one is not kept, even half-open: a flood of CREATEs without DELETE stays bounded
        int open = s.link.stats().openTransactions();
        for (long id = 100; id < 1100; id++) {
            s.in(ECHO | CREATE, id, 0);
        }
        assertThat(s.link.stats().openTransactions()).isEqualTo(open);
        assertThat(s.link.stats().refusedOverLimit()).isEqualTo(1001);
        s.out();
        // one closes: the next is served again
        s.in(ECHO | DELETE, 1, 0);
        s.in(ECHO | CREATE, 6, 0);
        assertThat(s.out()).noneMatch(m -> m.error() == Dmsg.ERR_LIMIT);
    }

    @Test
    void aBurstOfAbortsPassesAFloodClosesTheLinkWithTheReason() {
        s = new LinkScript(b -> b.abortBudget(100, 200));
        s.up();
        long id = 1;
        for (int i = 0; i < 200; i++) {
            s.in(ECHO | CREATE | ABORT | DELETE, id++, 0); // rapid reset: open and cancel at once
        }
        assertThat(s.link.state()).isEqualTo(LinkState.UP);
        s.in(ECHO | CREATE | ABORT | DELETE, id++, 0);
        assertThat(s.link.state()).isEqualTo(LinkState.CLOSED);
        assertThat(s.link.closeReason()).startsWith("abusive peer: more than 200 aborts of its own transactions at once, "
            + "100 per second sustained (rapid reset, CVE-2023-44487)");
        assertThat(s.events).last().asString().startsWith("down abusive peer");
    }

    @Test
    void aSteadyRateUnderTheBudgetNeverCloses() {
        s = new LinkScript(b -> b.abortBudget(100, 10));
        s.services.accept(ECHO, (txn, create) -> (t, m) -> {
            if (m.isDelete()) {
                t.reply(m.error());
            }
        });
        s.up();
        long id = 1;
        for (int second = 0; second < 20; second++) {
            for (int i = 0; i < 90; i++) { // 90/s, in bursts of 9 every 100 ms
                if (i % 9 == 0) {
                    s.clock.advance(100, TimeUnit.MILLISECONDS);
                }
                long open = id++;
                s.in(ECHO | CREATE, open, 0);
                s.in(ECHO | ABORT | DELETE, open, 0); // open, then abort: the slower churn
            }
            s.out();
        }
        assertThat(s.link.state()).isEqualTo(LinkState.UP);
    }

    @Test
    void ourOwnAbortsAndTheirRepliesDoNotCount() {
        s = new LinkScript(b -> b.abortBudget(1, 1));
        s.up();
        for (int i = 0; i < 10; i++) {
            Transaction t = s.link.open(ECHO, (tt, m) -> { });
            t.abortClose();
            s.in(Dmsg.LNK_ERROR | ABORT | DELETE | REPLY, t.msgid(), 0); // the peer answers our abort
        }
        assertThat(s.link.state()).isEqualTo(LinkState.UP);
    }
}
