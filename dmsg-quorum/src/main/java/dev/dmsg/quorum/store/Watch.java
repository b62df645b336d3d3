package dev.dmsg.quorum.store;

import dev.dmsg.wire.qrm.Blob;
import dev.dmsg.wire.qrm.WatchEvent;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One watch: a key or prefix, a queue of matching revisions not yet delivered, and its listener.
 *
 * <p>Concurrency: {@link WatchHub} offers revisions under its own lock, from the applying thread;
 * this object's lock guards the queue; the listener is called by one drain task at a time on the
 * delivery executor, never under a lock. The queue is bounded by bytes: an offer that would take
 * it past the bound ends the watch with {@link End.Cause#FELL_BEHIND} at the first revision not
 * delivered, from which the watcher may watch again (docs/QUORUM.md §3.4). Revisions replayed
 * from the hub's history as the watch starts are outside the bound; a listener that is not
 * {@linkplain WatchListener#ready ready} holds delivery until {@link #resume}.
 */
public final class Watch {
    private static final Logger LOG = LoggerFactory.getLogger(Watch.class);

    /** Why the member ended a watch, and the first revision the watcher did not get. */
    public record End(Cause cause, long revision) {
        public enum Cause {
            /** The queue passed its bound: re-watch from {@code revision}. */
            FELL_BEHIND,
            /** The state was replaced by a snapshot: re-read, then watch from {@code revision}. */
            RESET,
            /** The member stopped serving the group. */
            CLOSED,
            /** The listener threw. */
            FAILED
        }

        /** One line for the DMSG reply (the LIMIT reason of docs/QUORUM.md §3.4 for FELL_BEHIND). */
        public String reason() {
            switch (cause) {
                case FELL_BEHIND: return "watch fell behind at revision " + revision;
                case RESET: return "state replaced by a snapshot: watch again from revision " + revision;
                case CLOSED: return "watch closed at revision " + revision;
                default: return "watch listener failed at revision " + revision;
            }
        }
    }

    /** One revision's matching changes, and their size for the queue's bound. */
    record Rev(long revision, List<WatchEvent> events, long bytes) {}

    private final WatchHub hub;
    private final Blob key;
    private final boolean prefix;
    private final long fromRevision;
    private final long maxQueueBytes;
    private final WatchListener listener;
    private final Executor executor;

    private final ArrayDeque<Rev> queue = new ArrayDeque<>();
    private long queuedBytes;
    private long nextRevision;
    private boolean draining;
    /** The consumer asked for a pause ({@link #pause}): nothing is delivered but the end. */
    private boolean paused;
    /**
     * Revisions at the head of the queue that were replayed from the hub's history when the watch
     * started, and their bytes: outside the bound, since their events are the history's own (held
     * anyway), and the history after a revision a watcher fell behind at is at least the bound —
     * counting it would end every re-watch from there at once (docs/QUORUM.md §3.4).
     */
    private int replayRevisions;
    private long replayBytes;
    /** {@link #resume} calls so far: a drain that found the listener not ready pauses only if none came since. */
    private long resumes;
    private boolean cancelled;
    private End end;
    private boolean endDelivered;

    Watch(WatchHub hub, Blob key, boolean prefix, long fromRevision, long maxQueueBytes,
          WatchListener listener, Executor executor) {
        this.hub = hub;
        this.key = key;
        this.prefix = prefix;
        this.fromRevision = fromRevision;
        this.maxQueueBytes = maxQueueBytes;
        this.listener = listener;
        this.executor = executor;
        this.nextRevision = fromRevision;
    }

    /** Stops the watch: no call to the listener starts after this returns (one running may finish). */
    public void cancel() {
        synchronized (this) {
            cancelled = true;
            queue.clear();
            queuedBytes = 0;
            replayRevisions = 0;
            replayBytes = 0;
        }
        hub.remove(this);
    }

    /** Bytes of events waiting for the listener. */
    public synchronized long queuedBytes() {
        return queuedBytes;
    }

    /** Event size for the queue bound: the key, the value and the fixed fields of §3.4. */
    static long bytes(WatchEvent e) {
        return 32 + e.kv().key().length() + e.kv().value().length();
    }

    /**
     * Takes one applied revision (the hub's lock held). Returns whether the watch ended now. Does
     * not run the listener: the hub {@linkplain #schedule schedules} a drain after its lock.
     */
    synchronized boolean offer(long revision, List<WatchEvent> events) {
        return offer(revision, events, false);
    }

    /** Takes one revision from the hub's history as the watch starts (the hub's lock held): never over the bound. */
    synchronized void replay(long revision, List<WatchEvent> events) {
        offer(revision, events, true);
    }

    private boolean offer(long revision, List<WatchEvent> events, boolean replayed) {
        if (cancelled || end != null || revision < fromRevision) {
            return false;
        }
        List<WatchEvent> mine = null;
        long bytes = 0;
        for (WatchEvent e : events) {
            Blob k = e.kv().key();
            if (prefix ? k.startsWith(key) : k.equals(key)) {
                if (mine == null) {
                    mine = new ArrayList<>();
                }
                mine.add(e);
                bytes += bytes(e);
            }
        }
        if (mine == null) {
            return false;
        }
        // An empty queue always takes a revision, however large: else re-watching from it would loop.
        if (!replayed && !queue.isEmpty() && queuedBytes - replayBytes + bytes > maxQueueBytes) {
            endWith(new End(End.Cause.FELL_BEHIND, queue.peekFirst().revision()));
            return true;
        }
        queue.addLast(new Rev(revision, List.copyOf(mine), bytes));
        queuedBytes += bytes;
        if (replayed) {
            replayRevisions++;
            replayBytes += bytes;
        }
        return false;
    }

    /**
     * Holds delivery until {@link #resume}: for a consumer whose own output is backed up (a
     * watcher's link), so that the queue — and its bound — is here. The end is still delivered.
     */
    public void pause() {
        synchronized (this) {
            paused = true;
        }
    }

    /** Ends a {@link #pause}. */
    public void resume() {
        synchronized (this) {
            paused = false;
            resumes++;
        }
        schedule();
    }

    /** Ends the watch (the hub's lock held): what is queued is dropped, the listener told last. */
    synchronized void endWith(End e) {
        if (cancelled || end != null) {
            return;
        }
        queue.clear();
        queuedBytes = 0;
        replayRevisions = 0;
        replayBytes = 0;
        end = e;
    }

    /** Starts a drain on the executor if there is something to deliver and none runs. Call without the hub's lock. */
    void schedule() {
        synchronized (this) {
            if (draining || cancelled || (paused && end == null) || (queue.isEmpty() && (end == null || endDelivered))) {
                return;
            }
            draining = true;
        }
        executor.execute(this::drain);
    }

    private void drain() {
        while (true) {
            Rev r;
            End e = null;
            long seen;
            synchronized (this) {
                seen = resumes;
            }
            boolean ready = listener.ready(); // not under our lock: it takes the listener's
            synchronized (this) {
                if (!ready && resumes == seen) {
                    paused = true;
                }
                r = cancelled || (paused && end == null) ? null : queue.pollFirst();
                if (r != null) {
                    queuedBytes -= r.bytes();
                    if (replayRevisions > 0) { // the replayed revisions are the queue's first
                        replayRevisions--;
                        replayBytes -= r.bytes();
                    }
                    nextRevision = r.revision() + 1;
                } else if (!cancelled && end != null && !endDelivered) {
                    e = end;
                    endDelivered = true;
                } else {
                    draining = false;
                    return;
                }
            }
            try {
                if (r != null) {
                    listener.onEvents(r.revision(), r.events());
                } else {
                    listener.onEnd(e);
                }
            } catch (RuntimeException ex) {
                LOG.warn("watch {}{}: listener failed, ending it", key, prefix ? "*" : "", ex);
                synchronized (this) {
                    if (end == null) {
                        queue.clear();
                        queuedBytes = 0;
                        end = new End(End.Cause.FAILED, nextRevision);
                        endDelivered = true;
                    }
                    draining = false;
                }
                hub.remove(this);
                return;
            }
        }
    }

    @Override
    public String toString() {
        return "Watch[" + key + (prefix ? "*" : "") + " from " + fromRevision + "]";
    }
}
