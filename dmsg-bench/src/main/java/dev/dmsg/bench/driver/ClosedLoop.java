package dev.dmsg.bench.driver;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.HdrHistogram.Histogram;

/**
 * The closed-loop load of {@code bench quorum} and {@code bench lock} (docs/BENCHMARKS.md):
 * {@code clients} independent clients, each with one step in flight, the next started when the
 * previous one is done. A step says which part of it was timed ({@link Timed}): the whole of a
 * put, or only the acquire-to-grant part of a lock's acquire and release.
 *
 * <p>Concurrency: a client is a chain of futures, never a thread; its histogram and counters are
 * touched only by the completion of its own previous step (each step happens-before the next
 * through the future), and read by {@link #run} after every chain has ended.
 */
final class ClosedLoop {
    /** The timed part of a step, in {@link System#nanoTime()}. */
    record Timed(long startNanos, long endNanos) {
        /** From {@code startNanos} to now. */
        static Timed since(long startNanos) {
            return new Timed(startNanos, System.nanoTime());
        }
    }

    /** One step of client {@code client} (its {@code seq}-th); a refusal fails the future. */
    interface Step {
        CompletableFuture<Timed> next(int client, long seq);
    }

    /**
     * Steps whose timed part lay inside the measured window, per second; latency in microseconds;
     * CPU time per step over the window, of the servers' processes and of this JVM (the clients),
     * in milliseconds (NaN where /proc cannot tell).
     */
    record Result(double opsPerSec, double p50Us, double p99Us, long ops, long errors, String firstError,
                  double serverCpuMsPerOp, double clientCpuMsPerOp) {}

    private ClosedLoop() {
    }

    /**
     * Runs {@code clients} clients for {@code warmupNanos} unmeasured then {@code measureNanos}
     * measured; a step counts when its timed part started and ended inside the measured window.
     * Waits for the last steps (at most 30 s) before returning.
     */
    static Result run(Step step, String what, int clients, long warmupNanos, long measureNanos, List<Long> serverPids)
            throws Exception {
        long start = System.nanoTime();
        long from = start + warmupNanos;
        long until = from + measureNanos;
        List<Client> cs = new ArrayList<>();
        CountDownLatch done = new CountDownLatch(clients);
        for (int i = 0; i < clients; i++) {
            Client c = new Client(step, i, from, until, done);
            cs.add(c);
            c.next();
        }
        long self = ProcessHandle.current().pid();
        sleepUntil(from);
        long server0 = ticks(serverPids);
        long client0 = ProcCpu.ticks(self);
        sleepUntil(until);
        long server1 = ticks(serverPids);
        long client1 = ProcCpu.ticks(self);
        if (!done.await(measureNanos + warmupNanos + TimeUnit.SECONDS.toNanos(30), TimeUnit.NANOSECONDS)) {
            throw new IllegalStateException(what + ": " + done.getCount() + " of " + clients
                + " clients still waiting 30 s after the window");
        }
        Histogram all = new Histogram(3);
        long errors = 0;
        String first = null;
        for (Client c : cs) {
            all.add(c.latency);
            errors += c.errors;
            if (first == null && c.firstError.get() != null) {
                first = c.firstError.get();
            }
        }
        double seconds = measureNanos / 1e9;
        long n = Math.max(1, all.getTotalCount());
        double perTick = 1e3 / ProcCpu.TICKS_PER_SECOND;
        return new Result(all.getTotalCount() / seconds, all.getValueAtPercentile(50) / 1e3,
            all.getValueAtPercentile(99) / 1e3, all.getTotalCount(), errors, first,
            server0 < 0 || server1 < 0 ? Double.NaN : (server1 - server0) * perTick / n,
            client0 < 0 || client1 < 0 ? Double.NaN : (client1 - client0) * perTick / n);
    }

    private static void sleepUntil(long nanoTime) throws InterruptedException {
        long left = nanoTime - System.nanoTime();
        if (left > 0) {
            TimeUnit.NANOSECONDS.sleep(left); // the window's edge: only to read the CPU counters
        }
    }

    /** The CPU ticks of {@code pids} together, or -1 if any cannot be read. */
    private static long ticks(List<Long> pids) {
        long sum = 0;
        for (long p : pids) {
            long t = ProcCpu.ticks(p);
            if (t < 0) {
                return -1;
            }
            sum += t;
        }
        return sum;
    }

    private static final class Client {
        private final Step step;
        private final int index;
        private final long from;
        private final long until;
        private final CountDownLatch done;
        final Histogram latency = new Histogram(3);
        final AtomicReference<String> firstError = new AtomicReference<>();
        long errors;
        private long seq;

        Client(Step step, int index, long from, long until, CountDownLatch done) {
            this.step = step;
            this.index = index;
            this.from = from;
            this.until = until;
            this.done = done;
        }

        /**
         * Starts the next step, or ends the chain once the window is over. A synchronous
         * completion would recurse: loop while the answer is already there.
         */
        void next() {
            while (true) {
                if (System.nanoTime() >= until) {
                    done.countDown();
                    return;
                }
                CompletableFuture<Timed> f;
                try {
                    f = step.next(index, seq++);
                } catch (RuntimeException e) {
                    f = CompletableFuture.failedFuture(e);
                }
                if (!f.isDone()) {
                    f.whenComplete((t, e) -> {
                        record(t, e);
                        next();
                    });
                    return;
                }
                Timed t = null;
                Throwable e = null;
                try {
                    t = f.join();
                } catch (RuntimeException x) {
                    e = x;
                }
                record(t, e);
            }
        }

        private void record(Timed t, Throwable e) {
            if (e != null) {
                errors++;
                firstError.compareAndSet(null, String.valueOf(e.getCause() != null ? e.getCause() : e));
            } else if (t.startNanos() >= from && t.endNanos() <= until) {
                latency.recordValue(t.endNanos() - t.startNanos());
            }
        }
    }
}
