package dev.dmsg.bench.driver;

import dev.dmsg.link.Link;
import dev.dmsg.link.tls.NodeKeys;
import dev.dmsg.link.tls.Role;
import dev.dmsg.link.tls.TlsConfig;
import dev.dmsg.link.tls.TrustStore;
import dev.dmsg.mesh.CircuitHandle;
import dev.dmsg.mesh.MeshConfig;
import dev.dmsg.mesh.NodeKey;
import dev.dmsg.quorum.GroupSpec;
import dev.dmsg.services.node.ExportSpec;
import dev.dmsg.services.node.Node;
import dev.dmsg.services.node.Security;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.HdrHistogram.Histogram;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code dmsg bench circuit}: transactions over circuits across 0, 1 and 3 relays, each relay and
 * the far end a node process of its own on loopback, beside the same scenarios on a plain link
 * (circuit 0) measured in the same run (docs/BENCHMARKS.md, "Circuits").
 *
 * <p>The far node and the relays form a line, {@code far <- r1 <- r2 <- r3}; for k relays this
 * JVM's client node links to {@code rk} (to {@code far} for 0), waits until the far node is at
 * dist k in its span tree, and opens a circuit to it. The far node serves DBG_ECHO and the bench
 * sink and control (the {@code dmsg bench} protocol) on every circuit ending there.
 */
@Command(name = "circuit", mixinStandardHelpOptions = true,
    description = {"Benchmarks circuits: round trips, pipelined transactions and 64 KiB throughput across 0, 1 and 3 "
        + "relays (node processes on loopback), beside a plain link in the same run."})
public final class CircuitBench implements Callable<Integer> {
    @Option(names = "--relays", split = ",", defaultValue = "0,1,3",
        description = "relay counts to measure (default: ${DEFAULT-VALUE})")
    List<Integer> relays;

    @Option(names = "--seconds", defaultValue = "2", description = "measured seconds per repetition (default: ${DEFAULT-VALUE})")
    double seconds;

    @Option(names = "--warmup", defaultValue = "1", description = "warm-up seconds before each repetition (default: ${DEFAULT-VALUE})")
    double warmup;

    @Option(names = "--first-warmup", defaultValue = "5",
        description = "seconds of every scenario, unmeasured, before a path's first repetition: the relay JVMs are "
            + "cold until then (default: ${DEFAULT-VALUE})")
    double firstWarmup;

    @Option(names = "--reps", defaultValue = "3", description = "repetitions; medians are reported (default: ${DEFAULT-VALUE})")
    int reps;

    @Option(names = "--scenarios", split = ",", defaultValue = "rtt,pipeline128,bulk64k",
        description = "what to measure, in this order within each repetition (default: ${DEFAULT-VALUE})")
    List<String> scenarios;

    @Option(names = "--relay-io-threads", paramLabel = "N", defaultValue = "0",
        description = "event loops of each relay node (dmsg node --io-threads); 0: the node's default, half the "
            + "cores (default: ${DEFAULT-VALUE})")
    int relayIoThreads;

    @Option(names = "--circuit-auth", defaultValue = "on", paramLabel = "on|off|both",
        description = "circuits authenticated end to end and sealed (docs/IDENTITY.md §4), not, or both in one run, "
            + "each on its own set of node processes (default: ${DEFAULT-VALUE})")
    String circuitAuth;

    @Option(names = "--opens", defaultValue = "50",
        description = "circuits opened and closed per path to time the open (default: ${DEFAULT-VALUE})")
    int opens;

    @Option(names = "--relay-jvm-opt", paramLabel = "OPT",
        description = "an extra JVM option for the relay processes (repeatable), e.g. -XX:StartFlightRecording=...")
    List<String> relayJvmOpts = new ArrayList<>();

    static final int INFLIGHT = 128;
    static final int BULK_AUX = 65536;
    static final int BATCH = 64;

    private final PrintStream out = System.out;

    /** One path's figures (medians over the repetitions); {@code openP50Ms}: forging (and authenticating) a circuit. */
    record Result(String path, int hops, double p50Us, double p99Us, double serialPerSec, double pipelinedPerSec,
                  double bulkMBps, List<Double> p50s, List<Double> pipes, List<Double> bulks, double openP50Ms,
                  double openP90Ms) {
        Result withOpen(double p50, double p90) {
            return new Result(path, hops, p50Us, p99Us, serialPerSec, pipelinedPerSec, bulkMBps, p50s, pipes, bulks,
                p50, p90);
        }
    }

