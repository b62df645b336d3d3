package dev.dmsg.bench.driver;

import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.LongSupplier;
import org.HdrHistogram.Histogram;

/**
 * One connection to the bench server under test — a DMSG link ({@link DmsgSide}) or the raw-Netty
 * baseline ({@link RawSide}) — and the measurements every scenario makes on it, written once
 * here so that both are measured the same way.
 */
abstract class Side implements AutoCloseable {
    /** How a one-way flood is produced. */
    enum Producer {
        /** On the connection's event loop, in batches while writable, resumed when writable again. */
        LOOP,
        /** From a thread of our own, which the link blocks while its outbound side is full. */
        THREAD
    }

    /** The result of one one-way flood, as counted by the server. */
    record OneWay(long msgs, long auxBytes, long elapsedNanos, long handedAtStop, long stopNanos,
                  long drainNanos, List<MemorySampler.Peak> clientMemory, List<MemorySampler.Peak> serverMemory) {
        double msgsPerSecond() {
            return msgs * 1e9 / elapsedNanos;
        }

        double megabytesPerSecond() {
            return auxBytes * 1e3 / elapsedNanos;
        }

        /** What the producer handed over per second until it was told to stop. */
        double handedPerSecond() {
            return handedAtStop * 1e9 / stopNanos;
        }
    }

    /** A flood in progress: its fence (the server's stats, answered after every frame) and its count. */
    record Flood(CompletableFuture<String> fence, LongSupplier handed) {}

    /** An echo loop in progress on the I/O thread. */
    interface Echoer {
        /** Transactions (or echoes) completed so far. Any thread. */
        long completed();

        /** Start recording round trips into the histogram (after warm-up). */
        void record();

        /** Stop sending; completes with the histogram once nothing is in flight. */
        CompletableFuture<Histogram> stop();
    }

    final MemorySampler memory;

    Side(MemorySampler memory) {
        this.memory = memory;
    }

    abstract String name();

    /** Sends a control command to the server; the answer completes the future. */
    abstract CompletableFuture<String> control(String command);

    /**
     * Starts producing one-way frames with {@code auxBytes} of payload until {@code stop}, then
     * sends the {@code stats} control request behind them as a fence.
     */
    abstract Flood flood(int auxBytes, Producer producer, int batch, AtomicBoolean stop);

    /** Starts {@code inflight} echo transactions, each answered one replaced by a new one. */
    abstract Echoer echoer(int inflight);

    /**
     * A one-way flood of {@code nanos}: rate = messages the server counted / time from the first
     * send until the fence came back (so every counted message was delivered within the window).
     * The server busy-waits {@code spinNanos} per message. This JVM's memory maxima restart at the
     * start, as do the server's.
     */
    final OneWay oneWay(int auxBytes, Producer producer, int batch, long nanos, long spinNanos) throws Exception {
        control("reset spin=" + spinNanos).get(10, TimeUnit.SECONDS);
        AtomicBoolean stop = new AtomicBoolean();
        memory.reset();
        long t0 = System.nanoTime();
        Flood f = flood(auxBytes, producer, batch, stop);
        sleepNanos(nanos);
        stop.set(true);
        long tStop = System.nanoTime();
        long handed = f.handed().getAsLong();
        String stats = f.fence().get(60, TimeUnit.SECONDS);
        long t1 = System.nanoTime();
        List<MemorySampler.Peak> clientMemory = memory.perSecond();
        Map<String, String> s = BenchProtocol.parse(stats);
        return new OneWay(BenchProtocol.getLong(s, "msgs"), BenchProtocol.getLong(s, "bytes"), t1 - t0, handed,
            tStop - t0, t1 - tStop, clientMemory, MemorySampler.decode(s.get("memory")));
    }

    /** Completed echo transactions per second with {@code inflight} kept in flight. */
    final double pipelined(int inflight, long warmupNanos, long nanos) throws Exception {
        Echoer e = echoer(inflight);
        sleepNanos(warmupNanos);
        long c0 = e.completed();
        long t0 = System.nanoTime();
        sleepNanos(nanos);
        long c1 = e.completed();
        long t1 = System.nanoTime();
        e.stop().get(30, TimeUnit.SECONDS);
        return (c1 - c0) * 1e9 / (t1 - t0);
    }

    /** Round trips of one echo transaction at a time, in nanoseconds. */
    final Histogram roundTrips(long warmupNanos, long nanos) throws Exception {
        Echoer e = echoer(1);
        sleepNanos(warmupNanos);
        e.record();
        sleepNanos(nanos);
        return e.stop().get(30, TimeUnit.SECONDS);
    }

    static Histogram newHistogram() {
        return new Histogram(TimeUnit.SECONDS.toNanos(10), 3);
    }

    static void sleepNanos(long nanos) throws InterruptedException {
        TimeUnit.NANOSECONDS.sleep(nanos);
    }

    @Override
    public abstract void close();
}
