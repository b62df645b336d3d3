package dev.dmsg.services.blk;

import java.util.concurrent.atomic.LongAdder;

/**
 * Service times of one kind of request, in fixed buckets (what the metrics expose as a Prometheus
 * histogram, docs/OPERATIONS.md "Metrics and health"). Lock-free: recorded on the links' event
 * loops, read from any thread. Recording is two adder increments after a scan of at most 18
 * bounds, next to a request that costs microseconds (measured in {@code LatencyHistogramBenchmark}).
 */
public final class LatencyHistogram {
    /** Upper bounds of the buckets in nanoseconds, ascending: 25 µs .. 10 s; past the last: +Inf. */
    private static final long[] BOUNDS_NANOS = {
        25_000L, 50_000L, 100_000L, 250_000L, 500_000L,
        1_000_000L, 2_500_000L, 5_000_000L, 10_000_000L, 25_000_000L, 50_000_000L, 100_000_000L, 250_000_000L,
        500_000_000L, 1_000_000_000L, 2_500_000_000L, 5_000_000_000L, 10_000_000_000L};

    /**
     * A reading: {@code counts[i]} the requests of bucket i alone (not cumulative), the last one
     * past every bound; {@code sumNanos} their total time.
     */
    public record Snapshot(long[] counts, long sumNanos) {
        public long count() {
            long n = 0;
            for (long c : counts) {
                n += c;
            }
            return n;
        }
    }

    private final LongAdder[] buckets = new LongAdder[BOUNDS_NANOS.length + 1];
    private final LongAdder sumNanos = new LongAdder();

    public LatencyHistogram() {
        for (int i = 0; i < buckets.length; i++) {
            buckets[i] = new LongAdder();
        }
    }

    /** The buckets' upper bounds in seconds (the last bucket, +Inf, not listed). */
    public static double[] boundsSeconds() {
        double[] s = new double[BOUNDS_NANOS.length];
        for (int i = 0; i < s.length; i++) {
            s[i] = BOUNDS_NANOS[i] / 1e9;
        }
        return s;
    }

    /** Counts one request that took {@code nanos}; a negative time (a clock's jitter) counts as 0. */
    public void record(long nanos) {
        long n = Math.max(0, nanos);
        int i = 0;
        while (i < BOUNDS_NANOS.length && n > BOUNDS_NANOS[i]) {
            i++;
        }
        buckets[i].increment();
        sumNanos.add(n);
    }

    public Snapshot snapshot() {
        long[] c = new long[buckets.length];
        for (int i = 0; i < c.length; i++) {
            c[i] = buckets[i].sum();
        }
        return new Snapshot(c, sumNanos.sum());
    }
}