    @Override
    public Integer call() throws Exception {
        if (reps < 1 || seconds <= 0 || warmup < 0 || firstWarmup < 0 || relays.isEmpty() || relays.stream().anyMatch(k -> k < 0 || k > 8)
                || scenarios.isEmpty() || !List.of("rtt", "pipeline128", "bulk64k").containsAll(scenarios)
                || !List.of("on", "off", "both").contains(circuitAuth) || opens < 1) {
            System.err.println("bench circuit: --reps >= 1, --seconds > 0, --warmup >= 0, --relays each 0..8, "
                + "--scenarios of rtt,pipeline128,bulk64k, --circuit-auth on|off|both, --opens >= 1");
            return 2;
        }
        BenchCommand.quietLogs();
        int maxRelays = relays.stream().max(Integer::compare).orElse(0);
        List<Process> procs = new ArrayList<>();
        Thread killer = new Thread(() -> procs.forEach(Process::destroyForcibly), "bench-circuit-killer");
        Runtime.getRuntime().addShutdownHook(killer);
        Path dir = Files.createTempDirectory("dmsg-bench-circuit");
        long t0 = System.nanoTime();
        try {
            int[] ports = new int[maxRelays + 1]; // 0: far, i: relay i
            List<String> labels = new ArrayList<>(List.of("far"));
            for (int i = 1; i <= maxRelays; i++) {
                labels.add("r" + i);
            }
            for (int k : relays) {
                labels.add("bench-client-" + k);
            }
            prepareMesh(dir, labels); // TLS (the default): every node's key, each trusting the others
            out.printf("dmsg bench circuit: %d cores, Java %s; far node + %d relay process(es) in a line on loopback "
                + "(relay event loops: %s); %d x %.1f s (+%.1f s warm-up) per figure after %.1f s of warm-up per path, "
                + "medians; circuit authentication: %s%n",
                Runtime.getRuntime().availableProcessors(), Runtime.version(), maxRelays,
                relayIoThreads == 0 ? "default " + Node.Settings.autoIoThreads() : Integer.toString(relayIoThreads), reps,
                seconds, warmup, firstWarmup, circuitAuth);
            List<Result> results = new ArrayList<>();
            for (boolean auth : circuitAuth.equals("both") ? List.of(true, false) : List.of(circuitAuth.equals("on"))) {
                List<Process> set = new ArrayList<>();
                List<String> flag = List.of("--circuit-auth", auth ? "on" : "off");
                ports[0] = start(set, dir, "far", null, List.of(), 0, flag);
                for (int i = 1; i <= maxRelays; i++) {
                    ports[i] = start(set, dir, "r" + i, ports[i - 1], relayJvmOpts, relayIoThreads, flag);
                }
                procs.addAll(set);
                for (int k : relays.stream().sorted().distinct().toList()) {
                    measure(dir, k, ports[k], results, auth);
                }
                for (Process p : set) {
                    stop(p);
                }
                procs.removeAll(set);
            }
            print(results);
            out.printf("%nbench circuit took %.0f s%n", (System.nanoTime() - t0) / 1e9);
            return 0;
        } finally {
            for (Process p : procs) {
                stop(p);
            }
            try {
                Runtime.getRuntime().removeShutdownHook(killer);
            } catch (IllegalStateException e) {
                // shutting down
            }
            try (var files = Files.walk(dir)) {
                files.sorted(Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
            }
        }
    }

    /** A client node linked to {@code entryPort}; circuit to the far node k relays away (and the link itself at k = 0). */
    private void measure(Path dir, int k, int entryPort, List<Result> results, boolean auth) throws Exception {
        try (Node client = Node.start(Node.Settings.builder("127.0.0.1", 0, dir.resolve("bench-client-" + k),
                Node.Identity.of("bench-client-" + k, "bench")).mesh(MeshConfig.defaults().withCircuitAuth(auth))
                .build())) {
            client.shell().execute("span 127.0.0.1:" + entryPort);
            NodeKey far = awaitFar(client, k);
            Link first = client.endpoint().links().get(0);
            MemorySampler memory = new MemorySampler();
            String mode = auth ? "" : ", no circuit auth";
            if (k == 0 && auth) {
                results.add(run("link (circuit 0)", 1, new DmsgSide(first, memory)));
            }
            CircuitHandle c = client.mesh().openCircuit(far).get(10, TimeUnit.SECONDS);
            Result r;
            try {
                r = run("circuit, " + k + " relay" + (k == 1 ? "" : "s") + mode + (c.sealed() ? ", sealed" : ""), k + 1,
                    new DmsgSide(c.link(), c.id(), memory));
            } finally {
                c.close();
            }
            // The open, timed after the scenarios (every JVM on the path warm): forging, and with
            // authentication the hellos, both signatures and the agreement (docs/IDENTITY.md §4).
            List<Double> openMs = new ArrayList<>();
            for (int i = 0; i < 2 * opens; i++) {
                long t0 = System.nanoTime();
                CircuitHandle o = client.mesh().openCircuit(far).get(10, TimeUnit.SECONDS);
                if (i >= opens) { // the first half warms the crypto code paths
                    openMs.add((System.nanoTime() - t0) / 1e6);
                }
                o.close();
                o.lostFuture().get(10, TimeUnit.SECONDS);
            }
            Collections.sort(openMs);
            double openP50 = openMs.get(openMs.size() / 2);
            double openP90 = openMs.get((int) (openMs.size() * 0.9));
            out.printf("   circuit open: p50 %.2f ms, p90 %.2f ms (%d opens after %d unmeasured)%n", openP50, openP90,
                openMs.size(), opens);
            results.add(r.withOpen(openP50, openP90));
        }
    }

    private Result run(String path, int hops, DmsgSide side) throws Exception {
        out.printf("-- %s (%d hop%s)%n", path, hops, hops == 1 ? "" : "s");
        List<Double> p50 = new ArrayList<>();
        List<Double> p99 = new ArrayList<>();
        List<Double> serial = new ArrayList<>();
        List<Double> pipe = new ArrayList<>();
        List<Double> bulk = new ArrayList<>();
        long w = (long) (warmup * 1e9);
        long n = (long) (seconds * 1e9);
        if (firstWarmup > 0) {
            long f = (long) (firstWarmup * 1e9 / scenarios.size());
            for (String s : scenarios) {
                switch (s) {
                    case "rtt" -> side.roundTrips(0, f);
                    case "pipeline128" -> side.pipelined(INFLIGHT, 0, f);
                    default -> side.oneWay(BULK_AUX, Side.Producer.LOOP, BATCH, f, 0);
                }
            }
        }
        for (int rep = 1; rep <= reps; rep++) {
            StringBuilder line = new StringBuilder("   rep " + rep + ":");
            for (String s : scenarios) {
                switch (s) {
                    case "rtt" -> {
                        Histogram h = side.roundTrips(w, n);
                        p50.add(h.getValueAtPercentile(50) / 1e3);
                        p99.add(h.getValueAtPercentile(99) / 1e3);
                        serial.add(h.getTotalCount() / seconds);
                        line.append(String.format(" rtt p50 %.1f p99 %.1f us (%d txns) |", h.getValueAtPercentile(50) / 1e3,
                            h.getValueAtPercentile(99) / 1e3, h.getTotalCount()));
                    }
                    case "pipeline128" -> {
                        pipe.add(side.pipelined(INFLIGHT, w, n));
                        line.append(" pipelined ").append(Report.rate(pipe.get(pipe.size() - 1))).append(" txn/s |");
                    }
                    default -> {
                        side.oneWay(BULK_AUX, Side.Producer.LOOP, BATCH, w, 0);
                        bulk.add(side.oneWay(BULK_AUX, Side.Producer.LOOP, BATCH, n, 0).megabytesPerSecond());
                        line.append(String.format(" 64 KiB %.0f MB/s |", bulk.get(bulk.size() - 1)));
                    }
                }
            }
            out.println(line);
            out.flush();
        }
        return new Result(path, hops, med(p50), med(p99), med(serial), med(pipe), med(bulk), p50, pipe, bulk, Double.NaN,
            Double.NaN);
    }

    private static double med(List<Double> xs) {
        return xs.isEmpty() ? Double.NaN : Report.median(xs);
    }

    private void print(List<Result> rs) {
        out.println();
        out.println("| path | hops | open p50 / p90 (ms) | RTT p50 / p99 (µs) | round trips/s, 1 in flight "
            + "| pipelined, 128 in flight (txn/s) | 64 KiB one-way (MB/s) |");
        out.println("|---|---|---|---|---|---|---|");
        for (Result r : rs) {
            out.printf("| %s | %d | %s | %.1f / %.1f | %s | %s | %.0f |%n", r.path, r.hops,
                Double.isNaN(r.openP50Ms) ? "-" : String.format("%.2f / %.2f", r.openP50Ms, r.openP90Ms), r.p50Us, r.p99Us,
                Report.rate(r.serialPerSec), Report.rate(r.pipelinedPerSec), r.bulkMBps);
        }
        List<Result> circuits = rs.stream().filter(r -> r.path.startsWith("circuit") && !r.path.contains("no circuit auth"))
            .toList();
        for (int i = 1; i < circuits.size(); i++) {
            Result a = circuits.get(i - 1);
            Result b = circuits.get(i);
            int added = b.hops - a.hops;
            out.printf("%scost per relay, %d -> %d relays: RTT p50 %+.1f µs per relay; pipelined x%.2f, 64 KiB x%.2f "
                + "per relay%n", i == 1 ? "\n" : "", a.hops - 1, b.hops - 1, (b.p50Us - a.p50Us) / added,
                Math.pow(b.pipelinedPerSec / a.pipelinedPerSec, 1.0 / added), Math.pow(b.bulkMBps / a.bulkMBps, 1.0 / added));
        }
        out.println();
        for (Result r : rs) {
            out.printf("%s: reps p50 %s us; pipelined %s; 64 KiB %s MB/s%n", r.path,
                Report.list(r.p50s, x -> String.format("%.1f", x)), Report.list(r.pipes, Report::rate),
                Report.list(r.bulks, x -> String.format("%.0f", x)));
        }
    }

    /** Waits until {@code client} sees the far node at dist {@code k}; returns its key. */
    private static NodeKey awaitFar(Node client, int k) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (System.nanoTime() < deadline) {
            for (var s : client.status().get("spans")) {
                if (s.get("fs_label").asText().equals("far") && s.get("dist").asInt() == k) {
                    return client.resolve("far");
                }
            }
            TimeUnit.MILLISECONDS.sleep(20); // waiting for the mesh to converge, bounded
        }
        throw new IllegalStateException("the far node did not appear at dist " + k + " within 30 s:\n"
            + client.status().toPrettyString());
    }

