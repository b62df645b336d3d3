package dev.dmsg.services.blk;

import dev.dmsg.link.Transaction;
import dev.dmsg.wire.BlkIo;
import dev.dmsg.wire.Dmsg;
import io.netty.buffer.ByteBuf;

/** One BLK I/O request (its own transaction, as xdisk sent them; docs/BLK.md "The wire"): its link's event loop only. */
final class ServedRequest {
    final ServedOpen open;
    final Transaction txn;
    final int op;
    final BlkIo io;
    /** When it arrived ({@link System#nanoTime}): its latency runs from here to its answer. */
    final long arrivedNanos = System.nanoTime();
    /** BLK_WRITE: exactly {@code io.bytes} bytes, owned until handed to the device; else null. */
    ByteBuf data;
    /** Queued, not yet started. */
    boolean waiting;
    /** Dropped while queued (the peer aborted it, or its link or circuit died). */
    boolean dropped;

    ServedRequest(ServedOpen open, Transaction txn, int op, BlkIo io, ByteBuf data) {
        this.open = open;
        this.txn = txn;
        this.op = op;
        this.io = io;
        this.data = data;
    }

    long bytes() {
        return Integer.toUnsignedLong(io.bytes());
    }

    /** What it counts against {@link ServedOpen#queuedBytes} while queued. */
    long heldBytes() {
        return op == Dmsg.BLK_WRITE ? bytes() : 0;
    }

    /** Leaves the queue without running: its data released. */
    void drop() {
        dropped = true;
        waiting = false;
        open.queuedBytes -= heldBytes();
        data = release(data);
    }

    /** Releases {@code b} unless it is null or already released; returns null, for {@code x = release(x)}. */
    static ByteBuf release(ByteBuf b) {
        if (b != null && b.refCnt() > 0) {
            b.release();
        }
        return null;
    }
}
