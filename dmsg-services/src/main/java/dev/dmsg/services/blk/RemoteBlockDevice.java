package dev.dmsg.services.blk;

import dev.dmsg.link.Transaction;
import dev.dmsg.mesh.CircuitException;
import dev.dmsg.mesh.CircuitHandle;
import dev.dmsg.mesh.MeshNode;
import dev.dmsg.mesh.NodeKey;
import dev.dmsg.wire.BlkError;
import dev.dmsg.wire.BlkIo;
import dev.dmsg.wire.BlkOpen;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.ErrorCode;
import dev.dmsg.wire.Message;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.CompositeByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An export on another node of the mesh as a {@link BlockDevice} (docs/BLK.md "Client and
 * failover"): BLK_OPEN over a circuit, then every I/O its own BLK transaction carrying the keyid.
 *
 * <p><b>Failover.</b> When the circuit is lost (a relay died, the span was withdrawn), every
 * request in flight goes back to the queue in the order it was issued, and new ones queue behind
 * them; the device forges a circuit over whatever path the mesh then offers, opens the export
 * again (a new keyid) and sends the queue in order. If no path and open succeed within
 * {@link Options#failoverWait()} (30 s), everything queued fails with a {@link BlockException}
 * (LOSTLINK) naming the export and the offset.
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
 */
public final class RemoteBlockDevice implements BlockDevice {
    private static final Logger log = LoggerFactory.getLogger(RemoteBlockDevice.class);

    /** The largest transfer of one BLK request (DMSG_AUX_MAX; docs/REFERENCE.md §6.3). Larger requests are split. */
    public static final int MAX_IO = 65536;
    /** Issue-order slots per request: a range holds up to 2^23 pieces (512 GiB) after it. */
    private static final int PIECE_BITS = 23;
    /** The longest range one queue entry holds; longer trims are several. */
    private static final long RANGE_MAX = (long) MAX_IO << PIECE_BITS;

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

    private final MeshNode mesh;
    private final NodeKey key;
    private final String name;
    private final long sizeBytes;
    private final int blockSize;
    private final boolean writable;
    private final Options options;
    private final LongSupplier clock;

    private final Object lock = new Object();
    /** The open in use, or null while (re)connecting. */
    private Session session;
    private boolean reconnecting;
    private long lostAtNanos;
    private String lastLoss = "";
    private final ArrayDeque<Op> waiting = new ArrayDeque<>();
    private final TreeMap<Long, Op> inFlight = new TreeMap<>();
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

    /** One open of the export over one circuit. */
    private record Session(CircuitHandle circuit, long keyid, Transaction openTxn) {}

    /** One BLK request (at most {@link #MAX_IO} bytes). */
    private final class Op {
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
        Session sentOn;
        /** A range: where it ends (it stays at the queue's head until carved up); 0 for a request. */
        final long rangeEnd;
        /** A range: pieces not yet answered. */
        final AtomicLong piecesLeft;

        Op(int cmd, long offset, int bytes, ByteBuf data) {
            this.seq = (nextSeq++) << PIECE_BITS;
            this.cmd = cmd;
            this.offset = offset;
            this.bytes = bytes;
            this.data = data;
            this.rangeEnd = 0;
            this.piecesLeft = null;
        }

        /** A range of {@code length} bytes, sent as pieces of at most MAX_IO as the window allows. */
        Op(int cmd, long offset, long length) {
            this.seq = (nextSeq++) << PIECE_BITS;
            this.cmd = cmd;
            this.offset = offset;
            this.bytes = (int) Math.min(MAX_IO, length);
            this.data = null;
            this.rangeEnd = offset + length;
            this.piecesLeft = new AtomicLong((length + MAX_IO - 1) / MAX_IO);
        }

        /** The next piece of {@code range}: its slot in issue order, its cmd, offset and bytes. */
        private Op(Op range) {
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
        Op carve() {
            Op piece = new Op(this);
            seq++;
            offset += bytes;
            bytes = (int) Math.min(MAX_IO, rangeEnd - offset);
            Op range = this;
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

        boolean overlaps(Op o) {
            return offset < o.offset + o.bytes && o.offset < offset + bytes;
        }

        String what() {
            String c = cmd == Dmsg.BLK_READ ? "read" : cmd == Dmsg.BLK_WRITE ? "write" : cmd == Dmsg.BLK_FLUSH ? "flush"
                : "free";
            return c + " at " + offset + (bytes > 0 ? " (" + bytes + " bytes)" : "");
        }
    }

    private RemoteBlockDevice(MeshNode mesh, NodeKey key, String name, long sizeBytes, int blockSize, boolean writable,
                              Options options, LongSupplier clock) {
        this.mesh = mesh;
        this.key = key;
        this.name = name;
        this.sizeBytes = sizeBytes;
        this.blockSize = blockSize;
        this.writable = writable;
        this.options = options;
        this.clock = clock;
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
        d.connect(options.openWait()).whenComplete((s, e) -> {
            if (e != null) {
                f.completeExceptionally(e);
                return;
            }
            synchronized (d.lock) {
                d.session = s;
            }
            f.complete(d);
        });
        return f;
    }

    @Override
    public String name() {
        return name;
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
        synchronized (lock) {
            return failovers;
        }
    }

    /**
     * What failover has cost so far: circuits lost, the last and the longest pause (loss to
     * re-open, in ms), and whether I/O is waiting for a path now.
     */
    public record FailoverStats(long failovers, long lastPauseMillis, long maxPauseMillis, boolean waiting) {}

    public FailoverStats failoverStats() {
        synchronized (lock) {
            return new FailoverStats(failovers, TimeUnit.NANOSECONDS.toMillis(lastPauseNanos),
                TimeUnit.NANOSECONDS.toMillis(maxPauseNanos), session == null && !closed);
        }
    }

    /**
     * {@code listener} receives one line per failover event (lost, re-opened after N ms, gave up):
     * what {@code dmsg nbd} and {@code dmsg blk cp} print. Called outside the device's lock.
     */
    public void onFailover(Consumer<String> listener) {
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
            parts.add(enqueue(Dmsg.BLK_READ, at, (int) Math.min(MAX_IO, offset + length - at), null, -1, at > offset));
            if (parts.get(0).isCompletedExceptionally()) {
                break;
            }
        }
        return CompletableFuture.allOf(parts.toArray(new CompletableFuture[0])).handle((v, e) -> {
            if (e != null) {
                parts.forEach(p -> p.thenAccept(ByteBuf::release));
                throw new CompletionException(unwrap(e));
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
            parts.add(enqueue(Dmsg.BLK_WRITE, offset + at, n, data.retainedSlice(data.readerIndex() + at, n), -1, at > 0));
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
        return submit(Dmsg.BLK_FLUSH, 0, 0, null).thenApply(b -> null);
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
        for (long at = offset; at < offset + length; at += RANGE_MAX) {
            parts.add(submitRange(Dmsg.BLK_FREEBLKS, at, Math.min(RANGE_MAX, offset + length - at)));
        }
        return thenFlushIf(fua, CompletableFuture.allOf(parts.toArray(new CompletableFuture[0])));
    }

    /** FUA as the write, then a FLUSH: durable before it completes (BLK has no FUA bit). */
    private CompletableFuture<Void> thenFlushIf(boolean fua, CompletableFuture<Void> done) {
        CompletableFuture<Void> r = done.exceptionally(e -> {
            throw new CompletionException(unwrap(e));
        });
        return fua ? r.thenCompose(v -> flush()) : r;
    }

    private String range(String op, long offset, long length) {
        if (offset < 0 || length < 0 || offset + length > sizeBytes) {
            return "export " + name + ": " + op + " at " + offset + " of " + length + " bytes is outside 0.." + sizeBytes;
        }
        return null;
    }

    private static Throwable unwrap(Throwable e) {
        return e instanceof CompletionException && e.getCause() != null ? e.getCause() : e;
    }

    // ------------------------------------------------------------------------------------------
    // The queue

    private CompletableFuture<ByteBuf> submit(int cmd, long offset, int bytes, ByteBuf data) {
        return enqueue(cmd, offset, bytes, data, -1, false);
    }

    private CompletableFuture<ByteBuf> submitRange(int cmd, long offset, long length) {
        return enqueue(cmd, offset, 0, null, length, false);
    }

    /**
     * Queues a request ({@code rangeLength} -1) or a range to carve up. {@code admitted}: a later
     * part of a call whose first part passed the queue bound (so the bound is per call, and the
     * parts beyond it are bounded by the caller's own buffer).
     */
    private CompletableFuture<ByteBuf> enqueue(int cmd, long offset, int bytes, ByteBuf data, long rangeLength,
                                               boolean admitted) {
        Op op;
        boolean retry = false;
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
            op = rangeLength < 0 ? new Op(cmd, offset, bytes, data) : new Op(cmd, offset, rangeLength);
            waiting.add(op);
            if (session == null && !reconnecting) {
                // an earlier failover gave up: this request gets its own bounded wait for a path
                reconnecting = true;
                lostAtNanos = clock.getAsLong();
                retry = true;
            }
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
        List<Op> send = new ArrayList<>();
        Session s;
        synchronized (lock) {
            s = session;
            if (s == null) {
                return;
            }
            while (!waiting.isEmpty() && inFlight.size() < options.maxInFlight()) {
                Op next = waiting.peek();
                if (blockedByEarlierWrite(next)) {
                    break; // keep issue order behind it (head of line: simple, and rare in practice)
                }
                Op go;
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
        for (Op op : send) {
            send(s, op);
        }
    }

    private boolean blockedByEarlierWrite(Op op) {
        if (op.cmd == Dmsg.BLK_READ || op.cmd == Dmsg.BLK_FLUSH) {
            return false;
        }
        for (Op o : inFlight.values()) {
            if (o.writes() && o.overlaps(op)) {
                return true;
            }
        }
        return false;
    }

    private void send(Session s, Op op) {
        ByteBuf aux = op.data == null ? null : op.data.retainedDuplicate();
        s.circuit().open(op.cmd | Dmsg.DELETE, new BlkIo(s.keyid(), op.offset, op.bytes, 0), aux, (t, m) -> {
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
    private static ByteBuf readData(Op op, Message m) {
        ByteBuf out = PooledByteBufAllocator.DEFAULT.directBuffer(op.bytes, op.bytes);
        int have = Math.min(m.auxBytes(), op.bytes);
        if (have > 0) {
            out.writeBytes(m.aux(), m.aux().readerIndex(), have);
        }
        out.writeZero(op.bytes - have);
        return out;
    }

    private void finish(Session s, Op op, ByteBuf got, BlockException failed) {
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

    private void lost(Session s, String why) {
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
            List<Op> all = new ArrayList<>(inFlight.values());
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
            report(gaveUp.getMessage() + "; failing " + queued() + " request(s)");
            failAll(gaveUp);
            return;
        }
        connect(Duration.ofNanos(left)).whenComplete((s, e) -> {
            if (e != null) {
                Throwable c = unwrap(e);
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
            long gap;
            synchronized (lock) {
                if (closed) {
                    s.circuit().close();
                    return;
                }
                session = s;
                reconnecting = false;
                gap = clock.getAsLong() - lostAtNanos;
                lastPauseNanos = gap;
                maxPauseNanos = Math.max(maxPauseNanos, gap);
            }
            String line = "export " + name + ": re-opened via " + s.circuit().link().peerLabel() + " ("
                + s.circuit().hops() + " hops) after a " + TimeUnit.NANOSECONDS.toMillis(gap) + " ms pause; re-sending "
                + queued() + " request(s)";
            log.info(line);
            report(line);
            pump();
        });
    }

    private int queued() {
        synchronized (lock) {
            return waiting.size();
        }
    }

    private void failAll(BlockException e) {
        List<Op> fail;
        synchronized (lock) {
            reconnecting = false;
            fail = new ArrayList<>(inFlight.values());
            fail.addAll(waiting);
            inFlight.clear();
            waiting.clear();
        }
        for (Op op : fail) {
            if (op.data != null) {
                op.data.release();
            }
            op.result.completeExceptionally(new BlockException(e.getMessage() + "; failed: " + op.what(), e.error()));
        }
    }

    /** A circuit to the export and a BLK_OPEN on it, within {@code wait}. */
    private CompletableFuture<Session> connect(Duration wait) {
        CompletableFuture<Session> f = new CompletableFuture<>();
        long deadline = clock.getAsLong() + wait.toNanos();
        mesh.openCircuit(key, wait).whenComplete((c, e) -> {
            if (e != null) {
                Throwable x = unwrap(e);
                f.completeExceptionally(new BlockException("export " + name + ": " + x.getMessage(),
                    x instanceof CircuitException ce && ce.error() != 0 ? ce.error() : Dmsg.ERR_LOSTLINK, x));
                return;
            }
            int modes = Dmsg.BLKOPEN_RD | (writable ? Dmsg.BLKOPEN_WR : 0);
            CompletableFuture<Long> keyid = new CompletableFuture<>();
            Transaction[] open = new Transaction[1];
            Session[] established = new Session[1];
            long old;
            synchronized (lock) {
                old = supersede;
            }
            ByteBuf aux = old == 0 ? null : Unpooled.copiedBuffer(String.format("%s%016x\0", BlkServer.SUPERSEDES, old),
                StandardCharsets.US_ASCII);
            open[0] = c.open(Dmsg.BLK_OPEN, new BlkOpen(modes, 0), aux, (t, m) -> {
                if (m.isCreate() && m.isReply() && !keyid.isDone()) {
                    BlkError be = m.ext(BlkError.class);
                    if (m.error() == 0 && !m.isDelete() && be != null) {
                        keyid.complete(be.keyid());
                    } else {
                        String why = be != null && !be.buf().isEmpty() ? be.buf() : ErrorCode.nameOf(m.error());
                        keyid.completeExceptionally(new BlockException("export " + name + ": open refused: " + why,
                            m.error() == 0 ? Dmsg.ERR_IO : m.error()));
                    }
                }
                if (m.isDelete()) {
                    t.close();
                    if (established[0] != null) { // the open is over: its keyid is dead
                        lost(established[0], m.isAbort() // our link layer's LOSTLINK: the circuit went
                            ? "the circuit was lost: " + (c.lostReason() != null ? c.lostReason() : ErrorCode.nameOf(m.error()))
                            : "the exporting node closed the open (" + ErrorCode.nameOf(m.error()) + ")");
                    }
                    if (!keyid.isDone()) {
                        keyid.completeExceptionally(new BlockException("export " + name + ": open failed: "
                            + ErrorCode.nameOf(m.error()), m.error() == 0 ? Dmsg.ERR_LOSTLINK : m.error()));
                    }
                }
            });
            // a circuit that is acknowledged but never answers the open (a black-holing hop) must not
            // hold the device forever: what is left of the wait, and at least OPEN_ANSWER_MIN_MILLIS
            long answerNanos = Math.max(deadline - clock.getAsLong(), TimeUnit.MILLISECONDS.toNanos(OPEN_ANSWER_MIN_MILLIS));
            keyid.orTimeout(answerNanos, TimeUnit.NANOSECONDS).whenComplete((k, ke) -> {
                if (ke != null) {
                    c.close();
                    f.completeExceptionally(unwrap(ke) instanceof TimeoutException
                        ? new BlockException("export " + name + ": no answer to BLK_OPEN within "
                            + TimeUnit.NANOSECONDS.toMillis(answerNanos) + " ms", Dmsg.ERR_LOSTLINK)
                        : unwrap(ke));
                    return;
                }
                Session s = new Session(c, k, open[0]);
                established[0] = s;
                c.onLost(why -> lost(s, "the circuit to " + c.target().fsLabel() + " was lost: " + why));
                f.complete(s);
            });
        });
        return f;
    }

    @Override
    public void close() {
        Session s;
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
