package dev.dmsg.bench.driver;

import dev.dmsg.link.tls.TlsConfig;
import dev.dmsg.services.blk.BlkClient;
import dev.dmsg.services.blk.BlockDevice;
import dev.dmsg.services.blk.FileBlockDevice;
import dev.dmsg.services.blk.RemoteBlockDevice;
import dev.dmsg.services.nbd.NbdServer;
import dev.dmsg.services.node.GuestNode;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * Everything a {@code bench blk} run needs, made by {@link #start} and torn down by
 * {@link #close}: the test file, the nbdkit baseline ({@link NbdkitAnchor}), the local device and
 * NBD server, the exporting node and the relays as processes in a line
 * ({@code exporter <- r1 <- r2}, {@link CircuitBench#start}), and per relay count a guest node
 * with its remote device and bridges; {@link #measure} runs one job on one path and adds each
 * process's CPU.
 */
final class BlkTopology implements AutoCloseable {
    final long sizeBytes;
    final List<String> pathList;
    final int maxRelays;
    Path file;
    Path scratch;
    final List<Process> nodes = new ArrayList<>();
    /** Process label -> pid, for CPU accounting; "bench JVM" is this one. */
    final Map<String, Long> pids = new LinkedHashMap<>();
    NbdkitAnchor nbdkit;
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

    private final Path dir;
    /** The mesh's TLS provider; null: plaintext links. */
    private final TlsConfig.Provider provider;
    private final List<String> nodeJvmOpts;
    private final PrintStream progress;

    BlkTopology(long sizeBytes, List<String> pathList, Path dir, TlsConfig.Provider provider, List<String> nodeJvmOpts,
                PrintStream progress) {
        this.sizeBytes = sizeBytes;
        this.pathList = pathList;
        this.maxRelays = pathList.stream().mapToInt(BlkPaths::relaysOf).max().orElse(-1);
        this.dir = dir;
        this.provider = provider;
        this.nodeJvmOpts = nodeJvmOpts;
        this.progress = progress;
    }

    void start() throws Exception {
        killer = new Thread(this::kill, "bench-blk-killer");
        Runtime.getRuntime().addShutdownHook(killer);
        pids.put("bench JVM", ProcessHandle.current().pid());
        Files.createDirectories(dir);
        file = Files.createTempFile(dir, "dmsg-bench-blk-", ".img");
        fill(file, sizeBytes);
        progress.printf("dmsg bench blk: %d cores, Java %s; %s file %s on %s%n", Runtime.getRuntime().availableProcessors(),
            Runtime.version(), BlkReport.human(sizeBytes), file.getFileName(), dir);
        if (pathList.contains("nbdkit")) {
            nbdkit = NbdkitAnchor.start(file, scratch(), progress);
            pids.put("nbdkit", nbdkit.pid());
        }
        if (pathList.contains("nbd-local") || pathList.contains("java-local")) {
            localIo = new ThreadPoolExecutor(8, 8, 30, TimeUnit.SECONDS, new ArrayBlockingQueue<>(4096), r -> {
                Thread t = new Thread(r, "bench-local-io");
                t.setDaemon(true);
                return t;
            });
            local = FileBlockDevice.open(BlkBench.EXPORT, file, false, 4096, localIo);
            if (pathList.contains("nbd-local")) {
                localNbd = NbdServer.builder().export(BlkBench.EXPORT, local).bind("127.0.0.1", 0);
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

    Path scratch() throws IOException {
        if (scratch == null) {
            scratch = Files.createTempDirectory("dmsg-bench-blk");
        }
        return scratch;
    }

    /** The exporter and the relays as processes, then one guest (+ device + bridge) per relay count used. */
    private void startMesh() throws Exception {
        Path d = scratch();
        List<Integer> counts = pathList.stream().mapToInt(BlkPaths::relaysOf).filter(k -> k >= 0).distinct().sorted()
            .boxed().toList();
        List<String> labels = new ArrayList<>(List.of(BlkBench.EXPORTER));
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
        exporterArgs.addAll(List.of("--export", BlkBench.EXPORT + "=" + file + ",allow=member"));
        ports[0] = CircuitBench.start(nodes, d, BlkBench.EXPORTER, null, nodeJvmOpts, 0, exporterArgs);
        pids.put(BlkBench.EXPORTER, nodes.get(0).pid());
        for (int i = 1; i <= maxRelays; i++) {
            ports[i] = CircuitBench.start(nodes, d, "r" + i, ports[i - 1], nodeJvmOpts, 0, security);
            pids.put("r" + i, nodes.get(i).pid());
        }
        for (int k : counts) {
            GuestNode g = GuestNode.join("bench" + k, "127.0.0.1", ports[k], provider == null ? null : d.resolve("guest" + k),
                provider == null, provider == null ? TlsConfig.Provider.JDK : provider);
            guests.put(k, g);
            BlkClient.RemoteExport x = BlkClient.find(g.mesh(), BlkBench.EXPORTER + "/" + BlkBench.EXPORT, Duration.ofSeconds(30))
                .get(40, TimeUnit.SECONDS);
            exportDist.put(k, x.dist());
            RemoteBlockDevice dev = BlkClient.open(g.mesh(), x, true, RemoteBlockDevice.Options.defaults())
                .get(40, TimeUnit.SECONDS);
            remotes.put(k, dev);
            if (pathList.contains("bridge" + k)) {
                bridges.put("bridge" + k, NbdServer.builder().export(BlkBench.EXPORT, dev).eventLoopGroup(g.eventLoops())
                    .bind("127.0.0.1", 0));
            }
            if (pathList.contains("bridge" + k + "-own")) {
                bridges.put("bridge" + k + "-own", NbdServer.builder().export(BlkBench.EXPORT, dev).bind("127.0.0.1", 0));
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
    BlkSample measure(String path, BlkJob job, double rampSeconds, double runSeconds) throws Exception {
        Map<String, Long> ticks0 = ProcCpu.ticks(pids);
        long t0 = System.nanoTime();
        BlkSample s;
        int k = BlkPaths.relaysOf(path);
        if (path.equals("nbdkit")) {
            s = FioRunner.run(job, nbdkit.uri(), rampSeconds, runSeconds, scratch());
        } else if (path.equals("nbd-local")) {
            s = FioRunner.run(job, uri(localNbd), rampSeconds, runSeconds, scratch());
        } else if (path.equals("java-local")) {
            s = java(local, job, rampSeconds, runSeconds);
        } else if (path.startsWith("bridge")) {
            s = FioRunner.run(job, uri(bridges.get(path)), rampSeconds, runSeconds, scratch());
        } else {
            s = java(remotes.get(k), job, rampSeconds, runSeconds);
        }
        double wall = (System.nanoTime() - t0) / 1e9;
        Map<String, Long> ticks1 = ProcCpu.ticks(pids);
        Map<String, Double> cores = new LinkedHashMap<>(s.cores()); // fio's own, when fio ran
        for (Map.Entry<String, Long> e : ticks0.entrySet()) {
            Long after = ticks1.get(e.getKey());
            if (after != null && relevant(e.getKey(), path)) {
                cores.put(e.getKey(), (after - e.getValue()) / ProcCpu.TICKS_PER_SECOND / wall);
            }
        }
        return new BlkSample(s.iops(), s.megabytesPerSecond(), s.p50Micros(), s.p99Micros(), cores);
    }

    /** Which processes work for {@code path}: the others idle and are left out of its CPU figures. */
    private boolean relevant(String process, String path) {
        int k = BlkPaths.relaysOf(path);
        return switch (process) {
            case "bench JVM" -> !path.equals("nbdkit");
            case "nbdkit" -> path.equals("nbdkit");
            case BlkBench.EXPORTER -> k >= 0;
            default -> k > 0 && process.startsWith("r") && Integer.parseInt(process.substring(1)) <= k;
        };
    }

    private BlkSample java(BlockDevice d, BlkJob job, double rampSeconds, double runSeconds) throws Exception {
        BlkLoad.Result r = BlkLoad.run(d, job, (long) (rampSeconds * 1e9), (long) (runSeconds * 1e9));
        return new BlkSample(r.iops(), r.megabytesPerSecond(), r.p50Micros(), r.p99Micros(), Map.of());
    }

    private String uri(NbdServer s) {
        return "nbd://127.0.0.1:" + s.localAddress().getPort() + "/" + BlkBench.EXPORT;
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
            nbdkit.close();
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
            nbdkit.kill();
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
