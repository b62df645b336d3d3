package dev.dmsg.services.blk;

import dev.dmsg.wire.BlkError;
import dev.dmsg.wire.BlkIo;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.ErrorCode;
import dev.dmsg.wire.Message;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The requests of a {@link RemoteBlockDevice} and the open they go over (docs/BLK.md "Client and
 * failover"): the queue in issue order, the window of requests in flight, the rule that a write
 * waits for an earlier overlapping one, and failover — on a loss every request in flight goes
 * back to the queue in issue order, {@link RemoteOpener} gets a new open (fencing the lost keyid)
 * and the queue is sent again, or after {@code failoverWait} everything queued fails (LOSTLINK);
 * from then until an open succeeds, a new request looks for a path once and fails at once without.
 * Request tracking and failover stay one class: a loss moves requests between the window and the
 * queue under the same lock that decides what is sent, and splitting them would split that lock.
 *
 * <p>Threads: callers on any thread; replies arrive on the circuit's event loop. State is under
 * one lock; futures are completed, listeners called and messages sent outside it.
 */
final class RemoteRequests {
    /** The fencing token every write, flush and trim carries from now on (docs/CAC.md §6); 0: none. */
    volatile long fence;

    /** The device's logger: {@code dmsg nbd} sets its level to show or hide failover lines. */
    private static final Logger log = LoggerFactory.getLogger(RemoteBlockDevice.class);

    private final String name;
    private final RemoteBlockDevice.Options options;
    private final LongSupplier clock;
    private final RemoteOpener opener;

    private final Object lock = new Object();
    /** The open in use, or null while (re)connecting. */
    private RemoteSession session;
    private boolean reconnecting;
    private long lostAtNanos;
    /**
     * A wait for a path ended without one, and none has been found since: a new request does not
     * wait {@code failoverWait} again but looks for a path now ({@link #probe}) and fails at once
     * without one, so a client that has lost its export for good is not held a whole wait per
     * request (an NBD client flushing on exit). Cleared when an open succeeds.
     */
    private boolean noPath;
    private String lastLoss = "";
    private final ArrayDeque<RemoteOp> waiting = new ArrayDeque<>();
    private final TreeMap<Long, RemoteOp> inFlight = new TreeMap<>();
    private long nextSeq;
    private boolean closed;
    private long failovers;
    /**
     * The keyid of the last open lost (0: none yet). The next BLK_OPEN names it
     * ({@code supersedes=}), and the server answers only once nothing sent under it can still
     * reach the device: the fence that keeps a write re-sent on the new circuit from being
     * overtaken by its stale copy still crossing the old one.
     */
    private long supersede;
    private long lastPauseNanos;
    private long maxPauseNanos;
    private Consumer<String> onFailover = m -> {};

    RemoteRequests(String name, RemoteBlockDevice.Options options, LongSupplier clock, RemoteOpener opener) {
        this.name = name;
        this.options = options;
        this.clock = clock;
        this.opener = opener;
    }

    /** The first open: completes once it is answered; the open is then in use. */
    CompletableFuture<Void> open() {
        CompletableFuture<Void> f = new CompletableFuture<>();
        connect(options.openWait()).whenComplete((s, e) -> {
            if (e != null) {
                f.completeExceptionally(e);
                return;
            }
            synchronized (lock) {
                session = s;
            }
            f.complete(null);
        });
        return f;
    }

    long failovers() {
        synchronized (lock) {
            return failovers;
        }
    }

    RemoteBlockDevice.FailoverStats failoverStats() {
        synchronized (lock) {
            return new RemoteBlockDevice.FailoverStats(failovers, TimeUnit.NANOSECONDS.toMillis(lastPauseNanos),
                TimeUnit.NANOSECONDS.toMillis(maxPauseNanos), session == null && !closed);
        }
    }

    void onFailover(Consumer<String> listener) {
        synchronized (lock) {
            onFailover = listener;
        }
    }

    private void report(String line) {
        Consumer<String> l;
        synchronized (lock) {
            l = onFailover;
        }
        try {
            l.accept(line);
        } catch (RuntimeException e) {
            log.warn("export {}: failover listener failed: {}", name, e.toString());
        }
    }

    // ------------------------------------------------------------------------------------------
    // The queue

    CompletableFuture<ByteBuf> submit(int cmd, long offset, int bytes, ByteBuf data) {
        return enqueue(cmd, offset, bytes, data, -1, false);
    }

    CompletableFuture<ByteBuf> submitRange(int cmd, long offset, long length) {
        return enqueue(cmd, offset, 0, null, length, false);
    }

    /**
     * Queues a request ({@code rangeLength} -1) or a range to carve up. {@code admitted}: a later
     * part of a call whose first part passed the queue bound (so the bound is per call, and the
     * parts beyond it are bounded by the caller's own buffer).
     */
    CompletableFuture<ByteBuf> enqueue(int cmd, long offset, int bytes, ByteBuf data, long rangeLength,
                                       boolean admitted) {
        RemoteOp op;
        boolean retry = false;
        boolean probe = false;
        synchronized (lock) {
            if (closed) {
                if (data != null) {
                    data.release();
                }
                return CompletableFuture.failedFuture(new BlockException("export " + name + ": closed", Dmsg.ERR_IO));
            }
            if (!admitted && waiting.size() >= options.maxQueued()) {
                if (data != null) {
                    data.release();
                }
                return CompletableFuture.failedFuture(new BlockException("export " + name + ": " + options.maxQueued()
                    + " requests queued; refused", Dmsg.ERR_LIMIT));
            }
            long n = nextSeq++;
            op = rangeLength < 0 ? new RemoteOp(n, cmd, offset, bytes, data) : new RemoteOp(n, cmd, offset, rangeLength);
            waiting.add(op);
            if (session == null && !reconnecting) {
                // an earlier failover gave up: is there a path now? (requests queue behind the look)
                reconnecting = true;
                probe = noPath; // the loss is still when it was: a pause is measured from there
                retry = !noPath;
                if (retry) {
                    lostAtNanos = clock.getAsLong();
                }
            }
        }
        if (probe) {
            probe();
            return op.result;
        }
        if (retry) {
            reconnect();
            return op.result;
        }
        pump();
        return op.result;
    }

    /** Sends what may go now: the open is there, fewer than maxInFlight out, no overlapping write ahead. */
    private void pump() {
        List<RemoteOp> send = new ArrayList<>();
        RemoteSession s;
        synchronized (lock) {
            s = session;
            if (s == null) {
                return;
            }
            while (!waiting.isEmpty() && inFlight.size() < options.maxInFlight()) {
                RemoteOp next = waiting.peek();
                if (blockedByEarlierWrite(next)) {
                    break; // keep issue order behind it (head of line: simple, and rare in practice)
                }
                RemoteOp go;
                if (next.isRange()) {
                    go = next.carve();
                    if (next.carvedUp()) {
                        waiting.poll(); // it completes when its pieces have
                    }
                } else {
                    go = waiting.poll();
                }
                inFlight.put(go.seq, go);
                go.sentOn = s;
                send.add(go);
            }
        }
        for (RemoteOp op : send) {
            send(s, op);
        }
    }

    private boolean blockedByEarlierWrite(RemoteOp op) {
        if (op.cmd == Dmsg.BLK_READ || op.cmd == Dmsg.BLK_FLUSH) {
            return false;
        }
        for (RemoteOp o : inFlight.values()) {
            if (o.writes() && o.overlaps(op)) {
                return true;
            }
        }
        return false;
    }

    private void send(RemoteSession s, RemoteOp op) {
        ByteBuf aux = op.data == null ? null : op.data.retainedDuplicate();
        long token = op.cmd == Dmsg.BLK_READ ? 0 : fence;
        s.circuit().open(op.cmd | Dmsg.DELETE, new BlkIo(s.keyid(), op.offset, op.bytes, 0, token), aux, (t, m) -> {
            if (!m.isDelete()) {
                return;
            }
            int err = m.error();
            if (err == 0) {
                ByteBuf got = op.cmd == Dmsg.BLK_READ ? readData(op, m) : null;
                finish(s, op, got, null);
            } else if (err == Dmsg.ERR_LOSTLINK || err == Dmsg.ERR_CANTCIRC || m.isAbort()) {
                lost(s, "the circuit was lost: " + (s.circuit().lostReason() != null ? s.circuit().lostReason()
                    : ErrorCode.nameOf(err)));
            } else {
                BlkError be = m.ext(BlkError.class);
                String why = be != null && !be.buf().isEmpty() ? be.buf() : ErrorCode.nameOf(err);
                finish(s, op, null, new BlockException("export " + name + ": " + op.what() + ": " + why, err));
            }
        });
    }

    /** The data of a READ reply; a short one (BLK_ERROR with resid) is zero-filled, as xdisk did. */
    private static ByteBuf readData(RemoteOp op, Message m) {
        ByteBuf out = PooledByteBufAllocator.DEFAULT.directBuffer(op.bytes, op.bytes);
        int have = Math.min(m.auxBytes(), op.bytes);
        if (have > 0) {
            out.writeBytes(m.aux(), m.aux().readerIndex(), have);
        }
        out.writeZero(op.bytes - have);
        return out;
    }

    private void finish(RemoteSession s, RemoteOp op, ByteBuf got, BlockException failed) {
        boolean removed;
        synchronized (lock) {
            removed = op.sentOn == s && inFlight.remove(op.seq) != null;
        }
        if (!removed) {
            if (got != null) {
                got.release(); // re-queued meanwhile by a loss: its new answer counts
            }
            return;
        }
        if (op.data != null) {
            op.data.release();
        }
        if (failed != null) {
            op.result.completeExceptionally(failed);
        } else {
            op.result.complete(got);
        }
        pump();
    }

    // ------------------------------------------------------------------------------------------
    // Losing the circuit, and getting another

    private void lost(RemoteSession s, String why) {
        synchronized (lock) {
            if (session != s || closed) {
                return;
            }
            session = null;
            supersede = s.keyid();
            lastLoss = why;
            failovers++;
            if (!reconnecting) {
                lostAtNanos = clock.getAsLong();
            }
            // everything in flight goes back, in issue order, ahead of what waited
            List<RemoteOp> all = new ArrayList<>(inFlight.values());
            all.addAll(waiting);
            all.sort(Comparator.comparingLong(o -> o.seq));
            inFlight.clear();
            waiting.clear();
            waiting.addAll(all);
            if (reconnecting) {
                return;
            }
            reconnecting = true;
        }
        String line = "export " + name + ": " + why + "; " + queued() + " request(s) wait up to "
            + options.failoverWait().toSeconds() + " s for another path";
        log.warn(line);
        report(line);
        s.circuit().close();
        reconnect();
    }

    private void reconnect() {
        long left;
        synchronized (lock) {
            if (closed) {
                reconnecting = false; // close() failed what waited; stop forging circuits
                return;
            }
            left = options.failoverWait().toNanos() - (clock.getAsLong() - lostAtNanos);
        }
        if (left <= 0) {
            BlockException gaveUp = new BlockException("export " + name + ": no path for "
                + options.failoverWait().toSeconds() + " s (" + lastLoss + ")", Dmsg.ERR_LOSTLINK);
            synchronized (lock) {
                noPath = true;
            }
            report(gaveUp.getMessage() + "; failing " + queued() + " request(s), and new ones at once until a path "
                + "returns");
            failAll(gaveUp);
            return;
        }
        connect(Duration.ofNanos(left)).whenComplete((s, e) -> {
            if (e != null) {
                Throwable c = RemoteOpener.unwrap(e);
                int err = c instanceof BlockException be ? be.error() : Dmsg.ERR_LOSTLINK;
                if (err == Dmsg.ERR_PERM || err == Dmsg.ERR_PARAM) {
                    failAll(new BlockException("export " + name + ": re-open refused: " + c.getMessage(), err));
                    return;
                }
                synchronized (lock) {
                    lastLoss = c.getMessage();
                }
                reconnect(); // the deadline decides
                return;
            }
            reopened(s);
        });
    }

    /**
     * After a wait for a path ended without one ({@link #noPath}): one attempt to open over the
     * path the mesh offers now, not waiting for one. Without a path what is queued fails at once
     * (LOSTLINK); with one the device is back in use.
     */
    private void probe() {
        connect(Duration.ZERO).whenComplete((s, e) -> {
            if (e == null) {
                reopened(s);
                return;
            }
            Throwable c = RemoteOpener.unwrap(e);
            int err = c instanceof BlockException be ? be.error() : Dmsg.ERR_LOSTLINK;
            if (err == Dmsg.ERR_PERM || err == Dmsg.ERR_PARAM) {
                failAll(new BlockException("export " + name + ": re-open refused: " + c.getMessage(), err));
                return;
            }
            String prefix = "export " + name + ": ";
            String why = c.getMessage().startsWith(prefix) ? c.getMessage().substring(prefix.length()) : c.getMessage();
            failAll(new BlockException(prefix + "no path since a wait of " + options.failoverWait().toSeconds()
                + " s for one ended (" + why + ")", Dmsg.ERR_LOSTLINK));
        });
    }

    /** An open after a loss succeeded: in use from now on; what waited is sent. */
    private void reopened(RemoteSession s) {
        long gap;
        boolean wasGone;
        synchronized (lock) {
            if (closed) {
                s.circuit().close();
                return;
            }
            session = s;
            reconnecting = false;
            wasGone = noPath;
            noPath = false;
            gap = clock.getAsLong() - lostAtNanos;
            lastPauseNanos = gap;
            maxPauseNanos = Math.max(maxPauseNanos, gap);
        }
        String line = "export " + name + ": " + (wasGone ? "a path is back: " : "") + "re-opened via "
            + s.circuit().link().peerLabel() + " (" + s.circuit().hops() + " hops) after a "
            + TimeUnit.NANOSECONDS.toMillis(gap) + " ms pause; re-sending " + queued() + " request(s)";
        log.info(line);
        report(line);
        pump();
    }

    private int queued() {
        synchronized (lock) {
            return waiting.size();
        }
    }

    private void failAll(BlockException e) {
        List<RemoteOp> fail;
        synchronized (lock) {
            reconnecting = false;
            fail = new ArrayList<>(inFlight.values());
            fail.addAll(waiting);
            inFlight.clear();
            waiting.clear();
        }
        for (RemoteOp op : fail) {
            if (op.data != null) {
                op.data.release();
            }
            op.result.completeExceptionally(new BlockException(e.getMessage() + "; failed: " + op.what(), e.error()));
        }
    }

    /** {@link RemoteOpener#connect}, fencing the last open lost, with losses reported to {@link #lost}. */
    private CompletableFuture<RemoteSession> connect(Duration wait) {
        return opener.connect(wait, () -> {
            synchronized (lock) {
                return supersede;
            }
        }, this::lost);
    }

    /** Fails everything queued and ends the open; idempotent. */
    void close() {
        RemoteSession s;
        synchronized (lock) {
            if (closed) {
                return;
            }
            closed = true;
            s = session;
            session = null;
        }
        failAll(new BlockException("export " + name + ": closed", Dmsg.ERR_IO));
        if (s != null) {
            s.openTxn().close(); // the server forgets the keyid
            s.circuit().close();
        }
    }
}
