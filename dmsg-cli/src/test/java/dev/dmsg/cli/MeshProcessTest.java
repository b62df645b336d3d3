package dev.dmsg.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dmsg.services.shell.ShellClient;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.function.IntBinaryOperator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Five {@code dmsg node} processes on loopback (the mesh issue's "real processes"): in a line they
 * converge, every node's {@code status --json} showing every other at the right dist; {@code dmsg
 * connect} closes the ring and they re-converge; the middle node is killed and what depended on it
 * is withdrawn, the ring routing around it; restarted on the same data directory, it is dialled
 * back by its neighbours' VOLCONF slots (with backoff) and dials its own.
 */
class MeshProcessTest {
    static final int N = 5;
    static final Duration START = Duration.ofSeconds(60);
    static final Duration CONVERGE = Duration.ofSeconds(40);
    static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;

    final ProcessNodes mesh = new ProcessNodes(() -> tmp, N, START);

    /** n → (label → best dist) from the node's status document. */
    Map<String, Integer> dists(int i) throws Exception {
        try (ShellClient c = mesh.client(i)) {
            JsonNode s = JSON.readTree(c.call("status --json", Duration.ofSeconds(5)));
            Map<String, Integer> out = new HashMap<>();
            for (JsonNode span : s.get("spans")) {
                if (!span.get("local").asBoolean()) {
                    out.put(span.get("fs_label").asText(), span.get("dist").asInt());
                }
            }
            assertThat(s.get("node").get("label").asText()).isEqualTo("n" + i);
            return out;
        }
    }

    /** Waits until every live node sees exactly the others with {@code want(i, j)} (-1: absent). */
    void awaitDistances(boolean[] alive, IntBinaryOperator want, String what) throws Exception {
        long deadline = System.nanoTime() + CONVERGE.toNanos();
        String last = "";
        while (System.nanoTime() < deadline) {
            boolean ok = true;
            StringBuilder seen = new StringBuilder();
            for (int i = 0; i < N && ok; i++) {
                if (!alive[i]) {
                    continue;
                }
                Map<String, Integer> d = dists(i);
                seen.append("n").append(i).append(" sees ").append(new TreeMap<>(d)).append('\n');
                Map<String, Integer> expect = new HashMap<>();
                for (int j = 0; j < N; j++) {
                    if (j != i && want.applyAsInt(i, j) >= 0) {
                        expect.put("n" + j, want.applyAsInt(i, j));
                    }
                }
                ok = d.equals(expect);
            }
            last = seen.toString();
            if (ok) {
                return;
            }
            TimeUnit.MILLISECONDS.sleep(200); // polling real processes until they converge, bounded by CONVERGE
        }
        throw new AssertionError(what + ": not converged within " + CONVERGE + "; last seen:\n" + last);
    }

    @Test
    void aLineThenARingConvergeAndHealAroundAKilledNode() throws Exception {
        try {
            NodeProcess.prepareMesh(tmp, "n0", "n1", "n2", "n3", "n4");
            mesh.start(0, 0, null);
            for (int i = 1; i < N; i++) {
                mesh.start(i, 0, i - 1); // a line: n1 -> n0, n2 -> n1, ...
            }
            boolean[] all = {true, true, true, true, true};
            awaitDistances(all, (i, j) -> Math.abs(i - j) - 1, "line");

            // Close the ring with the CLI: n4 keeps a link to n0 (LNK_VOLCONF into n4's table).
            NodeProcess connect = NodeProcess.start("connect", "connect", "127.0.0.1:" + mesh.ports[0],
                "--node", "127.0.0.1:" + mesh.ports[4], "--identity", tmp.resolve("n4").toString());
            assertThat(connect.waitFor(Duration.ofSeconds(30))).as(connect.output()).isZero();
            awaitDistances(all, (i, j) -> ringHops(i, j, N) - 1, "ring");

            // Kill the middle node: it is withdrawn everywhere, the others route around it.
            mesh.nodes[2].kill();
            boolean[] without2 = {true, true, false, true, true};
            // what is left is the line n3 - n4 - n0 - n1
            int[] pos = {2, 3, -1, 0, 1};
            awaitDistances(without2, (i, j) -> j == 2 ? -1 : Math.abs(pos[i] - pos[j]) - 1, "ring without n2");

            // Restart it on the same port and data dir: n3 redials it (backoff), it redials n1 (its slot).
            mesh.start(2, mesh.ports[2], null);
            awaitDistances(all, (i, j) -> ringHops(i, j, N) - 1, "ring after restart");
        } finally {
            mesh.close();
        }
    }

    static int ringHops(int i, int j, int n) {
        int d = Math.abs(i - j);
        return Math.min(d, n - d);
    }
}
