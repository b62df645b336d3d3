package dev.dmsg.bench.driver;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The parts of {@code bench blk} that need no process: jobs and paths from their names, fio's
 * JSON read into a sample, sizes both ways. {@link BlkBenchSmokeTest} runs the whole.
 */
class BlkPartsTest {
    @Test
    void jobsFromTheirNames() {
        List<BlkJob> jobs = BlkJob.parse(List.of("rand4k-qd1", "randwrite8k-qd4", "seqread64k", "seqwrite16k-qd2"), 8);
        assertThat(jobs).containsExactly(
            new BlkJob("rand4k-qd1", "4 KiB random read, QD1", "randread", 4096, 1),
            new BlkJob("randwrite8k-qd4", "8 KiB random write, QD4", "randwrite", 8192, 4),
            new BlkJob("seqread64k", "64 KiB sequential read, QD8", "read", 65536, 8),
            new BlkJob("seqwrite16k-qd2", "16 KiB sequential write, QD2", "write", 16384, 2));
        assertThat(jobs.get(0).unit()).isEqualTo("IOPS");
        assertThat(jobs.get(2).unit()).isEqualTo("MB/s");
        assertThat(jobs.get(1).writes()).isTrue();
        assertThat(BlkJob.target("rand4k-qd1")).isEqualTo(0.70);
        assertThat(BlkJob.target("seqwrite64k")).isEqualTo(0.80);
        assertThat(BlkJob.target("randwrite8k-qd4")).isNaN();
        assertThatThrownBy(() -> BlkJob.parse(List.of("rand4k"), 8)).hasMessageContaining("needs its queue depth");
        assertThatThrownBy(() -> BlkJob.parse(List.of("seqread3k"), 8)).hasMessageContaining("a power of two");
        assertThatThrownBy(() -> BlkJob.parse(List.of("warp"), 8)).hasMessageStartingWith("--jobs: unknown job 'warp'");
    }

    @Test
    void pathsFromTheirNames() {
        assertThat(BlkPaths.checkPaths(List.of("nbdkit", "bridge2", "bridge0-own", "java1", "nbdkit")))
            .containsExactly("nbdkit", "bridge2", "bridge0-own", "java1");
        assertThat(BlkPaths.relaysOf("bridge2")).isEqualTo(2);
        assertThat(BlkPaths.relaysOf("bridge3-own")).isEqualTo(3);
        assertThat(BlkPaths.relaysOf("nbd-local")).isEqualTo(-1);
        assertThat(BlkPaths.pathTitle("bridge1-own")).isEqualTo("bridge, 1 relay, own loop");
        assertThat(BlkPaths.pathTitle("java0")).isEqualTo("Java client, 0 relays");
        assertThat(BlkPaths.pathTitle("nbdkit")).isEqualTo("nbdkit file");
        assertThat(BlkPaths.needs(List.of("java0", "java-local"))).isEmpty();
        assertThat(BlkPaths.needs(List.of("nbdkit", "java0"))).containsExactly("fio", "nbdkit");
        assertThatThrownBy(() -> BlkPaths.checkPaths(List.of("bridge9"))).hasMessageStartingWith("--paths: unknown path");
    }

    @Test
    void fioJsonBecomesASample() throws Exception {
        BlkJob read = BlkJob.parse(List.of("rand4k-qd1"), 8).get(0);
        String json = "{\"jobs\":[{\"error\":0,\"usr_cpu\":20.0,\"sys_cpu\":30.0,\"read\":{\"total_ios\":1000,"
            + "\"iops\":12345.6,\"bw_bytes\":50000000,\"clat_ns\":{\"percentile\":{\"50.000000\":40000,"
            + "\"99.000000\":90000}}},\"write\":{\"total_ios\":0}}]}";
        BlkSample s = FioRunner.parse(new ObjectMapper().readTree(json), read);
        assertThat(s.iops()).isEqualTo(12345.6);
        assertThat(s.megabytesPerSecond()).isEqualTo(50.0);
        assertThat(s.p50Micros()).isEqualTo(40.0);
        assertThat(s.p99Micros()).isEqualTo(90.0);
        assertThat(s.cores()).containsEntry("fio", 0.5);
        assertThat(s.headline(read)).isEqualTo(12345.6);
        BlkJob write = BlkJob.parse(List.of("randwrite4k-qd1"), 8).get(0);
        assertThatThrownBy(() -> FioRunner.parse(new ObjectMapper().readTree(json), write))
            .isInstanceOf(IOException.class).hasMessageContaining("did no I/O");
    }

    @Test
    void sizesBothWays() {
        assertThat(BlkBench.parseSize("16M")).isEqualTo(16L << 20);
        assertThat(BlkBench.parseSize("1GiB")).isEqualTo(1L << 30);
        assertThatThrownBy(() -> BlkBench.parseSize("lots")).hasMessageContaining("expected N, NK, NM or NG");
        assertThat(BlkReport.human(1L << 30)).isEqualTo("1 GiB");
        assertThat(BlkReport.human(16L << 20)).isEqualTo("16 MiB");
        assertThat(BlkReport.human(1000)).isEqualTo("1000 bytes");
    }
}
