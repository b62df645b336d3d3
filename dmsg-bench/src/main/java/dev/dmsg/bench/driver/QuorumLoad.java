package dev.dmsg.bench.driver;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.HdrHistogram.Histogram;

/**
 * The closed-loop load of {@code bench quorum} (docs/BENCHMARKS.md, "Quorum (issue 16)"): {@code
 * clients} independent clients, each with one operation in flight, the next sent when the previous
 * one is answered. The same loop drives our store and etcd, each behind a {@link Target}.
 *
 * <p>Concurrency: a client is a chain of futures, never a thread; its histogram and counters are
 * touched only by the completion of its own previous operation (each step happens-before the next
 * through the future), and read by {@link #run} after every chain has ended.
 */
final class QuorumLoad {
    /** What is measured: one operation of {@code kind} on {@code key}; a refusal fails the future. */
    interface Target {
        CompletableFuture<?> op(Kind kind, String key);
    }

    /** The key client {@code client} reads: written once by {@link #prefill} before the reads. */
    static String readKey(int client) {
        return "bench/read/" + client;
    }

    /** Writes every client's read key ({@code clients} of them), one at a time. */
    static void prefill(Target target, int clients) throws Exception {
        for (int i = 0; i < clients; i++) {
            target.op(Kind.PUT, readKey(i)).get(30, TimeUnit.SECONDS);
        }
    }

    enum Kind {
        PUT("one-phase put"), TWO_PHASE("two-phase commit"), READ("linearizable read");

        final String title;

        Kind(String title) {
            this.title = title;
        }
    }

    /**
     * Operations answered inside the measured window, per second; latency in microseconds; CPU time
     * per operation over the window, of the servers' processes and of this JVM (the clients), in
     * milliseconds (NaN where /proc cannot tell).
     */
    record Result(double opsPerSec, double p50Us, double p99Us, long ops, long errors, String firstError,
                  double serverCpuMsPerOp, double clientCpuMsPerOp) {}

    private QuorumLoad() {
    }

    /**
     * Runs {@code clients} clients for {@code warmupNanos} unmeasured then {@code measureNanos}
     * measured; an operation counts when it was sent and answered inside the measured window.
     * Writes go to distinct keys, {@code tag/CLIENT/SEQ}; reads to {@link #readKey}. Waits for the
     * last operations (at most 30 s) before returning.
     */
    static Result run(Target target, Kind kind, int clients, String tag, long warmupNanos, long measureNanos,
                      List<Long> serverPids) throws Exception {
        long start = System.nanoTime();
        long from = start + warmupNanos;
        long until = from + measureNanos;
        List<Client> cs = new ArrayList<>();
        CountDownLatch done = new CountDownLatch(clients);
        for (int i = 0; i < clients; i++) {
            Client c = new Client(target, kind, kind == Kind.READ ? null : tag + "/" + i + "/", readKey(i), from, until, done);
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
            throw new IllegalStateException(kind.title + ": " + done.getCount() + " of " + clients
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
        private final Target target;
        private final Kind kind;
        private final String writePrefix;
        private final String readKey;
        private final long from;
        private final long until;
        private final CountDownLatch done;
        final Histogram latency = new Histogram(3);
        final AtomicReference<String> firstError = new AtomicReference<>();
        long errors;
        private long seq;

        Client(Target target, Kind kind, String writePrefix, String readKey, long from, long until, CountDownLatch done) {
            this.target = target;
            this.kind = kind;
            this.writePrefix = writePrefix;
            this.readKey = readKey;
            this.from = from;
            this.until = until;
            this.done = done;
        }

        /**
         * Sends the next operation, or ends the chain once the window is over. A synchronous
         * completion would recurse: loop while the answer is already there.
         */
        void next() {
            while (true) {
                long t0 = System.nanoTime();
                if (t0 >= until) {
                    done.countDown();
                    return;
                }
                CompletableFuture<?> f;
                try {
                    f = target.op(kind, writePrefix == null ? readKey : writePrefix + seq++);
                } catch (RuntimeException e) {
                    f = CompletableFuture.failedFuture(e);
                }
                if (!f.isDone()) {
                    f.whenComplete((v, e) -> {
                        record(t0, e);
                        next();
                    });
                    return;
                }
                Throwable e = null;
                try {
                    f.join();
                } catch (RuntimeException x) {
                    e = x;
                }
                record(t0, e);
            }
        }

        private void record(long t0, Throwable e) {
            long t1 = System.nanoTime();
            if (e != null) {
                errors++;
                firstError.compareAndSet(null, String.valueOf(e.getCause() != null ? e.getCause() : e));
            } else if (t0 >= from && t1 <= until) {
                latency.recordValue(t1 - t0);
            }
        }
    }
}
