package dev.dmsg.link.netty;

import dev.dmsg.link.LogLimiter;
import java.time.Duration;
import java.util.EnumMap;
import java.util.Map;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The log lines of one endpoint about peers it refused or that misbehaved before they had a link
 * (docs/SECURITY.md §7): each {@link Kind} through its own {@link LogLimiter}, {@link #BURST} lines
 * at once and {@link #BURST} per {@link #WINDOW} after that; a line admitted after some were
 * suppressed ends with {@code (+N similar suppressed)}. Anyone who can open a TCP connection can
 * make these lines, so without a limit a loop of connect and close writes one line per turn.
 *
 * <p>One bucket per kind, not one for all: a flood of one kind (closed connections) then cannot
 * hide the first line of another (a peer refused for an unknown key, the line an operator needs
 * to add it). Not per address: a flood from many addresses would get a bucket each. The counters
 * ({@link TlsStats}) count every event; this only decides what is written. Thread-safe (the
 * limiters are); time from the endpoint's clock.
 */
final class RefusalLog {
    /** Lines at once, and per {@link #WINDOW}, for each kind. */
    static final int BURST = 10;
    static final Duration WINDOW = Duration.ofMinutes(1);

    /** The families of lines, each limited on its own. */
    enum Kind {
        /** Our trust manager refused the peer's certificate (unknown key, wrong name). */
        KEY_REFUSED,
        /** Any other failed handshake of an accepted connection (closed, not TLS, bad signature, …). */
        HANDSHAKE_FAILED,
        /** An accepted connection did not finish within the handshake timeout. */
        TIMEOUT,
        /** Plaintext DMSG from an address that is not a configured legacy peer. */
        PLAINTEXT_REFUSED,
        /** Closed at accept: a cap on unfinished handshakes was full and nothing could give way. */
        OVER_CAP,
        /** An unfinished handshake closed to make room for a newer connection. */
        EVICTED,
        /** A handshake of a connection we dialled failed: bounded by our own dialling, but kept apart from the rest. */
        OUTBOUND
    }

    private static final Logger log = LoggerFactory.getLogger(LinkChannelHandler.class);

    private final Map<Kind, LogLimiter> limiters = new EnumMap<>(Kind.class);
    private final TlsStats stats;

    /** @param nanoClock the endpoint's clock ({@code LinkConfig.clock()}) */
    RefusalLog(LongSupplier nanoClock, TlsStats stats) {
        this.stats = stats;
        for (Kind k : Kind.values()) {
            limiters.put(k, new LogLimiter(BURST, WINDOW, nanoClock));
        }
    }

    /** Logs {@code line} at WARN if {@code kind}'s bucket has room, else counts it as suppressed. */
    void warn(Kind kind, String line) {
        String more = limiters.get(kind).admit();
        if (more == null) {
            stats.onLogLineSuppressed();
        } else {
            log.warn("{}{}", line, more);
        }
    }
}
