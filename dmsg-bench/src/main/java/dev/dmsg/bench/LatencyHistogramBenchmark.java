package dev.dmsg.bench;

import dev.dmsg.services.blk.LatencyHistogram;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * What a BLK request pays for its latency histogram (issue 18): the two {@code System.nanoTime}
 * reads alone ({@code clockOnly}, the baseline), and those plus {@link LatencyHistogram#record}
 * ({@code clockAndRecord}), as {@code BlkRequests} does once per request. The difference is the
 * cost the metrics added to the hot path; compare it with a request's own cost (tens of
 * microseconds, docs/BENCHMARKS.md "Block devices").
 *
 * <pre>java -jar dmsg-bench/target/benchmarks.jar LatencyHistogramBenchmark</pre>
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Fork(1)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class LatencyHistogramBenchmark {
    private final LatencyHistogram histogram = new LatencyHistogram();

    @Benchmark
    public long clockOnly() {
        long arrived = System.nanoTime();
        return System.nanoTime() - arrived;
    }

    @Benchmark
    public long clockAndRecord() {
        long arrived = System.nanoTime();
        long took = System.nanoTime() - arrived;
        histogram.record(took);
        return took;
    }

    /** A request in the millisecond buckets: the scan walks further (6 bounds). */
    @Benchmark
    public long recordOneMillisecond() {
        histogram.record(1_200_000L);
        return 1;
    }
}
