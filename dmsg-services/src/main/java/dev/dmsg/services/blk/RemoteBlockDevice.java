package dev.dmsg.services.blk;

import dev.dmsg.mesh.MeshNode;
import dev.dmsg.mesh.NodeKey;
import dev.dmsg.wire.Dmsg;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.CompositeByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.function.Consumer;
import java.util.function.LongSupplier;

/**
 * An export on another node of the mesh as a {@link BlockDevice} (docs/BLK.md "Client and
 * failover"): BLK_OPEN over a circuit, then every I/O its own BLK transaction carrying the keyid.
 *
 * <p><b>Failover.</b> When the circuit is lost (a relay died, the span was withdrawn), every
 * request in flight goes back to the queue in the order it was issued, and new ones queue behind
 * them; the device forges a circuit over whatever path the mesh then offers, opens the export
 * again (a new keyid) and sends the queue in order. If no path and open succeed within
 * {@link Options#failoverWait()} (30 s), everything queued fails with a {@link BlockException}
 * (LOSTLINK) naming the export and the offset. After that a new request does not wait again: it
 * is sent if the mesh offers a path now (a new open), and fails at once (LOSTLINK) if not, until
 * a path returns — else a client would wait the whole wait once per request.
 *
 * <p><b>Ordering.</b> A write (or trim, or zeroing) is not sent while an earlier one overlapping
 * it is in flight, so overlapping writes reach the server in issue order; after a failover they
 * are re-sent in the same order. So an acknowledged write is never overtaken by an earlier one
 * re-sent, and no acknowledged write is lost as long as the exporting node keeps it (FLUSH, or
 * FUA, makes it durable there). Reads do not wait for writes: as with NBD and a local disk, a
 * read concurrent with an overlapping write may see either.
 *
 * <p><b>The fence.</b> Requests the exporting node received on the old circuit are not taken
 * back by the client: some may still be running there, or not yet read from a dying relay's link.
 * So the re-open names the lost keyid ({@code supersedes=KEYID} in the BLK_OPEN aux) and the
 * server kills it, drops its queue and answers only once its running requests are done
 * ({@code BlkServer}); from then on nothing sent under the old keyid can reach the device, and
 * the re-sent writes cannot be overtaken by their stale copies. (A 2013 C server ignores the aux:
 * against it the window stays.)
 *
 * <p>Threads: callers on any thread; replies arrive on the circuit's event loop. State is under
 * one lock; futures are completed and messages sent outside it.
 *
 * <p>Parts: this class is the block API (range checks, splitting calls into requests of at most
 * {@link #MAX_IO}, FUA as a following flush); {@link RemoteRequests} queues, sends and re-sends
 * them ({@link RemoteOp}) and owns the lock and the failover; {@link RemoteOpener} forges the
 * circuit and sends each BLK_OPEN ({@link RemoteSession}).
 */
public final class RemoteBlockDevice implements BlockDevice {
    /** The largest transfer of one BLK request (DMSG_AUX_MAX; docs/REFERENCE.md §6.3). Larger requests are split. */
    public static final int MAX_IO = 65536;
    /** The least time a BLK_OPEN gets for its answer, however little of the wait is left. */
    static final long OPEN_ANSWER_MIN_MILLIS = 1000;

    /**
     * @param failoverWait how long queued I/O waits for a new path after a loss before failing
     * @param openWait how long {@link #open} waits for a path at first
     * @param maxInFlight BLK requests outstanding at once (xdisk used 64 tags)
     * @param maxQueued calls waiting behind those; one more is refused (LIMIT) rather than
     *     queued without bound. A call is admitted whole: its parts (a read or write over 64 KiB)
     *     are bounded by the caller's buffer, and a trim or zeroing of any length is one entry
     *     carved into 64 KiB requests only as the window allows
     */
    public record Options(Duration failoverWait, Duration openWait, int maxInFlight, int maxQueued) {
        public static Options defaults() {
            return new Options(Duration.ofSeconds(30), Duration.ofSeconds(5), 64, 8192);
        }
    }

