package dev.dmsg.cli;

import dev.dmsg.link.tls.Role;
import dev.dmsg.services.node.Node;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

/**
 * What every part of {@code dmsg demo} shares: the narration (one line per event, stamped with
 * the seconds since the demo began, then who speaks), and starting and watching the full nodes
 * of parts two to four.
 */
final class DemoNarrator {
    final PrintStream out;
    private final long t0 = System.nanoTime();

    DemoNarrator(PrintStream out) {
        this.out = out;
    }

    void say(String who, String fmt, Object... args) {
        out.printf("[%6.3fs] %-6s %s%n", (System.nanoTime() - t0) / 1e9, who, String.format(fmt, args));
    }

    /** Starts nodes PREFIX1..PREFIXn of cluster "demo" on loopback into {@code nodes} (closed by the caller). */
    void startNodes(Path dir, String prefix, int n, List<Node> nodes)
            throws Exception {
        for (int i = 1; i <= n; i++) {
            nodes.add(Node.start(Node.Settings.of("127.0.0.1", 0,
                dir.resolve(prefix + i), Node.Identity.of(prefix + i, "demo"))));
        }
        // What operators do with 'dmsg trust add' on each node: pin the other nodes' keys as members.
        for (int i = 0; i < n; i++) {
            for (int j = i + 1; j < n; j++) {
                Node.trustEachOther(nodes.get(i), nodes.get(j), Role.MEMBER);
            }
        }
        say("demo", "%s1..%s%d: each made its key (node.key, owner-only) and pins the others' as members; e.g. %s1 is %s",
            prefix, prefix, n, prefix, nodes.get(0).keys().fingerprint());
    }

    /** Waits until {@code node} sees exactly {@code want} (label -> dist) besides itself. */
    static boolean awaitDists(Node node, Map<String, Integer> want)
            throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (System.nanoTime() < deadline) {
            Map<String, Integer> have = new HashMap<>();
            for (var sp : node.status().get("spans")) {
                if (!sp.get("local").asBoolean()) {
                    have.put(sp.get("fs_label").asText(), sp.get("dist").asInt());
                }
            }
            if (have.equals(want)) {
                return true;
            }
            Thread.sleep(50);
        }
        return false;
    }

    static String indent(String text) {
        return text.lines().map(l -> "           " + l + "\n").collect(Collectors.joining());
    }

    /** A DBG_ECHO payload: the text, NUL-terminated as the C tools send it. */
    static ByteBuf text(String s) {
        return Unpooled.copiedBuffer(s + "\0", StandardCharsets.UTF_8);
    }
}