    // ------------------------------------------------------------------------------------------
    // The node processes

    /** Each node's data directory under {@code dir} with its key, trusting every other node as a member. */
    static void prepareMesh(Path dir, List<String> labels) throws IOException {
        List<NodeKeys> keys = new ArrayList<>();
        for (String l : labels) {
            keys.add(NodeKeys.loadOrCreate(dir.resolve(l), l));
        }
        for (int i = 0; i < labels.size(); i++) {
            TrustStore t = TrustStore.open(dir.resolve(labels.get(i)));
            for (int j = 0; j < labels.size(); j++) {
                if (i != j) {
                    t.add(labels.get(j), keys.get(j).fingerprint(), Role.MEMBER, 0);
                }
            }
        }
    }

    private static int start(List<Process> procs, Path dir, String label, Integer connectTo, List<String> jvmOpts,
                             int ioThreads) throws Exception {
        return start(procs, dir, label, connectTo, jvmOpts, ioThreads, List.of());
    }

    /**
     * Starts a {@code bench circuit-node} process ({@code extraArgs}: e.g. {@code --export}),
     * added to {@code procs}; returns its port once it says READY.
     */
    static int start(List<Process> procs, Path dir, String label, Integer connectTo, List<String> jvmOpts,
                     int ioThreads, List<String> extraArgs) throws Exception {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.add("-Dio.netty.allocator.type=pooled");
        cmd.addAll(BenchCommand.All.sharedJvmOptions());
        cmd.addAll(jvmOpts);
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(BenchMain.class.getName());
        cmd.addAll(List.of("circuit-node", "--label", label, "--io-threads", Integer.toString(ioThreads),
            "--data-dir", dir.resolve(label).toString()));
        if (connectTo != null) {
            cmd.addAll(List.of("--connect", "127.0.0.1:" + connectTo));
        }
        cmd.addAll(extraArgs);
        Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        procs.add(p);
        BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
        CompletableFuture<Integer> port = new CompletableFuture<>();
        Thread t = new Thread(() -> {
            try {
                String line;
                while ((line = r.readLine()) != null) {
                    if (!port.isDone() && line.startsWith("READY ")) {
                        port.complete(Integer.parseInt(BenchProtocol.parse(line.substring(6)).get("port")));
                    }
                }
                port.completeExceptionally(new IOException(label + " exited with status " + p.waitFor()));
            } catch (Exception e) {
                port.completeExceptionally(e);
            }
        }, "bench-" + label + "-stdout");
        t.setDaemon(true);
        t.start();
        return port.get(60, TimeUnit.SECONDS);
    }

