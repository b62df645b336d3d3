package dev.dmsg.bench.driver;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dmsg.testkit.DebianTools;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import picocli.CommandLine;

/**
 * {@code bench blk} runs end to end — nbdkit, the exporting node and a relay as real processes,
 * the bridge and the Java client in this JVM, every job — and reports every figure. Asserts
 * nothing about speed (docs/BENCHMARKS.md has the real runs); this keeps the benchmark from
 * rotting.
 */
@Timeout(300)
class BlkBenchSmokeTest {
    private static final List<String> JOBS = List.of("rand4k-qd1", "rand4k-qd32", "seqread64k", "seqwrite64k");

    @BeforeAll
    static void tools() {
        DebianTools.require("fio", "nbdkit");
    }

    private static String[] run(String... args) {
        PrintStream saved = System.out;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        int status;
        try {
            System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
            status = new CommandLine(new BlkBench()).execute(args);
        } finally {
            System.setOut(saved);
        }
        return new String[] {Integer.toString(status), buf.toString(StandardCharsets.UTF_8)};
    }

    @Test
    void jsonReportHasEveryJobOnEveryPathWithRatiosAndTargets() throws Exception {
        String[] r = run("--size", "16M", "--reps", "1", "--runtime", "0.5", "--ramp", "0", "--warmup", "0",
            "--paths", "nbdkit,nbd-local,bridge0,bridge1,java0,java1", "--json");
        assertThat(r[0]).as(r[1]).isEqualTo("0");
        JsonNode root = new ObjectMapper().readTree(r[1]);
        assertThat(root.path("tls").asText()).isEqualTo("AUTO");
        assertThat(root.path("meshLinks").asText()).startsWith("TLS");
        assertThat(root.path("jobs")).hasSize(4);
        for (int i = 0; i < JOBS.size(); i++) {
            JsonNode j = root.path("jobs").path(i);
            assertThat(j.path("id").asText()).isEqualTo(JOBS.get(i));
            for (String p : List.of("nbdkit", "nbd-local", "bridge0", "bridge1", "java0", "java1")) {
                JsonNode x = j.path("paths").path(p);
                assertThat(x.path("median").asDouble()).as("%s %s", j.path("id"), p).isPositive();
                assertThat(x.path("reps")).hasSize(1);
                assertThat(x.path("p50Micros").asDouble()).as("%s %s p50", j.path("id"), p).isPositive();
                assertThat(x.path("cpuCores").size()).as("%s %s cpu", j.path("id"), p).isPositive();
                if (!p.equals("nbdkit")) {
                    assertThat(x.path("ratioToNbdkit").asDouble()).isPositive();
                }
            }
            assertThat(j.path("paths").path("nbdkit").path("cpuCores").has("nbdkit")).isTrue();
            assertThat(j.path("paths").path("bridge1").path("cpuCores").has("r1")).isTrue();
        }
        assertThat(root.path("targets")).hasSize(4);
        assertThat(root.path("targets").path(0).path("path").asText()).isEqualTo("bridge0");
        assertThat(root.path("exportDist").size()).isEqualTo(2);
    }

    @Test
    void tableReportOverPlaintextLinks() {
        String[] r = run("--size", "8M", "--reps", "2", "--runtime", "0.3", "--ramp", "0", "--warmup", "0",
            "--jobs", "rand4k-qd32,seqwrite64k", "--paths", "nbdkit,bridge0,java0", "--tls", "OFF");
        assertThat(r[0]).as(r[1]).isEqualTo("0");
        assertThat(r[1]).contains("mesh links: plaintext")
            .contains("| job | unit | nbdkit file | bridge, 0 relays | Java client, 0 relays |")
            .contains("| 4 KiB random read, QD32 | IOPS |").contains("| 64 KiB sequential write, QD8 | MB/s |")
            .contains("targets, bridge with 0 relays ÷ nbdkit:").contains("rand4k-qd32 bridge0 reps: ")
            .doesNotContain("NaN").doesNotContain("failed");
    }

    @Test
    void badOptionsAreAUsageError() {
        assertThat(new CommandLine(new BlkBench()).execute("--jobs", "warp")).isEqualTo(2);
        assertThat(new CommandLine(new BlkBench()).execute("--paths", "bridge9")).isEqualTo(2);
        assertThat(new CommandLine(new BlkBench()).execute("--size", "lots")).isEqualTo(2);
        assertThat(new CommandLine(new BlkBench()).execute("--tls", "maybe")).isEqualTo(2);
    }
}
