package dev.dmsg.services.blk;

import dev.dmsg.link.Link;
import dev.dmsg.link.Services;
import dev.dmsg.services.Access;
import dev.dmsg.wire.Dmsg;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
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
 *
 * <p><b>Parts.</b> This class is the public face: the exports ({@link ServedExport}), their
 * counters and the registration. {@link BlkOpens} answers BLK_OPEN and keeps the keyid table;
 * {@link BlkRequests} runs the I/O of each open ({@link ServedOpen}, {@link ServedRequest});
 * {@link BlkRefusals} answers, counts and logs every refusal.
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

    /** What a BLK_OPEN's aux may carry besides the export's name: {@code supersedes=KEYID} (16 hex digits). */
    public static final String SUPERSEDES = "supersedes=";
    /** How long a re-open waits for the open it supersedes to drain before it is refused (IO). */
    static final int DRAIN_WAIT_SECONDS = 30;

    /** Which export a circuit that ends here was forged to. */
    @FunctionalInterface
    public interface CircuitExports {
        /** The export whose span circuit {@code circuit} on {@code link} targets, or null. That link's event loop. */
        String exportOf(Link link, long circuit);
    }

    /**
     * One export's counters; any thread. {@code opens} is the live opens now; {@code latency}, by
     * kind ({@code read}, {@code write}, {@code flush}, {@code trim}), the time from each request's
     * arrival to its answer, errors included.
     */
    public record ExportStats(String name, long sizeBytes, int blockSize, boolean readOnly, int opens, long reads,
                              long writes, long flushes, long trims, long bytesRead, long bytesWritten, long errors,
                              long refused, String allow, Map<String, ByOriginator.Stats> byOriginator,
                              Map<String, LatencyHistogram.Snapshot> latency) {}

    private final Map<String, ServedExport> exports;
    private final BlkRefusals refusals;
    private final BlkOpens opens;
    private final BlkRequests requests;

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
        this(access, devices, acls, Map.of(), circuitExports);
    }

    /**
     * @param fences the lock key fencing each fenced export's writes (docs/CAC.md §6): a WRITE,
     *     FLUSH or FREEBLKS must carry a fencing token no older than the newest the export accepted
     */
    public BlkServer(Access access, Map<String, ? extends BlockDevice> devices, Map<String, ExportAccess> acls,
                     Map<String, String> fences, CircuitExports circuitExports) {
        Objects.requireNonNull(access, "access");
        Objects.requireNonNull(circuitExports, "circuitExports");
        Map<String, ServedExport> m = new TreeMap<>();
        devices.forEach((name, d) -> m.put(name, new ServedExport(name, d,
            acls.getOrDefault(name, ExportAccess.ANY_ROLE), fences.get(name))));
        this.exports = Map.copyOf(m);
        this.refusals = new BlkRefusals(access);
        this.opens = new BlkOpens(access, exports, circuitExports, refusals);
        this.requests = new BlkRequests(opens, refusals);
    }

    /** Registers the BLK acceptors in {@code services}; returns them. */
    public Services register(Services services) {
        services.accept(Dmsg.BLK_OPEN, opens::accept);
        services.accept(Dmsg.BLK_READ, requests::accept);
        services.accept(Dmsg.BLK_WRITE, requests::accept);
        services.accept(Dmsg.BLK_FLUSH, requests::accept);
        services.accept(Dmsg.BLK_FREEBLKS, requests::accept);
        return services;
    }

    /** Every export's counters, by name. */
    public List<ExportStats> stats() {
        List<ExportStats> out = new ArrayList<>();
        for (ServedExport e : new TreeMap<>(exports).values()) {
            out.add(e.stats());
        }
        return out;
    }

    /** Live opens on all exports. */
    public int opens() {
        return opens.count();
    }

    /** Requests refused (PERM, PARAM, LIMIT), on all exports and before any export was known. */
    public long refusals() {
        return refusals.count();
    }

    /** Replies dropped because their link or circuit had died while the device worked. */
    public long discardedReplies() {
        return requests.discardedReplies();
    }
}
