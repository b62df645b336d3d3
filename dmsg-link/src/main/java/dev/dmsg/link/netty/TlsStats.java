package dev.dmsg.link.netty;

import java.util.concurrent.atomic.LongAdder;

/**
 * Handshake counters of one {@link LinkEndpoint} (docs/SECURITY.md §3, §6, §7), both directions.
 * A handshake counts as completed once TLS is done and the peer's first frame has arrived (the
 * client's only proof that the server accepted its certificate; see {@code LinkChannelHandler}).
 * Links with configured legacy peers run no handshake: they are counted apart, in {@link #legacy()}.
 * Safe to read from any thread.
 */
public final class TlsStats {
    private final LongAdder completed = new LongAdder();
    private final LongAdder failed = new LongAdder();
    private final LongAdder refused = new LongAdder();
    private final LongAdder timedOut = new LongAdder();
    private final LongAdder plaintextRefused = new LongAdder();
    private final LongAdder legacy = new LongAdder();
    private final LongAdder overCap = new LongAdder();
    private final LongAdder evicted = new LongAdder();
    private final LongAdder logLinesSuppressed = new LongAdder();

    /**
     * Log lines about refused or misbehaving peers left out by the endpoint's rate limit
     * (docs/SECURITY.md §7); the events themselves are all counted above.
     */
    public long logLinesSuppressed() {
        return logLinesSuppressed.sum();
    }

    void onLogLineSuppressed() {
        logLinesSuppressed.increment();
    }

    /**
     * Of {@link #failed()}: unfinished handshakes closed to make room for a newer connection when
     * a cap on them was full (docs/SECURITY.md §7).
     */
    public long evicted() {
        return evicted.sum();
    }

    void onEvicted() {
        evicted.increment();
    }

    /**
     * Connections refused at accept: a cap on unfinished handshakes was full and none of them
     * could give way (each had presented a trusted key; docs/SECURITY.md §7).
     */
    public long overCap() {
        return overCap.sum();
    }

    long onOverCap() {
        overCap.increment();
        return overCap.sum();
    }

    /** Handshakes that ended with an authenticated link. */
    public long completed() {
        return completed.sum();
    }

    /** Handshakes that failed, for any reason (including the two below). */
    public long failed() {
        return failed.sum();
    }

    /** Of {@link #failed()}: the peer's certificate was refused here (not pinned, or the wrong name). */
    public long refused() {
        return refused.sum();
    }

    /** Of {@link #failed()}: not done within the handshake timeout; the connection was closed. */
    public long timedOut() {
        return timedOut.sum();
    }

    /**
     * Of {@link #failed()}: connections whose first bytes were plaintext DMSG from an address that
     * is not a configured legacy peer, refused at once (docs/SECURITY.md §6).
     */
    public long plaintextRefused() {
        return plaintextRefused.sum();
    }

    /**
     * Plaintext links with configured legacy peers (docs/SECURITY.md §6), accepted (their first
     * bytes were DMSG) or made (the dialled address is one); in none of the counts above.
     */
    public long legacy() {
        return legacy.sum();
    }

    void onCompleted() {
        completed.increment();
    }

    void onFailed(boolean refusedHere, boolean timeout) {
        failed.increment();
        if (refusedHere) {
            refused.increment();
        }
        if (timeout) {
            timedOut.increment();
        }
    }

    void onPlaintextRefused() {
        failed.increment();
        plaintextRefused.increment();
    }

    void onLegacy() {
        legacy.increment();
    }

    @Override
    public String toString() {
        return "completed=" + completed() + " failed=" + failed() + " (refused=" + refused() + " timedOut="
            + timedOut() + " plaintextRefused=" + plaintextRefused() + " evicted=" + evicted() + ") legacy=" + legacy()
            + " overCap=" + overCap() + " logLinesSuppressed=" + logLinesSuppressed();
    }
}
