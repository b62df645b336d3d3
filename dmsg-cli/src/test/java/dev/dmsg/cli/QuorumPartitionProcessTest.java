package dev.dmsg.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.dmsg.services.node.GuestNode;
import dev.dmsg.services.quorum.QuorumClient;
import dev.dmsg.services.testing.RegisterWorkload;
import dev.dmsg.testkit.linear.CheckResult;
import dev.dmsg.testkit.linear.History;
import dev.dmsg.testkit.linear.HistoryFile;
import dev.dmsg.testkit.linear.LinearizabilityChecker;
import dev.dmsg.testkit.linear.RegisterModel;
import dev.dmsg.testkit.linear.Verdict;
import dev.dmsg.wire.qrm.Batch;
import dev.dmsg.wire.qrm.Blob;
import dev.dmsg.wire.qrm.KeyValue;
import dev.dmsg.wire.qrm.Op;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The quorum store stays linearizable while real {@code dmsg node} processes are partitioned with
 * nftables and their leaders killed (docs/QUORUM.md §8): three members, each in its own network
 * namespace ({@link NetnsMesh}), TLS, fully meshed; this JVM in the root namespace runs the
 * register workload through a guest node joined to each member, while a seeded nemesis cuts the
 * leader off from its peers, then a follower, then kills the leader with {@code kill -9} and
 * restarts it. The checker must pass that history, and must refuse one where reads served from a
 * cut-off member's local state (SERIALIZABLE) are recorded as linearizable.
 *
 * <p>Skipped, with the reason printed, where namespaces cannot be made (not root, no {@code ip}
 * or {@code nft}, no CAP_SYS_ADMIN); dmsg-services' QuorumLinearizabilityTest cuts links at our
 * own transport instead and runs anywhere.
 */
