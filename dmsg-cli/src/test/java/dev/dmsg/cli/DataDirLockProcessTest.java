package dev.dmsg.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * One live node per data directory (DataDirLock): a second node process on the directory of a
 * running one exits 1 naming the holder's pid; once the holder is killed with SIGKILL (no
 * chance to clean up), the directory is free at once.
 */
@Timeout(60)
class DataDirLockProcessTest {
    private static final Duration START = Duration.ofSeconds(30);

    @TempDir
    Path tmp;

    @Test
    void secondNodeOnTheSameDirectoryIsRefusedUntilTheFirstDies() throws Exception {
        Path dir = tmp.resolve("alpha");
        try (NodeProcess first = NodeProcess.startNode("alpha", dir, 0, List.of(), START, NodeProcess.QUICK_START)) {
            assertThat(Files.readString(dir.resolve(DataDirLock.FILE)).trim()).isEqualTo(Long.toString(first.pid()));
            // text lines carry the date (issue 18): 2026-12-07T10:00:00.123Z INFO  node - node alpha listening on …
            assertThat(first.await("listening on", START)).matches("\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}(Z|[+-]\\d\\d:\\d\\d) INFO .*");
            try (NodeProcess second = NodeProcess.start("alpha-2", NodeProcess.QUICK_START, "node", "--listen",
                    "127.0.0.1:0", "--label", "alpha", "--data-dir", dir.toString())) {
                assertThat(second.waitFor(START)).as(second.output()).isEqualTo(1);
                assertThat(second.output()).contains("data directory " + dir + " is in use by another node (pid "
                    + first.pid() + ", " + dir.resolve(DataDirLock.FILE) + ")");
                assertThat(second.output()).doesNotContain("listening on");
            }
            assertThat(first.isAlive()).isTrue();
            first.kill(); // SIGKILL: the lock file stays behind, the OS lock does not
        }
        try (NodeProcess again = NodeProcess.startNode("alpha", dir, 0, List.of(), START, NodeProcess.QUICK_START)) {
            assertThat(again.terminate(START)).isIn(0, 143);
        }
    }

    @Test
    void labelFromHostName() {
        assertThat(HostName.fromHostName("db1.example.org")).isEqualTo("db1");
        assertThat(HostName.fromHostName("web_01")).isEqualTo("web_01");
        assertThat(HostName.fromHostName("")).isEqualTo("node");
        assertThat(HostName.fromHostName("a b")).isEqualTo("a_b");
    }
}
