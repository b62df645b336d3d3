package dev.dmsg.bench.driver;

import dev.dmsg.link.tls.TlsConfig;
import dev.dmsg.services.blk.FileBlockDevice;
import dev.dmsg.services.blk.RemoteBlockDevice;
import dev.dmsg.services.nbd.NbdServer;
import dev.dmsg.services.node.GuestNode;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
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
 *
 * <p>Who does what: this class parses and checks the options and runs the repetitions;
 * {@link BlkJob} and {@link BlkPaths} say what the jobs and paths are; {@link BlkTopology} builds
 * the file, the processes and the in-process pieces and measures one job on one path, with
 * {@link FioRunner} (fio's nbd engine), {@link NbdkitAnchor} (the baseline) and {@link ProcCpu}
 * (CPU per process); {@link BlkReport} prints the table or the JSON.
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

    @Override
    public Integer call() throws Exception {
        PrintStream progress = json ? System.err : System.out;
        long sizeBytes;
        List<BlkJob> jobList;
        List<String> pathList;
        TlsConfig.Provider provider;
        try {
            sizeBytes = parseSize(size);
            jobList = BlkJob.parse(jobs, seqQd);
            pathList = BlkPaths.checkPaths(paths);
            provider = tlsMode();
            if (reps < 1 || runtime <= 0 || ramp < 0 || warmup < 0 || seqQd < 1 || seqQd > 64 || sizeBytes < (1 << 20)
                    || sizeBytes % 65536 != 0) {
                throw new IllegalArgumentException("--reps >= 1, --runtime > 0, --ramp and --warmup >= 0, --seq-qd 1..64, "
                    + "--size >= 1M and a multiple of 64K");
            }
        } catch (IllegalArgumentException e) {
            System.err.println("bench blk: " + e.getMessage());
            return 2;
        }
        for (String tool : BlkPaths.needs(pathList)) {
            if (!BlkPaths.onPath(tool)) {
                System.err.println("bench blk: '" + tool + "' is not installed (scripts/install-nbd-tools.sh installs "
                    + "fio and nbdkit)");
                return 2;
            }
        }
        BenchCommand.quietLogs();
        long t0 = System.nanoTime();
        try (BlkTopology s = new BlkTopology(sizeBytes, pathList, dir, provider, nodeJvmOpts, progress)) {
            try {
                s.start();
            } catch (Exception e) {
                System.err.println("bench blk: setup failed: " + e);
                e.printStackTrace(System.err);
                return 2;
            }
            Map<String, Map<String, List<BlkSample>>> results = new LinkedHashMap<>(); // job -> path -> reps
            for (BlkJob j : jobList) {
                Map<String, List<BlkSample>> m = new LinkedHashMap<>();
                for (String p : pathList) {
                    m.put(p, new ArrayList<>());
                }
                results.put(j.id(), m);
            }
            int failures = 0;
            if (warmup > 0) {
                progress.printf("-- warm-up: %.1f s of every job on every path but nbdkit%n", warmup);
                for (BlkJob j : jobList) {
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
                for (BlkJob j : jobList) {
                    StringBuilder line = new StringBuilder(Report.fmt("   rep %d %-12s", rep, j.id()));
                    for (String p : pathList) {
                        BlkSample x;
                        try {
                            x = s.measure(p, j, ramp, runtime);
                        } catch (Exception e) {
                            failures++;
                            progress.printf("   %s on %s failed: %s%n", j.id(), p, e);
                            x = new BlkSample(Double.NaN, Double.NaN, Double.NaN, Double.NaN, Map.of());
                        }
                        results.get(j.id()).get(p).add(x);
                        line.append(" | ").append(p).append(' ').append(BlkReport.headline(j, x.headline(j)));
                    }
                    progress.println(line);
                    progress.flush();
                }
            }
            double seconds = (System.nanoTime() - t0) / 1e9;
            boolean missed;
            BlkReport report = new BlkReport(this, System.out);
            if (json) {
                missed = report.printJson(s, jobList, pathList, results, seconds);
            } else {
                missed = report.printTable(s, jobList, pathList, results, seconds);
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

    private TlsConfig.Provider tlsMode() {
        return switch (tls.toUpperCase(Locale.ROOT)) {
            case "OFF" -> null;
            case "AUTO" -> TlsConfig.Provider.AUTO;
            case "OPENSSL" -> TlsConfig.Provider.OPENSSL;
            case "JDK" -> TlsConfig.Provider.JDK;
            default -> throw new IllegalArgumentException("--tls: AUTO, OPENSSL, JDK or OFF, not '" + tls + "'");
        };
    }
}
