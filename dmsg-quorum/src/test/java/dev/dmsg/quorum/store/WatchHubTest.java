package dev.dmsg.quorum.store;

import static org.assertj.core.api.Assertions.assertThat;

import dev.dmsg.wire.qrm.Blob;
import dev.dmsg.wire.qrm.KeyValue;
import dev.dmsg.wire.qrm.WatchEvent;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** {@link WatchHub} and {@link Watch}: history, replay then live with no gap, compaction, overflow (docs/QUORUM.md §3.4). */
class WatchHubTest {
    /** An executor that runs what it is given only when the test says. */
    static final class Manual implements Executor {
        final ArrayDeque<Runnable> tasks = new ArrayDeque<>();

        @Override
        public synchronized void execute(Runnable r) {
            tasks.add(r);
        }

        void runAll() {
            Runnable r;
            while ((r = poll()) != null) {
                r.run();
            }
        }

        synchronized Runnable poll() {
            return tasks.poll();
        }
    }

    /** Records what a watch got. */
    static class Rec implements WatchListener {
        final List<Long> revisions = new ArrayList<>();
        final List<WatchEvent> events = new ArrayList<>();
        volatile Watch.End end;

        @Override
        public void onEvents(long revision, List<WatchEvent> evs) {
            revisions.add(revision);
            events.addAll(evs);
        }

        @Override
        public void onEnd(Watch.End e) {
            end = e;
        }
    }

    static List<WatchEvent> put(long rev, String... keys) {
        List<WatchEvent> l = new ArrayList<>();
        for (String k : keys) {
            l.add(new WatchEvent(WatchEvent.Kind.PUT, rev, new KeyValue(Blob.utf8(k), Blob.utf8("v"), rev, rev, 1)));
        }
        return l;
    }

    static Watch started(WatchStart s) {
        assertThat(s).isInstanceOf(WatchStart.Started.class);
        return ((WatchStart.Started) s).watch();
    }

    @Test
    void replayFromAnOldRevisionThenLive_noGapNoDuplicate() {
        Manual ex = new Manual();
        WatchHub hub = new WatchHub(100, 1 << 20, 1 << 20, ex);
        for (long r = 1; r <= 5; r++) {
            hub.publish(r, put(r, "/a/" + r));
        }
        Rec rec = new Rec();
        WatchStart s = hub.watch(Blob.utf8("/a/"), true, 3, rec);
        assertThat(((WatchStart.Started) s).startsAfter()).isEqualTo(2);
        hub.publish(6, put(6, "/a/6"));       // live, before the replay was even delivered
        ex.runAll();
        hub.publish(7, put(7, "/b/7"));       // does not match: no call
        hub.publish(8, put(8, "/a/8", "/b/8"));
        ex.runAll();
        assertThat(rec.revisions).containsExactly(3L, 4L, 5L, 6L, 8L);
        assertThat(rec.events).extracting(e -> e.kv().key().utf8()).containsExactly("/a/3", "/a/4", "/a/5", "/a/6", "/a/8");
        assertThat(rec.end).isNull();
    }

    @Test
    void exactKeyFromNowAndFromTheFuture() {
        Manual ex = new Manual();
        WatchHub hub = new WatchHub(100, 1 << 20, 1 << 20, ex);
        hub.publish(1, put(1, "/k"));
        Rec now = new Rec();
        assertThat(((WatchStart.Started) hub.watch(Blob.utf8("/k"), false, 0, now)).startsAfter()).isEqualTo(1);
        Rec later = new Rec();
        assertThat(((WatchStart.Started) hub.watch(Blob.utf8("/k"), false, 4, later)).startsAfter()).isEqualTo(3);
        for (long r = 2; r <= 5; r++) {
            hub.publish(r, put(r, "/k", "/k2"));
        }
        ex.runAll();
        assertThat(now.revisions).containsExactly(2L, 3L, 4L, 5L);
        assertThat(now.events).hasSize(4);
        assertThat(later.revisions).containsExactly(4L, 5L);
    }

    @Test
    void fromACompactedRevisionIsRefusedWithTheOldestKept() {
        WatchHub hub = new WatchHub(3, 1 << 20, 1 << 20, new Manual());
        for (long r = 1; r <= 10; r++) {
            hub.publish(r, put(r, "/a"));
        }
        assertThat(hub.watch(Blob.utf8("/a"), false, 7, new Rec())).isEqualTo(new WatchStart.Compacted(8, 10));
        assertThat(hub.watch(Blob.utf8("/a"), false, 8, new Rec())).isInstanceOf(WatchStart.Started.class);
        // the byte bound compacts too: each event here is 32 + 2 + 1 bytes
        WatchHub small = new WatchHub(100, 35 * 2, 1 << 20, new Manual());
        for (long r = 1; r <= 5; r++) {
            small.publish(r, put(r, "/a"));
        }
        assertThat(small.firstKept()).isEqualTo(4);
    }