@Timeout(240)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class QuorumPartitionProcessTest {
    static final String G = "g";
    static final int N = 3;
    static final Duration WAIT = Duration.ofSeconds(12); // a client's wait for a leader is 10 s (§3.2 NOLEADER)
    static final Duration FAULT_LIMIT = Duration.ofSeconds(40);
    static final long SEED = Long.getLong("dmsg.seed", 16);

    @TempDir
    static Path tmp;

    NetnsMesh mesh;
    final List<GuestNode> guests = new ArrayList<>();
    final List<QuorumClient> clients = new ArrayList<>();

    @BeforeAll
    void start() throws Exception {
        Optional<String> why = NetnsMesh.unavailable();
        if (why.isPresent()) {
            System.out.println("QuorumPartitionProcessTest skipped: " + why.get());
        }
        Assumptions.assumeTrue(why.isEmpty(), () -> "network namespaces unavailable: " + why.orElse(""));
        mesh = new NetnsMesh(tmp, G, N, List.of());
        mesh.nodes.startAll(0, N);
        leader(Duration.ofSeconds(90));
        for (int i = 0; i < N; i++) {
            guests.add(mesh.nodes.guest("reg", i));
        }
    }

    /** Where each member's output and threads go for a failure's post-mortem ({@link QuorumNodes#postMortem}). */
    static final Path LOGS = Paths.get("target", "netns-logs");

    @AfterAll
    void stop() throws Exception {
        try {
            clients.forEach(QuorumClient::close);
            guests.forEach(GuestNode::close);
        } finally {
            if (mesh != null) {
                mesh.close();
            }
        }
    }

    /** Client on the guest at member {@code i}: {@code direct}, over the guest's own link to it; else by circuits. */
    QuorumClient client(int i, boolean direct) {
        GuestNode g = guests.get(i);
        QuorumClient c = direct ? new QuorumClient(g.mesh(), g.node().endpoint()::links, G, WAIT)
            : new QuorumClient(g.mesh(), G, WAIT);
        clients.add(c);
        return c;
    }

    /** The leader a majority agrees on: asked of every member until two name the same live one. */
    int leader(Duration limit) throws Exception {
        long deadline = System.nanoTime() + limit.toNanos();
        while (System.nanoTime() - deadline < 0) {
            int[] votes = new int[N];
            for (int i = 0; i < N; i++) {
                try {
                    int l = QuorumNodes.index(mesh.nodes.status(i).path("leader").asText(""));
                    if (l >= 0) {
                        votes[l]++;
                    }
                } catch (Exception | AssertionError e) {
                    // down or cut off: the others decide
                }
            }
            for (int l = 0; l < N; l++) {
                if (votes[l] >= 2) {
                    return l;
                }
            }
            TimeUnit.MILLISECONDS.sleep(200);
        }
        throw new AssertionError("no leader two members agree on within " + limit);
    }

    /**
     * How long a cut lasts at least: past the links' dead-peer timeout (10 s, docs/PROFILE.md §4),
     * so that the links across it are declared dead and re-dialled after the heal. A shorter cut,
     * with the links surviving it, sometimes leaves the healed member behind for good: the leader's
     * log appender to it goes silent (no append, no failure logged) — a known liveness bug in the
     * Raft transport, reported, not yet fixed (docs/QUORUM.md §8).
     */
    static final Duration MIN_CUT = Duration.ofSeconds(12);

    static void holdPastDeadPeerTimeout(long cutAtNanos) throws InterruptedException {
        long left = MIN_CUT.toNanos() - (System.nanoTime() - cutAtNanos);
        if (left > 0) {
            TimeUnit.NANOSECONDS.sleep(left); // the fault's duration, not a wait for anything
        }
    }

    /** Waits until healed member {@code i} applied what the leader had committed when it was healed. */
    void awaitCaughtUp(int i) throws Exception {
        long commit = mesh.nodes.status(leaderOtherThan(i)).path("commit_index").asLong();
        mesh.nodes.awaitStatus(i, g -> g.path("applied_index").asLong() >= commit, FAULT_LIMIT,
            "healed n" + i + " applied the leader's commit index " + commit);
    }

    /** The leader the two members other than {@code old} agree on once they elected one of themselves. */
    int leaderOtherThan(int old) throws Exception {
        long deadline = System.nanoTime() + FAULT_LIMIT.toNanos();
        while (System.nanoTime() - deadline < 0) {
            int l = leader(FAULT_LIMIT);
            if (l != old) {
                return l;
            }
            TimeUnit.MILLISECONDS.sleep(200);
        }
        throw new AssertionError("the members cut off from leader n" + old + " elected none of themselves within "
            + FAULT_LIMIT);
    }

    static void await(BooleanSupplier ok, Duration limit, String what) throws InterruptedException {
        long deadline = System.nanoTime() + limit.toNanos();
        while (!ok.getAsBoolean()) {
            if (System.nanoTime() - deadline > 0) {
                throw new AssertionError(what + " not within " + limit);
            }
            TimeUnit.MILLISECONDS.sleep(50);
        }
    }

    /** Waits until the clients completed {@code n} more operations ok: a fault is held through real traffic. */
    static void progress(RegisterWorkload w, int n, String when) throws InterruptedException {
        int target = w.stats().ok() + n;
        await(() -> w.stats().ok() >= target, FAULT_LIMIT, n + " more ops ok " + when + " (" + w.stats() + ")");
    }

    static List<Integer> others(int i) {
        List<Integer> out = new ArrayList<>();
        for (int j = 0; j < N; j++) {
            if (j != i) {
                out.add(j);
            }
        }
        return out;
    }

    CheckResult check(History h, TestInfo info) throws Exception {
        long t0 = System.nanoTime();
        CheckResult r = new LinearizabilityChecker<>(new RegisterModel()).check(h);
        System.out.printf("checker: %s in %d ms%n", r.verdict(), TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0));
        if (!r.linearizable()) {
            Path dir = Files.createDirectories(Paths.get("target", "linearizability"));
            Path f = dir.resolve(info.getTestMethod().orElseThrow().getName() + ".jsonl");
            HistoryFile.write(h, f);
            System.out.println("history written to " + f.toAbsolutePath());
        }
        return r;
    }

    @Test
    void registersStayLinearizableWhileMembersArePartitionedAndLeadersKilled(TestInfo info) throws Exception {
        List<QuorumClient> cs = new ArrayList<>();
        for (int c = 0; c < 6; c++) {
            cs.add(client(c % N, c < N));
        }
        History h = new History(System::nanoTime);
        List<String> keys = List.of("k0", "k1", "k2", "k3", "k4");
        RegisterWorkload w = new RegisterWorkload(h, cs, keys, SEED, WAIT);
        Random r = new Random(SEED);
        List<String> faults = new ArrayList<>();
        long t0 = System.nanoTime();
        w.start();
        try {
            progress(w, 20, "before any fault");
            int l = leader(FAULT_LIMIT);
            long cutAt = System.nanoTime();
            mesh.isolate(l, others(l));
            assertThat(mesh.ruleset(l)).contains(NetnsMesh.TABLE).contains(mesh.ip(others(l).get(0)));
            faults.add("leader n" + l + " cut off");
            int next = leaderOtherThan(l);
            System.out.printf("n%d cut off: n%d elected by the others%n", l, next);
            progress(w, 100, "with leader n" + l + " cut off");
            holdPastDeadPeerTimeout(cutAt);
            mesh.heal(l);
            awaitCaughtUp(l);
            progress(w, 20, "after healing n" + l);

            int now = leader(FAULT_LIMIT);
            int f = others(now).get(r.nextInt(N - 1));
            cutAt = System.nanoTime();
            mesh.isolate(f, others(f));
            faults.add("follower n" + f + " cut off");
            progress(w, 100, "with follower n" + f + " cut off");
            holdPastDeadPeerTimeout(cutAt);
            mesh.heal(f);
            awaitCaughtUp(f);
            progress(w, 20, "after healing n" + f);

            int k = leader(FAULT_LIMIT);
            mesh.nodes.kill(k);
            faults.add("leader n" + k + " killed");
            progress(w, 30, "with leader n" + k + " killed");
            mesh.nodes.restart(k);
            faults.add("n" + k + " restarted");
            progress(w, 30, "after restarting n" + k);
        } catch (Throwable t) {
            // the post-mortem: each member's view, and where the clients are (stop() names a stuck one)
            for (int i = 0; i < N; i++) {
                try {
                    System.out.printf("n%d status: %s%n", i, mesh.nodes.status(i));
                } catch (Exception | AssertionError e) {
                    System.out.printf("n%d status: %s%n", i, e);
                }
            }
            mesh.nodes.postMortem(LOGS);
            try {
                w.stop();
            } catch (Throwable stuck) {
                t.addSuppressed(stuck);
            }
            throw t;
        } finally {
            mesh.healAll();
        }
        RegisterWorkload.Stats s = w.stop();
        long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
        System.out.printf("workload: %s over %d keys in %d ms, ok by client %s; faults: %s%n", s, keys.size(), ms,
            w.okByClient(), faults);
        CheckResult cr = check(h, info);
        cr.requireLinearizable();
        assertThat(faults).hasSize(4);
        assertThat(s.ok()).as("ops ok: %s", s).isGreaterThan(150);
    }

    /** What member {@code c} serves from its own state (SERIALIZABLE, through its guest's link), or null. */
    static String local(QuorumClient atC, String key) throws Exception {
        List<KeyValue> kvs = atC.read(Batch.of(Op.get(Blob.utf8(key))), true).get(WAIT.toMillis(), TimeUnit.MILLISECONDS)
            .results().results().get(0).kvs();
        return kvs.isEmpty() ? null : kvs.get(0).value().utf8();
    }

    @Test
    void staleReadsFromACutOffMemberAreCaught(TestInfo info) throws Exception {
        int l = leader(FAULT_LIMIT);
        int c = (l + 1) % N; // a follower: cut off, it still answers SERIALIZABLE reads from its own state
        QuorumClient writer = client(l, true);
        QuorumClient atC = client(c, true);
        QuorumClient atOther = client(3 - l - c, true);
        History h = new History(System::nanoTime);
        RegisterWorkload w = new RegisterWorkload(h, List.of(writer, atC), List.of("s"), SEED, WAIT).serializableReads(1);
        w.write(0, "s", "v1");
        assertThat(w.stats().ok()).as("v1 written: %s", h).isEqualTo(1);
        // Both followers applied v1: c's state is v1, and the other one (perhaps restarted by the
        // test before, and re-dialled only after a backoff) is linked to the leader, so the two
        // are a majority when c is cut off.
        for (QuorumClient at : List.of(atC, atOther)) {
            await(() -> {
                try {
                    return "v1".equals(local(at, "s"));
                } catch (Exception e) {
                    return false;
                }
            }, FAULT_LIMIT, "both followers applied v1");
        }
        mesh.isolate(c, others(c));
        try {
            // The leader and the other follower are a majority: v2 is acknowledged, though perhaps
            // not at the first try — a circuit between them may be relayed through c (forged while
            // their own link was down, after a restart) and is re-forged only when the links to c
            // are declared dead (10 s, docs/PROFILE.md §4); meanwhile the leader may step down.
            // Each try is recorded, an unanswered one as unknown: the checker takes them as they are.
            for (int tries = 0; tries < 4 && w.stats().ok() < 2; tries++) {
                w.write(0, "s", "v2");
            }
            assertThat(w.stats().ok()).as("v2 acknowledged within 4 tries: %s", w.stats()).isEqualTo(2);
            w.read(1, "s"); // served from c's state, recorded as a linearizable read
            RegisterWorkload.Stats s = w.stats();
            assertThat(s.ok()).as("%s", s).isEqualTo(3);
            assertThat(local(atC, "s")).isEqualTo("v1");
        } finally {
            mesh.heal(c);
        }
        CheckResult r = check(h, info);
        assertThat(r.verdict()).isEqualTo(Verdict.NOT_LINEARIZABLE);
        assertThat(r.explanation()).contains("key \"s\": NOT linearizable").contains("read() -> \"v1\"");
    }
}