    private final String name;
    private final long sizeBytes;
    private final int blockSize;
    private final boolean writable;
    private final RemoteRequests requests;

    private RemoteBlockDevice(MeshNode mesh, NodeKey key, String name, long sizeBytes, int blockSize, boolean writable,
                              Options options, LongSupplier clock) {
        this.name = name;
        this.sizeBytes = sizeBytes;
        this.blockSize = blockSize;
        this.writable = writable;
        this.requests = new RemoteRequests(name, options, clock, new RemoteOpener(mesh, key, name, writable, clock));
    }

    /**
     * Opens the export {@code key} advertises ({@code sizeBytes} and {@code blockSize} from its
     * span), for writing too if {@code writable}. Completes once the first BLK_OPEN is answered,
     * or exceptionally with a {@link BlockException} (no path, refused by role, …).
     */
    public static CompletableFuture<RemoteBlockDevice> open(MeshNode mesh, NodeKey key, String name, long sizeBytes,
                                                            int blockSize, boolean writable, Options options) {
        RemoteBlockDevice d = new RemoteBlockDevice(mesh, key, name, sizeBytes, blockSize, writable, options,
            System::nanoTime);
        CompletableFuture<RemoteBlockDevice> f = new CompletableFuture<>();
        d.requests.open().whenComplete((v, e) -> {
            if (e != null) {
                f.completeExceptionally(e);
                return;
            }
            f.complete(d);
        });
        return f;
    }

    @Override
    public String name() {
        return name;
    }

    /**
     * Every write, flush and trim sent from now on carries {@code token} (docs/CAC.md §6), for an
     * export fenced by a lock this holder was granted with it; 0: none. A new holder should send a
     * flush first: until the export has seen its token it cannot refuse an older holder's writes.
     */
    public RemoteBlockDevice fence(long token) {
        requests.fence = token;
        return this;
    }

    @Override
    public long sizeBytes() {
        return sizeBytes;
    }

    @Override
    public int blockSize() {
        return blockSize;
    }

    @Override
    public boolean readOnly() {
        return !writable;
    }

    /** Circuits lost so far (each followed by a re-open, or by failing everything queued). */
    public long failovers() {
        return requests.failovers();
    }

    /**
     * What failover has cost so far: circuits lost, the last and the longest pause (loss to
     * re-open, in ms), and whether I/O is waiting for a path now.
     */
    public record FailoverStats(long failovers, long lastPauseMillis, long maxPauseMillis, boolean waiting) {}

    public FailoverStats failoverStats() {
        return requests.failoverStats();
    }

    /**
     * {@code listener} receives one line per failover event (lost, re-opened after N ms, gave up):
     * what {@code dmsg nbd} and {@code dmsg blk cp} print. Called outside the device's lock.
     */
    public void onFailover(Consumer<String> listener) {
        requests.onFailover(listener);
    }

    // ------------------------------------------------------------------------------------------
    // The BlockDevice calls: split into requests of at most MAX_IO, queued in issue order.

    @Override
    public CompletableFuture<ByteBuf> read(long offset, int length) {
        String bad = range("read", offset, length);
        if (bad != null) {
            return CompletableFuture.failedFuture(new BlockException(bad, Dmsg.ERR_PARAM));
        }
        List<CompletableFuture<ByteBuf>> parts = new ArrayList<>();
        for (long at = offset; at < offset + length; at += MAX_IO) {
            // the queue bound admits a call, not each of its parts: a large read is never half refused
            parts.add(requests.enqueue(Dmsg.BLK_READ, at, (int) Math.min(MAX_IO, offset + length - at), null, -1, at > offset));
            if (parts.get(0).isCompletedExceptionally()) {
                break;
            }
        }
        return CompletableFuture.allOf(parts.toArray(new CompletableFuture[0])).handle((v, e) -> {
            if (e != null) {
                parts.forEach(p -> p.thenAccept(ByteBuf::release));
                throw new CompletionException(RemoteOpener.unwrap(e));
            }
            if (parts.size() == 1) {
                return parts.get(0).join();
            }
            CompositeByteBuf all = PooledByteBufAllocator.DEFAULT.compositeBuffer(parts.size());
            for (CompletableFuture<ByteBuf> p : parts) {
                all.addComponent(true, p.join());
            }
            return all;
        });
    }

