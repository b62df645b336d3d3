package dev.dmsg.cli;

import static dev.dmsg.services.testing.TestCluster.nodeSpan;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dmsg.services.shell.ShellClient;
import dev.dmsg.testkit.Await;
import java.nio.file.Path;
import java.time.Duration;
import java.util.function.Predicate;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The circuits issue's real processes: four {@code dmsg node} processes in a line, and
 * {@code dmsg shell --node <one end> -c '@<far end> tree'} (a process too) prints the far node's
 * span tree through a circuit across two relays; with the middle node killed the same command
 * fails within a few seconds with a clear error; with the ring closed it re-routes around a
 * killed relay and works again.
 */
@Timeout(300)
class ShellProcessTest {
    static final int N = 4;
    static final Duration START = Duration.ofSeconds(60);
    static final Duration CONVERGE = Duration.ofSeconds(40);
    /** Polling real processes, each poll a TLS shell call: every 200 ms, bounded by CONVERGE. */
    static final Await CONVERGING = Await.atMost(CONVERGE).every(Duration.ofMillis(200));
    /** "Fails within a few seconds": the command's whole run, JVM start included. */
    static final Duration FAIL_FAST = Duration.ofSeconds(15);
    static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;

    final ProcessNodes mesh = new ProcessNodes(() -> tmp, N, START);

    /** Runs {@code dmsg shell --node n<from> -c <command>} as a process. */
    record Run(int status, String output, long millis) {}

    Run shell(int from, String command) throws Exception {
        long t0 = System.nanoTime();
        NodeProcess p = NodeProcess.start("shell", "shell", "--node", "127.0.0.1:" + mesh.ports[from],
            "--identity", tmp.resolve("n" + from).toString(), "-c", command);
        int status = p.waitFor(Duration.ofSeconds(120));
        p.close();
        return new Run(status, p.output(), (System.nanoTime() - t0) / 1_000_000);
    }

    /** Waits until node {@code i}'s status document satisfies {@code p}. */
    void await(int i, Predicate<JsonNode> p, String what) throws Exception {
        CONVERGING.untilValue(() -> {
            try (ShellClient c = mesh.client(i)) {
                return JSON.readTree(c.call("status --json", Duration.ofSeconds(5)));
            }
        }, p, what);
    }

    @Test
    void atFarEndTreeWorksFailsFastWhenTheMiddleDiesAndReRoutesInARing() throws Exception {
        try {
            NodeProcess.prepareMesh(tmp, "n0", "n1", "n2", "n3");
            mesh.start(0, 0, null);
            for (int i = 1; i < N; i++) {
                mesh.start(i, 0, i - 1); // a line: n1 -> n0, n2 -> n1, n3 -> n2
            }
            await(0, s -> nodeSpan(s, "n3") != null && nodeSpan(s, "n3").get("dist").asInt() == 2, "n0 sees n3 at dist 2");

            Run ok = shell(0, "@n3 tree");
            assertThat(ok.status).as(ok.output).isZero();
            assertThat(ok.output).contains("(n3) dist 0 [this node]").contains("(n0) dist 2");

            // The middle node dies: n3 is out of reach, and the command says so at once.
            mesh.nodes[1].kill();
            Run gone = shell(0, "@n3 tree");
            assertThat(gone.status).as(gone.output).isNotZero();
            assertThat(gone.output).contains("no node 'n3' in the mesh");
            assertThat(gone.millis).as("failed within a few seconds").isLessThan(FAIL_FAST.toMillis());

            // Back, and the ring closed (n0 keeps a link to n3): two ways from n0 to n2.
            mesh.start(1, mesh.ports[1], 0);
            NodeProcess connect = NodeProcess.start("connect", "connect", "127.0.0.1:" + mesh.ports[3],
                "--node", "127.0.0.1:" + mesh.ports[0], "--identity", tmp.resolve("n0").toString());
            assertThat(connect.waitFor(Duration.ofSeconds(60))).as(connect.output()).isZero();
            await(0, s -> nodeSpan(s, "n2") != null && nodeSpan(s, "n2").get("links").size() == 2, "two paths from n0 to n2");
            Run ring = shell(0, "@n2 tree");
            assertThat(ring.status).as(ring.output).isZero();
            assertThat(ring.output).contains("(n2) dist 0 [this node]");

            // A relay dies; the same command goes the other way round.
            mesh.nodes[1].kill();
            Run reRouted = shell(0, "@n2 tree");
            assertThat(reRouted.status).as(reRouted.output).isZero();
            assertThat(reRouted.output).contains("(n2) dist 0 [this node]");
            assertThat(reRouted.millis).isLessThan(FAIL_FAST.toMillis());
            Run ping = shell(0, "ping n2 2");
            assertThat(ping.status).as(ping.output).isZero();
            assertThat(ping.output).contains("via n3").contains("2 sent, 2 received");
        } finally {
            mesh.close();
        }
    }
}