    static void stop(Process p) {
        try {
            p.getOutputStream().close(); // EOF on its stdin: it stops
            if (!p.waitFor(5, TimeUnit.SECONDS)) {
                p.destroyForcibly();
            }
        } catch (IOException | InterruptedException e) {
            p.destroyForcibly();
        }
    }

    /**
     * {@code dmsg bench circuit-node}: a node serving the bench protocol, and the exports given
     * (as {@code dmsg node --export}, for {@code bench blk}); stops when stdin ends.
     */
    @Command(name = "circuit-node", hidden = true,
        description = "A node for 'bench circuit' (far end or relay), 'bench blk' (exporter or relay) and "
            + "'bench quorum' (a member).")
    static final class NodeProcess implements Callable<Integer> {
        @Option(names = "--label", required = true)
        String label;

        @Option(names = "--connect", paramLabel = "HOST:PORT", description = "link to this node (repeatable)")
        List<String> connect = new ArrayList<>();

        @Option(names = "--quorum", paramLabel = "NAME=A,B,C", description = "as dmsg node --quorum (for 'bench quorum')")
        List<String> quorums = new ArrayList<>();

        @Option(names = "--io-threads", defaultValue = "0")
        int ioThreads;

        @Option(names = "--port", defaultValue = "0", description = "port to listen on, 0 for any")
        int port;

