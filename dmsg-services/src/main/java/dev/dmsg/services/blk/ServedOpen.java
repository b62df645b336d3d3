package dev.dmsg.services.blk;

import dev.dmsg.link.Transaction;
import dev.dmsg.wire.Dmsg;
import java.util.ArrayDeque;
import java.util.concurrent.CompletableFuture;

/**
 * One BLK_OPEN a {@link BlkServer} answered (docs/BLK.md "The wire"): its keyid, export and modes,
 * the transaction it lives as long as, and its requests — at most {@link BlkServer#MAX_IN_FLIGHT}
 * running, the rest queued. Its link's event loop only.
 */
final class ServedOpen {
    final long keyid;
    final ServedExport export;
    final int modes;
    final Transaction txn;
    /** Its originator's counters on this export. */
    ByOriginator.Counters who;
    int inFlight;
    final ArrayDeque<ServedRequest> queued = new ArrayDeque<>();
    /** Write data held by {@link #queued}. */
    long queuedBytes;
    boolean closed;
    /** Completes once closed with nothing running or queued: no request of this keyid will touch the device again. */
    final CompletableFuture<Void> drained = new CompletableFuture<>();

    ServedOpen(long keyid, ServedExport export, int modes, Transaction txn) {
        this.keyid = keyid;
        this.export = export;
        this.modes = modes;
        this.txn = txn;
    }

    boolean writable() {
        return (modes & Dmsg.BLKOPEN_WR) != 0;
    }
}
