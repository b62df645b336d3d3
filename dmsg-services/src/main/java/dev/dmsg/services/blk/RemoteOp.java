package dev.dmsg.services.blk;

import dev.dmsg.wire.Dmsg;
import io.netty.buffer.ByteBuf;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicLong;

/**
 * One BLK request of a {@link RemoteBlockDevice} (at most {@link RemoteBlockDevice#MAX_IO}
 * bytes), or a range (a long FREEBLKS) carved into such requests as the window allows (docs/BLK.md
 * "Client and failover"). Its mutable fields are guarded by {@link RemoteRequests}' lock.
 */
final class RemoteOp {
    /** Issue-order slots per request: a range holds up to 2^23 pieces (512 GiB) after it. */
    static final int PIECE_BITS = 23;
    /** The longest range one queue entry holds; longer trims are several. */
    static final long RANGE_MAX = (long) RemoteBlockDevice.MAX_IO << PIECE_BITS;

    /**
     * Issue order: {@code (n << PIECE_BITS)}, so that the pieces carved from a range (a long
     * FREEBLKS) take the slots after it, in order, before the next request's.
     */
    long seq;
    final int cmd;
    /** A request: its range. A range being carved: the next piece's. */
    long offset;
    int bytes;
    final ByteBuf data; // writes: held until the request completes (it may be re-sent)
    final CompletableFuture<ByteBuf> result = new CompletableFuture<>();
    /** The session it was last sent on (under the lock): only that session's answer counts. */
    RemoteSession sentOn;
    /** A range: where it ends (it stays at the queue's head until carved up); 0 for a request. */
    final long rangeEnd;
    /** A range: pieces not yet answered. */
    final AtomicLong piecesLeft;

    /** A request, {@code n}-th in issue order. */
    RemoteOp(long n, int cmd, long offset, int bytes, ByteBuf data) {
        this.seq = n << PIECE_BITS;
        this.cmd = cmd;
        this.offset = offset;
        this.bytes = bytes;
        this.data = data;
        this.rangeEnd = 0;
        this.piecesLeft = null;
    }

    /** A range of {@code length} bytes, {@code n}-th in issue order, sent as pieces of at most MAX_IO as the window allows. */
    RemoteOp(long n, int cmd, long offset, long length) {
        this.seq = n << PIECE_BITS;
        this.cmd = cmd;
        this.offset = offset;
        this.bytes = (int) Math.min(RemoteBlockDevice.MAX_IO, length);
        this.data = null;
        this.rangeEnd = offset + length;
        this.piecesLeft = new AtomicLong((length + RemoteBlockDevice.MAX_IO - 1) / RemoteBlockDevice.MAX_IO);
    }

    /** The next piece of {@code range}: its slot in issue order, its cmd, offset and bytes. */
    private RemoteOp(RemoteOp range) {
        this.seq = range.seq;
        this.cmd = range.cmd;
        this.offset = range.offset;
        this.bytes = range.bytes;
        this.data = null;
        this.rangeEnd = 0;
        this.piecesLeft = null;
    }

    boolean isRange() {
        return rangeEnd != 0;
    }

    /** The range's next piece (under the lock): it takes this range's place in issue order. */
    RemoteOp carve() {
        RemoteOp piece = new RemoteOp(this);
        seq++;
        offset += bytes;
        bytes = (int) Math.min(RemoteBlockDevice.MAX_IO, rangeEnd - offset);
        RemoteOp range = this;
        piece.result.whenComplete((b, e) -> {
            if (e != null) {
                range.result.completeExceptionally(e);
            } else if (range.piecesLeft.decrementAndGet() == 0) {
                range.result.complete(null);
            }
        });
        return piece;
    }

    boolean carvedUp() {
        return offset >= rangeEnd;
    }

    boolean writes() {
        return cmd == Dmsg.BLK_WRITE || cmd == Dmsg.BLK_FREEBLKS;
    }

    boolean overlaps(RemoteOp o) {
        return offset < o.offset + o.bytes && o.offset < offset + bytes;
    }

    String what() {
        String c = cmd == Dmsg.BLK_READ ? "read" : cmd == Dmsg.BLK_WRITE ? "write" : cmd == Dmsg.BLK_FLUSH ? "flush"
            : "free";
        return c + " at " + offset + (bytes > 0 ? " (" + bytes + " bytes)" : "");
    }
}
