package dev.dmsg.services.quorum;

import static org.assertj.core.api.Assertions.assertThat;

import dev.dmsg.link.tls.Role;
import dev.dmsg.services.node.Node;
import dev.dmsg.services.testing.RegisterWorkload;
import dev.dmsg.services.testing.TestCluster;
import dev.dmsg.testkit.linear.CheckResult;
import dev.dmsg.testkit.linear.History;
import dev.dmsg.testkit.linear.HistoryFile;
import dev.dmsg.testkit.linear.LinearizabilityChecker;
import dev.dmsg.testkit.linear.RegisterModel;
import dev.dmsg.testkit.linear.Verdict;
import dev.dmsg.wire.qrm.Batch;
import dev.dmsg.wire.qrm.Blob;
import dev.dmsg.wire.qrm.Op;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The quorum store is linearizable under faults, and the checker can tell when it is not
 * (docs/QUORUM.md §8): three TLS members a, b, c and two client nodes x, y linked to all of them
 * run a seeded register workload (reads, one-phase writes, compare-and-sets on a few keys) from
 * five clients while a nemesis stops and restarts leaders, restarts members and cuts members
 * off at our own transport; the history is checked per key with dmsg-testkit's checker. Then the
 * broken mode the issue names — reads served from a cut-off member's local state (SERIALIZABLE)
 * recorded as if linearizable — must be refused by the same checker: once deterministically (a
 * stale read after a completed write) and once under the random workload.
 */
@Timeout(120)
class QuorumLinearizabilityTest {
    private static final Logger log = LoggerFactory.getLogger(QuorumLinearizabilityTest.class);
    static final String G = "g";
    static final List<String> MEMBERS = List.of("a", "b", "c");
    static final List<String> KEYS = List.of("k0", "k1", "k2", "k3", "k4");
    static final Duration WAIT = Duration.ofSeconds(12); // a client's wait for a leader is 10 s (§3.2 NOLEADER)
    static final long SEED = Long.getLong("dmsg.seed", 16);

    @TempDir
    Path tmp;

    @RegisterExtension
    final TestCluster cluster = new TestCluster(() -> tmp).pinning(Role.MEMBER).waitingAtMost(Duration.ofSeconds(30));

    /** Members a, b, c; client nodes x and y, each linked to every member. */
    List<Node> clientNodes() throws Exception {
        List<Node> members = cluster.quorum(G, MEMBERS.toArray(String[]::new));
        List<Node> out = new ArrayList<>();
        for (String l : List.of("x", "y")) {
            Node n = cluster.start(l);
            members.forEach(m -> TestCluster.link(n, m));
            out.add(n);
        }
        return out;
    }

