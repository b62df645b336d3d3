package dev.dmsg.services.blk;

import dev.dmsg.link.Link;
import dev.dmsg.link.LinkState;
import dev.dmsg.link.Services;
import dev.dmsg.link.Transaction;
import dev.dmsg.link.TransactionHandler;
import dev.dmsg.services.Access;
import dev.dmsg.wire.BlkError;
import dev.dmsg.wire.BlkIo;
import dev.dmsg.wire.BlkOpen;
import dev.dmsg.wire.Command;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.ErrorCode;
import dev.dmsg.wire.Message;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.util.ReferenceCountUtil;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The BLK export server (docs/BLK.md "The wire", docs/REFERENCE.md §6, docs/PROFILE.md §7): serves a node's
 * exports to BLK_OPEN, BLK_READ, BLK_WRITE, BLK_FLUSH and BLK_FREEBLKS transactions on circuit 0
 * and on every circuit that ends at the node.
 *
 * <p><b>Opens.</b> BLK_OPEN is answered {@code BLK_ERROR|CREATE|REPLY} with error 0 and a random
 * 64-bit {@code keyid}, and its transaction stays open: the open lives exactly as long as it. Its
 * close by the peer, or its LOSTLINK abort (the link or the circuit died), kills the keyid. Every
 * I/O names a keyid that must be live on the same link and circuit; the open decides which export
 * the I/O hits. The C server (subr_diskiocom.c) never filled keyid and checked nothing.
 *
 * <p><b>Which export an open gets.</b> Over a circuit forged to an export's span, that export
 * (xdisk's way: one circuit per disk). Over circuit 0, or a circuit to the node itself, the export
 * named in the BLK_OPEN's aux (text), or the node's only export when the aux is empty.
 *
 * <p><b>Threads.</b> Every open and every request belongs to one link and is touched only on that
 * link's event loop: handlers run there, and each device completion is handed back there with
 * {@link Link#execute} before its reply is sent and the next queued request is started. The
 * device calls return at once and do their work on the device's executor, never on an event
 * loop. The keyid table is concurrent (an open is looked up from its link's loop only, so a
 * keyid from another link is simply "not here"); the statistics are atomic, for status output
 * from any thread.
 *
 * <p><b>Bounds.</b> At most {@link #MAX_IN_FLIGHT} requests per open run on the device (xdisk's
 * 64 tags); up to {@link #MAX_QUEUED} more, holding at most {@link #MAX_QUEUED_BYTES} of write
 * data, wait in the open's queue; past either a request is answered LIMIT. A client that keeps
 * at most 64 requests outstanding per open never sees LIMIT. Nothing is queued without bound, and
 * the link itself caps the transactions a peer holds open (LinkConfig.maxPeerTransactions).
 *
 * <p><b>Loss.</b> When the link or circuit dies, every transaction on it gets its LOSTLINK abort:
 * the opens are forgotten, queued requests are dropped (their data released), and device
 * operations in flight complete into the void — their replies discarded, their buffers released.
 */
public final class BlkServer {
    private static final Logger log = LoggerFactory.getLogger(BlkServer.class);

    /** Requests per open running on the device at once (xdisk: 64 tags per device). */
    public static final int MAX_IN_FLIGHT = 64;
    /** Requests per open waiting behind those; past this, LIMIT. */
    public static final int MAX_QUEUED = 1024;
    /** Write data those may hold (256 writes of 64 KiB); past this, LIMIT. */
    public static final int MAX_QUEUED_BYTES = 16 << 20;
    /**
     * The largest {@code bytes} of one request: DMSG_AUX_MAX (docs/REFERENCE.md §6.3: C took 128 KiB
     * and broke the link).
     */
    public static final int MAX_BYTES = Dmsg.AUX_MAX;

    /** Which export a circuit that ends here was forged to. */
    @FunctionalInterface
    public interface CircuitExports {
        /** The export whose span circuit {@code circuit} on {@code link} targets, or null. That link's event loop. */
        String exportOf(Link link, long circuit);
    }

    /** One export's counters; any thread. {@code opens} is the live opens now. */
    public record ExportStats(String name, long sizeBytes, int blockSize, boolean readOnly, int opens, long reads,
                              long writes, long flushes, long trims, long bytesRead, long bytesWritten, long errors,
                              long refused, String allow, Map<String, ByOriginator.Stats> byOriginator) {}

    private final Access access;
    private final Map<String, Export> exports;
    private final CircuitExports circuitExports;
    /** Live opens by keyid. Entries are added and removed on the owning link's event loop. */
    private final Map<Long, Open> opens = new ConcurrentHashMap<>();
    /** Closed opens whose requests still run on the device, until {@link Open#drained}: what a re-open waits for. */
    private final Map<Long, Open> draining = new ConcurrentHashMap<>();
    private final SecureRandom random = new SecureRandom();
    private final LongAdder refusals = new LongAdder();
    private final LongAdder discardedReplies = new LongAdder();

    /**
     * @param access the node's policy (docs/SECURITY.md §5)
     * @param devices the exports by name; served until the node closes them
     * @param circuitExports which export a circuit ending here targets (the mesh knows: MeshNode.circuitTarget)
     */
    public BlkServer(Access access, Map<String, ? extends BlockDevice> devices, CircuitExports circuitExports) {
        this(access, devices, Map.of(), circuitExports);
    }

    /**
     * @param acls who may open each export beyond what the role rules allow (docs/IDENTITY.md §5);
     *     an export without an entry admits every role the rules admit ({@link ExportAccess#ANY_ROLE})
     */
    public BlkServer(Access access, Map<String, ? extends BlockDevice> devices, Map<String, ExportAccess> acls,
                     CircuitExports circuitExports) {
        this.access = Objects.requireNonNull(access, "access");
        this.circuitExports = Objects.requireNonNull(circuitExports, "circuitExports");
        Map<String, Export> m = new TreeMap<>();
        devices.forEach((name, d) -> m.put(name, new Export(name, d, acls.getOrDefault(name, ExportAccess.ANY_ROLE))));
        this.exports = Map.copyOf(m);
    }

    /** Registers the BLK acceptors in {@code services}; returns them. */
    public Services register(Services services) {
        services.accept(Dmsg.BLK_OPEN, this::acceptOpen);
        services.accept(Dmsg.BLK_READ, this::acceptRequest);
        services.accept(Dmsg.BLK_WRITE, this::acceptRequest);
        services.accept(Dmsg.BLK_FLUSH, this::acceptRequest);
        services.accept(Dmsg.BLK_FREEBLKS, this::acceptRequest);
        return services;
    }

    /** Every export's counters, by name. */
    public List<ExportStats> stats() {
        List<ExportStats> out = new ArrayList<>();
        for (Export e : new TreeMap<>(exports).values()) {
            BlockDevice d = e.device;
            out.add(new ExportStats(e.name, d.sizeBytes(), d.blockSize(), d.readOnly(), e.opens.get(), e.reads.sum(),
                e.writes.sum(), e.flushes.sum(), e.trims.sum(), e.bytesRead.sum(), e.bytesWritten.sum(), e.errors.sum(),
                e.refused.sum(), e.acl.describe(), e.byOriginator.snapshot()));
        }
        return out;
    }

    /** Live opens on all exports. */
    public int opens() {
        return opens.size();
    }

    /** Requests refused (PERM, PARAM, LIMIT), on all exports and before any export was known. */
    public long refusals() {
        return refusals.sum();
    }

    /** Replies dropped because their link or circuit had died while the device worked. */
    public long discardedReplies() {
        return discardedReplies.sum();
    }

    // ------------------------------------------------------------------------------------------
    // State

    private static final class Export {
        final String name;
        final BlockDevice device;
        final AtomicInteger opens = new AtomicInteger();
        final LongAdder reads = new LongAdder();
        final LongAdder writes = new LongAdder();
        final LongAdder flushes = new LongAdder();
        final LongAdder trims = new LongAdder();
        final LongAdder bytesRead = new LongAdder();
        final LongAdder bytesWritten = new LongAdder();
        final LongAdder errors = new LongAdder();
        final LongAdder refused = new LongAdder();
        final ExportAccess acl;
        /** Who used it (docs/IDENTITY.md §5). */
        final ByOriginator byOriginator = new ByOriginator();

        Export(String name, BlockDevice device, ExportAccess acl) {
            this.name = name;
            this.device = device;
            this.acl = acl;
        }
    }

    /** One BLK_OPEN: its link's event loop only. */
    private static final class Open {
        final long keyid;
        final Export export;
        final int modes;
        final Transaction txn;
        /** Its originator's counters on this export. */
        ByOriginator.Counters who;
        int inFlight;
        final ArrayDeque<Request> queued = new ArrayDeque<>();
        /** Write data held by {@link #queued}. */
        long queuedBytes;
        boolean closed;
        /** Completes once closed with nothing running or queued: no request of this keyid will touch the device again. */
        final CompletableFuture<Void> drained = new CompletableFuture<>();

        Open(long keyid, Export export, int modes, Transaction txn) {
            this.keyid = keyid;
            this.export = export;
            this.modes = modes;
            this.txn = txn;
        }

        boolean writable() {
            return (modes & Dmsg.BLKOPEN_WR) != 0;
        }
    }

    /** One I/O request (its own transaction, as xdisk sent them): its link's event loop only. */
    private static final class Request {
        final Open open;
        final Transaction txn;
        final int op;
        final BlkIo io;
        /** BLK_WRITE: exactly {@code io.bytes} bytes, owned until handed to the device; else null. */
        ByteBuf data;
        /** Queued, not yet started. */
        boolean waiting;
        /** Dropped while queued (the peer aborted it, or its link or circuit died). */
        boolean dropped;

        Request(Open open, Transaction txn, int op, BlkIo io, ByteBuf data) {
            this.open = open;
            this.txn = txn;
            this.op = op;
            this.io = io;
            this.data = data;
        }

        long bytes() {
            return Integer.toUnsignedLong(io.bytes());
        }

        /** What it counts against {@link Open#queuedBytes} while queued. */
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
    }

    // ------------------------------------------------------------------------------------------
    // BLK_OPEN

    private TransactionHandler acceptOpen(Transaction txn, Message create) {
        Open[] open = new Open[1];
        return (t, m) -> {
            if (m.isCreate()) {
                open[0] = open(t, m);
            }
            if (m.isDelete()) {
                if (open[0] != null) {
                    forget(open[0], m.error() == Dmsg.ERR_LOSTLINK && m.isAbort() ? "lost" : "closed by the peer");
                }
                t.reply(0); // nothing if our side is already closed (a refusal, or a dead circuit)
            }
        };
    }

    /** The open's answer: a live {@link Open}, or null after a refusal (sent). */
    private Open open(Transaction t, Message m) {
        Link link = t.link();
        long circuit = t.circuit();
        BlkOpen req = m.ext() instanceof BlkOpen o ? o : null;
        int modes = req == null ? 0 : req.modes();
        if (m.isDelete()) {
            refuse(t, null, Dmsg.ERR_PARAM, 0, 0, "BLK_OPEN with DELETE: an open must stay open");
            return null;
        }
        if (req == null || (modes & ~(Dmsg.BLKOPEN_RD | Dmsg.BLKOPEN_WR)) != 0
                || (modes & (Dmsg.BLKOPEN_RD | Dmsg.BLKOPEN_WR)) == 0) {
            refuse(t, null, Dmsg.ERR_PARAM, 0, 0, String.format("modes %x: must be RD (1) and/or WR (2)", modes));
            return null;
        }
        boolean write = (modes & Dmsg.BLKOPEN_WR) != 0;
        String wanted = "";
        long supersedes = 0;
        for (String word : (m.auxBytes() == 0 ? "" : m.auxString()).trim().split("\\s+")) {
            if (word.startsWith(SUPERSEDES)) {
                try {
                    supersedes = Long.parseUnsignedLong(word.substring(SUPERSEDES.length()), 16);
                } catch (NumberFormatException ex) {
                    refuse(t, null, Dmsg.ERR_PARAM, 0, 0, "BLK_OPEN aux: bad " + clip(word));
                    return null;
                }
            } else if (!word.isEmpty()) {
                wanted = word;
            }
        }
        if (!access.allowsBlk(link, circuit, write)) {
            // docs/SECURITY.md §5: counted on the link (which logs it), answered PERM, the link stays up
            link.denied("BLK_OPEN " + modeWord(modes) + (wanted.isEmpty() ? "" : " of '" + wanted + "'") + " from "
                + access.who(link, circuit));
            refusals.increment();
            sendRefusal(t, Dmsg.ERR_PERM, 0, 0, write ? "open for writing needs admin, member, or a client with blk-rw"
                : "open needs admin, member, or a client with blk-read");
            return null;
        }
        String onCircuit = circuit == 0 ? null : circuitExports.exportOf(link, circuit);
        String name;
        if (onCircuit != null) {
            if (!wanted.isEmpty() && !wanted.equals(onCircuit)) {
                refuse(t, null, Dmsg.ERR_PARAM, 0, 0, "circuit is to export '" + onCircuit + "', not '" + wanted + "'");
                return null;
            }
            name = onCircuit;
        } else if (!wanted.isEmpty()) {
            name = wanted;
        } else if (exports.size() == 1) {
            name = exports.keySet().iterator().next();
        } else {
            refuse(t, null, Dmsg.ERR_PARAM, 0, 0, "which export? name it in the BLK_OPEN aux");
            return null;
        }
        Export e = exports.get(name);
        if (e == null) {
            refuse(t, null, Dmsg.ERR_PARAM, 0, 0, "no export '" + name + "' here");
            return null;
        }
        Access.Principal who = access.principal(link, circuit);
        if (!e.acl.admits(who)) {
            // docs/IDENTITY.md §5: the originator must be on the export's list (admins always are)
            link.denied("BLK_OPEN of export '" + name + "' from " + who.describe() + ": not on its list (" + e.acl.describe()
                + ")");
            e.byOriginator.of(who.name()).refused.increment();
            refuse(t, e, Dmsg.ERR_PERM, 0, 0, "export '" + name + "' admits " + e.acl.describe() + " only");
            return null;
        }
        if (write && e.device.readOnly()) {
            refuse(t, e, Dmsg.ERR_PERM, 0, 0, "export '" + name + "' is read-only");
            return null;
        }
        long keyid;
        Open o;
        do {
            keyid = random.nextLong();
            o = new Open(keyid, e, modes, t);
        } while (keyid == 0 || opens.putIfAbsent(keyid, o) != null);
        e.opens.incrementAndGet();
        o.who = e.byOriginator.of(who.name());
        o.who.opens.increment();
        log.info("BLK open {} of export {} ({}) by {}", Long.toHexString(keyid), name, modeWord(modes), who.describe());
        BlkError answer = new BlkError(keyid, 0, "");
        Open old = supersedes == 0 ? null : opens.getOrDefault(supersedes, draining.get(supersedes));
        if (old == null || old.export != e) {
            t.send(Dmsg.BLK_ERROR, 0, answer, null); // CREATE|REPLY, error 0; stays open
            return o;
        }
        // A re-open after failover (docs/BLK.md "Failover"): the old keyid dies now, its queued
        // requests are dropped, and the answer waits until its running ones are done — so nothing
        // sent under the old keyid (a write still crossing a dying link) lands after a later write
        // sent under the new one.
        onLoopOf(old, () -> supersede(old));
        Open fresh = o;
        old.drained.copy().orTimeout(DRAIN_WAIT_SECONDS, TimeUnit.SECONDS).whenComplete((v, err) -> link.execute(() -> {
            if (fresh.closed || !t.state().sendOpen()) {
                return;
            }
            if (err != null) {
                forget(fresh, "refused: the superseded open did not drain");
                refuse(t, e, Dmsg.ERR_IO, 0, 0, String.format("open %016x still has requests running after %d s",
                    old.keyid, DRAIN_WAIT_SECONDS));
                return;
            }
            t.send(Dmsg.BLK_ERROR, 0, answer, null);
        }));
        return o;
    }

    /** What a BLK_OPEN's aux may carry besides the export's name: {@code supersedes=KEYID} (16 hex digits). */
    public static final String SUPERSEDES = "supersedes=";
    /** How long a re-open waits for the open it supersedes to drain before it is refused (IO). */
    static final int DRAIN_WAIT_SECONDS = 30;

    private static void onLoopOf(Open o, Runnable task) {
        try {
            o.txn.link().execute(task);
        } catch (RuntimeException closing) {
            task.run(); // the node is closing: nothing else runs for that link any more
        }
    }

    /** Ends {@code o} for a re-open: forgotten, its queue dropped and refused. Its link's event loop. */
    private void supersede(Open o) {
        forget(o, "superseded by a re-open");
        for (Request r; (r = o.queued.poll()) != null; ) {
            if (!r.dropped) {
                r.drop();
                sendRefusal(r.txn, Dmsg.ERR_LOSTLINK, r.io.keyid(), r.op == Dmsg.BLK_FLUSH ? 0 : r.io.bytes(),
                    "superseded by a re-open");
            }
        }
        drainedIfIdle(o);
    }

    /** Marks {@code o} drained when it is closed and nothing of it runs. Its link's event loop. */
    private void drainedIfIdle(Open o) {
        if (o.closed && o.inFlight == 0) {
            draining.remove(o.keyid, o);
            o.drained.complete(null);
        }
    }

    /** The open's transaction closed: its keyid is dead from now on. Queued requests still run if their peer waits. */
    private void forget(Open o, String why) {
        if (o.closed) {
            return;
        }
        o.closed = true;
        opens.remove(o.keyid, o);
        draining.put(o.keyid, o);
        o.export.opens.decrementAndGet();
        log.debug("BLK open {} of export {} {}; {} in flight, {} queued", Long.toHexString(o.keyid), o.export.name, why,
            o.inFlight, o.queued.size());
        drainedIfIdle(o);
    }

    private static String modeWord(int modes) {
        return ((modes & Dmsg.BLKOPEN_RD) != 0 ? "RD" : "") + ((modes & Dmsg.BLKOPEN_WR) != 0 ? "WR" : "");
    }

    // ------------------------------------------------------------------------------------------
    // READ, WRITE, FLUSH, FREEBLKS

    private TransactionHandler acceptRequest(Transaction txn, Message create) {
        return (t, m) -> {
            if (m.isCreate()) {
                request(t, m);
            } else if (m.isAbort() && t.attachment() instanceof Request r && r.waiting) {
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
            refuse(t, null, Dmsg.ERR_PARAM, 0, 0, Command.nameOf(op) + " without its fields");
            return;
        }
        long bytes = Integer.toUnsignedLong(io.bytes());
        int resid = op == Dmsg.BLK_FLUSH ? 0 : io.bytes();
        Open o = opens.get(io.keyid());
        if (o == null || o.closed || o.txn.link() != t.link() || o.txn.circuit() != t.circuit()) {
            refuse(t, null, Dmsg.ERR_PARAM, io.keyid(), resid, String.format("no open with keyid %016x", io.keyid()));
            return;
        }
        Export e = o.export;
        if (op != Dmsg.BLK_READ && !o.writable()) {
            refuse(t, e, Dmsg.ERR_PERM, io.keyid(), resid, Command.nameOf(op) + " under an open without WR");
            return;
        }
        if (op != Dmsg.BLK_FLUSH) {
            if (bytes < 1 || bytes > MAX_BYTES) {
                refuse(t, e, Dmsg.ERR_PARAM, io.keyid(), resid, "bytes " + bytes + " not in 1.." + MAX_BYTES);
                return;
            }
            long size = e.device.sizeBytes();
            if (io.offset() < 0 || io.offset() > size - bytes) {
                refuse(t, e, Dmsg.ERR_PARAM, io.keyid(), resid, "offset " + Long.toUnsignedString(io.offset()) + "+"
                    + bytes + " past the end (" + size + ")");
                return;
            }
        }
        ByteBuf data = null;
        if (op == Dmsg.BLK_WRITE) {
            int auxBytes = m.auxBytes();
            if (auxBytes > bytes) {
                refuse(t, e, Dmsg.ERR_PARAM, io.keyid(), resid, "aux_bytes " + auxBytes + " > bytes " + bytes);
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
        Request r = new Request(o, t, op, io, data);
        t.attach(r);
        if (o.inFlight < MAX_IN_FLIGHT) {
            start(o, r);
        } else if (o.queued.size() < MAX_QUEUED && o.queuedBytes + r.heldBytes() <= MAX_QUEUED_BYTES) {
            r.waiting = true;
            o.queued.add(r);
            o.queuedBytes += r.heldBytes();
        } else {
            r.data = release(r.data);
            refuse(t, e, Dmsg.ERR_LIMIT, io.keyid(), resid, o.queued.size() >= MAX_QUEUED
                ? String.format("open %016x: %d requests outstanding", o.keyid, MAX_IN_FLIGHT + MAX_QUEUED)
                : String.format("open %016x: %d MiB of writes queued", o.keyid, MAX_QUEUED_BYTES >> 20));
        }
    }

    /** Hands {@code r} to the device. Its link's event loop. */
    private void start(Open o, Request r) {
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
    private void finish(Open o, Request r, Object value, Throwable error) {
        o.inFlight--;
        Export e = o.export;
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
                r.op == Dmsg.BLK_FLUSH ? 0 : r.io.bytes(), clip(c.getMessage() == null ? c.toString() : c.getMessage())),
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
        while (o.inFlight < MAX_IN_FLIGHT && !o.queued.isEmpty()) {
            Request next = o.queued.poll();
            if (next.dropped) {
                continue;
            }
            if (!next.txn.state().sendOpen()) {
                next.drop(); // its link or circuit died: nobody to answer
                continue;
            }
            start(o, next);
        }
        drainedIfIdle(o);
    }

    // ------------------------------------------------------------------------------------------
    // Refusals

    /** Answers {@code t} with BLK_ERROR|DELETE {@code error}; counts it and logs the first few, then powers of two. */
    private void refuse(Transaction t, Export e, int error, long keyid, int resid, String why) {
        refusals.increment();
        if (e != null) {
            e.refused.increment();
        }
        long n = refusals.sum();
        if (n <= 8 || Long.bitCount(n) == 1) {
            log.warn("BLK refused ({} so far): {} from {}: {} ({})", n, Command.nameOf(t.icmd()),
                access.who(t.link(), t.circuit()), why, ErrorCode.nameOf(error));
        }
        sendRefusal(t, error, keyid, resid, why);
    }

    private static void sendRefusal(Transaction t, int error, long keyid, int resid, String why) {
        if (t.state().sendOpen()) {
            t.send(Dmsg.BLK_ERROR | Dmsg.DELETE, error, new BlkError(keyid, resid, clip(why)), null);
        }
    }

    /** {@code s} cut to what BlkError.buf holds (63 bytes of UTF-8 and its NUL), on a character boundary. */
    static String clip(String s) {
        String out = s.replace('\0', ' ');
        while (out.getBytes(StandardCharsets.UTF_8).length > BlkError.BUF_BYTES - 1) {
            out = out.substring(0, out.length() - 1);
        }
        return out;
    }

    private static ByteBuf release(ByteBuf b) {
        if (b != null && b.refCnt() > 0) {
            b.release();
        }
        return null;
    }
}
