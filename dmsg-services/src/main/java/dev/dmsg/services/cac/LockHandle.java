package dev.dmsg.services.cac;

import dev.dmsg.link.Transaction;
import dev.dmsg.link.TransactionHandler;
import dev.dmsg.quorum.cac.CacState;
import dev.dmsg.services.quorum.QuorumException;
import dev.dmsg.wire.CacHeader;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.ErrorCode;
import dev.dmsg.wire.Message;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;

/**
 * A lock as its holder sees it (docs/CAC.md §3): the open CAC_LOCK transaction. {@link #granted}
 * completes with the first grant (or the reason there was none); then {@link #state()} and
 * {@link #token()} say what is held, {@link #onDowngradeRequested} hears the home ask for less,
 * {@link #change} asks for another state and {@link #release} ends it. {@link #lost()} completes
 * with the reason once the lock is gone other than by our release: revoked after its lease, or the
 * path to its home lost — from then on the holder must not rely on it (fencing, §6, makes a late
 * write harmless). Thread-safe; callbacks run on the link's event loop and must not block.
 */
public final class LockHandle implements TransactionHandler, AutoCloseable {
    private final String key;
    private final CompletableFuture<LockHandle> granted = new CompletableFuture<>();
    private final CompletableFuture<Long> waiting = new CompletableFuture<>();
    private final CompletableFuture<QuorumException> lost = new CompletableFuture<>();
    private final CompletableFuture<Void> released = new CompletableFuture<>();
    private final Deque<CompletableFuture<CacState>> changes = new ArrayDeque<>();
    private volatile Transaction txn;
    private volatile CacState state = CacState.INVAL;
    private volatile long token;
    private volatile long id;
    private volatile long waitingBehind;
    private volatile Consumer<CacState> downgrade = s -> { };
    private volatile boolean ended;
    private final String group;

    LockHandle(String group, String key) {
        this.group = group;
        this.key = key;
    }

    void opened(Transaction t) {
        txn = t;
    }

    public String key() {
        return key;
    }

    /** Completes with this handle once granted; fails with the refusal, TIMEOUT, or LOSTLINK. */
    public CompletableFuture<LockHandle> granted() {
        return granted;
    }

    /** The state held now (INVAL before the grant and after the end). */
    public CacState state() {
        return state;
    }

    /** The fencing token of the current grant (docs/CAC.md §2). */
    public long token() {
        return token;
    }

    /** The lock's id (its ACQUIRE's log index), once the home said it. */
    public long id() {
        return id;
    }

    /**
     * Completes with the id of the lock this request waits behind once the home says it waits
     * (WAITING, docs/CAC.md §3), or with 0 if it was granted or ended without waiting.
     */
    public CompletableFuture<Long> waiting() {
        return waiting;
    }

    /** The lock this request waits behind, while it waits (0 otherwise). */
    public long waitingBehind() {
        return waitingBehind;
    }

    /** Called with the target state each time the home asks this holder to go down (docs/CAC.md §3). */
    public LockHandle onDowngradeRequested(Consumer<CacState> c) {
        downgrade = c;
        return this;
    }

    /** Completes with why, once the lock is gone other than by {@link #release}. */
    public CompletableFuture<QuorumException> lost() {
        return lost;
    }

    /** Asks for {@code to} (down: at once; up: waits; INVAL: releases). Completes with the state held after. */
    public CompletableFuture<CacState> change(CacState to) {
        if (to == CacState.INVAL) {
            return release().thenApply(v -> CacState.INVAL);
        }
        CompletableFuture<CacState> f = new CompletableFuture<>();
        Transaction t = txn;
        synchronized (changes) {
            if (ended || t == null || !granted.isDone() || granted.isCompletedExceptionally()) {
                f.completeExceptionally(new QuorumException(Dmsg.ERR_PARAM, "lock on " + key + " is not held"));
                return f;
            }
            changes.add(f);
        }
        t.send(Dmsg.CAC_LOCK, CacHeader.of(CacHeader.CHANGE, group).withState(to.wire()), null);
        return f;
    }

    /** Releases the lock (or gives up the wait); completes once the home says it is released. */
    public CompletableFuture<Void> release() {
        Transaction t = txn;
        if (t != null && !ended) {
            t.close(); // our DELETE: the home proposes RELEASE and answers RELEASED with its DELETE
        } else {
            released.complete(null);
        }
        return released;
    }

    @Override
    public void close() {
        release();
    }

    @Override
    public void onMessage(Transaction t, Message m) {
        CacHeader h = m.ext() instanceof CacHeader c ? c : null;
        if (m.isAbort() && m.isDelete() && m.error() == Dmsg.ERR_LOSTLINK) {
            end(new QuorumException(Dmsg.ERR_LOSTLINK, "the path to the lock's home was lost: assume the lock on "
                + key + " is gone", true));
            return;
        }
        if (m.isDelete() && (m.error() != 0 || h == null || h.phase() != CacHeader.RELEASED)) {
            int err = m.error() != 0 ? m.error() : Dmsg.ERR_IO;
            String why = m.auxBytes() > 0 ? m.auxString() : ErrorCode.nameOf(err);
            end(new QuorumException(err, why.isEmpty() ? ErrorCode.nameOf(err) : why));
            return;
        }
        if (h == null) {
            return;
        }
        if (h.lock() != 0) {
            id = h.lock();
        }
        switch (h.phase()) {
            case CacHeader.WAITING -> {
                waitingBehind = h.token();
                waiting.complete(h.token());
            }
            case CacHeader.GRANTED -> {
                state = CacState.of(h.state());
                token = h.token();
                waitingBehind = 0;
                waiting.complete(0L);
                granted.complete(this);
            }
            case CacHeader.DOWNGRADE -> downgrade.accept(CacState.of(h.state()));
            case CacHeader.CHANGED -> {
                CacState s = CacState.of(h.state());
                if (s != null) {
                    state = s;
                }
                if (h.token() != 0) {
                    token = h.token();
                }
                CompletableFuture<CacState> f;
                synchronized (changes) {
                    f = changes.poll();
                }
                if (f != null) {
                    if (m.error() != 0) {
                        f.completeExceptionally(new QuorumException(m.error(), m.auxString()));
                    } else {
                        f.complete(state);
                    }
                }
            }
            case CacHeader.RELEASED -> {
                ended = true;
                state = CacState.INVAL;
                waiting.complete(0L);
                released.complete(null);
                granted.completeExceptionally(new QuorumException(Dmsg.ERR_LOSTLINK, "released before it was granted"));
                failChanges(new QuorumException(Dmsg.ERR_PARAM, "released"));
            }
            default -> { }
        }
    }

    private void end(QuorumException why) {
        ended = true;
        state = CacState.INVAL;
        waiting.complete(0L);
        granted.completeExceptionally(why);
        if (granted.isDone() && !granted.isCompletedExceptionally()) {
            lost.complete(why);
        } else if (!lost.isDone()) {
            lost.complete(why);
        }
        released.complete(null);
        failChanges(why);
    }

    private void failChanges(Throwable why) {
        synchronized (changes) {
            for (CompletableFuture<CacState> f : changes) {
                f.completeExceptionally(why);
            }
            changes.clear();
        }
    }

    @Override
    public String toString() {
        return "lock " + id + " on " + key + " (" + state.word() + ", token " + token + ")";
    }
}
