package dev.dmsg.services.blk;

import java.util.concurrent.atomic.AtomicInteger;
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

    ServedExport(String name, BlockDevice device, ExportAccess acl) {
        this.name = name;
        this.device = device;
        this.acl = acl;
    }

    BlkServer.ExportStats stats() {
        return new BlkServer.ExportStats(name, device.sizeBytes(), device.blockSize(), device.readOnly(), opens.get(),
            reads.sum(), writes.sum(), flushes.sum(), trims.sum(), bytesRead.sum(), bytesWritten.sum(), errors.sum(),
            refused.sum(), acl.describe(), byOriginator.snapshot());
    }
}
