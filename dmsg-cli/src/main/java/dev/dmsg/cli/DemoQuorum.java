package dev.dmsg.cli;

import dev.dmsg.link.tls.Role;
import dev.dmsg.quorum.GroupSpec;
import dev.dmsg.services.node.Node;
import dev.dmsg.services.quorum.GroupStatus;
import dev.dmsg.services.quorum.KvWatch;
import dev.dmsg.services.quorum.Prepared;
import dev.dmsg.services.quorum.QuorumClient;
import dev.dmsg.wire.qrm.Batch;
import dev.dmsg.wire.qrm.Blob;
import dev.dmsg.wire.qrm.Compare;
import dev.dmsg.wire.qrm.Op;
import dev.dmsg.wire.qrm.WatchEvent;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

/**
 * Part five of {@code dmsg demo}: a quorum group (docs/QUORUM.md). q1..q3 keep a replicated store
 * on Raft over the mesh; q4, not a member, writes and watches it; the leader is killed, the other
 * two elect a new one, and every write acknowledged before is still there.
 */
final class DemoQuorum {
    static final Duration T = Duration.ofSeconds(20);

    private final DemoNarrator narrator;
    private final PrintStream out;

    DemoQuorum(DemoNarrator narrator) {
        this.narrator = narrator;
        this.out = narrator.out;
    }

    private void say(String who, String fmt, Object... args) {
        narrator.say(who, fmt, args);
    }

    int run(Path dir) throws Exception {
        Logging.setLevel("org.apache.ratis", "ERROR"); // the narration says what happens
        Logging.setLevel("org.apache.ratis.client.impl.OrderedAsync", "OFF");
        Logging.setLevel("dev.dmsg.quorum", "WARN");
        Logging.setLevel("dmsg.node", "ERROR"); // the killed leader's neighbours redial it: the narration says why
        out.println("Part five: a quorum. q1, q2, q3 are the members of group 'cfg', a replicated store on Raft over "
            + "the mesh; q4 uses it.");
        out.println();
        List<Node> nodes = new ArrayList<>();
        GroupSpec cfg = GroupSpec.parse("cfg=q1,q2,q3");
        try {
            for (int i = 1; i <= 4; i++) {
                var s = Node.Settings.of("127.0.0.1", 0, dir.resolve("q" + i), Node.Identity.of("q" + i, "demo"));
                nodes.add(Node.start(i <= 3 ? s.toBuilder().quorums(List.of(cfg)).build() : s));
            }
            for (int i = 0; i < 4; i++) {
                for (int j = i + 1; j < 4; j++) {
                    Node.trustEachOther(nodes.get(i), nodes.get(j), Role.MEMBER);
                    if (j < 3 || i == 0 || i == 1) { // members fully meshed; q4 links to q1 and q2
                        nodes.get(j).shell().execute("span 127.0.0.1:" + nodes.get(i).address().getPort());
                    }
                }
            }
            Node q4 = nodes.get(3);
            long t0 = System.nanoTime();
            String leader = awaitLeader(nodes.subList(0, 3), "cfg", null);
            say("demo", "q1..q3 elected %s leader in %d ms: Raft's votes travel as QRM_RAFT transactions over "
                + "circuits whose two ends authenticated each other (docs/QUORUM.md §5)", leader,
                TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0));

            try (QuorumClient c = new QuorumClient(q4.mesh(), () -> q4.endpoint().links(), "cfg", T)) {
                List<WatchEvent> seen = new CopyOnWriteArrayList<>();
                KvWatch w = c.watch(Blob.utf8("/demo/"), true, 0, seen::addAll, e -> { }).get(20, TimeUnit.SECONDS);
                say("q4", "watches /demo/ (a QRM_WATCH transaction kept open, changes streamed in revision order)");
                for (int i = 1; i <= 5; i++) {
                    long rev = c.put("/demo/k" + i, ("v" + i).getBytes(StandardCharsets.UTF_8)).get(20, TimeUnit.SECONDS);
                    if (i == 5) {
                        say("q4", "put /demo/k1..k5 through %s: each committed at a quorum; the last at revision %d",
                            c.member(), rev);
                    }
                }
                Prepared p = c.prepare(new Batch(List.of(Compare.value(Blob.utf8("/demo/k1"), Compare.Result.EQUAL,
                    Blob.utf8("v1"))), List.of(Op.put(Blob.utf8("/demo/mode"), Blob.utf8("active"))), List.of()), null)
                    .get(20, TimeUnit.SECONDS);
                say("q4", "QRM_COMMIT phase 1: prepared at log index %d, term %d, /demo/mode reserved, compare held: %s",
                    p.index(), p.term(), p.held());
                QuorumClient.Committed done = p.commit().get(20, TimeUnit.SECONDS);
                say("q4", "phase 2, its message update 'commit': applied at revision %d", done.revision());
                awaitSize(seen, 6);
                say("q4", "the watch saw %d changes: %s", seen.size(),
                    String.join(" ", seen.stream().map(e -> e.kv().key().utf8() + "@" + e.revision()).toList()));

                Node dead = nodes.stream().filter(n -> n.identity().label().equals(leader)).findFirst().orElseThrow();
                out.println();
                say("demo", "the leader %s is killed", leader);
                dead.close();
                nodes.remove(dead);
                long killed = System.nanoTime();
                String next = awaitLeader(nodes.stream().filter(n -> n.quorum() != null).toList(), "cfg", leader);
                say("demo", "%s is the new leader, %d ms later (elections after 1-2 s without a heartbeat)", next,
                    TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - killed));
                long rev = c.put("/demo/after", "still writing".getBytes(StandardCharsets.UTF_8)).get(20, TimeUnit.SECONDS);
                say("q4", "put /demo/after: revision %d, %d ms after the kill", rev,
                    TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - killed));
                var got = c.read(Batch.of(Op.getPrefix(Blob.utf8("/demo/"), 0)), false).get(20, TimeUnit.SECONDS);
                var kvs = got.results().results().get(0).kvs();
                say("q4", "a linearizable read of /demo/ returns %d keys: %s — nothing acknowledged was lost", kvs.size(),
                    String.join(" ", kvs.stream().map(kv -> kv.key().utf8() + "=" + kv.value().utf8()).toList()));
                w.close();
                if (kvs.size() != 7) {
                    return 1;
                }
            }
            out.println();
            say("demo", "from a shell: `dmsg kv put|get|txn|watch` and `dmsg quorum status` (docs/QUORUM.md §7)");
            return 0;
        } finally {
            for (var n : nodes) {
                n.close();
            }
        }
    }

    /** The label of a leader of {@code group} other than {@code not}, as the members see it. */
    static String awaitLeader(List<Node> members, String group, String not) throws Exception {
        long deadline = System.nanoTime() + T.toNanos();
        while (System.nanoTime() < deadline) {
            for (Node n : members) {
                GroupStatus s = n.quorum().engine(group).status();
                if ("LEADER".equals(s.role()) && !s.self().equals(not)) {
                    return s.self();
                }
            }
            Thread.sleep(50); // Raft's role has no change notification we can reach
        }
        throw new IllegalStateException("no leader of " + group + " within " + T);
    }

    private static void awaitSize(List<?> l, int n) throws InterruptedException {
        long deadline = System.nanoTime() + T.toNanos();
        while (l.size() < n && System.nanoTime() < deadline) {
            Thread.sleep(20); // the events arrive on the watch's own thread
        }
    }
}
