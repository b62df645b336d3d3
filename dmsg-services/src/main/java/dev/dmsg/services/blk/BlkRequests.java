package dev.dmsg.services.blk;

import dev.dmsg.link.Link;
import dev.dmsg.link.LinkState;
import dev.dmsg.link.Transaction;
import dev.dmsg.link.TransactionHandler;
import dev.dmsg.wire.BlkError;
import dev.dmsg.wire.BlkIo;
import dev.dmsg.wire.Command;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.Message;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.util.ReferenceCountUtil;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.LongAdder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * BLK_READ, BLK_WRITE, BLK_FLUSH and BLK_FREEBLKS for a {@link BlkServer} (docs/BLK.md "The wire",
 * "Threads and bounds", "Loss"; docs/REFERENCE.md §6): checks each request against its open and
 * export, runs at most {@link BlkServer#MAX_IN_FLIGHT} per open on the device and queues up to
 * {@link BlkServer#MAX_QUEUED} (and {@link BlkServer#MAX_QUEUED_BYTES} of writes) behind them,
 * then answers LIMIT; turns each device completion into the reply.
 *
 * <p>Threads: every request is touched only on its link's event loop: handlers run there, and
 * each device completion is handed back there with {@link Link#execute} before its reply is sent
 * and the next queued request is started. The device calls return at once.
 */
final class BlkRequests {
    /** The server's logger: device errors are what an operator reads of the BLK server. */
    private static final Logger log = LoggerFactory.getLogger(BlkServer.class);

    private final BlkOpens opens;
    private final BlkRefusals refusals;
    private final LongAdder discardedReplies = new LongAdder();

    BlkRequests(BlkOpens opens, BlkRefusals refusals) {
        this.opens = opens;
        this.refusals = refusals;
    }

    /** Replies dropped because their link or circuit had died while the device worked. */
    long discardedReplies() {
        return discardedReplies.sum();
    }

    TransactionHandler accept(Transaction txn, Message create) {
        return (t, m) -> {
            if (m.isCreate()) {
                request(t, m);
            } else if (m.isAbort() && t.attachment() instanceof ServedRequest r && r.waiting) {
                // Aborted while queued (by the peer, or LOSTLINK): it never reaches the device.
                r.drop();
                t.abortClose(); // nothing once the transaction is fully closed (a dead link or circuit)
            }
        };
    }

    private void request(Transaction t, Message m) {
        int op = m.baseCmd();
        BlkIo io = m.ext() instanceof BlkIo x ? x : null;
        if (io == null) {
            refusals.refuse(t, null, Dmsg.ERR_PARAM, 0, 0, Command.nameOf(op) + " without its fields");
            return;
        }
        long bytes = Integer.toUnsignedLong(io.bytes());
        int resid = op == Dmsg.BLK_FLUSH ? 0 : io.bytes();
        ServedOpen o = opens.get(io.keyid());
        if (o == null || o.closed || o.txn.link() != t.link() || o.txn.circuit() != t.circuit()) {
            refusals.refuse(t, null, Dmsg.ERR_PARAM, io.keyid(), resid, String.format("no open with keyid %016x", io.keyid()));
            return;
        }
        ServedExport e = o.export;
        if (op != Dmsg.BLK_READ && !o.writable()) {
            refusals.refuse(t, e, Dmsg.ERR_PERM, io.keyid(), resid, Command.nameOf(op) + " under an open without WR");
            return;
        }
        if (op != Dmsg.BLK_READ && e.fence != null) {
            String why = e.fenceProblem(io.fence());
            if (why != null) {
                refusals.refuse(t, e, io.fence() == 0 ? Dmsg.ERR_PERM : Dmsg.ERR_FENCED, io.keyid(), resid, why);
                return;
            }
        }
        if (op != Dmsg.BLK_FLUSH) {
            if (bytes < 1 || bytes > BlkServer.MAX_BYTES) {
                refusals.refuse(t, e, Dmsg.ERR_PARAM, io.keyid(), resid,
                    "bytes " + bytes + " not in 1.." + BlkServer.MAX_BYTES);
                return;
            }
            if (!e.inRange(io.offset(), bytes)) {
                refusals.refuse(t, e, Dmsg.ERR_PARAM, io.keyid(), resid, "offset " + Long.toUnsignedString(io.offset()) + "+"
                    + bytes + " past the end (" + e.largestBytes() + ")");
                return;
            }
        }
        ByteBuf data = null;
        if (op == Dmsg.BLK_WRITE) {
            int auxBytes = m.auxBytes();
            if (auxBytes > bytes) {
                refusals.refuse(t, e, Dmsg.ERR_PARAM, io.keyid(), resid, "aux_bytes " + auxBytes + " > bytes " + bytes);
                return;
            }
            if (auxBytes == bytes) {
                data = m.retainedAux();
            } else {
                // docs/REFERENCE.md §6.2: aux_bytes < bytes writes zeros for the tail, as C did
                data = PooledByteBufAllocator.DEFAULT.directBuffer((int) bytes, (int) bytes);
                if (auxBytes > 0) {
                    data.writeBytes(m.aux());
                }
                data.writeZero((int) bytes - auxBytes);
            }
        }
        ServedRequest r = new ServedRequest(o, t, op, io, data);
        t.attach(r);
        if (o.inFlight < BlkServer.MAX_IN_FLIGHT) {
            start(o, r);
        } else if (o.queued.size() < BlkServer.MAX_QUEUED && o.queuedBytes + r.heldBytes() <= BlkServer.MAX_QUEUED_BYTES) {
            r.waiting = true;
            o.queued.add(r);
            o.queuedBytes += r.heldBytes();
        } else {
            r.data = ServedRequest.release(r.data);
            refusals.refuse(t, e, Dmsg.ERR_LIMIT, io.keyid(), resid, o.queued.size() >= BlkServer.MAX_QUEUED
                ? String.format("open %016x: %d requests outstanding", o.keyid, BlkServer.MAX_IN_FLIGHT + BlkServer.MAX_QUEUED)
                : String.format("open %016x: %d MiB of writes queued", o.keyid, BlkServer.MAX_QUEUED_BYTES >> 20));
        }
    }

    /** Hands {@code r} to the device. Its link's event loop. */
    private void start(ServedOpen o, ServedRequest r) {
        if (r.waiting) {
            r.waiting = false;
            o.queuedBytes -= r.heldBytes();
        }
        o.inFlight++;
        BlockDevice d = o.export.device;
        long offset = r.io.offset();
        CompletableFuture<?> f;
        try {
            switch (r.op) {
                case Dmsg.BLK_READ -> f = d.read(offset, (int) r.bytes());
                case Dmsg.BLK_WRITE -> {
                    ByteBuf data = r.data;
                    r.data = null; // the device's from now on
                    f = d.write(offset, data, false);
                }
                case Dmsg.BLK_FLUSH -> f = d.flush();
                case Dmsg.BLK_FREEBLKS -> f = d.trim(offset, r.bytes());
                default -> throw new IllegalStateException("not a BLK request: " + Command.nameOf(r.op));
            }
        } catch (RuntimeException ex) {
            f = CompletableFuture.failedFuture(ex);
        }
        Link link = r.txn.link();
        f.whenComplete((value, error) -> {
            try {
                link.execute(() -> finish(o, r, value, error));
            } catch (RuntimeException ex) {
                // The event loop is gone (the node is closing): the reply goes into the void.
                ReferenceCountUtil.safeRelease(value);
                discardedReplies.increment();
            }
        });
    }

    /** A device operation completed: answer it (if anyone still waits) and start the next queued. Its link's event loop. */
    private void finish(ServedOpen o, ServedRequest r, Object value, Throwable error) {
        o.inFlight--;
        ServedExport e = o.export;
        e.latency(r.op).record(System.nanoTime() - r.arrivedNanos);
        if (!r.txn.state().sendOpen() || r.txn.link().state() == LinkState.CLOSED) {
            ReferenceCountUtil.safeRelease(value);
            discardedReplies.increment();
        } else if (error != null) {
            ReferenceCountUtil.safeRelease(value);
            Throwable c = error instanceof CompletionException && error.getCause() != null ? error.getCause() : error;
            int code = c instanceof BlockException be ? be.error() : Dmsg.ERR_IO;
            if (c.getCause() instanceof RejectedExecutionException) {
                code = Dmsg.ERR_LIMIT; // the I/O pool is full: try again later
            }
            e.errors.increment();
            log.debug("BLK {} on export {}: {}", Command.nameOf(r.op), e.name, c.toString());
            r.txn.send(Dmsg.BLK_ERROR | Dmsg.DELETE, code, new BlkError(r.io.keyid(),
                r.op == Dmsg.BLK_FLUSH ? 0 : r.io.bytes(),
                BlkRefusals.clip(c.getMessage() == null ? c.toString() : c.getMessage())),
                null);
        } else {
            switch (r.op) {
                case Dmsg.BLK_READ -> {
                    ByteBuf data = (ByteBuf) value;
                    int got = data.readableBytes();
                    e.reads.increment();
                    e.bytesRead.add(got);
                    o.who.reads.increment();
                    o.who.bytesRead.add(got);
                    if (got < r.bytes()) {
                        // a short read: the aux holds what was read, resid the rest (docs/REFERENCE.md §6.2)
                        r.txn.send(Dmsg.BLK_ERROR | Dmsg.DELETE, 0, new BlkError(r.io.keyid(), (int) (r.bytes() - got),
                            ""), data);
                    } else {
                        r.txn.send(Dmsg.LNK_ERROR | Dmsg.DELETE, 0, null, data);
                    }
                }
                case Dmsg.BLK_WRITE -> {
                    e.writes.increment();
                    e.bytesWritten.add(r.bytes());
                    o.who.writes.increment();
                    o.who.bytesWritten.add(r.bytes());
                    r.txn.reply(0);
                }
                case Dmsg.BLK_FLUSH -> {
                    e.flushes.increment();
                    r.txn.reply(0);
                }
                default -> {
                    e.trims.increment();
                    r.txn.reply(0);
                }
            }
        }
        while (o.inFlight < BlkServer.MAX_IN_FLIGHT && !o.queued.isEmpty()) {
            ServedRequest next = o.queued.poll();
            if (next.dropped) {
                continue;
            }
            if (!next.txn.state().sendOpen()) {
                next.drop(); // its link or circuit died: nobody to answer
                continue;
            }
            start(o, next);
        }
        opens.drainedIfIdle(o);
    }
}
