package dev.dmsg.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two {@code dmsg node} processes on loopback: they link up, stay up through 15 s of idleness on
 * LNK_PING alone (the dead timeout is 10 s), and when one is killed with SIGKILL the other reports
 * the link down and the transactions it aborted.
 */
@Timeout(120)
class NodeProcessTest {
    static final Duration START = Duration.ofSeconds(30);

    @TempDir
    Path tmp;

    @Test
    void twoNodesLinkUpSurviveIdleAndReportAKill() throws Exception {
        NodeProcess.prepareMesh(tmp, "alpha", "beta"); // keys, and each trusts the other (TLS by default)
        try (NodeProcess alpha = NodeProcess.start("alpha", "node", "--listen", "127.0.0.1:0", "--label", "alpha",
                "--data-dir", tmp.resolve("alpha").toString())) {
            String listening = alpha.await("listening on", START);
            Matcher m = Pattern.compile("listening on 127\\.0\\.0\\.1:(\\d+)").matcher(listening);
            assertThat(m.find()).as(listening).isTrue();
            String port = m.group(1);

            try (NodeProcess beta = NodeProcess.start("beta", "node", "--listen", "127.0.0.1:0", "--label", "beta",
                    "--data-dir", tmp.resolve("beta").toString(), "--connect", "127.0.0.1:" + port)) {
                beta.await("link up: alpha", START);
                alpha.await("link up: beta", START);
                beta.await("link alpha: peer accepted our LNK_CONN", START);

                // 15 s with no traffic but PINGs: the 10 s dead timeout must never fire.
                Optional<String> down = beta.find(l -> l.contains("link down"), Duration.ofSeconds(15));
                assertThat(down).as("beta output:\n%s", beta.output()).isEmpty();
                assertThat(alpha.find(l -> l.contains("link down"), Duration.ZERO)).isEmpty();

                alpha.kill();
                String report = beta.await("link down: alpha", Duration.ofSeconds(15));
                assertThat(report).containsAnyOf("EOF from peer", "Connection reset").contains("4 open transaction(s) aborted");
                Matcher pings = Pattern.compile("(\\d+) pings sent").matcher(report);
                assertThat(pings.find()).isTrue();
                assertThat(Integer.parseInt(pings.group(1))).as("PINGs beta sent while idle").isGreaterThanOrEqualTo(10);
                // both LNK_CONNs, alpha's span to beta and beta's own span relayed to alpha (listed by
                // command at DEBUG only: a link's own transactions die with every link)
                assertThat(report).contains("; 4 open transaction(s) aborted;");
                // beta keeps trying to get its --connect link back
                beta.await("retrying in", Duration.ofSeconds(15));

                int status = beta.terminate(Duration.ofSeconds(15));
                assertThat(status).as("exit status after SIGTERM; output:\n%s", beta.output()).isIn(0, 143);
                beta.await("stopping: withdrawing spans", Duration.ofSeconds(5));
                beta.await("stopped", Duration.ofSeconds(5));
            }
        }
    }
}
