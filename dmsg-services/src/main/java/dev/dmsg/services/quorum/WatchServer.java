package dev.dmsg.services.quorum;

import dev.dmsg.link.Link;
import dev.dmsg.link.Transaction;
import dev.dmsg.link.TransactionHandler;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.Message;
import dev.dmsg.wire.QrmHeader;
import dev.dmsg.wire.qrm.Batch;
import dev.dmsg.wire.qrm.Op;
import dev.dmsg.wire.qrm.QrmCodec;
import dev.dmsg.wire.qrm.QrmFormatException;
import dev.dmsg.wire.qrm.WatchEvent;
import io.netty.buffer.Unpooled;
import java.util.ArrayDeque;
import java.util.List;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The member's side of QRM_WATCH (docs/QUORUM.md §3.4): opens a watch on the group and streams its
 * events as EVENTS messages. Sends happen on the link's event loop only while the link is
 * writable, so a watcher that does not read never blocks the thread applying the log. Past
 * {@link #PAUSE_BYTES} unsent the store holds the watch's revisions in its own bounded queue,
 * past which the watch is ended with LIMIT and the revision to resume from; this queue's own
 * bound, {@link #maxQueuedBytes}, is the same end for a single revision larger than that.
 */
final class WatchServer {
    static final long DEFAULT_MAX_QUEUED_BYTES = 4L << 20;
    /**
     * Past this much unsent, the stream is not {@linkplain GroupEngine.WatchSink#ready ready} and
     * the store holds its revisions, so that a watcher's backlog waits in the store's bounded
     * queue (a replay from history in the history) rather than here; resumed below a quarter.
     */
    static final long PAUSE_BYTES = 1L << 20;

    private final long maxQueuedBytes;
    private final AtomicLong open = new AtomicLong();
    private final AtomicLong fellBehind = new AtomicLong();

    WatchServer(long maxQueuedBytes) {
        this.maxQueuedBytes = maxQueuedBytes;
    }

    long open() {
        return open.get();
    }

    long fellBehind() {
        return fellBehind.get();
    }

    TransactionHandler open(Transaction t, Message create, QrmHeader h, GroupEngine g, String originator,
                            QrmBudgets budgets) {
        Batch b;
        try {
            b = QrmCodec.decodeBatch(create.aux() == null ? Unpooled.EMPTY_BUFFER : create.aux());
        } catch (QrmFormatException e) {
            Refusal.send(t, Dmsg.QRM_WATCH, h.group(), Dmsg.ERR_PARAM, e.getMessage());
            return (tx, m) -> { };
        }
        if (!b.compares().isEmpty() || b.success().size() != 1 || b.success().get(0).type() != Op.Type.GET
            || !b.failure().isEmpty()) {
            Refusal.send(t, Dmsg.QRM_WATCH, h.group(), Dmsg.ERR_PARAM, "a QRM_WATCH carries exactly one GET");
            return (tx, m) -> { };
        }
        if (!budgets.take(originator, QrmBudgets.Kind.WATCHES)) {
            Refusal.send(t, Dmsg.QRM_WATCH, h.group(), Dmsg.ERR_LIMIT,
                budgets.limit(QrmBudgets.Kind.WATCHES) + " watches of this originator here");
            return (tx, m) -> { };
        }
        Op op = b.success().get(0);
        Stream s = new Stream(t, h.group(), () -> budgets.release(originator, QrmBudgets.Kind.WATCHES));
        try {
            s.handle = g.watch(op.key(), op.prefix(), h.revision(), s);
        } catch (QuorumException e) {
            s.release.run();
            Refusal.send(t, Dmsg.QRM_WATCH, h.group(), e.error(), e.getMessage());
            return (tx, m) -> { };
        }
        open.incrementAndGet();
        t.send(Dmsg.QRM_WATCH, QrmHeader.of(QrmHeader.WATCHING, h.group()).withRevision(s.handle.startsAfter()), null);
        s.drainSoon();
        return s;
    }

    /** An EVENTS message waiting to be sent; {@code revision}: its first event's. */
    private record Pending(long revision, byte[] bytes) {}

    /** One open watch: its queue and its transaction. */
    private final class Stream implements GroupEngine.WatchSink, TransactionHandler {
        private final Transaction txn;
        private final Link link;
        private final String group;
        private final Runnable release;
        /** EVENTS messages not yet sent, each with the revision of its first event. */
        private final ArrayDeque<Pending> queue = new ArrayDeque<>(); // guarded by this
        private long queued; // guarded by this
        private boolean ended; // guarded by this
        private boolean drainScheduled; // guarded by this
        private boolean storePaused; // guarded by this
        volatile GroupEngine.WatchHandle handle;

        Stream(Transaction txn, String group, Runnable release) {
            this.txn = txn;
            this.link = txn.link();
            this.group = group;
            this.release = release;
        }

        @Override
        public void events(List<WatchEvent> events) {
            if (events.isEmpty()) {
                return;
            }
            long resume = -1;
            synchronized (this) {
                if (ended) {
                    return;
                }
                long revision = events.get(0).revision(); // one applied revision per call
                for (byte[] m : QrmCodec.packEvents(events)) {
                    queue.add(new Pending(revision, m));
                    queued += m.length;
                }
                if (queued > maxQueuedBytes) {
                    // the first revision the watcher has not been sent whole: what is queued is
                    // dropped, so resuming after the last one queued would leave a gap (§3.4)
                    resume = queue.peekFirst().revision();
                }
            }
            if (resume >= 0) {
                fellBehind.incrementAndGet();
                end(Dmsg.ERR_LIMIT, "watch fell behind at revision " + resume + "; watch again from there");
                return;
            }
            drainSoon();
        }

        /** The store asks before each revision: past {@link #PAUSE_BYTES} unsent, it holds them. */
        @Override
        public synchronized boolean ready() {
            if (queued > PAUSE_BYTES) {
                storePaused = true; // our drain resumes it
                return false;
            }
            return true;
        }

        @Override
        public void ended(int error, String why) {
            long unsent;
            synchronized (this) {
                unsent = queue.isEmpty() ? -1 : queue.peekFirst().revision();
            }
            if (error == Dmsg.ERR_LIMIT) { // the store's queue passed its bound while it held our revisions
                fellBehind.incrementAndGet();
                if (unsent >= 0) { // the store names the first it did not hand us; ours, unsent, are before it
                    why = "watch fell behind at revision " + unsent + "; watch again from there";
                }
            }
            end(error, why);
        }

        void drainSoon() {
            synchronized (this) {
                if (drainScheduled || queue.isEmpty()) {
                    return;
                }
                drainScheduled = true;
            }
            link.execute(this::drain);
        }

        /** Event loop: sends while the link takes it, then waits for it to be writable again. */
        private void drain() {
            boolean resumeStore = false;
            while (true) {
                byte[] m;
                synchronized (this) {
                    if (ended || queue.isEmpty()) {
                        drainScheduled = false;
                        return;
                    }
                    if (!link.isWritable()) {
                        break;
                    }
                    m = queue.poll().bytes();
                    queued -= m.length;
                    if (storePaused && queued < PAUSE_BYTES / 4) {
                        storePaused = false;
                        resumeStore = true;
                    }
                }
                if (resumeStore) {
                    resumeStore = false;
                    GroupEngine.WatchHandle hd = handle;
                    if (hd != null) {
                        hd.resume(); // never blocks: it schedules the store's drain
                    }
                }
                txn.send(Dmsg.QRM_WATCH, QrmHeader.of(QrmHeader.EVENTS, group), Unpooled.wrappedBuffer(m));
            }
            link.whenWritable(this::drain);
        }

        private void end(int error, String why) {
            synchronized (this) {
                if (ended) {
                    return;
                }
                ended = true;
                queue.clear();
                queued = 0;
            }
            stop();
            // On the event loop, never here: this runs on the member's watch delivery threads, and a
            // send from another thread blocks while the link is full, as a watcher's that fell behind
            // is; two such watchers would stop every watch of the member (docs/QUORUM.md §3.4).
            try {
                link.execute(() -> Refusal.send(txn, Dmsg.QRM_WATCH, group, error, why));
            } catch (RejectedExecutionException e) {
                // the link's event loop is gone, and the link with it: nobody to tell
            }
        }

        private void stop() {
            GroupEngine.WatchHandle hd = handle;
            if (hd != null) {
                hd.cancel();
            }
            open.decrementAndGet();
            release.run();
        }

        /** The watcher's messages: its DELETE (or its loss) ends the watch. */
        @Override
        public void onMessage(Transaction t, Message m) {
            if (m.isCreate() || !m.isDelete()) {
                return;
            }
            boolean wasOpen;
            synchronized (this) {
                wasOpen = !ended;
                ended = true;
                queue.clear();
                queued = 0;
            }
            if (wasOpen) {
                stop();
            }
            t.close();
        }
    }
}
