package dev.dmsg.bench.driver;

import static org.assertj.core.api.Assertions.assertThat;

import dev.dmsg.testkit.DebianTools;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import picocli.CommandLine;

/**
 * {@code bench lock} runs end to end — three member processes of ours and three etcd processes,
 * every workload, tiny counts — and prints every figure, measured, with no failed operation.
 * Asserts nothing about speed (docs/BENCHMARKS.md has the real runs); this keeps the benchmark
 * from rotting.
 */
@Timeout(120)
class LockBenchSmokeTest {
    /** A table row: the figure, then per system ops/s, p50 / p99, CPU; then the ratios. */
    private static final Pattern ROW = Pattern.compile(
        "\\| ([^|]+) \\| (\\d+) \\| ([\\d.]+) / ([\\d.]+) \\| [^|]+ \\| (\\d+) \\| ([\\d.]+) / ([\\d.]+) \\| [^|]+ \\| [^|]+ \\|");

    private static String[] run(String... args) {
        PrintStream saved = System.out;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        int status;
        try {
            System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
            status = new CommandLine(new LockBench()).execute(args);
        } finally {
            System.setOut(saved);
        }
        return new String[] {Integer.toString(status), buf.toString(StandardCharsets.UTF_8)};
    }

    @Test
    void aShortRunOfBothSystemsReportsEveryFigure() {
        DebianTools.require("etcd");
        String[] r = run("--reps", "1", "--seconds", "0.5", "--warmup", "0", "--first-warmup", "0.5",
            "--clients", "1,4", "--handoff-clients", "3");
        assertThat(r[0]).as(r[1]).isEqualTo("0");
        assertThat(r[1]).contains("ours: 3 member processes (TLS, fully meshed").contains("etcd: etcd Version: 3.4")
            .contains("| figure | ours ops/s | ours p50 / p99 (ms) |").contains("| ours ÷ etcd: ops/s, p50 |")
            .doesNotContain("errors, first").doesNotContain("NaN").doesNotContain("Infinity");
        for (String figure : new String[] {"uncontended acquire+release, 1 client",
            "uncontended acquire+release, 4 clients", "hand-off on one key, 3 clients", "revoke, 1 holder + 1 waiter"}) {
            Matcher m = Pattern.compile(Pattern.quote("| " + figure + " |") + ".*").matcher(r[1]);
            assertThat(m.find()).as(figure + " in\n" + r[1]).isTrue();
            Matcher row = ROW.matcher(m.group());
            assertThat(row.matches()).as(m.group()).isTrue();
            // measured: operations counted, and their latency, for both systems
            assertThat(Long.parseLong(row.group(2))).as("ours ops/s: " + m.group()).isPositive();
            assertThat(Double.parseDouble(row.group(3))).as("ours p50: " + m.group()).isPositive();
            assertThat(Long.parseLong(row.group(5))).as("etcd ops/s: " + m.group()).isPositive();
            assertThat(Double.parseDouble(row.group(6))).as("etcd p50: " + m.group()).isPositive();
        }
    }

    @Test
    void helpDocumentsEveryOption() {
        CommandLine cmd = new CommandLine(new LockBench());
        String help = cmd.getUsageMessage();
        for (CommandLine.Model.OptionSpec o : cmd.getCommandSpec().options()) {
            assertThat(String.join(" ", o.description())).as(o.longestName()).isNotBlank();
            assertThat(help).contains(o.longestName());
        }
        assertThat(help).contains("/v3/lock/lock").contains("not tmpfs");
    }

    @Test
    void badOptionsAreAUsageError() {
        assertThat(new CommandLine(new LockBench()).execute("--systems", "zookeeper")).isEqualTo(2);
        assertThat(new CommandLine(new LockBench()).execute("--clients", "65")).isEqualTo(2);
        assertThat(new CommandLine(new LockBench()).execute("--handoff-clients", "1")).isEqualTo(2);
        assertThat(new CommandLine(new LockBench()).execute("--scenarios", "steal")).isEqualTo(2);
        assertThat(new CommandLine(new LockBench()).execute("--systems", "etcd", "--etcd", "/nonexistent/etcd"))
            .isEqualTo(2);
    }
}
