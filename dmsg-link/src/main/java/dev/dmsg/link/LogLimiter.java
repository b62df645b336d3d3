package dev.dmsg.link;

import java.time.Duration;
import java.util.function.LongSupplier;

/**
 * Rate-limits one family of log lines — refused peers, dropped frames — so that a flood cannot
 * flood the log (docs/SECURITY.md §7): a token bucket of {@code burst} lines, refilled at
 * {@code burst} per {@code window}. A line admitted after some were suppressed says how many:
 * {@link #admit()} returns the suffix to append. Thread-safe; time comes from the injected clock.
 *
 * <pre>
 * String more = refusals.admit();
 * if (more != null) log.warn("refused: ...{}", more);   // more: "" or " (+37 similar suppressed)"
 * </pre>
 */
public final class LogLimiter {
    private final int burst;
    private final long windowNanos;
    private final LongSupplier nanoClock;
    private double tokens;
    private long refilledNanos;
    private long suppressed;
    private long suppressedTotal;

    /** At most {@code burst} lines at once, {@code burst} per {@code window} sustained. */
    public LogLimiter(int burst, Duration window, LongSupplier nanoClock) {
        if (burst < 1 || window.isNegative() || window.isZero()) {
            throw new IllegalArgumentException("burst must be >= 1 and window positive, not " + burst + ", " + window);
        }
        this.burst = burst;
        this.windowNanos = window.toNanos();
        this.nanoClock = nanoClock;
        this.tokens = burst;
        this.refilledNanos = nanoClock.getAsLong();
    }

    /** 10 lines at once, 10 a minute sustained, on the system clock: what refusal logs use. */
    public static LogLimiter perMinute() {
        return new LogLimiter(10, Duration.ofMinutes(1), System::nanoTime);
    }

    /**
     * Whether to log one more line: {@code null} to suppress it (it is counted), else the suffix
     * to append — empty, or {@code " (+N similar suppressed)"} for the lines suppressed since the
     * last one logged.
     */
    public synchronized String admit() {
        long now = nanoClock.getAsLong();
        double add = (now - refilledNanos) * (double) burst / windowNanos;
        refilledNanos = now;
        if (add > 0) {
            tokens = Math.min(burst, tokens + add);
        }
        if (tokens < 1) {
            suppressed++;
            suppressedTotal++;
            return null;
        }
        tokens--;
        if (suppressed == 0) {
            return "";
        }
        String s = " (+" + suppressed + " similar suppressed)";
        suppressed = 0;
        return s;
    }

    /** Lines suppressed so far, in all. */
    public synchronized long suppressedTotal() {
        return suppressedTotal;
    }
}
