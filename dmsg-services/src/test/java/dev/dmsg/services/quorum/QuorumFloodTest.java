package dev.dmsg.services.quorum;

import static org.assertj.core.api.Assertions.assertThat;

import dev.dmsg.link.Link;
import dev.dmsg.link.tls.Role;
import dev.dmsg.services.node.Node;
import dev.dmsg.services.testing.TestCluster;
import dev.dmsg.testkit.LeakDetector;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.qrm.Batch;
import dev.dmsg.wire.qrm.Blob;
import dev.dmsg.wire.qrm.Op;
import dev.dmsg.wire.qrm.WatchEvent;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentSkipListSet;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Floods against a running group (docs/QUORUM.md §3.4, §6): one originator's prepared batches and
 * watches up to its budget and one past it, and a watcher that stops reading while megabytes of
 * changes are written — with an honest client on the same member writing, reading and watching
 * throughout.
 */
@Timeout(120)
@ExtendWith(LeakDetector.class)
class QuorumFloodTest {
    static final Duration LONG_LEASE = Duration.ofSeconds(30);

    @TempDir
    Path tmp;

    @RegisterExtension
    final TestCluster cluster = new TestCluster(() -> tmp).pinning(Role.MEMBER);

    static Blob utf8(String s) {
        return Blob.utf8(s);
    }

    static <T> List<T> all(List<CompletableFuture<T>> fs) throws Exception {
        List<T> out = new ArrayList<>();
        for (CompletableFuture<T> f : fs) {
            out.add(f.get(30, TimeUnit.SECONDS));
        }
        return out;
    }

    @Test
    void anOriginatorsPreparedBatchesAndWatchesStopAtItsBudget() throws Exception {
        AttackRig r = AttackRig.start(cluster);
        QuorumClient x = AttackRig.viaLink(cluster, r.x());
        long r0 = r.revision();
        List<WatchEvent> honestSaw = new CopyOnWriteArrayList<>();
        KvWatch honestWatch = r.client().watch(utf8("/h/"), true, 0, honestSaw::addAll, e -> { }).get(30, TimeUnit.SECONDS);
        HonestTraffic honest = cluster.closing(new HonestTraffic(r.client(), "/h/"));

        List<CompletableFuture<Prepared>> flood = new ArrayList<>();
        for (int i = 0; i < 64; i++) {
            flood.add(x.prepare(Batch.of(Op.put(utf8("/atk/p/" + i), utf8("x"))), LONG_LEASE));
        }
        List<Prepared> prepared = all(flood);
        assertThat(prepared).allMatch(Prepared::held);
        assertThat(QuorumAttackTest.refusal(() -> x.prepare(Batch.of(Op.put(utf8("/atk/p/64"), utf8("x"))), LONG_LEASE)
            .get(30, TimeUnit.SECONDS))).isEqualTo("LIMIT: 64 prepared batches of this originator here");
        // the honest originator has a budget of its own: its two-phase commit goes through
        Prepared mine = r.client().prepare(Batch.of(Op.put(utf8("/h/2pc"), utf8("ok"))), null).get(30, TimeUnit.SECONDS);
        assertThat(mine.commit().get(30, TimeUnit.SECONDS).revision()).isPositive();
        prepared.forEach(Prepared::abort);
        r.awaitNothingPrepared(cluster);
        // the budget is given back with the batches
        Prepared again = x.prepare(Batch.of(Op.put(utf8("/atk/p/again"), utf8("x"))), LONG_LEASE).get(30, TimeUnit.SECONDS);
        again.abort();

        List<CompletableFuture<KvWatch>> watches = new ArrayList<>();
        for (int i = 0; i < 64; i++) {
            watches.add(x.watch(utf8("/atk/w/" + i), false, 0, e -> { }, e -> { }));
        }
        List<KvWatch> open = all(watches);
        assertThat(QuorumAttackTest.refusal(() -> x.watch(utf8("/atk/w/64"), false, 0, e -> { }, e -> { })
            .get(30, TimeUnit.SECONDS))).isEqualTo("LIMIT: 64 watches of this originator here");
        assertThat(r.a().quorum().status().watches()).isEqualTo(65); // the flood's and the honest one
        open.forEach(KvWatch::close);
        cluster.await(() -> r.a().quorum().status().watches() == 1, "the flood's watches are gone");

        int honestWrites = honest.stop(3);
        r.awaitNothingPrepared(cluster);
        assertThat(r.keys("/atk/")).isEmpty();
        assertThat(r.revision()).isEqualTo(r0 + honestWrites + 1); // + the honest two-phase commit
        cluster.await(() -> honestSaw.size() == honestWrites + 1, "the honest watch saw every honest write");
        honestWatch.close();
        assertThat(r.a().quorum().status().budgetRefusals()).isEqualTo(2);
    }

    static final Pattern FELL_BEHIND = Pattern.compile("watch fell behind at revision (\\d+)");

    /** A watch's client side: the revisions it saw, and how it ended. */
    static final class Seen {
        final Set<Long> revisions = new ConcurrentSkipListSet<>();
        final CompletableFuture<QuorumException> ended = new CompletableFuture<>();

        void events(List<WatchEvent> es) {
            es.forEach(e -> revisions.add(e.revision()));
        }
    }

    static long median(List<Long> xs) {
        List<Long> s = new ArrayList<>(xs);
        Collections.sort(s);
        return s.get(s.size() / 2);
    }

    static final int BIG_PUTS = 140;

