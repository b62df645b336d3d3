package dev.dmsg.cli.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dmsg.link.tls.TlsConfig;
import dev.dmsg.services.blk.BlkClient;
import dev.dmsg.services.blk.BlockDevice;
import dev.dmsg.services.blk.FileBlockDevice;
import dev.dmsg.services.blk.RemoteBlockDevice;
import dev.dmsg.services.nbd.NbdServer;
import dev.dmsg.services.node.GuestNode;
import java.io.File;
import java.io.IOException;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.Callable;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code dmsg bench blk}: block I/O through the NBD bridge and the BLK client beside nbdkit's
 * file plugin on the same tmpfs file, measured in the same run (docs/BENCHMARKS.md, "Block
 * devices").
 *
 * <p>Paths, each measured with the same jobs:
 * <ul>
 *   <li>{@code nbdkit}: fio's nbd engine against {@code nbdkit file FILE} (the baseline);
 *   <li>{@code nbd-local}: fio against our {@link NbdServer} over a {@link FileBlockDevice} in
 *       this JVM — the NBD server alone, no mesh (where the bridge's cost splits);
 *   <li>{@code bridgeK}: fio against the bridge — an {@link NbdServer} serving a
 *       {@link RemoteBlockDevice} opened through a {@link GuestNode} in this JVM, linked to the
 *       exporting node directly (K = 0) or through K relays; the NBD server runs on the guest's
 *       event loop ({@link GuestNode#eventLoops()}), so the bridge is one thread;
 *   <li>{@code bridgeK-own} (not by default): the same with the NBD server on an event loop of
 *       its own (NbdServer's default), a thread hand-off each way;
 *   <li>{@code javaK}: the same {@link RemoteBlockDevice} driven by {@link BlkLoad} at the same
 *       block size and queue depth, without the NBD hop;
 *   <li>{@code java-local} (not by default): {@link BlkLoad} on a local {@link FileBlockDevice}.
 * </ul>
 * The exporting node and the relays are node processes of their own ({@code bench circuit-node}
 * with {@code --export}: a {@code Node} with {@code dmsg node}'s defaults) in a line,
 * {@code exporter <- r1 <- r2}. Every repetition runs every job on every path in turn.
 */
@Command(name = "blk", mixinStandardHelpOptions = true,
    description = {"Benchmarks block I/O: fio through the NBD bridge (0 and 2 relays) and the Java BLK client, beside "
        + "nbdkit's file plugin on the same tmpfs file, in the same run."})
public final class BlkBench implements Callable<Integer> {
    @Option(names = "--size", defaultValue = "1G", description = "the test file's size: N, NK, NM or NG (default: ${DEFAULT-VALUE})")
    String size;

    @Option(names = "--dir", defaultValue = "/dev/shm",
        description = "where the test file goes; tmpfs: the page cache does not keep files here (default: ${DEFAULT-VALUE})")
    Path dir;

    @Option(names = "--reps", defaultValue = "3", description = "repetitions; medians are reported (default: ${DEFAULT-VALUE})")
    int reps;

    @Option(names = "--runtime", defaultValue = "10", description = "measured seconds per job (default: ${DEFAULT-VALUE})")
    double runtime;

    @Option(names = "--ramp", defaultValue = "2", description = "unmeasured seconds before each job's measurement (default: ${DEFAULT-VALUE})")
    double ramp;

    @Option(names = "--warmup", defaultValue = "2",
        description = "seconds of every job on every path but nbdkit, unmeasured, before the first repetition: the JVMs "
            + "are cold until then (default: ${DEFAULT-VALUE})")
    double warmup;

    @Option(names = "--jobs", split = ",", defaultValue = "rand4k-qd1,rand4k-qd32,seqread64k,seqwrite64k",
        description = "what to run: rand4k-qd1, rand4k-qd32, seqread64k, seqwrite64k, or any "
            + "(rand|randread|randwrite|seqread|seqwrite)Nk[-qdN] (default: ${DEFAULT-VALUE})")
    List<String> jobs;

    @Option(names = "--seq-qd", defaultValue = "8", description = "queue depth of the 64 KiB sequential jobs (default: ${DEFAULT-VALUE})")
    int seqQd;

    @Option(names = "--paths", split = ",", defaultValue = "nbdkit,nbd-local,bridge0,bridge2,java0,java2",
        description = "where to run them: nbdkit, nbd-local, bridgeK, javaK (K relays, 0..4), java-local "
            + "(default: ${DEFAULT-VALUE})")
    List<String> paths;

    @Option(names = "--tls", paramLabel = "AUTO|OPENSSL|JDK|OFF", defaultValue = "AUTO",
        description = "the mesh's TLS provider; AUTO is the nodes' default (BoringSSL where it loads); OFF: plaintext "
            + "links (default: ${DEFAULT-VALUE})")
    String tls;

    @Option(names = "--json", description = "print the results as JSON on stdout (progress goes to stderr)")
    boolean json;

    @Option(names = "--strict", description = "exit 3 when a target is missed")
    boolean strict;

    @Option(names = "--node-jvm-opt", paramLabel = "OPT",
        description = "an extra JVM option for the exporter and relay processes (repeatable), e.g. "
            + "-XX:StartFlightRecording=...")
    List<String> nodeJvmOpts = new ArrayList<>();

    /** The export's name on the exporting node, and that node's label. */
    static final String EXPORT = "bench";
    static final String EXPORTER = "exporter";

    /** One fio job (and the same load from {@link BlkLoad}). */
    record Job(String id, String title, String fioRw, int blockBytes, int queueDepth) {
        boolean random() {
            return fioRw.startsWith("rand");
        }

        boolean writes() {
            return fioRw.contains("write");
        }

        /** Sequential jobs are reported in MB/s, random ones in IOPS. */
        boolean throughput() {
            return !random();
        }

        String unit() {
            return throughput() ? "MB/s" : "IOPS";
        }
    }

    /** The targets for the bridge with 0 relays, as a fraction of nbdkit (the issue's). */
    static double target(String jobId) {
        return switch (jobId) {
            case "rand4k-qd1" -> 0.70;
            case "rand4k-qd32", "seqread64k", "seqwrite64k" -> 0.80;
            default -> Double.NaN; // a job for a closer look: no target
        };
    }

    /** One measurement of one job on one path. */
    record Sample(double iops, double megabytesPerSecond, double p50Micros, double p99Micros, Map<String, Double> cores) {
        double headline(Job j) {
            return j.throughput() ? megabytesPerSecond : iops;
        }
    }

    private PrintStream out;
    private PrintStream progress;
    private final ObjectMapper mapper = new ObjectMapper();

    @Override
    public Integer call() throws Exception {
        out = System.out;
        progress = json ? System.err : System.out;
        long sizeBytes;
        List<Job> jobList;
        List<String> pathList;
        try {
            sizeBytes = parseSize(size);
            jobList = jobs(jobs, seqQd);
            pathList = checkPaths(paths);
            tlsMode();
            if (reps < 1 || runtime <= 0 || ramp < 0 || warmup < 0 || seqQd < 1 || seqQd > 64 || sizeBytes < (1 << 20)
                    || sizeBytes % 65536 != 0) {
                throw new IllegalArgumentException("--reps >= 1, --runtime > 0, --ramp and --warmup >= 0, --seq-qd 1..64, "
                    + "--size >= 1M and a multiple of 64K");
            }
        } catch (IllegalArgumentException e) {
            System.err.println("bench blk: " + e.getMessage());
            return 2;
        }
        for (String tool : needs(pathList)) {
            if (!onPath(tool)) {
                System.err.println("bench blk: '" + tool + "' is not installed (scripts/install-nbd-tools.sh installs "
                    + "fio and nbdkit)");
                return 2;
            }
        }
        BenchCommand.quietLogs();
        long t0 = System.nanoTime();
        try (Setup s = new Setup(sizeBytes, pathList)) {
            try {
                s.start();
            } catch (Exception e) {
                System.err.println("bench blk: setup failed: " + e);
                e.printStackTrace(System.err);
                return 2;
            }
            Map<String, Map<String, List<Sample>>> results = new LinkedHashMap<>(); // job -> path -> reps
            for (Job j : jobList) {
                Map<String, List<Sample>> m = new LinkedHashMap<>();
                for (String p : pathList) {
                    m.put(p, new ArrayList<>());
                }
                results.put(j.id(), m);
            }
            int failures = 0;
            if (warmup > 0) {
                progress.printf("-- warm-up: %.1f s of every job on every path but nbdkit%n", warmup);
                for (Job j : jobList) {
                    for (String p : pathList) {
                        if (!p.equals("nbdkit")) {
                            try {
                                s.measure(p, j, 0, warmup);
                            } catch (Exception e) {
                                progress.printf("   warm-up of %s on %s failed: %s%n", j.id(), p, e);
                            }
                        }
                    }
                }
            }
            for (int rep = 1; rep <= reps; rep++) {
                for (Job j : jobList) {
                    StringBuilder line = new StringBuilder(Report.fmt("   rep %d %-12s", rep, j.id()));
                    for (String p : pathList) {
                        Sample x;
                        try {
                            x = s.measure(p, j, ramp, runtime);
                        } catch (Exception e) {
                            failures++;
                            progress.printf("   %s on %s failed: %s%n", j.id(), p, e);
                            x = new Sample(Double.NaN, Double.NaN, Double.NaN, Double.NaN, Map.of());
                        }
                        results.get(j.id()).get(p).add(x);
                        line.append(" | ").append(p).append(' ').append(headline(j, x.headline(j)));
                    }
                    progress.println(line);
                    progress.flush();
                }
            }
            double seconds = (System.nanoTime() - t0) / 1e9;
            boolean missed;
            if (json) {
                missed = printJson(s, jobList, pathList, results, seconds);
            } else {
                missed = printTable(s, jobList, pathList, results, seconds);
            }
            if (failures > 0) {
                return 1;
            }
            return strict && missed ? 3 : 0;
        }
    }

    // ------------------------------------------------------------------------------------------
    // Options

    static long parseSize(String s) {
        Matcher m = Pattern.compile("(\\d+)([KkMmGg]?)(i?[Bb])?").matcher(s.trim());
        if (!m.matches()) {
            throw new IllegalArgumentException("--size '" + s + "': expected N, NK, NM or NG");
        }
        long n = Long.parseLong(m.group(1));
        return switch (m.group(2).toUpperCase(Locale.ROOT)) {
            case "K" -> n << 10;
            case "M" -> n << 20;
            case "G" -> n << 30;
            default -> n;
        };
    }

    private static final Pattern JOB = Pattern.compile("(rand|randread|randwrite|seqread|seqwrite)(\\d+)k(?:-qd(\\d+))?");

    /**
     * The jobs named: {@code rand4k-qd1}, {@code rand4k-qd32}, {@code seqread64k},
     * {@code seqwrite64k} (the report's), or any {@code (rand|randread|randwrite|seqread|seqwrite)
     * Nk[-qdN]} for a closer look; a sequential job without {@code -qdN} runs at {@code seqQd}.
     */
    static List<Job> jobs(List<String> ids, int seqQd) {
        List<Job> out = new ArrayList<>();
        for (String id : ids) {
            Matcher m = JOB.matcher(id);
            if (!m.matches()) {
                throw new IllegalArgumentException("--jobs: unknown job '" + id + "' (rand4k-qd1, rand4k-qd32, seqread64k, "
                    + "seqwrite64k, or (rand|randread|randwrite|seqread|seqwrite)Nk[-qdN])");
            }
            String kind = m.group(1).equals("rand") ? "randread" : m.group(1);
            int kib = Integer.parseInt(m.group(2));
            boolean random = kind.startsWith("rand");
            if (m.group(3) == null && random) {
                throw new IllegalArgumentException("--jobs: '" + id + "': a random job needs its queue depth (-qdN)");
            }
            int qd = m.group(3) == null ? seqQd : Integer.parseInt(m.group(3));
            if (kib < 1 || kib > 64 || Integer.bitCount(kib) != 1 || qd < 1 || qd > 64) {
                throw new IllegalArgumentException("--jobs: '" + id + "': block size 1..64 KiB (a power of two), QD 1..64");
            }
            String fioRw = random ? kind : kind.substring(3); // fio: randread, randwrite, read, write
            String title = kib + " KiB " + (random ? "random " : "sequential ")
                + (kind.endsWith("write") ? "write" : "read") + ", QD" + qd;
            out.add(new Job(id, title, fioRw, kib * 1024, qd));
        }
        if (out.isEmpty()) {
            throw new IllegalArgumentException("--jobs: none given");
        }
        return out;
    }

    private static final Pattern RELAYED = Pattern.compile("(bridge|java)([0-4])|bridge([0-4])-own");

    static List<String> checkPaths(List<String> ps) {
        List<String> out = new ArrayList<>();
        for (String p : ps) {
            if (!p.equals("nbdkit") && !p.equals("nbd-local") && !p.equals("java-local") && !RELAYED.matcher(p).matches()) {
                throw new IllegalArgumentException("--paths: unknown path '" + p
                    + "' (nbdkit, nbd-local, bridgeK, bridgeK-own, javaK with K relays 0..4, java-local)");
            }
            if (!out.contains(p)) {
                out.add(p);
            }
        }
        if (out.isEmpty()) {
            throw new IllegalArgumentException("--paths: none given");
        }
        return out;
    }

    /** Relay count of a bridgeK/javaK path, or -1. */
    static int relaysOf(String path) {
        Matcher m = RELAYED.matcher(path);
        return !m.matches() ? -1 : Integer.parseInt(m.group(2) != null ? m.group(2) : m.group(3));
    }

    private TlsConfig.Provider tlsMode() {
        return switch (tls.toUpperCase(Locale.ROOT)) {
            case "OFF" -> null;
            case "AUTO" -> TlsConfig.Provider.AUTO;
            case "OPENSSL" -> TlsConfig.Provider.OPENSSL;
            case "JDK" -> TlsConfig.Provider.JDK;
            default -> throw new IllegalArgumentException("--tls: AUTO, OPENSSL, JDK or OFF, not '" + tls + "'");
        };
    }

    private static List<String> needs(List<String> paths) {
        List<String> tools = new ArrayList<>();
        if (paths.stream().anyMatch(p -> !p.startsWith("java"))) {
            tools.add("fio");
        }
        if (paths.contains("nbdkit")) {
            tools.add("nbdkit");
        }
        return tools;
    }

    private static boolean onPath(String tool) {
        for (String d : System.getenv().getOrDefault("PATH", "/usr/bin:/bin").split(":")) {
            if (!d.isEmpty() && Files.isExecutable(Path.of(d, tool))) {
                return true;
            }
        }
        return Files.isExecutable(Path.of("/usr/bin", tool));
    }

    // ------------------------------------------------------------------------------------------
    // The file, the processes and the in-process pieces

    /** Everything a run needs, made by {@link #start} and torn down by {@link #close}. */
    private final class Setup implements AutoCloseable {
        final long sizeBytes;
        final List<String> pathList;
        final int maxRelays;
        Path file;
        Path scratch;
        final List<Process> nodes = new ArrayList<>();
        /** Process label -> pid, for CPU accounting; "bench JVM" is this one. */
        final Map<String, Long> pids = new LinkedHashMap<>();
        Process nbdkit;
        int nbdkitPort;
        ThreadPoolExecutor localIo;
        FileBlockDevice local;
        NbdServer localNbd;
        final Map<Integer, GuestNode> guests = new LinkedHashMap<>();
        final Map<Integer, RemoteBlockDevice> remotes = new LinkedHashMap<>();
        /** By path: bridgeK on the guest's event loop, bridgeK-own on an event loop of its own. */
        final Map<String, NbdServer> bridges = new LinkedHashMap<>();
        final Map<Integer, Integer> exportDist = new LinkedHashMap<>();
        String linkSecurity = "";
        Thread killer;

        Setup(long sizeBytes, List<String> pathList) {
            this.sizeBytes = sizeBytes;
            this.pathList = pathList;
            this.maxRelays = pathList.stream().mapToInt(BlkBench::relaysOf).max().orElse(-1);
        }

        void start() throws Exception {
            killer = new Thread(this::kill, "bench-blk-killer");
            Runtime.getRuntime().addShutdownHook(killer);
            pids.put("bench JVM", ProcessHandle.current().pid());
            Files.createDirectories(dir);
            file = Files.createTempFile(dir, "dmsg-bench-blk-", ".img");
            fill(file, sizeBytes);
            progress.printf("dmsg bench blk: %d cores, Java %s; %s file %s on %s%n", Runtime.getRuntime().availableProcessors(),
                Runtime.version(), human(sizeBytes), file.getFileName(), dir);
            if (pathList.contains("nbdkit")) {
                startNbdkit();
            }
            if (pathList.contains("nbd-local") || pathList.contains("java-local")) {
                localIo = new ThreadPoolExecutor(8, 8, 30, TimeUnit.SECONDS, new ArrayBlockingQueue<>(4096), r -> {
                    Thread t = new Thread(r, "bench-local-io");
                    t.setDaemon(true);
                    return t;
                });
                local = FileBlockDevice.open(EXPORT, file, false, 4096, localIo);
                if (pathList.contains("nbd-local")) {
                    localNbd = NbdServer.builder().export(EXPORT, local).bind("127.0.0.1", 0);
                }
            }
            if (maxRelays >= 0) {
                startMesh();
            }
        }

        /** Random bytes in every block: tmpfs holes would read faster than data. */
        private void fill(Path f, long bytes) throws IOException {
            byte[] chunk = new byte[1 << 20];
            ThreadLocalRandom.current().nextBytes(chunk);
            try (FileChannel ch = FileChannel.open(f, StandardOpenOption.WRITE)) {
                ByteBuffer b = ByteBuffer.wrap(chunk);
                for (long at = 0; at < bytes; at += chunk.length) {
                    b.clear().limit((int) Math.min(chunk.length, bytes - at));
                    while (b.hasRemaining()) {
                        ch.write(b, at + b.position());
                    }
                }
            }
        }

        private void startNbdkit() throws Exception {
            try (ServerSocket probe = new ServerSocket(0)) {
                nbdkitPort = probe.getLocalPort();
            }
            Path log = scratch().resolve("nbdkit.log");
            nbdkit = new ProcessBuilder("nbdkit", "-f", "-i", "127.0.0.1", "-p", Integer.toString(nbdkitPort),
                "--exit-with-parent", "file", file.toString())
                .redirectErrorStream(true).redirectOutput(log.toFile()).start();
            pids.put("nbdkit", nbdkit.pid());
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (true) {
                try (Socket s = new Socket()) {
                    s.connect(new InetSocketAddress("127.0.0.1", nbdkitPort), 200);
                    break;
                } catch (IOException e) {
                    if (!nbdkit.isAlive() || System.nanoTime() > deadline) {
                        throw new IOException("nbdkit did not start on port " + nbdkitPort + ": "
                            + Files.readString(log, StandardCharsets.UTF_8), e);
                    }
                    TimeUnit.MILLISECONDS.sleep(20); // waiting for nbdkit to listen, bounded
                }
            }
            String version = "";
            try {
                Process v = new ProcessBuilder("nbdkit", "--version").redirectErrorStream(true).start();
                version = new String(v.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
                v.waitFor(5, TimeUnit.SECONDS);
            } catch (IOException e) {
                // only for the header line
            }
            progress.printf("nbdkit: %s, file plugin, default threads, port %d%n", version, nbdkitPort);
        }

        Path scratch() throws IOException {
            if (scratch == null) {
                scratch = Files.createTempDirectory("dmsg-bench-blk");
            }
            return scratch;
        }

        /** The exporter and the relays as processes, then one guest (+ device + bridge) per relay count used. */
        private void startMesh() throws Exception {
            TlsConfig.Provider provider = tlsMode();
            Path d = scratch();
            List<Integer> counts = pathList.stream().mapToInt(BlkBench::relaysOf).filter(k -> k >= 0).distinct().sorted()
                .boxed().toList();
            List<String> labels = new ArrayList<>(List.of(EXPORTER));
            for (int i = 1; i <= maxRelays; i++) {
                labels.add("r" + i);
            }
            for (int k : counts) {
                labels.add("guest" + k);
            }
            if (provider != null) {
                CircuitBench.prepareMesh(d, labels); // every key, each trusting the others as members
            }
            List<String> security = provider == null ? List.of("--plaintext") : List.of("--tls-provider", provider.name());
            int[] ports = new int[maxRelays + 1];
            List<String> exporterArgs = new ArrayList<>(security);
            exporterArgs.addAll(List.of("--export", EXPORT + "=" + file + ",allow=member"));
            ports[0] = CircuitBench.start(nodes, d, EXPORTER, null, nodeJvmOpts, 0, exporterArgs);
            pids.put(EXPORTER, nodes.get(0).pid());
            for (int i = 1; i <= maxRelays; i++) {
                ports[i] = CircuitBench.start(nodes, d, "r" + i, ports[i - 1], nodeJvmOpts, 0, security);
                pids.put("r" + i, nodes.get(i).pid());
            }
            for (int k : counts) {
                GuestNode g = GuestNode.join("bench" + k, "127.0.0.1", ports[k], provider == null ? null : d.resolve("guest" + k),
                    provider == null, provider == null ? TlsConfig.Provider.JDK : provider);
                guests.put(k, g);
                BlkClient.RemoteExport x = BlkClient.find(g.mesh(), EXPORTER + "/" + EXPORT, Duration.ofSeconds(30))
                    .get(40, TimeUnit.SECONDS);
                exportDist.put(k, x.dist());
                RemoteBlockDevice dev = BlkClient.open(g.mesh(), x, true, RemoteBlockDevice.Options.defaults())
                    .get(40, TimeUnit.SECONDS);
                remotes.put(k, dev);
                if (pathList.contains("bridge" + k)) {
                    bridges.put("bridge" + k, NbdServer.builder().export(EXPORT, dev).eventLoopGroup(g.eventLoops())
                        .bind("127.0.0.1", 0));
                }
                if (pathList.contains("bridge" + k + "-own")) {
                    bridges.put("bridge" + k + "-own", NbdServer.builder().export(EXPORT, dev).bind("127.0.0.1", 0));
                }
                if (linkSecurity.isEmpty() && !g.node().endpoint().links().isEmpty()) {
                    String sec = g.node().endpoint().links().get(0).security();
                    linkSecurity = sec == null ? "plaintext" : sec;
                }
                progress.printf("guest for %d relay(s): export %s at dist %d%n", k, x.label(), x.dist());
            }
            progress.printf("mesh: exporter + %d relay process(es) in a line, links %s%n", Math.max(0, maxRelays),
                provider == null ? "plaintext" : "TLS, provider " + provider + " → " + linkSecurity);
        }

        /** Runs {@code job} on {@code path}: ramp unmeasured, then runtime measured. */
        Sample measure(String path, Job job, double rampSeconds, double runSeconds) throws Exception {
            Map<String, Long> ticks0 = Cpu.ticks(pids);
            long t0 = System.nanoTime();
            Sample s;
            int k = relaysOf(path);
            if (path.equals("nbdkit")) {
                s = Fio.run(job, "nbd://127.0.0.1:" + nbdkitPort + "/" + EXPORT, rampSeconds, runSeconds, scratch());
            } else if (path.equals("nbd-local")) {
                s = Fio.run(job, uri(localNbd), rampSeconds, runSeconds, scratch());
            } else if (path.equals("java-local")) {
                s = java(local, job, rampSeconds, runSeconds);
            } else if (path.startsWith("bridge")) {
                s = Fio.run(job, uri(bridges.get(path)), rampSeconds, runSeconds, scratch());
            } else {
                s = java(remotes.get(k), job, rampSeconds, runSeconds);
            }
            double wall = (System.nanoTime() - t0) / 1e9;
            Map<String, Long> ticks1 = Cpu.ticks(pids);
            Map<String, Double> cores = new LinkedHashMap<>(s.cores()); // fio's own, when fio ran
            for (Map.Entry<String, Long> e : ticks0.entrySet()) {
                Long after = ticks1.get(e.getKey());
                if (after != null && relevant(e.getKey(), path)) {
                    cores.put(e.getKey(), (after - e.getValue()) / Cpu.TICKS_PER_SECOND / wall);
                }
            }
            return new Sample(s.iops(), s.megabytesPerSecond(), s.p50Micros(), s.p99Micros(), cores);
        }

        /** Which processes work for {@code path}: the others idle and are left out of its CPU figures. */
        private boolean relevant(String process, String path) {
            int k = relaysOf(path);
            return switch (process) {
                case "bench JVM" -> !path.equals("nbdkit");
                case "nbdkit" -> path.equals("nbdkit");
                case EXPORTER -> k >= 0;
                default -> k > 0 && process.startsWith("r") && Integer.parseInt(process.substring(1)) <= k;
            };
        }

        private Sample java(BlockDevice d, Job job, double rampSeconds, double runSeconds) throws Exception {
            BlkLoad.Result r = BlkLoad.run(d, job, (long) (rampSeconds * 1e9), (long) (runSeconds * 1e9));
            return new Sample(r.iops(), r.megabytesPerSecond(), r.p50Micros(), r.p99Micros(), Map.of());
        }

        private String uri(NbdServer s) {
            return "nbd://127.0.0.1:" + s.localAddress().getPort() + "/" + EXPORT;
        }

        @Override
        public void close() {
            for (NbdServer b : bridges.values()) {
                b.close();
            }
            for (RemoteBlockDevice d : remotes.values()) {
                d.close();
            }
            for (GuestNode g : guests.values()) {
                g.close();
            }
            if (localNbd != null) {
                localNbd.close();
            }
            if (local != null) {
                local.close();
            }
            if (localIo != null) {
                localIo.shutdownNow();
            }
            for (Process p : nodes) {
                CircuitBench.stop(p);
            }
            if (nbdkit != null) {
                nbdkit.destroy();
                try {
                    nbdkit.waitFor(5, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            deleteFiles();
            if (killer != null) {
                try {
                    Runtime.getRuntime().removeShutdownHook(killer);
                } catch (IllegalStateException e) {
                    // shutting down: the hook runs anyway
                }
            }
        }

        /** The shutdown hook: processes killed, the 1 GiB file removed from RAM. */
        private void kill() {
            nodes.forEach(Process::destroyForcibly);
            if (nbdkit != null) {
                nbdkit.destroyForcibly();
            }
            deleteFiles();
        }

        private void deleteFiles() {
            try {
                if (file != null) {
                    Files.deleteIfExists(file);
                }
                if (scratch != null) {
                    try (var files = Files.walk(scratch)) {
                        files.sorted(Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
                    }
                }
            } catch (IOException e) {
                // temporary files: left for the OS
            }
        }
    }

    // ------------------------------------------------------------------------------------------
    // fio, and CPU accounting

    /** One fio run with the nbd engine, its JSON output parsed. */
    static final class Fio {
        private Fio() {}

        static Sample run(Job job, String uri, double rampSeconds, double runSeconds, Path scratch) throws Exception {
            Path json = Files.createTempFile(scratch, "fio-", ".json");
            Path log = Files.createTempFile(scratch, "fio-", ".log");
            List<String> cmd = List.of("fio", "--name=" + job.id(), "--ioengine=nbd", "--uri=" + uri, "--rw=" + job.fioRw(),
                "--bs=" + job.blockBytes(), "--iodepth=" + job.queueDepth(), "--numjobs=1", "--time_based",
                "--runtime=" + Math.max(1, Math.round(runSeconds * 1000)) + "ms",
                "--ramp_time=" + Math.round(rampSeconds * 1000) + "ms", "--output-format=json", "--output=" + json);
            ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
            pb.environment().put("LC_ALL", "C");
            Process p = pb.start();
            try {
                long limit = (long) ((rampSeconds + runSeconds) * 1000) + 60_000;
                if (!p.waitFor(limit, TimeUnit.MILLISECONDS)) {
                    p.destroyForcibly();
                    throw new IOException("fio did not finish within " + limit / 1000 + " s: " + String.join(" ", cmd));
                }
                String text = Files.readString(json, StandardCharsets.UTF_8);
                if (p.exitValue() != 0 || text.indexOf('{') < 0) {
                    throw new IOException("fio exited " + p.exitValue() + ": " + String.join(" ", cmd) + "\n"
                        + Files.readString(log, StandardCharsets.UTF_8) + text);
                }
                return parse(new ObjectMapper().readTree(text.substring(text.indexOf('{'))), job);
            } finally {
                Files.deleteIfExists(json);
                Files.deleteIfExists(log);
            }
        }

        /** fio's {@code --output-format=json}: the job's read or write section. */
        static Sample parse(JsonNode root, Job job) throws IOException {
            JsonNode j = root.path("jobs").path(0);
            if (j.path("error").asInt(0) != 0) {
                throw new IOException("fio job " + job.id() + " reported error " + j.path("error").asInt());
            }
            JsonNode io = j.path(job.writes() ? "write" : "read");
            if (io.isMissingNode() || io.path("total_ios").asLong(0) == 0) {
                throw new IOException("fio job " + job.id() + " did no I/O: " + j);
            }
            JsonNode pct = io.path("clat_ns").path("percentile");
            double cores = (j.path("usr_cpu").asDouble() + j.path("sys_cpu").asDouble()) / 100;
            return new Sample(io.path("iops").asDouble(), io.path("bw_bytes").asDouble() / 1e6,
                pct.path("50.000000").asDouble(Double.NaN) / 1e3, pct.path("99.000000").asDouble(Double.NaN) / 1e3,
                Map.of("fio", cores));
        }
    }

    /** CPU time of processes from {@code /proc/PID/stat} (utime + stime, in clock ticks). */
    static final class Cpu {
        /** USER_HZ: 100 on every Linux this runs on (x86 and arm64). */
        static final double TICKS_PER_SECOND = 100.0;

        private Cpu() {}

        static Map<String, Long> ticks(Map<String, Long> pids) {
            Map<String, Long> out = new LinkedHashMap<>();
            pids.forEach((name, pid) -> {
                long t = ticks(pid);
                if (t >= 0) {
                    out.put(name, t);
                }
            });
            return out;
        }

        static long ticks(long pid) {
            try {
                String s = Files.readString(Path.of("/proc", Long.toString(pid), "stat"), StandardCharsets.US_ASCII);
                String[] f = s.substring(s.lastIndexOf(')') + 2).split(" ");
                return Long.parseLong(f[11]) + Long.parseLong(f[12]); // fields 14 and 15: utime, stime
            } catch (IOException | RuntimeException e) {
                return -1; // not Linux, or the process is gone
            }
        }
    }

    // ------------------------------------------------------------------------------------------
    // Reports

    private static String headline(Job j, double v) {
        if (Double.isNaN(v)) {
            return "failed";
        }
        return j.throughput() ? Report.fmt("%.0f MB/s", v) : Report.fmt("%.1f k IOPS", v / 1e3);
    }

    private static String value(Job j, double v) {
        if (Double.isNaN(v)) {
            return "-";
        }
        return j.throughput() ? Report.fmt("%.0f", v) : Report.fmt("%.1f k", v / 1e3);
    }

    private static List<Double> headlines(Job j, List<Sample> ss) {
        return ss.stream().map(s -> s.headline(j)).filter(v -> !Double.isNaN(v)).toList();
    }

    private static double median(List<Double> xs) {
        return xs.isEmpty() ? Double.NaN : Report.median(xs);
    }

    /** Median per process of the CPU figures (cores busy) of {@code ss}. */
    private static Map<String, Double> medianCores(List<Sample> ss) {
        Map<String, List<Double>> all = new LinkedHashMap<>();
        for (Sample s : ss) {
            s.cores().forEach((k, v) -> all.computeIfAbsent(k, x -> new ArrayList<>()).add(v));
        }
        Map<String, Double> out = new LinkedHashMap<>();
        all.forEach((k, v) -> out.put(k, Report.median(v)));
        return out;
    }

    static String pathTitle(String p) {
        int k = relaysOf(p);
        if (p.startsWith("bridge")) {
            return "bridge, " + k + " relay" + (k == 1 ? "" : "s") + (p.endsWith("-own") ? ", own loop" : "");
        }
        if (p.startsWith("java") && k >= 0) {
            return "Java client, " + k + " relay" + (k == 1 ? "" : "s");
        }
        return switch (p) {
            case "nbdkit" -> "nbdkit file";
            case "nbd-local" -> "our NBD, local file";
            case "java-local" -> "Java, local file";
            default -> p;
        };
    }

    private boolean printTable(Setup s, List<Job> jobList, List<String> pathList,
                               Map<String, Map<String, List<Sample>>> results, double seconds) {
        out.println();
        out.printf("fio %s, nbd engine; %d x (%.1f s ramp + %.1f s measured) per figure, medians; %s file on %s; "
            + "mesh links: %s%n", fioVersion(), reps, ramp, runtime, human(s.sizeBytes), dir,
            s.linkSecurity.isEmpty() ? "-" : s.linkSecurity);
        StringBuilder head = new StringBuilder("| job | unit |");
        StringBuilder rule = new StringBuilder("|---|---|");
        for (String p : pathList) {
            head.append(' ').append(pathTitle(p)).append(" |");
            rule.append("---|");
        }
        out.println(head);
        out.println(rule);
        boolean hasBase = pathList.contains("nbdkit");
        for (Job j : jobList) {
            Map<String, List<Sample>> m = results.get(j.id());
            double base = hasBase ? median(headlines(j, m.get("nbdkit"))) : Double.NaN;
            StringBuilder row = new StringBuilder("| " + j.title() + " | " + j.unit() + " |");
            for (String p : pathList) {
                double v = median(headlines(j, m.get(p)));
                row.append(' ').append(value(j, v));
                if (hasBase && !p.equals("nbdkit") && !Double.isNaN(v)) {
                    row.append(Report.fmt(" (%.2f)", v / base));
                }
                row.append(" |");
            }
            out.println(row);
        }
        if (hasBase) {
            out.println("(in brackets: ÷ nbdkit)");
        }
        boolean missed = false;
        if (hasBase && pathList.contains("bridge0")) {
            out.println();
            out.println("targets, bridge with 0 relays ÷ nbdkit:");
            for (Job j : jobList) {
                if (Double.isNaN(target(j.id()))) {
                    continue;
                }
                Map<String, List<Sample>> m = results.get(j.id());
                double ratio = median(headlines(j, m.get("bridge0"))) / median(headlines(j, m.get("nbdkit")));
                boolean ok = ratio >= target(j.id());
                missed |= !ok;
                out.printf("  %-34s %.2f  (target >= %.2f)  %s%n", j.title(), ratio, target(j.id()), ok ? "PASS" : "MISS");
            }
        }
        out.println();
        out.println("latency p50 / p99 (µs), medians:");
        for (Job j : jobList) {
            StringBuilder line = new StringBuilder(Report.fmt("  %-34s", j.title()));
            for (String p : pathList) {
                List<Sample> ss = results.get(j.id()).get(p);
                line.append(Report.fmt(" | %s %.0f / %.0f", p,
                    median(ss.stream().map(Sample::p50Micros).filter(v -> !Double.isNaN(v)).toList()),
                    median(ss.stream().map(Sample::p99Micros).filter(v -> !Double.isNaN(v)).toList())));
            }
            out.println(line);
        }
        out.println();
        out.println("CPU, cores busy during the job (medians; 'bench JVM' is the bridge or the Java client), and CPU µs per "
            + "operation over all processes:");
        for (Job j : jobList) {
            for (String p : pathList) {
                List<Sample> ss = results.get(j.id()).get(p);
                Map<String, Double> c = medianCores(ss);
                double total = c.values().stream().mapToDouble(Double::doubleValue).sum();
                double iops = median(ss.stream().map(Sample::iops).filter(v -> !Double.isNaN(v)).toList());
                StringBuilder line = new StringBuilder(Report.fmt("  %-12s %-22s total %.2f", j.id(), pathTitle(p), total));
                c.forEach((k, v) -> line.append(Report.fmt(", %s %.2f", k, v)));
                line.append(Report.fmt("; %.1f µs/op", total * 1e6 / iops));
                out.println(line);
            }
        }
        out.println();
        for (Job j : jobList) {
            for (String p : pathList) {
                out.printf("%s %s reps: %s%n", j.id(), p, Report.list(headlines(j, results.get(j.id()).get(p)),
                    v -> value(j, v)));
            }
        }
        out.printf("%nbench blk took %.0f s%n", seconds);
        return missed;
    }

    private boolean printJson(Setup s, List<Job> jobList, List<String> pathList,
                              Map<String, Map<String, List<Sample>>> results, double seconds) throws IOException {
        ObjectNode root = mapper.createObjectNode();
        root.put("cores", Runtime.getRuntime().availableProcessors());
        root.put("java", Runtime.version().toString());
        root.put("fio", fioVersion());
        root.put("sizeBytes", s.sizeBytes);
        root.put("dir", dir.toString());
        root.put("reps", reps);
        root.put("rampSeconds", ramp);
        root.put("runtimeSeconds", runtime);
        root.put("tls", tls.toUpperCase(Locale.ROOT));
        root.put("meshLinks", s.linkSecurity);
        ObjectNode dist = root.putObject("exportDist");
        s.exportDist.forEach((k, v) -> dist.put(Integer.toString(k), v));
        root.put("seconds", seconds);
        boolean hasBase = pathList.contains("nbdkit");
        boolean missed = false;
        ArrayNode js = root.putArray("jobs");
        ArrayNode targets = root.putArray("targets");
        for (Job j : jobList) {
            ObjectNode jn = js.addObject();
            jn.put("id", j.id());
            jn.put("title", j.title());
            jn.put("rw", j.fioRw());
            jn.put("blockBytes", j.blockBytes());
            jn.put("queueDepth", j.queueDepth());
            jn.put("unit", j.unit());
            Map<String, List<Sample>> m = results.get(j.id());
            double base = hasBase ? median(headlines(j, m.get("nbdkit"))) : Double.NaN;
            ObjectNode pn = jn.putObject("paths");
            for (String p : pathList) {
                List<Sample> ss = m.get(p);
                ObjectNode x = pn.putObject(p);
                x.put("title", pathTitle(p));
                double med = median(headlines(j, ss));
                x.put("median", med);
                ArrayNode r = x.putArray("reps");
                ss.forEach(v -> r.add(v.headline(j)));
                x.put("iops", median(ss.stream().map(Sample::iops).filter(v -> !Double.isNaN(v)).toList()));
                x.put("megabytesPerSecond", median(ss.stream().map(Sample::megabytesPerSecond)
                    .filter(v -> !Double.isNaN(v)).toList()));
                x.put("p50Micros", median(ss.stream().map(Sample::p50Micros).filter(v -> !Double.isNaN(v)).toList()));
                x.put("p99Micros", median(ss.stream().map(Sample::p99Micros).filter(v -> !Double.isNaN(v)).toList()));
                if (hasBase && !p.equals("nbdkit")) {
                    x.put("ratioToNbdkit", med / base);
                }
                ObjectNode c = x.putObject("cpuCores");
                medianCores(ss).forEach(c::put);
            }
            if (hasBase && pathList.contains("bridge0") && !Double.isNaN(target(j.id()))) {
                double ratio = median(headlines(j, m.get("bridge0"))) / base;
                ObjectNode t = targets.addObject();
                t.put("job", j.id());
                t.put("path", "bridge0");
                t.put("ratio", ratio);
                t.put("target", target(j.id()));
                t.put("met", ratio >= target(j.id()));
                missed |= !(ratio >= target(j.id()));
            }
        }
        out.println(mapper.writerWithDefaultPrettyPrinter().writeValueAsString(root));
        return missed;
    }

    private static String fioVersion() {
        try {
            Process v = new ProcessBuilder("fio", "--version").redirectErrorStream(true).start();
            String s = new String(v.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
            v.waitFor(5, TimeUnit.SECONDS);
            return s;
        } catch (IOException | InterruptedException e) {
            return "?";
        }
    }

    static String human(long bytes) {
        if (bytes % (1L << 30) == 0) {
            return (bytes >> 30) + " GiB";
        }
        if (bytes % (1L << 20) == 0) {
            return (bytes >> 20) + " MiB";
        }
        return bytes + " bytes";
    }
}
