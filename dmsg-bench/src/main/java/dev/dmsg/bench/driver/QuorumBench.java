package dev.dmsg.bench.driver;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dmsg.link.Link;
import dev.dmsg.services.node.Node;
import dev.dmsg.services.quorum.QuorumClient;
import dev.dmsg.wire.qrm.Batch;
import dev.dmsg.wire.qrm.Blob;
import dev.dmsg.wire.qrm.Op;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileStore;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code dmsg bench quorum}: commits of our quorum store (docs/QUORUM.md) beside etcd's, in one
 * sitting on the same machine and disk (docs/BENCHMARKS.md, "Quorum (issue 16)").
 *
 * <p>Ours: three member nodes, each a process of its own ({@code bench circuit-node --quorum}),
 * TLS, fully meshed; the client is a node in this JVM linked to every member, whose
 * {@link QuorumClient} talks to the leader over their link (a non-leader would forward). etcd:
 * three {@code etcd} processes ({@link EtcdAnchor}), the load sent to the leader. Both keep their
 * defaults for durability: an entry is acknowledged once it is fsynced at a quorum. Repetitions
 * alternate the systems' order (ours first in odd repetitions, etcd first in even ones), and each
 * figure is the median over the repetitions.
 */
@Command(name = "quorum", mixinStandardHelpOptions = true, sortOptions = false,
    description = {"Benchmarks the quorum store beside etcd (3 members each, on loopback, data on the same disk): "
        + "one-phase puts and two-phase commits with 1 and 64 clients, linearizable reads; ops/s and p50/p99 latency.",
        "etcd comes from Debian's etcd-server (scripts/install-etcd.sh); its load goes through its v3 HTTP/JSON gateway.",
        "Exit status: 0 when every figure was measured, 1 when a run failed, 2 for bad options or a cluster that did "
            + "not start."})
public final class QuorumBench implements Callable<Integer> {
    static final String GROUP = "bench";
    static final List<String> MEMBERS = List.of("m1", "m2", "m3");
    private static final ObjectMapper JSON = new ObjectMapper();

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