    @Test
    void aWatcherThatStopsReadingIsEndedAndResumesWithoutAGapWhileOthersGoOn() throws Exception {
        AttackRig r = AttackRig.start(cluster);
        Node w = cluster.start("w");
        TestCluster.link(w, r.a());
        QuorumClient wc = AttackRig.viaLink(cluster, w);
        QuorumClient h = r.client();

        // four watches of the slow watcher (more than the member's two watch delivery threads; and
        // each queues its own copy, so the socket buffers in between fill four times as fast), one honest one
        List<Seen> slow = List.of(new Seen(), new Seen(), new Seen(), new Seen());
        Seen honestSeen = new Seen();
        for (Seen s : slow) {
            wc.watch(utf8("/big/"), true, 0, s::events, s.ended::complete).get(30, TimeUnit.SECONDS);
        }
        KvWatch hw = h.watch(utf8("/big/"), true, 0, honestSeen::events, honestSeen.ended::complete).get(30, TimeUnit.SECONDS);

        List<Long> before = new ArrayList<>();
        for (int i = 0; i < 30; i++) {
            long t0 = System.nanoTime();
            h.put("/h/before/" + i, "v".getBytes(StandardCharsets.UTF_8)).get(30, TimeUnit.SECONDS);
            if (i >= 10) { // the first ones warm up the code paths
                before.add(System.nanoTime() - t0);
            }
        }

        Link wl = RawQrm.link(w, "a");
        CompletableFuture<Void> paused = new CompletableFuture<>();
        wl.execute(() -> {
            wl.circuits().pauseReading();
            paused.complete(null);
        });
        paused.get(10, TimeUnit.SECONDS);

        // 140 x 60,000 bytes: 8 MiB of changes under /big/, every fourth put followed by a timed small one
        List<Long> bigRevisions = new ArrayList<>();
        List<Long> during = new ArrayList<>();
        byte[] big = new byte[60_000];
        for (int i = 0; i < BIG_PUTS; i++) {
            big[0] = (byte) i;
            bigRevisions.add(h.put("/big/" + i, big).get(30, TimeUnit.SECONDS));
            if (i % 4 == 3) {
                long t0 = System.nanoTime();
                h.put("/h/during/" + i, "v".getBytes(StandardCharsets.UTF_8)).get(30, TimeUnit.SECONDS);
                during.add(System.nanoTime() - t0);
            }
        }
        long last = bigRevisions.get(bigRevisions.size() - 1);

        // while the watcher still reads nothing: the member ended both its watches (their queues
        // dropped: memory bounded), and the honest watch on the same member saw every change
        System.out.printf("slow watches got %s revisions; member a: %s%n",
            slow.stream().map(s -> s.revisions.size()).toList(), r.a().quorum().status());
        cluster.await(() -> r.a().quorum().status().watchesFellBehind() == slow.size(), "the member ended the slow watches");
        cluster.await(() -> honestSeen.revisions.containsAll(bigRevisions), "the honest watch saw every /big/ change");
        assertThat(honestSeen.ended).isNotDone();
        long medianBefore = median(before);
        long medianDuring = median(during);
        System.out.printf("honest put latency: median %.1f ms before, %.1f ms during (%d MiB written to a paused watcher)%n",
            medianBefore / 1e6, medianDuring / 1e6, BIG_PUTS * 60_000 >> 20);
        assertThat(medianDuring).as("applies are not slowed by the watcher that does not read")
            .isLessThan(5 * medianBefore + TimeUnit.MILLISECONDS.toNanos(20));

        wl.execute(wl.circuits()::resumeReading);
        for (Seen s : slow) {
            QuorumException e = s.ended.get(30, TimeUnit.SECONDS);
            assertThat(e.error()).isEqualTo(Dmsg.ERR_LIMIT);
            Matcher m = FELL_BEHIND.matcher(e.getMessage());
            assertThat(m.find()).as(e.getMessage()).isTrue();
            long resume = Long.parseLong(m.group(1));
            assertThat(resume).isBetween(bigRevisions.get(0), last);
            // no gap: every change before the resume revision reached the watcher
            Set<Long> expected = new TreeSet<>(bigRevisions.stream().filter(x -> x < resume).toList());
            assertThat(s.revisions).as("what the slow watcher got before revision %d", resume).containsAll(expected);
            // and watching again from there gets the rest, starting at it, though it is more than
            // the member's 4 MiB bounds: the replay is paced by the watcher's link
            Seen again = new Seen();
            KvWatch w2 = wc.watch(utf8("/big/"), true, resume, again::events, again.ended::complete).get(30, TimeUnit.SECONDS);
            cluster.await(() -> again.revisions.contains(last) || again.ended.isDone(), "the re-watch from " + resume
                + " reached " + last);
            assertThat(again.ended).as("the re-watch from %d", resume).isNotDone();
            assertThat(again.revisions.iterator().next()).isEqualTo(resume);
            assertThat(again.revisions).containsAll(bigRevisions.stream().filter(x -> x >= resume).toList());
            w2.close();
        }
        // a watcher that fell behind catches up by reading and watching on from the read's revision
        QuorumClient.ReadResult now = wc.read(Batch.of(Op.get(utf8("/big/0"))), false).get(30, TimeUnit.SECONDS);
        assertThat(now.revision()).isGreaterThanOrEqualTo(last);
        Seen after = new Seen();
        KvWatch w2 = wc.watch(utf8("/big/"), true, now.revision() + 1, after::events, after.ended::complete).get(30, TimeUnit.SECONDS);
        long next = h.put("/big/next", big).get(30, TimeUnit.SECONDS);
        cluster.await(() -> after.revisions.contains(next), "the new watch saw the next change");
        w2.close();
        hw.close();
    }
}
