package dev.dmsg.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A cluster CA with real processes (docs/IDENTITY.md §2, docs/OPERATIONS.md "A cluster CA"): the
 * operator's commands for five nodes, run as they are typed — {@code dmsg ca init}, {@code dmsg
 * ca issuer}, n1's {@code dmsg node}, one {@code dmsg ca token --count 4}, then one
 * {@code dmsg node --join TOKEN@HOST:PORT} per new node — and every node's {@code dmsg status}
 * showing the four others. Then {@code dmsg ca revoke n3}, installed on n1 only: n1 closes n3's
 * link within a second of the list changing and refuses it from then on, the list reaches the
 * other nodes over their links (LNK_CRL), which refuse n3 too, and the rest of the mesh keeps
 * working. A joined node restarted with the same command line is back without a new token.
 */
@Timeout(300)
class CaProcessTest extends CliCapture {
    static final Duration START = Duration.ofSeconds(60);
    static final ObjectMapper JSON = new ObjectMapper();
    static final List<String> NODES = List.of("n1", "n2", "n3", "n4", "n5");

    @TempDir
    Path tmp;

    @Test
    void fiveNodesJoinWithOneCommandEachAndARevokedNodeIsCutOffWithinASecond() throws Exception {
        Path ca = tmp.resolve("ca");
        Map<String, Path> dir = new LinkedHashMap<>();
        NODES.forEach(n -> dir.put(n, tmp.resolve(n)));
        List<String> typed = new ArrayList<>();
        Map<String, NodeProcess> procs = new LinkedHashMap<>();
        Map<String, Integer> port = new LinkedHashMap<>();
        try {
            // 1, 2: the root (offline from now on) and n1 as an issuer of members
            typed.add("dmsg ca init --ca-dir ca --name prod");
            assertThat(run("ca", "init", "--ca-dir", ca.toString(), "--name", "prod")).as(err()).isZero();
            typed.add("dmsg ca issuer --ca-dir ca --data-dir n1 --label n1 --max-role member");
            assertThat(run("ca", "issuer", "--ca-dir", ca.toString(), "--data-dir", dir.get("n1").toString(), "--label", "n1",
                "--max-role", "member")).as(err()).isZero();
            // 3: n1 runs
            typed.add("dmsg node --label n1 --listen 127.0.0.1:0 --data-dir n1");
            NodeProcess n1 = NodeProcess.startNode("n1", dir.get("n1"), 0, List.of(), START, NodeProcess.QUICK_START);
            procs.put("n1", n1);
            port.put("n1", n1.port());
            // 4: four tokens
            typed.add("dmsg ca token --data-dir n1 --role member --ttl 1h --count 4");
            assertThat(run("ca", "token", "--data-dir", dir.get("n1").toString(), "--role", "member", "--ttl", "1h",
                "--count", "4")).as(err()).isZero();
            List<String> tokens = out().lines().filter(l -> l.startsWith("dmsgjoin1.")).toList();
            assertThat(tokens).hasSize(4);

            // 5..8: one command on each new machine, all at once
            Map<String, String> joinCommand = new LinkedHashMap<>();
            long started = System.nanoTime();
            for (int i = 1; i < NODES.size(); i++) {
                String n = NODES.get(i);
                String spec = tokens.get(i - 1) + "@127.0.0.1:" + n1.port();
                typed.add("dmsg node --join TOKEN" + i + "@127.0.0.1:" + n1.port() + " --label " + n + " --listen 127.0.0.1:0");
                joinCommand.put(n, spec);
                procs.put(n, NodeProcess.start(n, NodeProcess.QUICK_START, "node", "--join", spec, "--label", n,
                    "--listen", "127.0.0.1:0", "--data-dir", dir.get(n).toString()));
            }
            List<Long> joinMillis = new ArrayList<>();
            for (int i = 1; i < NODES.size(); i++) {
                String n = NODES.get(i);
                NodeProcess p = procs.get(n);
                String joined = p.await("joined cluster 'prod'", START);
                assertThat(joined).contains("as " + n + " (member)");
                Matcher ms = Pattern.compile("in (\\d+) ms").matcher(joined);
                assertThat(ms.find()).isTrue();
                joinMillis.add(Long.parseLong(ms.group(1)));
                Matcher m = Pattern.compile("listening on 127\\.0\\.0\\.1:(\\d+)").matcher(p.await("listening on", START));
                assertThat(m.find()).isTrue();
                port.put(n, Integer.parseInt(m.group(1)));
                p.await("link up: n1", START);
            }
            long allUpMs = (System.nanoTime() - started) / 1_000_000;
            realErr().println("join exchanges (TLS, token, signing, answer; cold JVMs, four at once), ms: " + joinMillis
                + "; all four started, joined and linked to n1 in " + allUpMs + " ms");
            realErr().println("the operator typed " + typed.size() + " commands for " + NODES.size() + " nodes:");
            typed.forEach(t -> realErr().println("  " + t));
            assertThat(typed).hasSize(8);

            // every node's status shows the four others
            for (String n : NODES) {
                awaitSpans(n, port.get(n), dir.get(n), Set.copyOf(NODES));
            }
            assertThat(run("status", "--node", "127.0.0.1:" + port.get("n2"), "--identity", dir.get("n2").toString()))
                .as(err()).isZero();
            assertThat(out()).contains("n1").contains("n3").contains("n4").contains("n5");

            // n3 dials n2 directly as well (run on n3, as n3 itself): two links to cut
            assertThat(run("connect", "127.0.0.1:" + port.get("n2"), "--node", "127.0.0.1:" + port.get("n3"),
                "--identity", dir.get("n3").toString())).as(err()).isZero();
            procs.get("n2").await("link up: n3", START);

            // revoke n3, installed on n1 only
            long t0 = System.nanoTime();
            assertThat(run("ca", "revoke", "--ca-dir", ca.toString(), "n3", "--data-dir", dir.get("n1").toString()))
                .as(err()).isZero();
            long t1 = System.nanoTime();
            assertThat(out()).contains("revoked n3");
            procs.get("n1").await("link down: n3", Duration.ofSeconds(5));
            long t2 = System.nanoTime();
            procs.get("n2").await("link down: n3", Duration.ofSeconds(5));
            long t3 = System.nanoTime();
            procs.get("n3").await("link down: n1", Duration.ofSeconds(5));
            long commandMs = (t1 - t0) / 1_000_000;
            long n1Ms = (t2 - t1) / 1_000_000;
            long n2Ms = (t3 - t1) / 1_000_000;
            realErr().println("revocation: the command took " + commandMs + " ms; n1 closed n3's link " + n1Ms
                + " ms after it returned; n2 (list by LNK_CRL from n1) closed its link " + n2Ms + " ms after");
            assertThat(n1Ms).as("n1 reacts within a second of the list changing").isLessThan(1000);
            assertThat(n2Ms).as("n2, a hop further, too").isLessThan(1000);
            // the list went over the links, and n3 is refused wherever it dials
            for (String n : List.of("n2", "n4", "n5")) {
                procs.get(n).await("revocation list 2 from n1 adopted", Duration.ofSeconds(5));
            }
            procs.get("n1").await("TLS handshake failed: refused: 'n3'", Duration.ofSeconds(15));
            procs.get("n2").await("TLS handshake failed: refused: 'n3'", Duration.ofSeconds(15));

            // the others keep working: n2 reaches n5 through n1, and n3 is gone from the mesh
            assertThat(run("shell", "--node", "127.0.0.1:" + port.get("n2"), "--identity", dir.get("n2").toString(), "-c",
                "ping n5")).as(out() + err()).isZero();
            awaitSpans("n2", port.get("n2"), dir.get("n2"), Set.of("n1", "n2", "n4", "n5"));
            // ... on the links they had before the revocation: none was closed and made again
            long since = (System.nanoTime() - t0) / 1_000_000_000L;
            Map<String, Set<String>> links = Map.of("n1", Set.of("n2", "n4", "n5"), "n2", Set.of("n1"),
                "n4", Set.of("n1"), "n5", Set.of("n1"));
            for (var e : links.entrySet()) {
                String n = e.getKey();
                assertThat(run("status", "--node", "127.0.0.1:" + port.get(n), "--identity", dir.get(n).toString(), "--json"))
                    .as(err()).isZero();
                Set<String> peers = new HashSet<>();
                for (JsonNode l : JSON.readTree(out()).get("links")) {
                    String who = l.get("identity").asText();
                    if (!who.equals(n)) { // not this status command's own link (the CLI acts as the node)
                        peers.add(who);
                        assertThat(l.get("state").asText()).isEqualTo("UP");
                        assertThat(l.get("age_s").asLong()).as(n + "'s link to " + who).isGreaterThanOrEqualTo(since - 1);
                    }
                }
                assertThat(peers).as(n).isEqualTo(e.getValue());
            }

            // n5 restarted with the same command line: already joined, back on its link to n1
            procs.get("n5").terminate(Duration.ofSeconds(15));
            NodeProcess again = NodeProcess.start("n5", NodeProcess.QUICK_START, "node", "--join", joinCommand.get("n5"),
                "--label", "n5", "--listen", "127.0.0.1:0", "--data-dir", dir.get("n5").toString());
            procs.put("n5", again);
            again.await("not using dmsgjoin1." + tokens.get(3).split("\\.")[1] + ".<secret> again", START);
            again.await("link up: n1", START);
        } finally {
            for (NodeProcess p : procs.values()) {
                p.close();
            }
        }
    }

