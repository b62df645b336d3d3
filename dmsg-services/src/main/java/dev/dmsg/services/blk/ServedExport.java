package dev.dmsg.services.blk;

import dev.dmsg.wire.Dmsg;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

/**
 * One export of a {@link BlkServer}: its device, its access list (docs/IDENTITY.md §5) and its
 * counters (docs/BLK.md "The wire": refusals per export). Counters are atomic, read from any thread.
 */
final class ServedExport {
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
    /** The lock key fencing its writes (docs/CAC.md §6), or {@code null}. */
    final String fence;
    /** Time from each request's arrival to its answer, by kind (BlkServer.OPS order: read, write, flush, trim). */
    final LatencyHistogram[] latency = {new LatencyHistogram(), new LatencyHistogram(), new LatencyHistogram(),
        new LatencyHistogram()};
    /** The largest fencing token a write carried that was accepted (0: none yet). */
    final AtomicLong newestToken = new AtomicLong();
    /** The largest size the device has had (see {@link #inRange}). */
    private final AtomicLong largestBytes = new AtomicLong();

    ServedExport(String name, BlockDevice device, ExportAccess acl, String fence) {
        this.name = name;
        this.device = device;
        this.acl = acl;
        this.fence = fence;
        this.largestBytes.set(device.sizeBytes());
    }

    /**
     * Whether {@code offset}+{@code bytes} lies inside the largest size the export has had: a
     * request past a smaller size now (its file shrank; a client opened it before, or at the old
     * size still advertised) goes to the device, which fails it with IO, counted as an error of
     * the export. Past that it is the client's mistake: PARAM, refused.
     */
    boolean inRange(long offset, long bytes) {
        long size = largestBytes.accumulateAndGet(device.sizeBytes(), Math::max);
        return offset >= 0 && offset <= size - bytes;
    }

    long largestBytes() {
        return largestBytes.get();
    }

    /**
     * Why a write carrying {@code token} must be refused — PERM without a token, FENCED when older
     * than the newest accepted — or {@code null}, the newest then being at least {@code token}.
     */
    String fenceProblem(long token) {
        if (token == 0) {
            return "fenced by lock " + fence + ": a write needs its token";
        }
        while (true) {
            long seen = newestToken.get();
            if (token < seen) {
                // short: a BLK error reply carries 63 bytes of reason
                return "token " + token + " is older than " + seen + " (lock " + fence + ")";
            }
            if (seen == token || newestToken.compareAndSet(seen, token)) {
                return null;
            }
        }
    }

    /** The histogram of requests of kind {@code op} (BLK_READ …). */
    LatencyHistogram latency(int op) {
        return latency[switch (op) {
            case Dmsg.BLK_READ -> 0;
            case Dmsg.BLK_WRITE -> 1;
            case Dmsg.BLK_FLUSH -> 2;
            default -> 3;
        }];
    }

    BlkServer.ExportStats stats() {
        return new BlkServer.ExportStats(name, device.sizeBytes(), device.blockSize(), device.readOnly(), opens.get(),
            reads.sum(), writes.sum(), flushes.sum(), trims.sum(), bytesRead.sum(), bytesWritten.sum(), errors.sum(),
            refused.sum(), acl.describe(), byOriginator.snapshot(),
            Map.of("read", latency[0].snapshot(), "write", latency[1].snapshot(), "flush", latency[2].snapshot(),
                "trim", latency[3].snapshot()));
    }
}