        @Option(names = "--data-dir", required = true, description = "made by 'bench circuit': the key and trust store")
        Path dir;

        @Option(names = "--export", paramLabel = "NAME=PATH", description = "as dmsg node --export (repeatable)")
        List<String> exports = new ArrayList<>();

        @Option(names = "--tls-provider", defaultValue = "AUTO", description = "as dmsg node (default: ${DEFAULT-VALUE})")
        TlsConfig.Provider tlsProvider;

        @Option(names = "--plaintext", description = "no TLS (every node of the bench mesh must say so)")
        boolean plaintext;

        @Option(names = "--circuit-auth", defaultValue = "on", description = "on or off (off: to measure its cost)")
        String circuitAuth;

        @Override
        public Integer call() throws Exception {
            BenchCommand.quietLogs();
            Node.Settings s = Node.Settings.builder("127.0.0.1", port, dir, Node.Identity.of(label, "bench"))
                .mesh(MeshConfig.defaults().withCircuitAuth(!circuitAuth.equals("off"))).ioThreads(ioThreads)
                .exports(exports.stream().map(ExportSpec::parse).toList())
                .quorums(quorums.stream().map(GroupSpec::parse).toList()).build();
            Security security = plaintext ? Security.plaintextForTests()
                : new Security(true, tlsProvider, s.security().handshakeTimeout(), List.of());
            try (Node n = Node.start(s.withSecurity(security))) {
                new BenchServer().register(n.services());
                for (String c : connect) {
                    n.shell().execute("span " + c);
                }
                System.out.printf("READY port=%d pid=%d%n", n.address().getPort(), ProcessHandle.current().pid());
                System.out.flush();
                while (System.in.read() >= 0) {
                    // EOF is the signal to stop
                }
            }
            return 0;
        }
    }
}
