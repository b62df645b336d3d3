package dev.dmsg.bench.driver;

import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * The load of {@code bench quorum} (docs/BENCHMARKS.md, "Quorum (issue 16)"): {@code clients}
 * independent clients in a {@link ClosedLoop}, each with one operation in flight, the next sent
 * when the previous one is answered. The same loop drives our store and etcd, each behind a
 * {@link Target}.
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

    private QuorumLoad() {
    }

    /**
     * Runs {@code clients} clients for {@code warmupNanos} unmeasured then {@code measureNanos}
     * measured ({@link ClosedLoop}); an operation counts when it was sent and answered inside the
     * measured window. Writes go to distinct keys, {@code tag/CLIENT/SEQ}; reads to {@link #readKey}.
     */
    static ClosedLoop.Result run(Target target, Kind kind, int clients, String tag, long warmupNanos, long measureNanos,
                                 List<Long> serverPids) throws Exception {
        return ClosedLoop.run((client, seq) -> {
            long t0 = System.nanoTime();
            return target.op(kind, kind == Kind.READ ? readKey(client) : tag + "/" + client + "/" + seq)
                .thenApply(v -> ClosedLoop.Timed.since(t0));
        }, kind.title, clients, warmupNanos, measureNanos, serverPids);
    }
}
