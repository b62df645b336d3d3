package dev.dmsg.bench.driver;

import dev.dmsg.services.blk.BlockDevice;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.Recorder;

/**
 * The Java load generator of {@code bench blk}: drives a {@link BlockDevice} directly, as fio
 * drives an NBD server — {@code qd} requests outstanding, the next issued from each completion
 * (on the device's completion thread: for a remote device, its circuit's event loop), random
 * block-aligned offsets or one sequential stream. Counts what completes in the measured window
 * after the ramp, as fio's {@code --ramp_time} does.
 */
final class BlkLoad {
    /** Completions that run inline (an already-completed future) are handed off below this depth. */
    private static final int MAX_INLINE_DEPTH = 16;
    private static final ThreadLocal<int[]> DEPTH = ThreadLocal.withInitial(() -> new int[1]);

    /** What one run measured: operations and bytes per second in the window, latency percentiles. */
    record Result(double iops, double megabytesPerSecond, double p50Micros, double p99Micros) {}

    private final BlockDevice device;
    private final BlkJob job;
    private final long blocks;
    private final ByteBuf writeData;
    private final AtomicLong completed = new AtomicLong();
    private final AtomicLong cursor = new AtomicLong();
    private final AtomicInteger outstanding = new AtomicInteger();
    private final Recorder latency = new Recorder(3);
    private volatile boolean stop;
    private volatile Throwable failure;

    private BlkLoad(BlockDevice device, BlkJob job) {
        this.device = device;
        this.job = job;
        this.blocks = device.sizeBytes() / job.blockBytes();
        if (job.writes()) {
            writeData = PooledByteBufAllocator.DEFAULT.directBuffer(job.blockBytes());
            byte[] b = new byte[job.blockBytes()];
            ThreadLocalRandom.current().nextBytes(b);
            writeData.writeBytes(b);
        } else {
            writeData = null;
        }
    }

    /** Runs {@code job} on {@code device}: {@code rampNanos} unmeasured, then {@code runNanos} measured. */
    static Result run(BlockDevice device, BlkJob job, long rampNanos, long runNanos) throws Exception {
        BlkLoad l = new BlkLoad(device, job);
        try {
            return l.run(rampNanos, runNanos);
        } finally {
            if (l.writeData != null) {
                l.writeData.release();
            }
        }
    }

    private Result run(long rampNanos, long runNanos) throws Exception {
        for (int i = 0; i < job.queueDepth(); i++) {
            issue();
        }
        TimeUnit.NANOSECONDS.sleep(rampNanos);
        long n0 = completed.get();
        long t0 = System.nanoTime();
        latency.reset();
        TimeUnit.NANOSECONDS.sleep(runNanos);
        long n1 = completed.get();
        long t1 = System.nanoTime();
        Histogram h = latency.getIntervalHistogram();
        stop = true;
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (outstanding.get() > 0 && System.nanoTime() < deadline) {
            TimeUnit.MILLISECONDS.sleep(5); // draining what is in flight, bounded
        }
        if (failure != null) {
            throw new IllegalStateException(job.id() + " on " + device.name() + " failed: " + failure, failure);
        }
        if (outstanding.get() > 0) {
            throw new IllegalStateException(job.id() + ": " + outstanding.get() + " requests still outstanding 30 s after "
                + "the run");
        }
        double seconds = (t1 - t0) / 1e9;
        double ops = (n1 - n0) / seconds;
        return new Result(ops, ops * job.blockBytes() / 1e6, h.getValueAtPercentile(50) / 1e3,
            h.getValueAtPercentile(99) / 1e3);
    }

    private void issue() {
        if (stop) {
            return;
        }
        int bs = job.blockBytes();
        long offset = job.random() ? ThreadLocalRandom.current().nextLong(blocks) * bs
            : Math.floorMod(cursor.getAndIncrement(), blocks) * bs;
        outstanding.incrementAndGet();
        long started = System.nanoTime();
        CompletableFuture<?> f;
        try {
            f = job.writes() ? device.write(offset, writeData.retainedDuplicate(), false) : device.read(offset, bs);
        } catch (RuntimeException e) {
            f = CompletableFuture.failedFuture(e);
        }
        f.whenComplete((v, e) -> {
            long took = System.nanoTime() - started;
            if (v instanceof ByteBuf b) {
                b.release();
            }
            if (e != null) {
                failure = e;
                stop = true;
                outstanding.decrementAndGet();
                return;
            }
            latency.recordValue(took);
            completed.incrementAndGet();
            outstanding.decrementAndGet();
            int[] depth = DEPTH.get();
            if (depth[0] >= MAX_INLINE_DEPTH) {
                CompletableFuture.runAsync(this::issue); // an inline completion chain: break it
                return;
            }
            depth[0]++;
            try {
                issue();
            } finally {
                depth[0]--;
            }
        });
    }
}