    /** One figure: a scenario with its clients, and each system's results over the repetitions. */
    record Figure(QuorumLoad.Kind kind, int clients, Map<String, List<QuorumLoad.Result>> results) {
        String name() {
            return kind.title + ", " + clients + " client" + (clients == 1 ? "" : "s");
        }
    }

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
        Path base = dir != null ? dir : Path.of(System.getProperty("java.io.tmpdir"));
        Files.createDirectories(base);
        Path work = Files.createTempDirectory(base, "dmsg-bench-quorum");
        byte[] value = new byte[valueBytes];
        for (int i = 0; i < value.length; i++) {
            value[i] = (byte) ('a' + i % 26);
        }
        List<Process> procs = Collections.synchronizedList(new ArrayList<>());
        List<AutoCloseable> closing = Collections.synchronizedList(new ArrayList<>());
        Thread killer = new Thread(() -> {
            procs.forEach(Process::destroyForcibly);
            closing.stream().filter(c -> c instanceof EtcdAnchor).forEach(c -> ((EtcdAnchor) c).kill());
        }, "bench-quorum-killer");
        Runtime.getRuntime().addShutdownHook(killer);
        long t0 = System.nanoTime();
        try {
            out.printf("dmsg bench quorum: %d cores, Java %s; data under %s (%s); values %d B, distinct keys; "
                + "%d x %.1f s (+%.1f s warm-up) per figure after %.1f s of warm-up per system, medians%n",
                Runtime.getRuntime().availableProcessors(), Runtime.version(), work, disk(work), valueBytes, reps, seconds,
                warmup, firstWarmup);
            // Both systems start at once (JVM and cluster start-up is most of a short run); each
            // is measured alone afterwards.
            Map<String, CompletableFuture<QuorumLoad.Target>> starting = new LinkedHashMap<>();
            for (String s : systems) {
                starting.put(s, CompletableFuture.supplyAsync(() -> {
                    try {
                        long s0 = System.nanoTime();
                        QuorumLoad.Target t = s.equals("ours") ? startOurs(work, value, procs, closing)
                            : startEtcd(work, value, closing);
                        System.err.printf("bench quorum: %s started in %.1f s%n", s, (System.nanoTime() - s0) / 1e9);
                        return t;
                    } catch (Exception e) {
                        throw new CompletionException(e);
                    }
                }));
            }
            Map<String, QuorumLoad.Target> targets = new LinkedHashMap<>();
            Map<String, List<Long>> pids = new LinkedHashMap<>();
            for (var e : starting.entrySet()) {
                try {
                    targets.put(e.getKey(), e.getValue().get(180, TimeUnit.SECONDS));
                } catch (Exception x) {
                    Throwable c = x.getCause() instanceof CompletionException ce && ce.getCause() != null ? ce.getCause()
                        : x.getCause() != null ? x.getCause() : x;
                    System.err.println("bench quorum: " + e.getKey() + " did not start: " + c.getMessage());
                    return 2;
                }
            }
            for (var e : targets.entrySet()) {
                pids.put(e.getKey(), e.getValue() instanceof EtcdAnchor a ? a.pids()
                    : procs.stream().map(Process::pid).toList()); // procs holds our members only
            }
            List<Figure> figures = figures();
            for (var e : targets.entrySet()) {
                if (scenarios.contains("read")) {
                    QuorumLoad.prefill(e.getValue(), readClients);
                }
                if (firstWarmup > 0) {
                    long each = (long) (firstWarmup * 1e9 / figures.size());
                    for (Figure f : figures) {
                        QuorumLoad.run(e.getValue(), f.kind, f.clients, "bench/w/" + e.getKey() + "/" + f.kind + f.clients,
                            0, each, List.of());
                    }
                }
            }
            boolean failed = false;
            for (int rep = 1; rep <= reps; rep++) {
                List<String> order = new ArrayList<>(targets.keySet());
                if (rep % 2 == 0) {
                    Collections.reverse(order);
                }
                for (String s : order) {
                    StringBuilder line = new StringBuilder(String.format("   rep %d %-4s:", rep, s));
                    for (Figure f : figures) {
                        QuorumLoad.Result r = QuorumLoad.run(targets.get(s), f.kind, f.clients,
                            "bench/" + rep + "/" + f.kind + f.clients, (long) (warmup * 1e9), (long) (seconds * 1e9),
                            pids.get(s));
                        f.results.computeIfAbsent(s, x -> new ArrayList<>()).add(r);
                        line.append(String.format(" %s/%d %.0f/s p50 %.2f ms, cpu %.2f+%.2f ms/op |", shortName(f.kind),
                            f.clients, r.opsPerSec(), r.p50Us() / 1e3, r.serverCpuMsPerOp(), r.clientCpuMsPerOp()));
                        if (r.errors() > 0) {
                            failed = true;
                            line.append(" ").append(r.errors()).append(" errors, first: ").append(r.firstError()).append(" |");
                        }
                    }
                    out.println(line);
                    out.flush();
                }
            }
            print(figures, new ArrayList<>(targets.keySet()));
            if (targets.get("etcd") instanceof EtcdAnchor e) {
                out.println("etcd, over the whole run: " + e.fsyncSummary());
            }
            out.printf("%nbench quorum took %.0f s%n", (System.nanoTime() - t0) / 1e9);
            return failed ? 1 : 0;
        } finally {
            long s0 = System.nanoTime();
            for (int i = closing.size() - 1; i >= 0; i--) {
                try {
                    closing.get(i).close();
                } catch (Exception e) {
                    // best effort at the end
                }
            }
            for (Process p : procs) {
                try {
                    p.getOutputStream().close(); // EOF on its stdin: it stops; all at once, then wait for each
                } catch (IOException e) {
                    // gone already
                }
            }
            long s1 = System.nanoTime();
            for (Process p : procs) {
                CircuitBench.stop(p);
            }
            System.err.printf("bench quorum: stopped in %.1f s (clients and etcd %.1f s, our members %.1f s)%n",
                (System.nanoTime() - s0) / 1e9, (s1 - s0) / 1e9, (System.nanoTime() - s1) / 1e9);
            try {
                Runtime.getRuntime().removeShutdownHook(killer);
            } catch (IllegalStateException e) {
                // shutting down
            }
            try (var files = Files.walk(work)) {
                files.sorted(Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
            }
        }
    }

