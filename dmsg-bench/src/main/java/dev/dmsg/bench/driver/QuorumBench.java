package dev.dmsg.bench.driver;

import dev.dmsg.services.quorum.QuorumClient;
import dev.dmsg.wire.qrm.Batch;
import dev.dmsg.wire.qrm.Blob;
import dev.dmsg.wire.qrm.Op;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code dmsg bench quorum}: commits of our quorum store (docs/QUORUM.md) beside etcd's, in one
 * sitting on the same machine and disk (docs/BENCHMARKS.md, "Quorum (issue 16)").
 *
 * <p>Ours: three member nodes, each a process of its own ({@code bench circuit-node --quorum}),
 * TLS, fully meshed; the client is a node in this JVM linked to every member, whose
 * {@link QuorumClient} talks to the leader over their link (a non-leader would forward). etcd:
 * three {@code etcd} processes ({@link EtcdAnchor}), the load sent to the leader. {@link
 * BenchClusters} starts and stops both. Both keep their defaults for durability: an entry is
 * acknowledged once it is fsynced at a quorum. Repetitions alternate the systems' order (ours first
 * in odd repetitions, etcd first in even ones), and each figure is the median over the repetitions
 * ({@link Comparison}).
 */
@Command(name = "quorum", mixinStandardHelpOptions = true, sortOptions = false,
    description = {"Benchmarks the quorum store beside etcd (3 members each, on loopback, data on the same disk): "
        + "one-phase puts and two-phase commits with 1 and 64 clients, linearizable reads; ops/s and p50/p99 latency.",
        "etcd comes from Debian's etcd-server (scripts/install-etcd.sh); its load goes through its v3 HTTP/JSON gateway.",
        "Exit status: 0 when every figure was measured, 1 when a run failed, 2 for bad options or a cluster that did "
            + "not start."})
public final class QuorumBench implements Callable<Integer> {
    @Option(names = "--systems", split = ",", defaultValue = "ours,etcd", paramLabel = "ours|etcd",
        description = "what to measure, alternating in each repetition (default: ${DEFAULT-VALUE})")
    List<String> systems;

    @Option(names = "--scenarios", split = ",", defaultValue = "put,2pc,read", paramLabel = "put|2pc|read",
        description = "put: one-phase puts; 2pc: two-phase commits (ours: prepare then commit; etcd, which has no "
            + "two-phase commit: a txn whose compare guards the put); read: linearizable reads of one key per client "
            + "(default: ${DEFAULT-VALUE})")
    List<String> scenarios;

    @Option(names = "--clients", split = ",", defaultValue = "1,64", paramLabel = "N",
        description = "concurrent clients for put and 2pc, each with one operation in flight (default: ${DEFAULT-VALUE})")
    List<Integer> clients;

    @Option(names = "--read-clients", defaultValue = "64", paramLabel = "N",
        description = "concurrent clients for read (default: ${DEFAULT-VALUE})")
    int readClients;

    @Option(names = "--value-bytes", defaultValue = "256", paramLabel = "BYTES",
        description = "size of every value written; every write goes to a key of its own (default: ${DEFAULT-VALUE})")
    int valueBytes;

    @Option(names = "--seconds", defaultValue = "5", description = "measured seconds per figure and repetition "
        + "(default: ${DEFAULT-VALUE})")
    double seconds;

    @Option(names = "--warmup", defaultValue = "2", description = "unmeasured seconds of the same load before each "
        + "figure (default: ${DEFAULT-VALUE})")
    double warmup;

    @Option(names = "--first-warmup", defaultValue = "30", description = "unmeasured seconds of every scenario before a "
        + "system's first repetition: JVMs are cold until then (default: ${DEFAULT-VALUE})")
    double firstWarmup;

    @Option(names = "--reps", defaultValue = "3", description = "repetitions; medians are reported (default: ${DEFAULT-VALUE})")
    int reps;

    @Option(names = "--dir", paramLabel = "DIR", description = "where both systems' data directories go (a new "
        + "directory under it, removed at the end); keep it on a real disk, not tmpfs: fsync is part of what is "
        + "measured (default: java.io.tmpdir, ${sys:java.io.tmpdir})")
    Path dir;

    @Option(names = "--etcd", paramLabel = "PATH", defaultValue = "etcd",
        description = "the etcd binary (default: ${DEFAULT-VALUE}, from PATH; scripts/install-etcd.sh installs it)")
    String etcd;

    @Option(names = "--member-jvm-opt", paramLabel = "OPT",
        description = "an extra JVM option for our member processes (repeatable); {label} in it becomes the member's "
            + "label (m1, m2, m3), e.g. -XX:StartFlightRecording=filename=/tmp/{label}.jfr,settings=profile")
    List<String> memberJvmOpts = new ArrayList<>();

    private final PrintStream out = System.out;

