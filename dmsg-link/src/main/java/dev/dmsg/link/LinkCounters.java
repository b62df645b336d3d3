package dev.dmsg.link;

import dev.dmsg.wire.FrameLog;
import dev.dmsg.wire.Message;
import java.util.EnumMap;
import java.util.Map;
import java.util.concurrent.atomic.LongAdder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The counters of one link ({@link LinkStats}): plain fields written on the event loop only, but
 * for the two that other threads bump (adders). Every drop or reject is counted here.
 */
final class LinkCounters {
    private static final Logger log = LoggerFactory.getLogger(Iocom.class);

    long msgsIn;
    long bytesIn;
    long msgsOut;
    long bytesOut;
    long pingsSent;
    long pingsReceived;
    private final long[] violations = new long[Violation.values().length];
    long abortsDiscarded;
    long nosuppSent;
    final LongAdder sendsDiscarded = new LongAdder();
    long handlerErrors;
    int openTransactions;
    long messagesRelayed;
    long messagesForwarded;
    /** Frame bytes of {@link #messagesRelayed} and {@link #messagesForwarded}: a relay's traffic. */
    long bytesRelayed;
    long bytesForwarded;
    long oneWayErrors;
    final LongAdder denied = new LongAdder();
    long refusedOverLimit;
    /** Messages on authenticated circuits that failed to open (docs/IDENTITY.md §4.2). */
    long sealFailures;
    /** Messages dropped as late on a circuit detached here. */
    long lateOnDetached;

    /** Counts a peer's breach of the rules, and logs the first few of each kind, then every power of two. */
    void violation(String link, Violation v, Message m) {
        long n = ++violations[v.ordinal()];
        if (shouldLog(n)) {
            log.warn("link {}: dropped {} ({} so far): {}", link, v, n, FrameLog.line(FrameLog.RECEIVED, m));
        }
    }

    /** A flood must not flood the log: the first eight, then every power of two. */
    static boolean shouldLog(long n) {
        return n <= 8 || Long.bitCount(n) == 1;
    }

    LinkStats snapshot() {
        Map<Violation, Long> v = new EnumMap<>(Violation.class);
        for (Violation x : Violation.values()) {
            if (violations[x.ordinal()] != 0) {
                v.put(x, violations[x.ordinal()]);
            }
        }
        return new LinkStats(msgsIn, bytesIn, msgsOut, bytesOut, pingsSent, pingsReceived, v,
            abortsDiscarded, nosuppSent, sendsDiscarded.sum(), handlerErrors, openTransactions, messagesRelayed,
            messagesForwarded, oneWayErrors, denied.sum(), refusedOverLimit, sealFailures, bytesRelayed, bytesForwarded);
    }
}
