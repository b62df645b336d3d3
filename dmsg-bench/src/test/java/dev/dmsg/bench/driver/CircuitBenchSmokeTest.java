package dev.dmsg.bench.driver;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import picocli.CommandLine;

/**
 * {@code bench circuit} runs end to end — a far node and a relay as real processes, a circuit
 * across 0 and 1 relays, every scenario — and prints its table. Asserts nothing about speed
 * (docs/BENCHMARKS.md has the real runs); this keeps the benchmark from rotting.
 */
@Timeout(180)
class CircuitBenchSmokeTest {
    @Test
    void aShortRunAcrossZeroAndOneRelayReportsEveryPath() {
        PrintStream saved = System.out;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        int status;
        try {
            System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
            status = new CommandLine(new CircuitBench()).execute("--relays", "0,1", "--reps", "1", "--seconds", "0.2",
                "--warmup", "0", "--first-warmup", "0.3", "--circuit-auth", "both", "--opens", "3");
        } finally {
            System.setOut(saved);
        }
        String out = buf.toString(StandardCharsets.UTF_8);
        assertThat(status).as(out).isZero();
        assertThat(out).contains("| link (circuit 0) | 1 |").contains("| circuit, 0 relays | 1 |")
            .contains("| circuit, 1 relay, sealed | 2 |").contains("| circuit, 0 relays, no circuit auth | 1 |")
            .contains("| circuit, 1 relay, no circuit auth | 2 |").contains("   circuit open: p50 ")
            .contains("cost per relay, 0 -> 1 relays").doesNotContain("NaN");
    }

    @Test
    void badOptionsAreAUsageError() {
        assertThat(new CommandLine(new CircuitBench()).execute("--scenarios", "warp")).isEqualTo(2);
        assertThat(new CommandLine(new CircuitBench()).execute("--relays", "9")).isEqualTo(2);
    }
}
