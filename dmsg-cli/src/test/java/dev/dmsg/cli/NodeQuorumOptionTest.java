package dev.dmsg.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.dmsg.quorum.raft.RaftHost;
import dev.dmsg.services.node.Node;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * {@code dmsg node --quorum-snapshot-every N} and the hidden testing knobs {@code
 * --quorum-segment-bytes} and {@code --quorum-election-timeout} (docs/QUORUM.md §8) reach the
 * node's settings; out of range, the node stops at start with exit 1 naming the value.
 */
@Timeout(30)
class NodeQuorumOptionTest extends CliCapture {
    @TempDir
    Path tmp;

    Node.Settings settings(String... args) throws Exception {
        NodeCommand cmd = new NodeCommand();
        new CommandLine(cmd).parseArgs(args);
        return cmd.settings(tmp.resolve("x"), "x");
    }

    @Test
    void theDefaultsAreRaftHostsAndTheOptionsReachTheSettings() throws Exception {
        assertThat(settings().quorumRaft()).isEqualTo(RaftHost.Settings.defaults());
        RaftHost.Settings s = settings("--quorum-snapshot-every", "200", "--quorum-segment-bytes", "8192",
            "--quorum-election-timeout", "600ms").quorumRaft();
        assertThat(s.snapshotThreshold()).isEqualTo(200);
        assertThat(s.segmentBytes()).isEqualTo(8192);
        assertThat(s.electionTimeoutMin()).isEqualTo(Duration.ofMillis(600));
        assertThat(s.electionTimeoutMax()).isEqualTo(Duration.ofMillis(1200));
        assertThat(s.requestTimeout()).isEqualTo(RaftHost.Settings.defaults().requestTimeout());
    }

    @Test
    void outOfRangeStopsTheNodeAtStart() {
        assertThat(run(nodeArgs(tmp.resolve("x"), "--quorum-segment-bytes", "100"))).isEqualTo(1);
        assertThat(err()).contains("segmentBytes 100 >= 1024");
        assertThat(run(nodeArgs(tmp.resolve("x"), "--quorum-snapshot-every", "0"))).isEqualTo(1);
        assertThat(err()).contains("snapshotThreshold 0 must be >= 1");
    }

    @Test
    void onlyTheSnapshotOptionIsInTheHelp() {
        assertThat(run("node", "--help")).isZero();
        assertThat(out()).contains("--quorum-snapshot-every").doesNotContain("--quorum-segment-bytes")
            .doesNotContain("--quorum-election-timeout");
    }
}