    @Test
    void aSlowWatcherIsEndedWhenItsQueueOverflows_andMayResumeFromTheRevisionGiven() {
        Manual ex = new Manual();
        long eventBytes = 32 + 2 + 1;
        WatchHub hub = new WatchHub(100, 1 << 20, eventBytes * 3, ex);
        Rec slow = new Rec();
        Watch w = started(hub.watch(Blob.utf8("/a"), false, 0, slow));
        hub.publish(1, put(1, "/a"));
        ex.runAll();                              // delivers revision 1
        for (long r = 2; r <= 4; r++) {
            hub.publish(r, put(r, "/a"));         // queued: 3 events, at the bound
        }
        assertThat(w.queuedBytes()).isEqualTo(eventBytes * 3);
        hub.publish(5, put(5, "/a"));             // one more: over, ended; publish did not block
        assertThat(hub.watchCount()).isZero();
        ex.runAll();
        assertThat(slow.revisions).containsExactly(1L);
        assertThat(slow.end).isEqualTo(new Watch.End(Watch.End.Cause.FELL_BEHIND, 2));
        assertThat(slow.end.reason()).isEqualTo("watch fell behind at revision 2");
        hub.publish(6, put(6, "/a"));
        ex.runAll();
        assertThat(slow.revisions).as("nothing after the end").containsExactly(1L);

        // The replay is the history's own events, outside the bound: re-watching from the revision
        // given gets all from there though it is more than the bound (5 revisions > 3 events).
        // Counted, it would end the re-watch at once at the same revision, every time.
        Rec again = new Rec();
        started(hub.watch(Blob.utf8("/a"), false, slow.end.revision(), again));
        ex.runAll();
        assertThat(again.revisions).containsExactly(2L, 3L, 4L, 5L, 6L);
        assertThat(again.end).isNull();
        Rec fits = new Rec();
        started(hub.watch(Blob.utf8("/a"), false, 4, fits));
        ex.runAll();
        assertThat(fits.revisions).containsExactly(4L, 5L, 6L);
        assertThat(fits.end).isNull();
    }

    @Test
    void aReplayIsOutsideTheBoundButLiveRevisionsBehindItAreNot() {
        Manual ex = new Manual();
        long eventBytes = 32 + 2 + 1;
        WatchHub hub = new WatchHub(100, 1 << 20, eventBytes * 2, ex);
        for (long r = 1; r <= 5; r++) {
            hub.publish(r, put(r, "/a"));
        }
        Rec rec = new Rec();
        Watch w = started(hub.watch(Blob.utf8("/a"), false, 1, rec)); // 5 replayed, over the bound of 2
        hub.publish(6, put(6, "/a"));
        hub.publish(7, put(7, "/a"));                // 2 live ones: at the bound, beside the replay
        assertThat(w.queuedBytes()).isEqualTo(eventBytes * 7);
        hub.publish(8, put(8, "/a"));                // a third: over
        ex.runAll();
        assertThat(rec.revisions).isEmpty();
        assertThat(rec.end).isEqualTo(new Watch.End(Watch.End.Cause.FELL_BEHIND, 1));
    }

    @Test
    void aPausedWatchHoldsDeliveryAndStillGetsItsEnd() {
        Manual ex = new Manual();
        long eventBytes = 32 + 2 + 1;
        WatchHub hub = new WatchHub(100, 1 << 20, eventBytes * 2, ex);
        Rec rec = new Rec();
        Watch w = started(hub.watch(Blob.utf8("/a"), false, 0, rec));
        w.pause();
        hub.publish(1, put(1, "/a"));
        hub.publish(2, put(2, "/a"));
        ex.runAll();
        assertThat(rec.revisions).isEmpty();
        w.resume();
        ex.runAll();
        assertThat(rec.revisions).containsExactly(1L, 2L);
        w.pause();
        for (long r = 3; r <= 5; r++) {
            hub.publish(r, put(r, "/a"));            // the third is over the bound
        }
        ex.runAll();
        assertThat(rec.revisions).containsExactly(1L, 2L);
        assertThat(rec.end).as("delivered though paused").isEqualTo(new Watch.End(Watch.End.Cause.FELL_BEHIND, 3));
    }

    @Test
    void aListenerThatIsNotReadyHoldsDeliveryUntilResumed() {
        Manual ex = new Manual();
        WatchHub hub = new WatchHub(100, 1 << 20, 1 << 20, ex);
        for (long r = 1; r <= 4; r++) {
            hub.publish(r, put(r, "/a"));
        }
        boolean[] ready = {true};
        Rec rec = new Rec() {
            @Override
            public boolean ready() {
                ready[0] = revisions.size() < 2; // takes two, then says no
                return ready[0];
            }
        };
        Watch w = started(hub.watch(Blob.utf8("/a"), false, 1, rec));
        ex.runAll();
        assertThat(rec.revisions).containsExactly(1L, 2L);
        hub.publish(5, put(5, "/a"));
        ex.runAll();
        assertThat(rec.revisions).as("held while not ready").containsExactly(1L, 2L);
        rec.revisions.clear(); // ready again
        w.resume();
        ex.runAll();
        assertThat(rec.revisions).containsExactly(3L, 4L);
        rec.revisions.clear();
        w.resume();
        ex.runAll();
        assertThat(rec.revisions).containsExactly(5L);
        assertThat(rec.end).isNull();
    }

