package dev.dmsg.quorum.store;

import dev.dmsg.wire.qrm.Blob;
import dev.dmsg.wire.qrm.WatchEvent;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.Executor;

/**
 * The watch history and the watches (docs/QUORUM.md §2, §3.4): the changes of the last N
 * revisions (bounded also in bytes), and every open {@link Watch}.
 *
 * <p>Threading contract: {@link #publish} and {@link #reset} are called by the one thread that
 * applies log entries, in revision order. {@link #watch} and {@link Watch#cancel} may be called
 * from any thread. Both sides take this object's lock, so a new watch's replay of the history
 * and its registration for live revisions happen in one step with respect to publishing: the
 * first live revision it gets is the one after the last it replayed — no gap, no duplicate.
 * Listeners run on the delivery executor, after the lock is released (see {@link Watch}).
 */
final class WatchHub {
    /** Revisions of history kept by default (docs/QUORUM.md §2). */
    static final int DEFAULT_REVISIONS = 10_000;
    /** A byte bound on the history too: one DELETE of a large prefix can change many keys at once. */
    static final long DEFAULT_HISTORY_BYTES = 64L << 20;
    /** A watch's queue bound by default (docs/QUORUM.md §3.4). */
    static final long DEFAULT_QUEUE_BYTES = 4L << 20;

    private final int maxRevisions;
    private final long maxHistoryBytes;
    private final long maxQueueBytes;
    private final Executor executor;

    private final ArrayDeque<Watch.Rev> history = new ArrayDeque<>();
    private final Set<Watch> watches = new LinkedHashSet<>();
    private long historyBytes;
    private long firstKept = 1;
    private long current;
    private boolean closed;

    WatchHub(int maxRevisions, long maxHistoryBytes, long maxQueueBytes, Executor executor) {
        if (maxRevisions < 1 || maxHistoryBytes < 1 || maxQueueBytes < 1) {
            throw new IllegalArgumentException("watch bounds must be positive: revisions " + maxRevisions
                + ", history bytes " + maxHistoryBytes + ", queue bytes " + maxQueueBytes);
        }
        this.maxRevisions = maxRevisions;
        this.maxHistoryBytes = maxHistoryBytes;
        this.maxQueueBytes = maxQueueBytes;
        this.executor = Objects.requireNonNull(executor, "executor");
    }

    /**
     * A watch of {@code key} (every key starting with it if {@code prefix}) from revision
     * {@code fromRevision} (0: only what comes after now).
     */
    WatchStart watch(Blob key, boolean prefix, long fromRevision, WatchListener listener) {
        Objects.requireNonNull(key, "key");
        Objects.requireNonNull(listener, "listener");
        if (fromRevision < 0) {
            throw new IllegalArgumentException("fromRevision " + fromRevision + " < 0");
        }
        Watch w;
        long startsAfter;
        synchronized (this) {
            if (closed) {
                throw new IllegalStateException("watch hub closed");
            }
            if (fromRevision != 0 && fromRevision < firstKept) {
                return new WatchStart.Compacted(firstKept, current);
            }
            long from = fromRevision == 0 ? current + 1 : fromRevision;
            startsAfter = from - 1;
            w = new Watch(this, key, prefix, from, maxQueueBytes, listener, executor);
            for (Watch.Rev r : history) {
                if (r.revision() >= from) {
                    w.replay(r.revision(), r.events());
                }
            }
            watches.add(w);
        }
        w.schedule();
        return new WatchStart.Started(w, startsAfter);
    }

    /** Revision {@code revision} was applied and changed {@code events} (the applying thread). */
    void publish(long revision, List<WatchEvent> events) {
        List<Watch> toRun;
        synchronized (this) {
            if (revision <= current) {
                throw new IllegalStateException("revision " + revision + " published after " + current);
            }
            current = revision;
            long bytes = 0;
            for (WatchEvent e : events) {
                bytes += Watch.bytes(e);
            }
            history.addLast(new Watch.Rev(revision, List.copyOf(events), bytes));
            historyBytes += bytes;
            while (!history.isEmpty() && (history.size() > maxRevisions || historyBytes > maxHistoryBytes)) {
                Watch.Rev old = history.removeFirst();
                historyBytes -= old.bytes();
                firstKept = old.revision() + 1;
            }
            toRun = new ArrayList<>(watches.size());
            for (Iterator<Watch> it = watches.iterator(); it.hasNext(); ) {
                Watch w = it.next();
                if (w.offer(revision, events)) {
                    it.remove();
                }
                toRun.add(w);
            }
        }
        toRun.forEach(Watch::schedule);
    }

    /**
     * The state was replaced (a snapshot installed) at {@code revision}: the history no longer
     * leads to it, so it is dropped and every watch ended (RESET, re-watch after re-reading).
     */
    void reset(long revision) {
        endAll(Watch.End.Cause.RESET, revision, false);
    }

    /** Ends every watch (CLOSED); further watches are refused. */
    void close() {
        endAll(Watch.End.Cause.CLOSED, -1, true);
    }

    private void endAll(Watch.End.Cause cause, long revision, boolean close) {
        List<Watch> ended;
        synchronized (this) {
            if (!close) {
                history.clear();
                historyBytes = 0;
                current = revision;
                firstKept = revision + 1;
            }
            closed |= close;
            ended = new ArrayList<>(watches);
            watches.clear();
            for (Watch w : ended) {
                w.endWith(new Watch.End(cause, current + 1));
            }
        }
        ended.forEach(Watch::schedule);
    }

    synchronized void remove(Watch w) {
        watches.remove(w);
    }

    synchronized long firstKept() {
        return firstKept;
    }

    synchronized int watchCount() {
        return watches.size();
    }
}