    private List<Figure> figures() {
        List<Figure> fs = new ArrayList<>();
        for (String s : scenarios) {
            switch (s) {
                case "put" -> clients.forEach(c -> fs.add(new Figure(QuorumLoad.Kind.PUT, c, new LinkedHashMap<>())));
                case "2pc" -> clients.forEach(c -> fs.add(new Figure(QuorumLoad.Kind.TWO_PHASE, c, new LinkedHashMap<>())));
                default -> fs.add(new Figure(QuorumLoad.Kind.READ, readClients, new LinkedHashMap<>()));
            }
        }
        return fs;
    }

    private static String shortName(QuorumLoad.Kind k) {
        return switch (k) {
            case PUT -> "put";
            case TWO_PHASE -> "2pc";
            case READ -> "read";
        };
    }

    /** The file system under {@code p}: its type and device, to show it is a disk and not tmpfs. */
    static String disk(Path p) {
        try {
            FileStore s = Files.getFileStore(p);
            return s.type() + " on " + s.name();
        } catch (IOException e) {
            return "file system unknown";
        }
    }

    // ------------------------------------------------------------------------------------------
    // Ours

    /** Three members, fully meshed, and this JVM's client node linked to each; the target talks to the leader. */
    private QuorumLoad.Target startOurs(Path work, byte[] value, List<Process> procs, List<AutoCloseable> closing)
            throws Exception {
        Path d = work.resolve("dmsg");
        List<String> labels = new ArrayList<>(MEMBERS);
        labels.add("bench-client");
        CircuitBench.prepareMesh(d, labels);
        String spec = GROUP + "=" + String.join(",", MEMBERS);
        // Ports chosen first, so that the three start together, each linking to those before it
        // (a link is retried until its far end listens): JVM start-up is most of a short run.
        List<Integer> ports = EtcdAnchor.freePorts(MEMBERS.size());
        List<CompletableFuture<Integer>> started = new ArrayList<>();
        for (int i = 0; i < MEMBERS.size(); i++) {
            String m = MEMBERS.get(i);
            List<String> extra = new ArrayList<>(List.of("--quorum", spec, "--port", Integer.toString(ports.get(i))));
            for (int j = 0; j < i; j++) {
                extra.addAll(List.of("--connect", "127.0.0.1:" + ports.get(j)));
            }
            List<String> opts = memberJvmOpts.stream().map(o -> o.replace("{label}", m)).toList();
            started.add(CompletableFuture.supplyAsync(() -> {
                try {
                    return CircuitBench.start(procs, d, m, null, opts, 0, extra);
                } catch (Exception e) {
                    throw new CompletionException(e);
                }
            }));
        }
        for (CompletableFuture<Integer> f : started) {
            f.get(90, TimeUnit.SECONDS);
        }
        Node client = Node.start(Node.Settings.builder("127.0.0.1", 0, d.resolve("bench-client"),
            Node.Identity.of("bench-client", "bench")).build());
        closing.add(client);
        for (int p : ports) {
            client.shell().execute("span 127.0.0.1:" + p);
        }
        String leader = awaitLeader(client);
        QuorumClient q = new QuorumClient(client.mesh(), () -> onlyTo(client, leader), GROUP, QuorumClient.DEFAULT_WAIT);
        closing.add(q);
        out.printf("ours: 3 member processes (TLS, fully meshed, group %s), leader %s; the client node links to each "
            + "and sends to the leader; Raft log fsynced before every acknowledgement (Ratis defaults)%n", GROUP, leader);
        return (kind, key) -> ours(q, kind, key, value);
    }

    private static List<Link> onlyTo(Node client, String label) {
        return client.endpoint().links().stream().filter(l -> label.equals(l.peerLabel())).toList();
    }

