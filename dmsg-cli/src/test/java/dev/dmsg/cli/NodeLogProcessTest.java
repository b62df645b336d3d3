package dev.dmsg.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 18's logging: a node's log in JSON lines ({@code --log-format json}) at the level asked
 * for ({@code --log-level}), and tools calling the node ({@code dmsg status} through the shell
 * client, {@code dmsg blk ls} through a guest node) add no INFO line to it: their links are
 * logged at DEBUG. The node runs at DEBUG so that the test can wait for each tool link's
 * "link down" line instead of sleeping, and then look at everything logged since the call.
 */
@Timeout(90)
class NodeLogProcessTest {
    private static final Duration WAIT = Duration.ofSeconds(30);
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;

    @Test
    void toolsCallingANodeAddNoInfoLinesToItsLog() throws Exception {
        Path dir = tmp.resolve("alpha");
        try (NodeProcess node = NodeProcess.startNode("alpha", dir, 0, List.of(), WAIT, NodeProcess.QUICK_START,
                "--log-level", "debug", "--log-format", "json")) {
            String at = "127.0.0.1:" + node.port();
            int before = lines(node).size();
            assertThat(Main.run("status", "--node", at, "--identity", dir.toString())).isZero();
            awaitToolLinkDown(node, 1);
            assertThat(Main.run("blk", "ls", "--node", at, "--identity", dir.toString(), "--wait", "1s")).isZero();
            awaitToolLinkDown(node, 2);

            List<JsonNode> all = new ArrayList<>();
            for (String line : lines(node)) {
                all.add(JSON.readTree(line)); // every line one JSON object
            }
            assertThat(all).allSatisfy(j -> assertThat(j.path("timestamp").isNumber()).isTrue());
            List<JsonNode> since = all.subList(before, all.size());
            assertThat(since).as("what the node logged for the two calls").isNotEmpty()
                .allSatisfy(j -> assertThat(j.path("level").asText()).as(j.toString()).isEqualTo("DEBUG"));
            assertThat(since).anySatisfy(j -> assertThat(j.path("formattedMessage").asText())
                .startsWith("link up: ").endsWith(", a tool"));
            assertThat(node.terminate(WAIT)).isIn(0, 143);
        }
    }

    /** Waits for the {@code n}th "link down" of a tool (the node's DEBUG line). */
    private static void awaitToolLinkDown(NodeProcess node, int n) throws InterruptedException {
        int[] seen = {0};
        node.find(l -> l.contains("\"link down: ") && ++seen[0] == n, WAIT)
            .orElseThrow(() -> new AssertionError("no tool link down #" + n + ":\n" + node.output()));
    }

    private static List<String> lines(NodeProcess node) {
        return node.output().lines().filter(l -> l.startsWith("{")).toList();
    }
}