    /** Client {@code i} on x or y; odd ones reach a neighbour member over their own link, even ones by circuits. */
    List<QuorumClient> clients(List<Node> at, int n) {
        List<QuorumClient> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            Node node = at.get(i % at.size());
            out.add(cluster.closing(i % 2 == 1 ? new QuorumClient(node.mesh(), () -> node.endpoint().links(), G, WAIT)
                : new QuorumClient(node.mesh(), G, WAIT)));
        }
        return out;
    }

    CheckResult check(History h, TestInfo info) throws Exception {
        long t0 = System.nanoTime();
        CheckResult r = new LinearizabilityChecker<>(new RegisterModel()).check(h);
        log.info("checker: {} in {} ms", r.verdict(), TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0));
        if (!r.linearizable()) {
            Path dir = Files.createDirectories(Paths.get("target", "linearizability"));
            Path f = dir.resolve(info.getTestMethod().orElseThrow().getName() + ".jsonl");
            HistoryFile.write(h, f);
            log.info("history written to {}", f.toAbsolutePath());
        }
        return r;
    }

    @Test
    void registersStayLinearizableWhileLeadersAreStoppedAndMembersCutOff(TestInfo info) throws Exception {
        List<QuorumClient> clients = clients(clientNodes(), 5);
        History h = new History(System::nanoTime);
        RegisterWorkload w = new RegisterWorkload(h, clients, KEYS, SEED, WAIT);
        QuorumNemesis nemesis = new QuorumNemesis(cluster, G, MEMBERS, w, SEED, 30, Duration.ofSeconds(40));
        nemesis.awaitLeader();
        long t0 = System.nanoTime();
        w.start();
        try {
            nemesis.runUntil(t0 + TimeUnit.SECONDS.toNanos(20));
        } finally {
            cluster.heal();
        }
        RegisterWorkload.Stats s = w.stop();
        long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
        log.info("workload: {} over {} keys in {} ms, ok by client {}; faults: {}", s, KEYS.size(), ms, w.okByClient(),
            nemesis.faults());
        CheckResult r = check(h, info);
        r.requireLinearizable();
        assertThat(nemesis.faults()).as("faults injected").isNotEmpty();
        assertThat(s.ok()).as("ops ok: %s", s).isGreaterThan(100);
        assertThat(w.okByClient()).as("ops ok by client: every route (circuits, links) got through").allMatch(n -> n > 0);
    }

    /** Members a, b, c; x linked to all of them, y to c only: the side of c in {@link #cutOffC}. */
    List<Node> minoritySide() throws Exception {
        List<Node> members = cluster.quorum(G, MEMBERS.toArray(String[]::new));
        Node x = cluster.start("x");
        members.forEach(m -> TestCluster.link(x, m));
        Node y = cluster.start("y");
        TestCluster.link(y, members.get(2));
        return List.of(x, y);
    }

    /** Cuts c and y off from a, b and x. */
    void cutOffC(Node y) throws Exception {
        cluster.partition(List.of(cluster.node("c"), y));
    }

    @Test
    void aStaleReadFromACutOffMembersLocalStateIsCaught(TestInfo info) throws Exception {
        List<Node> xy = minoritySide();
        QuorumClient writer = cluster.closing(new QuorumClient(xy.get(0).mesh(), G, WAIT));
        QuorumClient atC = cluster.closing(new QuorumClient(xy.get(1).mesh(), () -> xy.get(1).endpoint().links(), G, WAIT));
        History h = new History(System::nanoTime);
        RegisterWorkload w = new RegisterWorkload(h, List.of(writer, atC), KEYS, SEED, WAIT).serializableReads(1);
        new QuorumNemesis(cluster, G, MEMBERS, w, SEED, 0, WAIT).awaitLeader();
        w.write(0, "k1", "v1");
        assertThat(w.stats().ok()).as("v1 written: %s", h).isEqualTo(1);
        cluster.await(() -> "v1".equals(localValue(cluster.node("c"), "k1")), "c applied v1");
        cutOffC(xy.get(1));
        w.write(0, "k1", "v2"); // a and b are a majority: acknowledged
        w.read(1, "k1"); // served from c's local state, recorded as a linearizable read
        RegisterWorkload.Stats s = w.stats();
        assertThat(s.ok()).as("%s", s).isEqualTo(3);
        assertThat(localValue(cluster.node("c"), "k1")).isEqualTo("v1");

        CheckResult r = check(h, info);
        assertThat(r.verdict()).isEqualTo(Verdict.NOT_LINEARIZABLE);
        assertThat(r.explanation()).contains("key \"k1\": NOT linearizable").contains("read() -> \"v1\"");
    }

    /** The value of {@code key} in {@code n}'s local state (a SERIALIZABLE read of its engine), or null. */
    static String localValue(Node n, String key) {
        var kvs = n.quorum().engine(G).read(Batch.of(Op.get(Blob.utf8(key))), true).join().results().results().get(0).kvs();
        return kvs.isEmpty() ? null : kvs.get(0).value().utf8();
    }

    @Test
    void staleReadsUnderTheRandomWorkloadAreCaught(TestInfo info) throws Exception {
        List<Node> xy = minoritySide();
        List<QuorumClient> clients = new ArrayList<>(clients(List.of(xy.get(0)), 4));
        clients.add(cluster.closing(new QuorumClient(xy.get(1).mesh(), () -> xy.get(1).endpoint().links(), G, WAIT)));
        History h = new History(System::nanoTime);
        RegisterWorkload w = new RegisterWorkload(h, clients, KEYS, SEED, WAIT).serializableReads(4);
        new QuorumNemesis(cluster, G, MEMBERS, w, SEED, 0, WAIT).awaitLeader();
        w.start();
        cluster.await(() -> w.stats().ok() >= 20, "20 ops ok before the cut");
        cutOffC(xy.get(1));
        RegisterWorkload.Stats cutAt = w.stats();
        cluster.await(() -> w.stats().ok() >= cutAt.ok() + 100 && w.stats().writes() >= cutAt.writes() + 30,
            "100 ops ok, 30 writes, after the cut");
        RegisterWorkload.Stats s = w.stop();
        log.info("workload with stale reads: {}", s);

        CheckResult r = check(h, info);
        assertThat(r.verdict()).as(r.explanation()).isEqualTo(Verdict.NOT_LINEARIZABLE);
    }
}
