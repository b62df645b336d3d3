package dev.dmsg.bench.driver;

import static org.assertj.core.api.Assertions.assertThat;

import dev.dmsg.bench.driver.Report.Verdict;
import dev.dmsg.testkit.LeakDetector;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import picocli.CommandLine;

/**
 * Every bench scenario runs to the end against an in-process server, with leak detection on, and
 * yields its rows. Deliberately asserts nothing about speed or memory: numbers from a unit-test
 * JVM under PARANOID leak tracking mean nothing (docs/BENCHMARKS.md has the real runs).
 */
@ExtendWith(LeakDetector.class)
class BenchSmokeTest {
    @Test
    void everyScenarioRunsAndReports() throws Exception {
        BenchOptions o = new BenchOptions();
        new CommandLine(o).parseArgs("--seconds", "0.2", "--warmup", "0", "--first-warmup", "0", "--reps", "1",
            "--slow-seconds", "0.5", "--batch", "64");
        assertThat(o.valid(System.err)).isTrue();
        ByteArrayOutputStream text = new ByteArrayOutputStream();
        PrintStream out = new PrintStream(text, true, StandardCharsets.UTF_8);
        try (BenchServer server = new BenchServer()) {
            server.start("127.0.0.1", 0, 0);
            try (BenchClient client = new BenchClient(o, "127.0.0.1", server.dmsgPort, server.rawPort, out)) {
                client.run();
                assertThat(client.failures).as(text.toString(StandardCharsets.UTF_8)).isZero();
                List<String> scenarios = client.rows.stream().map(Report.Row::scenario).toList();
                assertThat(scenarios).containsExactly("oneway64 (event loop)", "oneway64 (own thread)",
                    "bulk64k (event loop)", "bulk64k (own thread)", "pipeline128", "rtt",
                    "slowconsumer producer", "slowconsumer consumer");
                assertThat(client.rows).noneMatch(r -> r.verdict() == Verdict.FAILED);
            }
        }
        assertThat(text.toString(StandardCharsets.UTF_8)).contains("scenario", "DMSG/raw", "target");
    }

    @Test
    void unknownScenarioIsAUsageError() {
        BenchOptions o = new BenchOptions();
        new CommandLine(o).parseArgs("--scenarios", "oneway64,warp");
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        assertThat(o.valid(new PrintStream(err, true, StandardCharsets.UTF_8))).isFalse();
        assertThat(err.toString(StandardCharsets.UTF_8)).contains("unknown scenario 'warp'");
    }

    @Test
    void controlAnswersParse() {
        assertThat(BenchProtocol.parse(" msgs=12 bytes=0  reset ")).containsEntry("msgs", "12")
            .containsEntry("bytes", "0").containsEntry("reset", "");
        assertThat(Report.median(List.of(3.0, 1.0, 2.0))).isEqualTo(2.0);
        assertThat(Report.median(List.of(4.0, 1.0, 2.0, 3.0))).isEqualTo(2.5);
        MemorySampler.Peak p = new MemorySampler.Peak(5L << 20, 1L << 20, 3L << 20, 2L << 20);
        assertThat(MemorySampler.decode(MemorySampler.encode(List.of(p, p)))).containsExactly(p, p);
    }
}
