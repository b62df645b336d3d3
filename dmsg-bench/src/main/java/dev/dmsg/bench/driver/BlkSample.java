package dev.dmsg.bench.driver;

import java.util.Map;

/**
 * One measurement of one job on one path of {@code bench blk}; {@code cores} is CPU busy per
 * process ({@link ProcCpu}), fio's own included when fio ran.
 */
record BlkSample(double iops, double megabytesPerSecond, double p50Micros, double p99Micros, Map<String, Double> cores) {
    double headline(BlkJob j) {
        return j.throughput() ? megabytesPerSecond : iops;
    }
}
