package dev.dmsg.bench.driver;

import static org.assertj.core.api.Assertions.assertThat;

import dev.dmsg.testkit.DebianTools;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import picocli.CommandLine;

/**
 * {@code bench quorum} runs end to end — three member processes of ours and three etcd processes,
 * every scenario, tiny counts — and prints every figure with no failed operation. Asserts nothing
 * about speed (docs/BENCHMARKS.md has the real runs); this keeps the benchmark from rotting.
 */
@Timeout(120)
class QuorumBenchSmokeTest {
    private static String[] run(String... args) {
        PrintStream saved = System.out;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        int status;
        try {
            System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
            status = new CommandLine(new QuorumBench()).execute(args);
        } finally {
            System.setOut(saved);
        }
        return new String[] {Integer.toString(status), buf.toString(StandardCharsets.UTF_8)};
    }

    @Test
    void aShortRunOfBothSystemsReportsEveryFigure() {
        DebianTools.require("etcd");
        String[] r = run("--reps", "1", "--seconds", "0.3", "--warmup", "0", "--first-warmup", "0.5",
            "--clients", "1,4", "--read-clients", "4");
        assertThat(r[0]).as(r[1]).isEqualTo("0");
        assertThat(r[1]).contains("ours: 3 member processes (TLS, fully meshed").contains("etcd: etcd Version: 3.4")
            .contains("| one-phase put, 1 client |").contains("| one-phase put, 4 clients |")
            .contains("| two-phase commit, 1 client |").contains("| two-phase commit, 4 clients |")
            .contains("| linearizable read, 4 clients |")
            .contains("ours: two-phase over one-phase, 4 clients").contains("etcd: two-phase over one-phase, 4 clients")
            .doesNotContain("errors, first").doesNotContain("NaN");
    }

    @Test
    void helpDocumentsEveryOption() {
        CommandLine cmd = new CommandLine(new QuorumBench());
        String help = cmd.getUsageMessage();
        for (CommandLine.Model.OptionSpec o : cmd.getCommandSpec().options()) {
            assertThat(o.description()).as(o.longestName()).isNotEmpty();
            assertThat(String.join(" ", o.description())).as(o.longestName()).isNotBlank();
            assertThat(help).contains(o.longestName());
        }
        assertThat(help).contains("--member-jvm-opt").contains("--etcd").contains("--dir").contains("not tmpfs");
    }

    @Test
    void badOptionsAreAUsageError() {
        assertThat(new CommandLine(new QuorumBench()).execute("--systems", "zookeeper")).isEqualTo(2);
        assertThat(new CommandLine(new QuorumBench()).execute("--clients", "65")).isEqualTo(2);
        assertThat(new CommandLine(new QuorumBench()).execute("--scenarios", "scan")).isEqualTo(2);
        assertThat(new CommandLine(new QuorumBench()).execute("--systems", "etcd", "--etcd", "/nonexistent/etcd"))
            .isEqualTo(2);
    }
}