    /**
     * The quick start (docs/IDENTITY.md §2.7): five nodes in five commands. The first node makes
     * the cluster (its root kept in its data directory) and prints the join commands with four
     * tokens once it listens; each other machine runs one of them. A token cannot be used twice.
     */
    @Test
    void fiveNodesInFiveCommandsWithTheFirstNodeMakingTheCluster() throws Exception {
        Map<String, NodeProcess> procs = new LinkedHashMap<>();
        Map<String, Integer> port = new LinkedHashMap<>();
        Map<String, Path> dir = new LinkedHashMap<>();
        NODES.forEach(n -> dir.put(n, tmp.resolve("q-" + n)));
        try {
            NodeProcess n1 = NodeProcess.start("n1", NodeProcess.QUICK_START, "node", "--new-cluster", "prod", "--tokens",
                "4", "--label", "n1", "--listen", "127.0.0.1:0", "--data-dir", dir.get("n1").toString());
            procs.put("n1", n1);
            Matcher lm = Pattern.compile("listening on 127\\.0\\.0\\.1:(\\d+)").matcher(n1.await("listening on", START));
            assertThat(lm.find()).isTrue();
            port.put("n1", Integer.parseInt(lm.group(1)));
            List<String> joins = new ArrayList<>();
            long deadline = System.nanoTime() + START.toNanos();
            while (joins.size() < 4 && System.nanoTime() < deadline) {
                joins = n1.output().lines().filter(l -> l.startsWith("dmsg node --join ")).toList();
                Thread.sleep(50); // the first node prints its four lines once it listens; bounded by START
            }
            assertThat(joins).as(n1.output()).hasSize(4);
            for (int i = 1; i < NODES.size(); i++) {
                String n = NODES.get(i);
                String spec = joins.get(i - 1).split(" ")[3];
                assertThat(spec).endsWith("@127.0.0.1:" + port.get("n1"));
                NodeProcess p = NodeProcess.start(n, NodeProcess.QUICK_START, "node", "--join", spec, "--label", n,
                    "--listen", "127.0.0.1:0", "--data-dir", dir.get(n).toString());
                procs.put(n, p);
            }
            for (int i = 1; i < NODES.size(); i++) {
                String n = NODES.get(i);
                NodeProcess p = procs.get(n);
                assertThat(p.await("joined cluster 'prod'", START)).contains("as " + n + " (member)");
                Matcher m = Pattern.compile("listening on 127\\.0\\.0\\.1:(\\d+)").matcher(p.await("listening on", START));
                assertThat(m.find()).isTrue();
                port.put(n, Integer.parseInt(m.group(1)));
            }
            for (String n : NODES) {
                awaitSpans(n, port.get(n), dir.get(n), Set.copyOf(NODES));
            }
            // a token is used once: a sixth machine with n2's token is refused
            NodeProcess again = NodeProcess.start("n6", NodeProcess.QUICK_START, "node", "--join",
                joins.get(0).split(" ")[3], "--label", "n6", "--listen", "127.0.0.1:0", "--data-dir",
                tmp.resolve("q-n6").toString());
            procs.put("n6", again);
            assertThat(again.waitFor(START)).as(again.output()).isEqualTo(1);
            assertThat(again.output()).containsIgnoringCase("used");
        } finally {
            for (NodeProcess p : procs.values()) {
                p.close();
            }
        }
    }

    /** Waits until {@code n}'s status document lists a span for each of {@code labels} (and no other node). */
    void awaitSpans(String n, int port, Path identity, Set<String> labels) throws Exception {
        long deadline = System.nanoTime() + START.toNanos();
        Set<String> seen = Set.of();
        while (System.nanoTime() < deadline) {
            if (run("status", "--node", "127.0.0.1:" + port, "--identity", identity.toString(), "--json") == 0) {
                JsonNode s = JSON.readTree(out());
                Set<String> now = new HashSet<>();
                for (JsonNode sp : s.get("spans")) {
                    if (sp.get("peer_type").asText().equals("CLUSTER")) {
                        now.add(sp.get("fs_label").asText());
                    }
                }
                seen = now;
                if (now.equals(labels)) {
                    assertThat(s.get("ca").get("name").asText()).isEqualTo("prod");
                    return;
                }
            }
            Thread.sleep(200); // polling real processes until they converge, bounded by START
        }
        throw new AssertionError(n + ": spans " + seen + ", expected " + labels);
    }
}
