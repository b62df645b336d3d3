package dev.dmsg.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.dmsg.link.tls.Grants;
import dev.dmsg.link.tls.NodeKeys;
import dev.dmsg.link.tls.Role;
import dev.dmsg.link.tls.TrustStore;
import dev.dmsg.services.node.GuestNode;
import dev.dmsg.services.quorum.QuorumClient;
import dev.dmsg.services.quorum.QuorumException;
import dev.dmsg.wire.Dmsg;
import java.io.ByteArrayInputStream;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The quorum with real processes (docs/QUORUM.md §8, issue 16): {@code dmsg node} processes on
 * loopback over TLS, fully meshed, each started with {@code --quorum g=…}, used from this JVM
 * through a guest node and through the {@code dmsg kv} and {@code dmsg quorum} commands.
 *
 * <p>Three members: the CLI end to end; the leader killed with {@code kill -9} under a write load
 * from four writers (how long until writes resume, printed); nothing acknowledged lost, nothing
 * applied twice ({@link QuorumLoad#verify}); the killed member restarted catches up; a member
 * killed while more than a snapshot's worth is written catches up by install-snapshot; a fourth
 * node added with {@code dmsg quorum add} catches up and is removed again; the lesser roles
 * refused. Five members: two killed and writes go on, a third killed and writes fail with
 * NOLEADER, one restarted and writes resume.
 */
@Timeout(400)
class QuorumProcessTest extends CliCapture {
    static final Duration CLIENT_WAIT = Duration.ofSeconds(10);
    static final Duration CATCH_UP = Duration.ofSeconds(60);
    /** Snapshot every 200 entries, 8 KiB log segments: 600 puts are purged from the leader's log. */
    /** Where the members' output and threads go when a test fails ({@link QuorumNodes#postMortem}). */
    static final Path LOGS = Paths.get("target", "quorum-logs");
    static final List<String> SMALL_SNAPSHOTS = List.of("--quorum-snapshot-every", "200", "--quorum-segment-bytes", "8192");

    @TempDir
    Path tmp;

    @Test
    void threeMembersSurviveALeaderKilledUnderLoadAndMembersCatchUp() throws Exception {
        try (QuorumNodes q = new QuorumNodes(tmp, "g", 4, 3, SMALL_SNAPSHOTS)) {
            try {
                Path stranger = tmp.resolve("stranger");
                // a key n0 trusts as a client that may read but not write (docs/QUORUM.md §6)
                TrustStore.open(q.dir(0)).add("stranger", NodeKeys.loadOrCreate(stranger, "stranger").fingerprint(),
                    Role.CLIENT, Grants.KV_READ);
                TrustStore.open(stranger).add("n0", NodeKeys.loadOrCreate(q.dir(0), "n0").fingerprint(), Role.MEMBER, 0);
                long t0 = System.nanoTime();
                q.startAll(0, 3);
                boolean[] alive = {true, true, true, false};
                int leader = q.awaitLeader(0, alive, Duration.ofSeconds(60));
                realErr().printf("3 members started and elected %s in %d ms%n", QuorumNodes.label(leader), ms(t0));

                cliEndToEnd(q, leader == 0 ? 1 : 0, stranger);

                // the load enters through a follower, F; the leader is killed under it
                int f = (leader + 1) % 3;
                try (GuestNode guest = q.guest("load", f);
                     QuorumClient c = new QuorumClient(guest.mesh(), guest.node().endpoint()::links, "g", CLIENT_WAIT)) {
                    QuorumLoad load = new QuorumLoad(c, "/w/", 4, CLIENT_WAIT);
                    load.start();
                    long warm = System.nanoTime();
                    load.awaitAcks(warm, 100, Duration.ofSeconds(60), "writes before the kill");
                    long before = System.nanoTime();
                    load.awaitAcks(before, 100, Duration.ofSeconds(60), "steady writes before the kill");
                    double ratePerSec = 100 / ((System.nanoTime() - before) / 1e9);

                    long killAt = System.nanoTime();
                    q.kill(leader);
                    alive[leader] = false;
                    load.awaitAcks(killAt, 1, Duration.ofSeconds(30), "writes after the leader was killed");
                    load.awaitAcks(killAt, (int) Math.max(50, ratePerSec * 3), Duration.ofSeconds(60),
                        "three seconds' worth of writes after the kill");
                    load.stop();
                    reportFailover("3 members", load, killAt, ratePerSec);
                    int newLeader = q.awaitLeader(f, alive, Duration.ofSeconds(30));
                    assertThat(newLeader).isNotEqualTo(leader);

                    long revision = load.verify(c);
                    realErr().printf("3 members: %s puts, %d increments acknowledged, %d unknown; none lost, none applied "
                        + "twice; revision %d%n", load.counts(), load.acknowledgedIncrements(), load.unknownIncrements(), revision);

                    // the killed member, restarted on its data directory, catches up
                    long commit = q.status(newLeader).path("commit_index").asLong();
                    long restartAt = System.nanoTime();
                    q.restart(leader);
                    alive[leader] = true;
                    q.awaitStatus(leader, s -> s.path("applied_index").asLong() >= commit, CATCH_UP, "applied " + commit);
                    realErr().printf("3 members: the killed leader restarted and applied up to %d in %d ms%n", commit,
                        ms(restartAt));
                    QuorumLoad.Put last = load.acknowledged().get(load.acknowledged().size() - 1);
                    assertThat(run(q.via(leader, "kv", "get", "--serializable", last.key()))).as(err()).isZero();
                    assertThat(out().strip()).isEqualTo(last.value());

                    snapshotCatchUp(q, c, f, newLeader, alive);
                    addAndRemoveAFourth(q, c, f, alive);
                }
            } catch (Throwable t) {
                q.postMortem(LOGS);
                throw t;
            }
        }
    }

    /** dmsg kv put/get/del/txn/watch and dmsg quorum status --json, their errors, the lesser roles. */
    void cliEndToEnd(QuorumNodes q, int at, Path stranger) throws Exception {
        assertThat(run(q.via(at, "kv", "put", "/cli/a", "one"))).as(err()).isZero();
        assertThat(out().strip()).isEqualTo("OK");
        assertThat(run(q.via(at, "kv", "put", "/cli/z", "first", "--json"))).as(err()).isZero();
        long firstRev = QuorumNodes.JSON.readTree(out()).get("revision").asLong();
        assertThat(run(q.via(at, "kv", "get", "/cli/a"))).as(err()).isZero();
        assertThat(out().strip()).isEqualTo("one");

        assertThat(run(q.via(at, "kv", "get", "/cli/missing"))).isEqualTo(1);
        assertThat(err().strip()).isEqualTo("dmsg kv get: key \"/cli/missing\": not found");
        assertThat(out()).isEmpty();

        InputStream stdin = System.in;
        try {
            System.setIn(new ByteArrayInputStream(("value(\"/cli/a\") = \"one\"\n\nput /cli/b two\nget /cli/a\n\n"
                + "put /cli/b three\n").getBytes(StandardCharsets.UTF_8)));
            assertThat(run(q.via(at, "kv", "txn"))).as(err()).isZero();
        } finally {
            System.setIn(stdin);
        }
        assertThat(out().lines().filter(l -> !l.isEmpty()).toList()).containsExactly("SUCCESS", "OK", "/cli/a", "one");
        assertThat(run(q.via(at, "kv", "del", "/cli/a"))).as(err()).isZero();
        assertThat(out().strip()).isEqualTo("1");
        assertThat(run(q.via(at, "kv", "get", "/cli/", "--prefix"))).as(err()).isZero();
        assertThat(out().lines().toList()).containsExactly("/cli/b", "two", "/cli/z", "first");

        // a watch from the first put's revision replays what happened since, in order
        NodeProcess watch = NodeProcess.start("watch", NodeProcess.QUICK_START,
            q.via(at, "kv", "watch", "/cli/", "--prefix", "--rev", Long.toString(firstRev)));
        try {
            watch.await("DELETE", Duration.ofSeconds(60));
            assertThat(run(q.via(at, "kv", "put", "/cli/c", "live"))).as(err()).isZero();
            watch.await("live", Duration.ofSeconds(30));
            List<String> lines = watch.output().lines().toList();
            int from = lines.indexOf("PUT");
            assertThat(from).as(watch.output()).isNotNegative();
            assertThat(lines.subList(from, lines.size())).containsExactly("PUT", "/cli/z", "first", "PUT", "/cli/b", "two",
                "DELETE", "/cli/a", "PUT", "/cli/c", "live");
        } finally {
            watch.close();
        }

        // quorum status --json: the documented shape (docs/QUORUM.md §7)
        assertThat(run(q.via(at, "quorum", "status", "--json"))).as(err()).isZero();
        JsonNode doc = QuorumNodes.JSON.readTree(out());
        assertThat(doc.get("groups")).hasSize(1);
        JsonNode g = doc.get("groups").get(0);
        assertThat(g.get("name").asText()).isEqualTo("g");
        assertThat(g.get("leader").asText()).matches("n[0-2]");
        assertThat(g.get("term").asLong()).isPositive();
        assertThat(g.get("commit_index").asLong()).isPositive();
        assertThat(g.has("snapshot_index")).isTrue();
        List<String> labels = new ArrayList<>();
        for (JsonNode m : g.get("members")) {
            labels.add(m.get("label").asText());
            assertThat(m.has("match_index")).isTrue();
            assertThat(m.has("lag")).isTrue();
        }
        assertThat(labels).containsExactly("n0", "n1", "n2");
        assertThat(run(q.via(at, "quorum", "status"))).as(err()).isZero();
        assertThat(out()).startsWith("g: leader n").contains("MEMBER").contains("n2");

        // refusals: a group nobody serves; a client with kv-read only, which reads (over its link to
        // n0: a client may not forge circuits) but may not write
        assertThat(run(q.via(at, "kv", "get", "/cli/b", "--group", "nosuch", "--wait", "1s"))).isEqualTo(1);
        assertThat(err().strip()).startsWith("dmsg kv get: quorum nosuch: no member reachable within 1000 ms")
            .doesNotContain("\n");
        String[] asStranger = {"--node", q.address(0), "--identity", stranger.toString()};
        assertThat(run(concat(new String[] {"kv", "get", "/cli/b"}, asStranger))).as(err()).isZero();
        assertThat(out().strip()).isEqualTo("two");
        assertThat(run(concat(new String[] {"kv", "put", "/cli/b", "stolen"}, asStranger))).isEqualTo(1);
        assertThat(err().strip()).startsWith("dmsg kv put: ").contains("stranger").doesNotContain("\n");
        realErr().println("a client with kv-read only: " + err().strip());
        assertThat(run(q.via(at, "kv", "get", "/cli/b"))).as(err()).isZero();
        assertThat(out().strip()).as("the refused put changed nothing").isEqualTo("two");
        lockCli(q, at, asStranger);
    }

    /**
     * dmsg lock (docs/CAC.md §8): COMMAND runs holding the lock with the token in its environment;
     * while another holds it, lock ls shows it and a bounded wait fails TIMEOUT; the token guards a
     * kv write (lock(KEY) = TOKEN); a client without the lock grant is refused.
     */
    void lockCli(QuorumNodes q, int at, String[] asStranger) throws Exception {
        Path token = tmp.resolve("token");
        assertThat(run(concat(q.via(at, "lock", "/cli/disk"), new String[] {"--", "sh", "-c",
            "echo $DMSG_FENCE_TOKEN > " + token}))).as(err()).isZero();
        long first = Long.parseLong(Files.readString(token).strip());
        assertThat(first).isPositive();

        InputStream stdin = System.in;
        NodeProcess holder = NodeProcess.start("holder", NodeProcess.QUICK_START,
            concat(q.via(at, "lock", "/cli/disk"), new String[] {"--", "sh", "-c",
                "echo $DMSG_FENCE_TOKEN > " + token + ".held; sleep 60"}));
        try {
            long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (!Files.exists(tmp.resolve("token.held")) || Files.readString(tmp.resolve("token.held")).isBlank()) {
                assertThat(System.nanoTime() - until).as("the holder got the lock; output:%n%s", holder.output())
                    .isNegative();
                Thread.sleep(50);
            }
            long held = Long.parseLong(Files.readString(tmp.resolve("token.held")).strip());
            assertThat(held).isGreaterThan(first);
            assertThat(run(q.via(at, "lock", "ls", "/cli", "--json"))).as(err()).isZero();
            JsonNode ls = QuorumNodes.JSON.readTree(out());
            assertThat(ls.get("locks")).hasSize(1);
            assertThat(ls.get("locks").get(0).get("held").asText()).isEqualTo("exclusive");
            assertThat(ls.get("locks").get(0).get("token").asLong()).isEqualTo(held);
            assertThat(run(q.via(at, "lock", "ls"))).as(err()).isZero();
            assertThat(out()).contains("/cli/disk").contains("exclusive");

            assertThat(run(concat(q.via(at, "lock", "/cli/disk", "--timeout", "1s"), new String[] {"--", "true"})))
                .isEqualTo(1);
            assertThat(err().strip()).startsWith("dmsg lock: /cli/disk: not granted within wait_ms 1000")
                .doesNotContain("\n");

            // the holder's token guards a write; a stale one does not
            System.setIn(new java.io.ByteArrayInputStream(("lock(\"/cli/disk\") = \"" + held
                + "\"\n\nput /cli/fenced yes\n").getBytes(StandardCharsets.UTF_8)));
            assertThat(run(q.via(at, "kv", "txn"))).as(err()).isZero();
            assertThat(out().lines().findFirst().orElse("")).isEqualTo("SUCCESS");
            System.setIn(new java.io.ByteArrayInputStream(("lock(\"/cli/disk\") = \"" + first
                + "\"\n\nput /cli/fenced stale\n").getBytes(StandardCharsets.UTF_8)));
            assertThat(run(q.via(at, "kv", "txn"))).as(err()).isZero();
            assertThat(out().lines().findFirst().orElse("")).isEqualTo("FAILURE");
            assertThat(holder.isAlive()).as("the waiter that timed out cost the holder nothing; output:%n%s",
                holder.output()).isTrue();
        } finally {
            System.setIn(stdin);
            holder.close();
        }
        assertThat(run(concat(concat(new String[] {"lock", "/cli/x"}, asStranger), new String[] {"--", "true"})))
            .isEqualTo(1);
        assertThat(err().strip()).contains("'stranger' (client)").contains("needs the lock grant");
    }

    /**
     * Kills a member S (a follower, not F, the load's entry), writes 600 puts (three
     * snapshots' worth) while it is down, restarts it: it must load a snapshot newer than anything
     * it had — the leader's, installed (docs/QUORUM.md §2) — and catch up.
     */
    void snapshotCatchUp(QuorumNodes q, QuorumClient c, int f, int leader, boolean[] alive) throws Exception {
        int s = 0; // a follower of n0..n2 that is not F
        while (s == f || s == leader) {
            s++;
        }
        long hadApplied = q.status(s).path("applied_index").asLong();
        q.kill(s);
        alive[s] = false;
        QuorumLoad more = new QuorumLoad(c, "/s/", 3, CLIENT_WAIT);
        more.start();
        more.awaitAcks(System.nanoTime() - TimeUnit.MINUTES.toNanos(1), 600, Duration.ofSeconds(90),
            "600 puts while " + QuorumNodes.label(s) + " is down");
        more.stop();
        JsonNode ls = q.status(leader);
        long commit = ls.path("commit_index").asLong();
        assertThat(ls.path("snapshot_index").asLong()).as("the leader took a snapshot past what %s had",
            QuorumNodes.label(s)).isGreaterThan(hadApplied + 200);

        long restartAt = System.nanoTime();
        NodeProcess p = q.restart(s);
        Pattern loaded = Pattern.compile("loaded snapshot \\S*snapshot\\.(\\d+)_(\\d+)");
        Optional<String> installed = p.find(l -> {
            Matcher m = loaded.matcher(l);
            return m.find() && Long.parseLong(m.group(2)) > hadApplied;
        }, CATCH_UP);
        assertThat(installed).as("%s loads a snapshot past index %d (installed from the leader); output's end:%n%s",
            QuorumNodes.label(s), hadApplied, p.tail(40)).isPresent();
        q.awaitStatus(s, st -> st.path("applied_index").asLong() >= commit, CATCH_UP, "applied " + commit);
        alive[s] = true;
        realErr().printf("3 members: %s, down for 600 puts (had applied %d), restarted and caught up to %d in %d ms "
            + "by install-snapshot: %s%n", QuorumNodes.label(s), hadApplied, commit, ms(restartAt), installed.get().strip());
        QuorumLoad.Put last = more.acknowledged().get(more.acknowledged().size() - 1);
        assertThat(run(q.via(s, "kv", "get", "--serializable", last.key()))).as(err()).isZero();
        assertThat(out().strip()).isEqualTo(last.value());
        more.verify(c);
    }

    /** n3, started as a joiner, added with dmsg quorum add, catches up; a member (not admin) may not add; removed again. */
    void addAndRemoveAFourth(QuorumNodes q, QuorumClient c, int f, boolean[] alive) throws Exception {
        q.startAll(3, 4);
        int notF = f == 0 ? 1 : 0;
        // as n(notF) through n(f): a member there, not an admin
        String[] asMember = {"quorum", "add", "g", "n3", "--node", q.address(f), "--identity", q.dir(notF).toString()};
        assertThat(run(asMember)).isEqualTo(1);
        assertThat(err().strip()).startsWith("dmsg quorum add: ").contains("needs admin").doesNotContain("\n");
        c.put("/add/honest", "yes".getBytes(StandardCharsets.UTF_8)).get(30, TimeUnit.SECONDS);

        long addAt = System.nanoTime();
        assertThat(run(q.via(f, "quorum", "add", "g", "n3"))).as(err()).isZero();
        alive[3] = true;
        int leader = q.awaitLeader(f, alive, Duration.ofSeconds(30));
        long commit = q.status(leader).path("commit_index").asLong();
        q.awaitStatus(3, st -> st.path("applied_index").asLong() >= commit, CATCH_UP, "applied " + commit);
        assertThat(run(q.via(f, "quorum", "status", "--json"))).as(err()).isZero();
        assertThat(QuorumNodes.JSON.readTree(out()).get("groups").get(0).get("members").findValuesAsText("label"))
            .containsExactly("n0", "n1", "n2", "n3");
        realErr().printf("n3 added and caught up to %d in %d ms%n", commit, ms(addAt));
        assertThat(run(q.via(3, "kv", "get", "--serializable", "/add/honest"))).as(err()).isZero();
        assertThat(out().strip()).isEqualTo("yes");

        assertThat(run(q.via(f, "quorum", "remove", "g", "n3"))).as(err()).isZero();
        q.awaitStatus(f, st -> st.path("members").findValuesAsText("label").equals(List.of("n0", "n1", "n2")),
            Duration.ofSeconds(30), "n3 removed");
    }

    @Test
    void fiveMembersKeepWritingWithTwoDownAndStopWithThree() throws Exception {
        try (QuorumNodes q = new QuorumNodes(tmp, "g", 5, 5, List.of())) {
            try {
                long t0 = System.nanoTime();
                q.startAll(0, 5);
                boolean[] alive = {true, true, true, true, true};
                int leader = q.awaitLeader(0, alive, Duration.ofSeconds(60));
                realErr().printf("5 members started and elected %s in %d ms%n", QuorumNodes.label(leader), ms(t0));
                int f = (leader + 1) % 5;
                int x = (leader + 2) % 5;
                int y = (leader + 3) % 5;
                try (GuestNode guest = q.guest("load", f);
                     QuorumClient c = new QuorumClient(guest.mesh(), guest.node().endpoint()::links, "g", CLIENT_WAIT)) {
                    QuorumLoad load = new QuorumLoad(c, "/w/", 3, CLIENT_WAIT);
                    load.start();
                    long warm = System.nanoTime();
                    load.awaitAcks(warm, 30, Duration.ofSeconds(60), "writes before the kills");
                    long before = System.nanoTime();
                    load.awaitAcks(before, 40, Duration.ofSeconds(60), "steady writes before the kills");
                    double ratePerSec = 40 / ((System.nanoTime() - before) / 1e9);

                    long killAt = System.nanoTime();
                    q.kill(leader);
                    q.kill(x);
                    alive[leader] = false;
                    alive[x] = false;
                    load.awaitAcks(killAt, (int) Math.max(30, ratePerSec * 2), Duration.ofSeconds(60),
                        "writes with two of five down");
                    load.stop();
                    reportFailover("5 members, leader and one more killed", load, killAt, ratePerSec);
                    long revision = load.verify(c);
                    realErr().printf("5 members: %s puts; none lost, none applied twice; revision %d%n", load.counts(),
                        revision);

                    // a third down: two of five left, no majority — a write fails with NOLEADER
                    int newLeader = q.awaitLeader(f, alive, Duration.ofSeconds(30));
                    int third = newLeader != f ? newLeader : y;
                    q.kill(third);
                    alive[third] = false;
                    long sent = System.nanoTime();
                    ExecutionException refused = null;
                    try {
                        c.put("/nolead/1", "x".getBytes(StandardCharsets.UTF_8)).get(120, TimeUnit.SECONDS);
                    } catch (ExecutionException e) {
                        refused = e;
                    }
                    long refusedMs = ms(sent);
                    assertThat(refused).as("a write with 2 of 5 members up").isNotNull();
                    assertThat(refused.getCause()).isInstanceOf(QuorumException.class);
                    QuorumException qe = (QuorumException) refused.getCause();
                    realErr().printf("5 members, 2 up: the write failed after %d ms: %s %s (outcome unknown: %s)%n",
                        refusedMs, qe.errorName(), qe.getMessage(), qe.outcomeUnknown());
                    assertThat(qe.error()).as(qe.getMessage()).isEqualTo(Dmsg.ERR_NOLEADER);
                    assertThat(qe.getMessage()).contains("no leader");
                    assertThat(qe.outcomeUnknown()).as("a write the member proposed may still be applied").isTrue();
                    assertThat(refusedMs).as("within the client's wait and Ratis's retries").isLessThan(60_000);

                    // one back: a majority again, writes resume
                    long restartAt = System.nanoTime();
                    q.restart(third);
                    alive[third] = true;
                    long resumedMs = -1;
                    while (resumedMs < 0) {
                        try {
                            c.put("/nolead/2", "back".getBytes(StandardCharsets.UTF_8)).get(60, TimeUnit.SECONDS);
                            resumedMs = ms(restartAt);
                        } catch (ExecutionException e) {
                            assertThat(ms(restartAt)).as("writes resume after a restart: " + e.getCause()).isLessThan(60_000);
                        }
                    }
                    realErr().printf("5 members: %s restarted, writes resumed %d ms after its start%n",
                        QuorumNodes.label(third), resumedMs);
                    assertThat(new String(c.get("/nolead/2").get(30, TimeUnit.SECONDS), StandardCharsets.UTF_8))
                        .isEqualTo("back");
                }
            } catch (Throwable t) {
                q.postMortem(LOGS);
                throw t;
            }
        }
    }

    /**
     * Prints and bounds how long writes stopped after {@code killAt}. Acknowledgements of writes
     * in flight may still arrive just after the kill, so the stall is the longest gap between two
     * acknowledgements in the 30 s after it: its end is when writes resumed. Then the time to the
     * first second with at least half the rate before the kill.
     */
    void reportFailover(String what, QuorumLoad load, long killAt, double ratePerSec) {
        List<Long> acks = load.acknowledged().stream().map(QuorumLoad.Put::endNanos).sorted().toList();
        long prev = killAt;
        long gapStart = killAt;
        long gapEnd = killAt;
        for (long a : acks) {
            if (a - killAt <= 0) {
                continue;
            }
            if (a - killAt > TimeUnit.SECONDS.toNanos(30)) {
                break;
            }
            if (a - prev > gapEnd - gapStart) {
                gapStart = prev;
                gapEnd = a;
            }
            prev = a;
        }
        long steady = -1;
        for (long t = gapEnd; steady < 0 && t - acks.get(acks.size() - 1) < 0; t += TimeUnit.MILLISECONDS.toNanos(100)) {
            long from = t;
            long n = acks.stream().filter(a -> a - from >= 0 && a - from < TimeUnit.SECONDS.toNanos(1)).count();
            if (n >= ratePerSec / 2) {
                steady = t + TimeUnit.SECONDS.toNanos(1);
            }
        }
        long resumeMs = (gapEnd - killAt) / 1_000_000;
        realErr().printf("%s: kill -9 of the leader at %.0f writes/s: no write acknowledged from %d to %d ms after the "
                + "kill (writes resumed %d ms after it); back to half the rate %s; outcomes %s; last errors %s%n", what,
            ratePerSec, (gapStart - killAt) / 1_000_000, resumeMs, resumeMs,
            steady < 0 ? "not within the run" : ((steady - killAt) / 1_000_000 + " ms after"), load.counts(),
            load.lastErrors(3));
        assertThat(resumeMs).as("writes resume within 15 s of the kill").isLessThan(15_000);
        assertThat(steady).as("the write rate recovers").isPositive();
    }

    static String[] concat(String[] a, String[] b) {
        String[] all = new String[a.length + b.length];
        System.arraycopy(a, 0, all, 0, a.length);
        System.arraycopy(b, 0, all, a.length, b.length);
        return all;
    }

    static long ms(long sinceNanos) {
        return (System.nanoTime() - sinceNanos) / 1_000_000;
    }
}
