package dev.dmsg.bench.driver;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One job of {@code bench blk}: what fio runs with its nbd engine ({@link FioRunner}) and
 * {@link BlkLoad} runs on a block device, and its target (docs/BENCHMARKS.md, "Block devices").
 */
record BlkJob(String id, String title, String fioRw, int blockBytes, int queueDepth) {
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

    /** The targets for the bridge with 0 relays, as a fraction of nbdkit (the issue's). */
    static double target(String jobId) {
        return switch (jobId) {
            case "rand4k-qd1" -> 0.70;
            case "rand4k-qd32", "seqread64k", "seqwrite64k" -> 0.80;
            default -> Double.NaN; // a job for a closer look: no target
        };
    }

    private static final Pattern JOB = Pattern.compile("(rand|randread|randwrite|seqread|seqwrite)(\\d+)k(?:-qd(\\d+))?");

    /**
     * The jobs named: {@code rand4k-qd1}, {@code rand4k-qd32}, {@code seqread64k},
     * {@code seqwrite64k} (the report's), or any {@code (rand|randread|randwrite|seqread|seqwrite)
     * Nk[-qdN]} for a closer look; a sequential job without {@code -qdN} runs at {@code seqQd}.
     */
    static List<BlkJob> parse(List<String> ids, int seqQd) {
        List<BlkJob> out = new ArrayList<>();
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
            out.add(new BlkJob(id, title, fioRw, kib * 1024, qd));
        }
        if (out.isEmpty()) {
            throw new IllegalArgumentException("--jobs: none given");
        }
        return out;
    }
}