    private static CompletableFuture<?> ours(QuorumClient q, QuorumLoad.Kind kind, String key, byte[] value) {
        return switch (kind) {
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

    /** The group's leader as a member reports it, once there is one (at most 60 s). */
    private static String awaitLeader(Node client) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        Exception last = null;
        try (QuorumClient probe = new QuorumClient(client.mesh(), () -> client.endpoint().links(), GROUP,
                Duration.ofSeconds(5))) {
            while (System.nanoTime() < deadline) {
                try {
                    String leader = JSON.readTree(probe.admin("{\"op\":\"status\"}").get(10, TimeUnit.SECONDS))
                        .path("leader").asText("");
                    if (MEMBERS.contains(leader) && !onlyTo(client, leader).isEmpty()) {
                        return leader;
                    }
                } catch (Exception e) {
                    last = e;
                }
                TimeUnit.MILLISECONDS.sleep(200); // waiting for the election, bounded
            }
        }
        throw new IOException("our group elected no leader within 60 s", last);
    }

    private QuorumLoad.Target startEtcd(Path work, byte[] value, List<AutoCloseable> closing) throws Exception {
        Path d = work.resolve("etcd");
        Files.createDirectories(d);
        EtcdAnchor e = EtcdAnchor.start(etcd, d, value, out);
        closing.add(e);
        return e;
    }

    // ------------------------------------------------------------------------------------------
    // The table

    private void print(List<Figure> figures, List<String> names) {
        out.println();
        StringBuilder head = new StringBuilder("| figure |");
        StringBuilder rule = new StringBuilder("|---|");
        for (String n : names) {
            head.append(" ").append(n).append(" ops/s | ").append(n).append(" p50 / p99 (ms) | ").append(n)
                .append(" CPU ms/op, servers + client |");
            rule.append("---|---|---|");
        }
        if (names.size() == 2) {
            head.append(" ").append(names.get(0)).append(" ÷ ").append(names.get(1)).append(": ops/s, p50 |");
            rule.append("---|");
        }
        out.println(head);
        out.println(rule);
        for (Figure f : figures) {
            StringBuilder row = new StringBuilder("| " + f.name() + " |");
            List<double[]> meds = new ArrayList<>();
            for (String n : names) {
                List<QuorumLoad.Result> rs = f.results.getOrDefault(n, List.of());
                double ops = Report.median(rs.stream().map(QuorumLoad.Result::opsPerSec).toList());
                double p50 = Report.median(rs.stream().map(QuorumLoad.Result::p50Us).toList()) / 1e3;
                double p99 = Report.median(rs.stream().map(QuorumLoad.Result::p99Us).toList()) / 1e3;
                double cs = Report.median(rs.stream().map(QuorumLoad.Result::serverCpuMsPerOp).toList());
                double cc = Report.median(rs.stream().map(QuorumLoad.Result::clientCpuMsPerOp).toList());
                meds.add(new double[] {ops, p50});
                row.append(String.format(" %.0f | %.2f / %.2f | %.2f + %.2f |", ops, p50, p99, cs, cc));
            }
            if (names.size() == 2) {
                row.append(String.format(" %.2f, %.2f |", meds.get(0)[0] / meds.get(1)[0], meds.get(0)[1] / meds.get(1)[1]));
            }
            out.println(row);
        }
        out.println();
        for (String n : names) {
            for (int c : clients) {
                Figure one = find(figures, QuorumLoad.Kind.PUT, c);
                Figure two = find(figures, QuorumLoad.Kind.TWO_PHASE, c);
                if (one == null || two == null) {
                    continue;
                }
                double r1 = Report.median(one.results.get(n).stream().map(QuorumLoad.Result::opsPerSec).toList());
                double r2 = Report.median(two.results.get(n).stream().map(QuorumLoad.Result::opsPerSec).toList());
                double l1 = Report.median(one.results.get(n).stream().map(QuorumLoad.Result::p50Us).toList());
                double l2 = Report.median(two.results.get(n).stream().map(QuorumLoad.Result::p50Us).toList());
                out.printf("%s: two-phase over one-phase, %d client%s: throughput x%.2f, p50 x%.2f%n", n, c,
                    c == 1 ? "" : "s", r2 / r1, l2 / l1);
            }
        }
        out.println();
        for (Figure f : figures) {
            for (String n : names) {
                out.printf("%s, %s: reps %s ops/s; p50 %s ms%n", f.name(), n,
                    Report.list(f.results.get(n).stream().map(QuorumLoad.Result::opsPerSec).toList(),
                        x -> String.format("%.0f", x)),
                    Report.list(f.results.get(n).stream().map(QuorumLoad.Result::p50Us).toList(),
                        x -> String.format("%.2f", x / 1e3)));
            }
        }
    }

    private static Figure find(List<Figure> fs, QuorumLoad.Kind k, int clients) {
        return fs.stream().filter(f -> f.kind == k && f.clients == clients).findFirst().orElse(null);
    }
}