    @Override
    public CompletableFuture<Void> write(long offset, ByteBuf data, boolean fua) {
        int length = data.readableBytes();
        String bad = !writable ? "export " + name + ": write at " + offset + ": opened read-only"
            : range("write", offset, length);
        if (bad != null) {
            data.release();
            return CompletableFuture.failedFuture(new BlockException(bad, writable ? Dmsg.ERR_PARAM : Dmsg.ERR_PERM));
        }
        List<CompletableFuture<ByteBuf>> parts = new ArrayList<>();
        for (int at = 0; at < length; at += MAX_IO) {
            int n = Math.min(MAX_IO, length - at);
            parts.add(requests.enqueue(Dmsg.BLK_WRITE, offset + at, n, data.retainedSlice(data.readerIndex() + at, n), -1, at > 0));
            if (parts.get(0).isCompletedExceptionally()) {
                break;
            }
        }
        data.release();
        return thenFlushIf(fua, CompletableFuture.allOf(parts.toArray(new CompletableFuture[0])));
    }

    @Override
    public CompletableFuture<Void> flush() {
        if (!writable) {
            // nothing was written through this open, so nothing to make durable; the server would
            // refuse BLK_FLUSH under an open without WR (PERM), where a local read-only disk flushes
            return CompletableFuture.completedFuture(null);
        }
        return requests.submit(Dmsg.BLK_FLUSH, 0, 0, null).thenApply(b -> null);
    }

    @Override
    public CompletableFuture<Void> trim(long offset, long length) {
        return writeZeroes(offset, length, false);
    }

    /** BLK_FREEBLKS: the range reads as zeros afterwards (docs/BLK.md). */
    @Override
    public CompletableFuture<Void> writeZeroes(long offset, long length, boolean fua) {
        String bad = !writable ? "export " + name + ": free at " + offset + ": opened read-only"
            : range("free", offset, length);
        if (bad != null) {
            return CompletableFuture.failedFuture(new BlockException(bad, writable ? Dmsg.ERR_PARAM : Dmsg.ERR_PERM));
        }
        if (length == 0) {
            return fua ? flush() : CompletableFuture.completedFuture(null);
        }
        // one queue entry per 512 GiB, carved into 64 KiB requests as the window allows: a trim of
        // a whole disk neither floods the queue (LIMIT) nor holds an Op per piece
        List<CompletableFuture<ByteBuf>> parts = new ArrayList<>();
        for (long at = offset; at < offset + length; at += RemoteOp.RANGE_MAX) {
            parts.add(requests.submitRange(Dmsg.BLK_FREEBLKS, at, Math.min(RemoteOp.RANGE_MAX, offset + length - at)));
        }
        return thenFlushIf(fua, CompletableFuture.allOf(parts.toArray(new CompletableFuture[0])));
    }

    /** FUA as the write, then a FLUSH: durable before it completes (BLK has no FUA bit). */
    private CompletableFuture<Void> thenFlushIf(boolean fua, CompletableFuture<Void> done) {
        CompletableFuture<Void> r = done.exceptionally(e -> {
            throw new CompletionException(RemoteOpener.unwrap(e));
        });
        return fua ? r.thenCompose(v -> flush()) : r;
    }

    private String range(String op, long offset, long length) {
        if (offset < 0 || length < 0 || offset + length > sizeBytes) {
            return "export " + name + ": " + op + " at " + offset + " of " + length + " bytes is outside 0.." + sizeBytes;
        }
        return null;
    }

    @Override
    public void close() {
        requests.close();
    }
}
