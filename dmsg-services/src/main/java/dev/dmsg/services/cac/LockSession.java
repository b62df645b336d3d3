package dev.dmsg.services.cac;

import dev.dmsg.link.Transaction;
import dev.dmsg.link.TransactionHandler;
import dev.dmsg.quorum.cac.CacEntry;
import dev.dmsg.quorum.cac.CacEvent;
import dev.dmsg.quorum.cac.CacState;
import dev.dmsg.quorum.cac.LockTable;
import dev.dmsg.quorum.store.LogEntry;
import dev.dmsg.services.quorum.GroupEngine;
import dev.dmsg.services.quorum.QuorumException;
import dev.dmsg.wire.CacHeader;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.Message;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * One lock at its home (docs/CAC.md §3): the holder's CAC_LOCK transaction, and the log entries
 * and messages that follow it. The holder's messages arrive on the link's event loop; the lock's
 * events on the state machine's applying thread; proposals complete on Ratis's threads — so the
 * state is guarded by this object, and every message goes out from the link's event loop
 * (a send may wait for the link's budget, which neither other thread may).
 */
final class LockSession implements TransactionHandler {
    private final GroupHome home;
    private final Transaction txn;
    private final CacHeader request;
    private final LockTable.Acquire acquire;
    private final String originator;
    final long nonce;
    private long lock;            // 0 until the ACQUIRE is applied
    private boolean granted;
    private boolean ended;        // the transaction is finished here (answered with DELETE)
    private boolean holderGone;   // the holder released, aborted or was lost before its lock was known
    private boolean waitOver;     // wait_ms passed before the lock was known
    private ScheduledFuture<?> waitTimer;

    LockSession(GroupHome home, Transaction txn, CacHeader request, LockTable.Acquire acquire, String originator,
                long nonce) {
        this.home = home;
        this.txn = txn;
        this.request = request;
        this.acquire = acquire;
        this.originator = originator;
        this.nonce = nonce;
    }

    /** Proposes the ACQUIRE; its events come back through {@link #on}. */
    void start() {
        if (request.waitMs() != 0) {
            waitTimer = home.timers().schedule(this::waitPassed, Integer.toUnsignedLong(request.waitMs()),
                TimeUnit.MILLISECONDS);
        }
        home.engine().propose(new LogEntry.Lock(new CacEntry.Acquire(nonce, acquire))).whenComplete((a, e) -> {
            if (e != null) {
                boolean known;
                synchronized (this) {
                    known = lock != 0;
                }
                if (!known) { // never applied, or applied later: GroupHome releases an orphan it finds
                    home.forget(this);
                    Throwable x = e instanceof CompletionException && e.getCause() != null ? e.getCause() : e;
                    int err = x instanceof QuorumException q ? q.error() : Dmsg.ERR_IO;
                    end(err, "lock request not recorded: " + x.getMessage());
                }
            }
        });
    }

    // ---- from the log (the applying thread) ----

    synchronized void lockIs(long id) {
        lock = id;
    }

    synchronized long lock() {
        return lock;
    }

    /** One event about this lock. */
    void on(CacEvent e) {
        if (e instanceof CacEvent.Waiting w) {
            reply(CacHeader.WAITING, 0, 0, w.behind(), 0, null);
        } else if (e instanceof CacEvent.Granted g) {
            synchronized (this) {
                granted = true;
                cancelTimer();
            }
            home.budgets().granted(originator);
            reply(CacHeader.GRANTED, g.state().wire(), g.token(), 0, g.leaseMs(), null);
        } else if (e instanceof CacEvent.Downgrade d) {
            reply(CacHeader.DOWNGRADE, d.target().wire(), 0, 0, 0, null);
        } else if (e instanceof CacEvent.Changed c) {
            reply(CacHeader.CHANGED, c.state().wire(), c.token(), 0, 0, null);
        } else if (e instanceof CacEvent.Released) {
            finish();
        } else if (e instanceof CacEvent.Cancelled c) {
            if (c.upgrade()) {
                reply(CacHeader.CHANGED, -1, 0, 0, 0, null); // the upgrade is off; what is held stays
            } else if (c.why() == LockTable.CANCEL_TIMEOUT) {
                end(Dmsg.ERR_TIMEOUT, "not granted within wait_ms " + Integer.toUnsignedLong(request.waitMs()));
            } else {
                finish();
            }
        } else if (e instanceof CacEvent.Refused r) {
            boolean held;
            synchronized (this) {
                held = granted;
            }
            if (held) { // a CHANGE refused (DEADLOCK on an upgrade, PARAM): the lock stays as it is
                reply(CacHeader.CHANGED, -1, 0, 0, 0, r);
            } else {
                end(r.error(), r.reason());
            }
        } else if (e instanceof CacEvent.Revoked r) {
            end(Dmsg.ERR_REVOKED, "lock " + r.lock() + " revoked: " + r.reason());
        }
    }

    // ---- from the holder (the link's event loop) ----

    @Override
    public void onMessage(Transaction t, Message m) {
        if (m.isAbort() || m.isDelete()) {
            holderDone(m.isAbort() && m.error() == Dmsg.ERR_LOSTLINK);
            return;
        }
        CacHeader h = m.ext() instanceof CacHeader c ? c : null;
        String bad = h == null ? "no CAC header" : h.problem();
        if (bad == null && h.phase() != CacHeader.CHANGE) {
            bad = "a holder sends CHANGE, not " + CacHeader.phaseName(h.phase());
        }
        CacState to = bad == null ? CacState.of(h.state()) : null;
        if (bad == null && to == null) {
            bad = "state " + h.state() + " is not one of INVAL, SHARED, EXCLUSIVE, MODIFIED";
        }
        long id;
        synchronized (this) {
            id = lock;
            if (bad == null && !granted) {
                bad = "CHANGE before the lock was granted";
            }
        }
        if (bad != null) {
            reply(CacHeader.CHANGED, -1, 0, 0, 0, new CacEvent.Refused(id, null, Dmsg.ERR_PARAM, bad));
            return;
        }
        propose(new CacEntry.Change(id, to));
    }

    /** The holder ended its side: DELETE (release, or give up the wait), ABORT, or its link died. */
    private void holderDone(boolean lost) {
        long id;
        boolean held;
        synchronized (this) {
            id = lock;
            held = granted;
            if (id == 0) {
                holderGone = true;
                return; // the lock's id is not known yet: released when it is (afterAcquire)
            }
        }
        cancelTimer();
        if (lost && held) {
            propose(new CacEntry.Lost(id)); // kept for its lease: the holder may not know it lost us
        } else if (held) {
            propose(new CacEntry.Release(id));
        } else {
            propose(new CacEntry.Cancel(id, LockTable.CANCEL_ABORTED));
        }
        if (lost) {
            closeQuietly();
        }
    }

    /**
     * After the ACQUIRE's own events: what happened to the holder while its lock's id was not
     * known is carried out now — gone, the lock goes; its wait passed, the wait is cancelled.
     */
    void afterAcquire() {
        long id;
        boolean release;
        boolean cancel;
        synchronized (this) {
            id = lock;
            release = holderGone;
            cancel = waitOver && !granted && !ended;
        }
        if (release) {
            propose(new CacEntry.Release(id));
        } else if (cancel) {
            propose(new CacEntry.Cancel(id, LockTable.CANCEL_TIMEOUT));
        }
    }

    private void waitPassed() {
        long id;
        synchronized (this) {
            if (granted || ended) {
                return;
            }
            id = lock;
        }
        if (id != 0) {
            propose(new CacEntry.Cancel(id, LockTable.CANCEL_TIMEOUT));
        } else {
            synchronized (this) {
                waitOver = true; // the ACQUIRE is still on its way: afterAcquire cancels
            }
        }
    }

    private void propose(CacEntry e) {
        home.engine().propose(new LogEntry.Lock(e)).whenComplete((a, x) -> {
            if (x != null) {
                home.retryLater(e, x);
            }
        });
    }

    // ---- answers (from the link's event loop) ----

    private void reply(int phase, int state, long token, long behind, int leaseMs, CacEvent.Refused refused) {
        CacHeader h;
        long id;
        synchronized (this) {
            if (ended) {
                return;
            }
            id = lock;
        }
        int s = state >= 0 ? state : home.engine().locks(t -> {
            LockTable.LockView v = t.view(id);
            return v == null ? 0 : v.held().wire();
        });
        long tok = token != 0 ? token : home.engine().locks(t -> {
            LockTable.LockView v = t.view(id);
            return v == null ? 0L : v.token();
        });
        h = new CacHeader(CacHeader.VERSION, phase, s, request.domain(), 0, 0, leaseMs, phase == CacHeader.WAITING ? behind
            : tok, id, request.owner(), request.group(), true);
        int error = refused == null ? 0 : refused.error();
        byte[] aux = refused == null ? null : reason(refused.reason());
        txn.link().execute(() -> {
            try {
                txn.send(Dmsg.CAC_LOCK, error, h, aux == null ? null : Unpooled.wrappedBuffer(aux));
            } catch (IllegalStateException gone) {
                // the holder's side closed meanwhile: nothing to tell
            }
        });
    }

    /** Ends the transaction: RELEASED, no error. */
    private void finish() {
        CacHeader h;
        synchronized (this) {
            if (ended) {
                return;
            }
            ended = true;
            h = new CacHeader(CacHeader.VERSION, CacHeader.RELEASED, 0, request.domain(), 0, 0, 0, 0, lock,
                request.owner(), request.group(), true);
        }
        done();
        txn.link().execute(() -> {
            try {
                txn.send(Dmsg.CAC_LOCK | Dmsg.DELETE, h, null);
            } catch (IllegalStateException gone) {
                // closed both ways already
            }
        });
    }

    /** Ends the transaction with {@code error} and a one-line reason. */
    void end(int error, String why) {
        CacHeader h;
        synchronized (this) {
            if (ended) {
                return;
            }
            ended = true;
            h = new CacHeader(CacHeader.VERSION, 0, 0, 0, 0, 0, 0, 0, lock, request.owner(), request.group(), true);
        }
        done();
        byte[] aux = reason(why);
        txn.link().execute(() -> {
            try {
                txn.send(Dmsg.CAC_LOCK | Dmsg.DELETE, error, h, Unpooled.wrappedBuffer(aux));
            } catch (IllegalStateException gone) {
                // closed both ways already
            }
        });
    }

    private void closeQuietly() {
        synchronized (this) {
            if (ended) {
                return;
            }
            ended = true;
        }
        done();
    }

    private void done() {
        cancelTimer();
        boolean wasWaiting;
        synchronized (this) {
            wasWaiting = !granted;
        }
        home.budgets().ended(originator, wasWaiting);
        home.ended(this);
    }

    private synchronized void cancelTimer() {
        if (waitTimer != null) {
            waitTimer.cancel(false);
            waitTimer = null;
        }
    }

    /** The reason as sent: UTF-8, cut to 255 bytes on a character boundary, NUL-terminated (docs/QUORUM.md §3.2). */
    static byte[] reason(String why) {
        byte[] b = why.getBytes(StandardCharsets.UTF_8);
        int n = Math.min(b.length, 255);
        while (n > 0 && n < b.length && (b[n] & 0xC0) == 0x80) {
            n--;
        }
        byte[] aux = Arrays.copyOf(b, n + 1);
        aux[n] = 0;
        return aux;
    }
}