    @Test
    void aRevisionLargerThanTheBoundStillGoesIntoAnEmptyQueue() {
        Manual ex = new Manual();
        WatchHub hub = new WatchHub(100, 1 << 20, 10, ex);
        Rec rec = new Rec();
        hub.watch(Blob.utf8("/"), true, 0, rec);
        hub.publish(1, put(1, "/a", "/b"));
        ex.runAll();
        assertThat(rec.revisions).containsExactly(1L);
        assertThat(rec.end).isNull();
    }

    @Test
    void cancelStopsDeliveryAndResetEndsEveryWatch() {
        Manual ex = new Manual();
        WatchHub hub = new WatchHub(100, 1 << 20, 1 << 20, ex);
        Rec cancelled = new Rec();
        Rec reset = new Rec();
        Watch c = started(hub.watch(Blob.utf8("/"), true, 0, cancelled));
        hub.watch(Blob.utf8("/"), true, 0, reset);
        hub.publish(1, put(1, "/a"));
        c.cancel();
        ex.runAll();
        hub.reset(40);
        ex.runAll();
        assertThat(cancelled.revisions).isEmpty();
        assertThat(cancelled.end).isNull();
        assertThat(reset.revisions).containsExactly(1L);
        assertThat(reset.end).isEqualTo(new Watch.End(Watch.End.Cause.RESET, 41));
        assertThat(hub.watch(Blob.utf8("/"), true, 40, new Rec())).isEqualTo(new WatchStart.Compacted(41, 40));
        assertThat(hub.watch(Blob.utf8("/"), true, 41, new Rec())).isInstanceOf(WatchStart.Started.class);
    }

    @Test
    void aListenerThatThrowsEndsOnlyItsWatch() {
        Manual ex = new Manual();
        WatchHub hub = new WatchHub(100, 1 << 20, 1 << 20, ex);
        Rec good = new Rec();
        hub.watch(Blob.utf8("/"), true, 0, good);
        hub.watch(Blob.utf8("/"), true, 0, new WatchListener() {
            @Override
            public void onEvents(long revision, List<WatchEvent> events) {
                throw new IllegalStateException("boom");
            }

            @Override
            public void onEnd(Watch.End end) {
            }
        });
        hub.publish(1, put(1, "/a"));
        ex.runAll();
        assertThat(hub.watchCount()).isEqualTo(1);
        hub.publish(2, put(2, "/a"));
        ex.runAll();
        assertThat(good.revisions).containsExactly(1L, 2L);
    }

    /**
     * The race the hub's lock closes: watches started from random revisions while another
     * thread publishes. Each must see every revision from its start on, once, in order.
     */
    @Test
    void watchesStartedWhilePublishingSeeEveryRevisionOnce() throws Exception {
        int revisions = 20_000;
        WatchHub hub = new WatchHub(revisions, 1L << 30, 1L << 30, Runnable::run);
        CountDownLatch go = new CountDownLatch(1);
        Thread publisher = new Thread(() -> {
            try {
                go.await();
            } catch (InterruptedException e) {
                return;
            }
            for (long r = 1; r <= revisions; r++) {
                hub.publish(r, put(r, "/k"));
            }
        });
        publisher.start();
        ConcurrentLinkedQueue<long[]> failures = new ConcurrentLinkedQueue<>();
        List<Object[]> started = new ArrayList<>();
        SplittableRandom rnd = new SplittableRandom(42);
        go.countDown();
        for (int i = 0; i < 200; i++) {
            Rec rec = new Rec();
            long from = rnd.nextInt(3) == 0 ? 0 : 1 + rnd.nextInt(revisions);
            WatchStart s = hub.watch(Blob.utf8("/k"), false, from, rec);
            started.add(new Object[] {s, rec});
        }
        publisher.join(TimeUnit.SECONDS.toMillis(20));
        assertThat(publisher.isAlive()).isFalse();
        for (Object[] o : started) {
            long after = ((WatchStart.Started) o[0]).startsAfter();
            Rec rec = (Rec) o[1];
            synchronized (rec) {
                List<Long> got = rec.revisions;
                for (int i = 0; i < got.size(); i++) {
                    if (got.get(i) != after + 1 + i) {
                        failures.add(new long[] {after, i, got.get(i)});
                        break;
                    }
                }
                if (after < revisions && got.size() != revisions - after) {
                    failures.add(new long[] {after, got.size(), -1});
                }
            }
        }
        assertThat(failures).isEmpty();
    }
}
