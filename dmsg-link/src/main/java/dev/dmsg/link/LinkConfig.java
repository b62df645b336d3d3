package dev.dmsg.link;

import dev.dmsg.link.tls.TlsConfig;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.LnkConn;
import java.time.Duration;
import java.util.Objects;
import java.util.UUID;
import java.util.function.LongSupplier;

/**
 * Settings for a link. Immutable; build with {@link #builder()}.
 *
 * @param label this node's label, sent as the fs_label of our LNK_CONN
 * @param conn the LNK_CONN we open: our identity and the filter for SPANs relayed to us
 * @param pingIntervalNanos send LNK_PING after this long without sending (docs/PROFILE.md §4: 1 s)
 * @param deadTimeoutNanos the link is dead after this long without receiving (10 s)
 * @param legacyPeer legacy rules: no PING (nor PAD or AUTH) is sent (docs/PROFILE.md §4)
 * @param maxQueuedBytes bound on bytes queued by other threads, not yet in the socket buffer
 * @param writeBufferLowBytes socket buffer low-water mark
 * @param writeBufferHighBytes socket buffer high-water mark
 * @param clock nanosecond clock; tests inject a fake one
 * @param logFrames log every frame at DEBUG in the one-line format
 * @param maxPeerTransactions transactions the peer may hold open on this link (all circuits); a
 *     CREATE beyond it is answered LIMIT (docs/SECURITY.md §7)
 * @param abortsPerSecond sustained rate of aborts of its own transactions (ABORT|CREATE,
 *     open-then-abort) the peer may make; beyond the burst the link is closed as abusive (the
 *     HTTP/2 "rapid reset" pattern, CVE-2023-44487)
 * @param abortBurst how many such aborts may come at once
 * @param maxTransactionsPerPeer transactions one authenticated peer may hold open across all its
 *     links to this endpoint (docs/SECURITY.md §7); beyond it answered LIMIT
 * @param tls TLS 1.3 with pinned keys on every link (docs/SECURITY.md §3), or {@code null} for
 *     plaintext
 */
