package dev.dmsg.services.quorum;

import dev.dmsg.link.Transaction;
import dev.dmsg.link.TransactionHandler;
import dev.dmsg.quorum.store.LogEntry;
import dev.dmsg.quorum.store.Outcome;
import dev.dmsg.quorum.store.Txid;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.Message;
import dev.dmsg.wire.QrmHeader;
import dev.dmsg.wire.qrm.Batch;
import dev.dmsg.wire.qrm.QrmCodec;
import io.netty.buffer.Unpooled;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The member's side of one QRM_COMMIT transaction (docs/QUORUM.md §4): it proposes PREPARE (or
 * WRITE for ONE_PHASE), answers PREPARED, turns the initiator's COMMIT into a COMMIT entry and
 * answers COMMITTED, and turns an ABORT — or the transaction's death — into an ABORT entry. The
 * outcome is whatever the log applies first; this class only proposes.
 *
 * <p>Messages arrive on the link's event loop, outcomes on Ratis's threads: the state below is
 * guarded by {@code this}, and nothing blocks under it.
 */
final class CommitCoordinator implements TransactionHandler {
    private static final Logger log = LoggerFactory.getLogger(CommitCoordinator.class);

    enum State {
        /** PREPARE proposed, no outcome yet. */
        PREPARING,
        /** PREPARED answered; waiting for COMMIT or ABORT. */
        PREPARED,
        /** COMMIT proposed. */
        COMMITTING,
        /** Over: answered, aborted, or refused. */
        DONE
    }

    private final GroupEngine group;
    private final QrmHeader request;
    private final Batch batch;
    private final Txid txid = Txid.random();
    private final Runnable released;
    private State state;
    /** The initiator gave up (ABORT, DELETE, LOSTLINK) while the prepare was in flight. */
    private LogEntry.Why abandoned;
    /** Our direction's last message (COMMITTED or a refusal) is sent. */
    private boolean answered;

    /**
     * @param released run once when the transaction no longer holds its budget (it is over, or
     *     its prepare was aborted)
     */
    CommitCoordinator(GroupEngine group, QrmHeader request, Batch batch, Runnable released) {
        this.group = group;
        this.request = request;
        this.batch = batch;
        AtomicBoolean once = new AtomicBoolean();
        this.released = () -> {
            if (once.compareAndSet(false, true)) {
                released.run();
            }
        };
    }

    Txid txid() {
        return txid;
    }

    @Override
    public void onMessage(Transaction t, Message m) {
        if (m.isCreate()) {
            start(t);
            return;
        }
        if (m.isAbort() || (m.isDelete() && !isCommit(m))) {
            initiatorLeft(t, m.isAbort() && m.error() == Dmsg.ERR_LOSTLINK
                ? LogEntry.Why.LOST_INITIATOR : LogEntry.Why.INITIATOR);
            return;
        }
        if (isCommit(m)) {
            commit(t);
        } else {
            refuse(t, Dmsg.ERR_PARAM, "unexpected " + describe(m) + " in a QRM_COMMIT transaction");
        }
    }

    private static boolean isCommit(Message m) {
        return m.ext() instanceof QrmHeader h && h.phase() == QrmHeader.COMMIT;
    }

    private static String describe(Message m) {
        return m.ext() instanceof QrmHeader h ? QrmHeader.phaseName(h.phase()) : "a message without a QRM header";
    }

    private void start(Transaction t) {
        boolean onePhase = request.has(QrmHeader.ONE_PHASE);
        synchronized (this) {
            state = State.PREPARING;
        }
        LogEntry entry = onePhase ? new LogEntry.Write(batch)
            : new LogEntry.Prepare(txid, request.leaseMs(), batch);
        propose(entry).whenComplete((o, e) -> {
            if (e != null) {
                finish(t, e);
            } else if (onePhase) {
                answerFinal(t, o);
            } else {
                prepared(t, o);
            }
        });
    }

    private void prepared(Transaction t, GroupEngine.Applied a) {
        if (!(a.outcome() instanceof Outcome.Prepared p)) {
            answerFinal(t, a); // CONFLICT, LIMIT, INVALID: nothing was reserved
            return;
        }
        LogEntry.Why gone;
        synchronized (this) {
            gone = abandoned;
            if (gone == null) {
                state = State.PREPARED;
            }
        }
        if (gone != null) {
            abort(gone); // the initiator left while we prepared: release at once
            return;
        }
        QrmHeader h = QrmHeader.of(QrmHeader.PREPARED, group.name()).withLog(p.index(), a.term());
        synchronized (this) {
            if (answered) {
                return;
            }
        }
        Refusal.answer(t, Dmsg.QRM_COMMIT, h, Unpooled.wrappedBuffer(new byte[] {(byte) (p.held() ? 1 : 0)}));
    }

