package dev.dmsg.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.dmsg.services.node.Node;
import dev.dmsg.services.testing.TestCluster;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code dmsg health}'s exit codes for scripts (0 ready, 1 not ready with the reason, 2
 * unreachable or a usage error) against an in-process node; and {@code dmsg node --metrics}
 * refusing an address that is not loopback.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class HealthCommandTest extends CliCapture {
    @TempDir
    Path tmp;

    @RegisterExtension
    final TestCluster cluster = new TestCluster(() -> tmp);

    static int deadPort() throws Exception {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort(); // free once closed: nothing listens there
        }
    }

    @Test
    void readyExitsZeroNotReadyOneWithTheReason() throws Exception {
        Node n = cluster.start("alpha");
        String addr = "127.0.0.1:" + n.address().getPort();
        String identity = tmp.resolve("alpha").toString(); // the CLI acts as the node itself (an admin of it)
        assertThat(run("health", "--node", addr, "--identity", identity)).isEqualTo(HealthCommand.READY);
        assertThat(out()).isEqualTo(addr + ": ready\n");

        int dead = deadPort();
        assertThat(n.shell().execute("span 127.0.0.1:" + dead).status()).isZero(); // a link it cannot keep
        assertThat(run("health", "--node", addr, "--identity", identity)).isEqualTo(HealthCommand.NOT_READY);
        assertThat(out()).isEqualTo(addr + ": not ready: no live link: none of 1 configured connection(s) up (127.0.0.1:"
            + dead + ")\n");
    }

    @Test
    void anUnreachableNodeOrAUsageErrorExitsTwo() throws Exception {
        String addr = "127.0.0.1:" + deadPort();
        Path identity = tmp.resolve("cli");
        dev.dmsg.link.tls.NodeKeys.generate("cli").write(identity, false);
        assertThat(run("health", "--node", addr, "--identity", identity.toString())).isEqualTo(HealthCommand.UNREACHABLE);
        assertThat(out()).isEmpty();
        assertThat(err()).contains("dmsg health: ").contains(addr);
        assertThat(run("health", "--bogus")).isEqualTo(2);
        assertThat(err()).contains("Unknown option: '--bogus'");
    }

    @Test
    void nodeRefusesMetricsOnAnAddressThatIsNotLoopback() {
        assertThat(run(nodeArgs(tmp.resolve("x"), "--metrics", "0.0.0.0:0"))).isEqualTo(1);
        assertThat(err()).contains("not a loopback address").contains("--metrics-public");
    }
}