public record LinkConfig(
        String label, LnkConn conn, long pingIntervalNanos, long deadTimeoutNanos, boolean legacyPeer,
        int maxQueuedBytes, int writeBufferLowBytes, int writeBufferHighBytes, LongSupplier clock,
        boolean logFrames, int maxPeerTransactions, int abortsPerSecond, int abortBurst, TlsConfig tls,
        int maxTransactionsPerPeer) {

    public LinkConfig {
        Objects.requireNonNull(label, "label");
        Objects.requireNonNull(conn, "conn");
        Objects.requireNonNull(clock, "clock");
        if (pingIntervalNanos <= 0 || deadTimeoutNanos <= pingIntervalNanos) {
            throw new IllegalArgumentException("need 0 < ping interval < dead timeout; got "
                + Duration.ofNanos(pingIntervalNanos) + " and " + Duration.ofNanos(deadTimeoutNanos));
        }
        if (maxQueuedBytes < 64 * 1024 + 4096) {
            throw new IllegalArgumentException("maxQueuedBytes " + maxQueuedBytes + " < one largest frame (69632)");
        }
        if (writeBufferLowBytes <= 0 || writeBufferHighBytes < writeBufferLowBytes) {
            throw new IllegalArgumentException("need 0 < low <= high water mark");
        }
        if (maxPeerTransactions < 1 || abortsPerSecond < 1 || abortBurst < 1 || maxTransactionsPerPeer < 1) {
            throw new IllegalArgumentException("limits must be >= 1: maxPeerTransactions " + maxPeerTransactions
                + ", abortsPerSecond " + abortsPerSecond + ", abortBurst " + abortBurst);
        }
    }

    /** docs/SECURITY.md §7: far above what a node's services hold open, far below what hurts memory. */
    public static final int DEFAULT_MAX_PEER_TRANSACTIONS = 4096;
    public static final int DEFAULT_ABORTS_PER_SECOND = 1000;
    public static final int DEFAULT_ABORT_BURST = 2000;
    public static final int DEFAULT_MAX_TRANSACTIONS_PER_PEER = 16384;

    /** Our default LNK_CONN: a cluster controller that wants every SPAN (docs/REFERENCE.md §3.2, libdmsg row). */
    public static LnkConn defaultConn(String label) {
        UUID nil = new UUID(0, 0);
        return new LnkConn(nil, nil, nil, -1L, Dmsg.PEER_CLUSTER, Dmsg.PFSTYPE_NONE, Dmsg.SPAN_PROTO_1,
            0, 0, 0L, -1L, "", label);
    }

    public static Builder builder() {
        return new Builder();
    }

    public Builder toBuilder() {
        Builder b = new Builder();
        b.label = label;
        b.conn = conn;
        b.pingIntervalNanos = pingIntervalNanos;
        b.deadTimeoutNanos = deadTimeoutNanos;
        b.legacyPeer = legacyPeer;
        b.maxQueuedBytes = maxQueuedBytes;
        b.writeBufferLowBytes = writeBufferLowBytes;
        b.writeBufferHighBytes = writeBufferHighBytes;
        b.clock = clock;
        b.logFrames = logFrames;
        b.maxPeerTransactions = maxPeerTransactions;
        b.abortsPerSecond = abortsPerSecond;
        b.abortBurst = abortBurst;
        b.tls = tls;
        b.maxTransactionsPerPeer = maxTransactionsPerPeer;
        return b;
    }

    public static final class Builder {
        private String label = "node";
        private LnkConn conn;
        private long pingIntervalNanos = Duration.ofSeconds(1).toNanos();
        private long deadTimeoutNanos = Duration.ofSeconds(10).toNanos();
        private boolean legacyPeer;
        private int maxQueuedBytes = 1 << 20;
        private int writeBufferLowBytes = 512 * 1024;
        private int writeBufferHighBytes = 1 << 20;
        private LongSupplier clock = System::nanoTime;
        private boolean logFrames;
        private int maxPeerTransactions = DEFAULT_MAX_PEER_TRANSACTIONS;
        private int abortsPerSecond = DEFAULT_ABORTS_PER_SECOND;
        private int abortBurst = DEFAULT_ABORT_BURST;
        private TlsConfig tls;
        private int maxTransactionsPerPeer = DEFAULT_MAX_TRANSACTIONS_PER_PEER;

        public Builder label(String label) { this.label = label; return this; }
        public Builder conn(LnkConn conn) { this.conn = conn; return this; }
        public Builder pingInterval(Duration d) { this.pingIntervalNanos = d.toNanos(); return this; }
        public Builder deadTimeout(Duration d) { this.deadTimeoutNanos = d.toNanos(); return this; }
        public Builder legacyPeer(boolean legacy) { this.legacyPeer = legacy; return this; }
        public Builder maxQueuedBytes(int bytes) { this.maxQueuedBytes = bytes; return this; }
        public Builder writeBufferWaterMarks(int low, int high) {
            this.writeBufferLowBytes = low;
            this.writeBufferHighBytes = high;
            return this;
        }
        public Builder clock(LongSupplier clock) { this.clock = clock; return this; }
        public Builder logFrames(boolean log) { this.logFrames = log; return this; }
        public Builder maxPeerTransactions(int n) { this.maxPeerTransactions = n; return this; }
        public Builder maxTransactionsPerPeer(int n) { this.maxTransactionsPerPeer = n; return this; }
        public Builder abortBudget(int perSecond, int burst) {
            this.abortsPerSecond = perSecond;
            this.abortBurst = burst;
            return this;
        }
        /** TLS on every link; {@code null} (the default) for plaintext. */
        public Builder tls(TlsConfig tls) { this.tls = tls; return this; }

        public LinkConfig build() {
            return new LinkConfig(label, conn != null ? conn : defaultConn(label), pingIntervalNanos,
                deadTimeoutNanos, legacyPeer, maxQueuedBytes, writeBufferLowBytes, writeBufferHighBytes,
                clock, logFrames, maxPeerTransactions, abortsPerSecond, abortBurst, tls, maxTransactionsPerPeer);
        }
    }
}