    private void commit(Transaction t) {
        State was;
        synchronized (this) {
            was = state;
            if (was == State.PREPARED) {
                state = State.COMMITTING;
            } else if (was == State.PREPARING && abandoned == null) {
                abandoned = LogEntry.Why.INITIATOR; // released once the prepare's outcome is known
            }
        }
        if (was != State.PREPARED) {
            // COMMIT before PREPARED, or twice: the initiator broke the protocol (docs/QUORUM.md §4)
            refuse(t, Dmsg.ERR_NOTPREPARED, "COMMIT for a batch that is not prepared (" + was.name().toLowerCase(Locale.ROOT) + ")");
            return;
        }
        propose(new LogEntry.Commit(txid)).whenComplete((o, e) -> {
            if (e != null) {
                finish(t, e);
            } else {
                answerFinal(t, o);
            }
        });
    }

    /** The initiator aborted, closed without COMMIT, or was lost. */
    private void initiatorLeft(Transaction t, LogEntry.Why why) {
        State s;
        synchronized (this) {
            s = state;
            if (s == State.PREPARING) {
                abandoned = why; // aborted once the prepare's outcome is known
            } else if (s == State.PREPARED) {
                state = State.DONE;
            }
        }
        if (s == State.PREPARED) {
            abort(why);
        }
        if (lastSent()) {
            t.close();
        }
    }

    private void abort(LogEntry.Why why) {
        synchronized (this) {
            state = State.DONE;
        }
        propose(new LogEntry.Abort(txid, why)).whenComplete((o, e) -> {
            if (e != null) {
                // the lease will: the leader expires what nobody commits (docs/QUORUM.md §4)
                log.info("quorum {}: could not propose ABORT of {} ({}); its lease will expire it",
                    group.name(), txid, QuorumClient.unwrap(e).getMessage());
            }
            released.run();
        });
    }

    private CompletableFuture<GroupEngine.Applied> propose(LogEntry e) {
        try {
            return group.propose(e);
        } catch (RuntimeException x) {
            return CompletableFuture.failedFuture(x);
        }
    }

    /** The last answer: COMMITTED with results, or the refusal the outcome means. */
    private void answerFinal(Transaction t, GroupEngine.Applied a) {
        synchronized (this) {
            state = State.DONE;
        }
        // The budget goes back before the answer: an initiator may send its next request the
        // moment it reads this one, and must find its place free (docs/QUORUM.md §6).
        released.run();
        Outcome o = a.outcome();
        if (o instanceof Outcome.Done d) {
            byte[] aux = QrmCodec.encodeResults(d.results(), QrmCodec.MAX_MESSAGE_BYTES);
            QrmHeader h = QrmHeader.of(QrmHeader.COMMITTED, group.name()).withRevision(d.revision())
                .withLog(a.index(), a.term());
            if (lastSent()) {
                Refusal.answer(t, Dmsg.QRM_COMMIT | Dmsg.DELETE, h, Unpooled.wrappedBuffer(aux));
            }
        } else {
            Refusal r = Refusal.of(o);
            refuse(t, r.error(), r.reason());
        }
    }

    /** A proposal failed (no leader, the engine closed): refuse with what it says. */
    private void finish(Transaction t, Throwable e) {
        Throwable x = QuorumClient.unwrap(e);
        boolean mayHaveApplied;
        synchronized (this) {
            mayHaveApplied = state == State.COMMITTING;
            state = State.DONE;
        }
        int err = x instanceof QuorumException q ? q.error() : Dmsg.ERR_IO;
        String why = x.getMessage() + (mayHaveApplied ? "; whether the commit was applied is unknown" : "");
        released.run(); // before the answer, as in answerFinal
        refuse(t, err, why);
    }

    private void refuse(Transaction t, int error, String reason) {
        if (lastSent()) {
            Refusal.send(t, Dmsg.QRM_COMMIT, group.name(), error, reason);
        }
    }

    /** Claims our direction's last message: true once, for whoever sends it. */
    private synchronized boolean lastSent() {
        if (answered) {
            return false;
        }
        answered = true;
        return true;
    }
}