    @Override
    public Integer call() throws Exception {
        if (reps < 1 || seconds <= 0 || warmup < 0 || firstWarmup < 0 || valueBytes < 0 || valueBytes > 64_448
                || systems.isEmpty() || !List.of("ours", "etcd").containsAll(systems) || scenarios.isEmpty()
                || !List.of("put", "2pc", "read").containsAll(scenarios) || clients.isEmpty()
                || clients.stream().anyMatch(c -> c < 1 || c > 64) || readClients < 1 || readClients > 256) {
            System.err.println("bench quorum: --reps >= 1, --seconds > 0, --warmup/--first-warmup >= 0, --value-bytes "
                + "0..64448, --systems of ours,etcd, --scenarios of put,2pc,read, --clients each 1..64 (our budget: 64 "
                + "prepared batches per originator, docs/QUORUM.md §6), --read-clients 1..256");
            return 2;
        }
        if (systems.contains("etcd") && EtcdAnchor.version(etcd) == null) {
            System.err.println("bench quorum: no etcd ('" + etcd + "' does not run); install it with "
                + "scripts/install-etcd.sh (as root), or measure ours alone with --systems ours");
            return 2;
        }
        BenchCommand.quietLogs();
        byte[] value = new byte[valueBytes];
        for (int i = 0; i < value.length; i++) {
            value[i] = (byte) ('a' + i % 26);
        }
        long t0 = System.nanoTime();
        try (BenchClusters clusters = new BenchClusters("bench quorum", dir, out)) {
            out.printf("dmsg bench quorum: %d cores, Java %s; data under %s (%s); values %d B, distinct keys; "
                + "%d x %.1f s (+%.1f s warm-up) per figure after %.1f s of warm-up per system, medians%n",
                Runtime.getRuntime().availableProcessors(), Runtime.version(), clusters.work(), clusters.disk(), valueBytes,
                reps, seconds, warmup, firstWarmup);
            if (!clusters.start(systems, etcd, memberJvmOpts)) {
                return 2;
            }
            Map<String, QuorumLoad.Target> targets = new LinkedHashMap<>();
            for (String s : systems) {
                targets.put(s, s.equals("ours") ? ours(clusters, value) : clusters.etcd().kv(value));
            }
            Comparison.Load<QuorumLoad.Kind> load = (s, f, tag, warmupNanos, measureNanos) ->
                QuorumLoad.run(targets.get(s), f.kind(), f.clients(), tag, warmupNanos, measureNanos, clusters.pids(s));
            List<Comparison.Figure<QuorumLoad.Kind>> figures = figures();
            for (String s : systems) {
                if (scenarios.contains("read")) {
                    QuorumLoad.prefill(targets.get(s), readClients);
                }
                Comparison.warmUp(s, figures, load, firstWarmup);
            }
            boolean ok = Comparison.repeat(reps, systems, figures, load, warmup, seconds, out);
            print(figures, systems);
            if (clusters.etcd() != null) {
                out.println("etcd, over the whole run: " + clusters.etcd().fsyncSummary());
            }
            out.printf("%nbench quorum took %.0f s%n", (System.nanoTime() - t0) / 1e9);
            return ok ? 0 : 1;
        }
    }

    private List<Comparison.Figure<QuorumLoad.Kind>> figures() {
        List<Comparison.Figure<QuorumLoad.Kind>> fs = new ArrayList<>();
        for (String s : scenarios) {
            switch (s) {
                case "put" -> clients.forEach(c -> fs.add(figure(QuorumLoad.Kind.PUT, c, "put")));
                case "2pc" -> clients.forEach(c -> fs.add(figure(QuorumLoad.Kind.TWO_PHASE, c, "2pc")));
                default -> fs.add(figure(QuorumLoad.Kind.READ, readClients, "read"));
            }
        }
        return fs;
    }

    private static Comparison.Figure<QuorumLoad.Kind> figure(QuorumLoad.Kind k, int clients, String shortName) {
        return new Comparison.Figure<>(k, clients, Comparison.clients(k.title, clients), shortName);
    }

    /** Our store: a {@link QuorumClient} that sends to the leader over the client node's link to it. */
    private static QuorumLoad.Target ours(BenchClusters clusters, byte[] value) {
        BenchClusters.Ours o = clusters.ours();
        QuorumClient q = clusters.closing(new QuorumClient(o.client().mesh(), o::toLeader, BenchClusters.GROUP,
            QuorumClient.DEFAULT_WAIT));
        return (kind, key) -> switch (kind) {
            case PUT -> q.commit(Batch.of(Op.put(Blob.utf8(key), Blob.of(value))));
            case TWO_PHASE -> q.prepare(Batch.of(Op.put(Blob.utf8(key), Blob.of(value))), null)
                .thenCompose(p -> p.commit());
            case READ -> q.get(key).thenApply(v -> {
                if (v == null) {
                    throw new IllegalStateException("read found no key " + key);
                }
                return v;
            });
        };
    }

    /** The table, the cost of two phases over one per system, and every repetition. */
    private void print(List<Comparison.Figure<QuorumLoad.Kind>> figures, List<String> names) {
        Comparison.table(figures, names, "ops/s", out);
        out.println();
        for (String n : names) {
            for (int c : clients) {
                Comparison.Figure<QuorumLoad.Kind> one = find(figures, QuorumLoad.Kind.PUT, c);
                Comparison.Figure<QuorumLoad.Kind> two = find(figures, QuorumLoad.Kind.TWO_PHASE, c);
                if (one == null || two == null) {
                    continue;
                }
                out.printf("%s: two-phase over one-phase, %d client%s: throughput x%.2f, p50 x%.2f%n", n, c,
                    c == 1 ? "" : "s",
                    Comparison.median(two.of(n), ClosedLoop.Result::opsPerSec)
                        / Comparison.median(one.of(n), ClosedLoop.Result::opsPerSec),
                    Comparison.median(two.of(n), ClosedLoop.Result::p50Us)
                        / Comparison.median(one.of(n), ClosedLoop.Result::p50Us));
            }
        }
        out.println();
        Comparison.repetitions(figures, names, "ops/s", out);
    }

    private static Comparison.Figure<QuorumLoad.Kind> find(List<Comparison.Figure<QuorumLoad.Kind>> fs,
                                                           QuorumLoad.Kind k, int clients) {
        return fs.stream().filter(f -> f.kind() == k && f.clients() == clients).findFirst().orElse(null);
    }
}
