package dev.dmsg.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.dmsg.services.quorum.QuorumClient;
import dev.dmsg.services.quorum.QuorumException;
import dev.dmsg.wire.qrm.Batch;
import dev.dmsg.wire.qrm.Blob;
import dev.dmsg.wire.qrm.Compare;
import dev.dmsg.wire.qrm.KeyValue;
import dev.dmsg.wire.qrm.Op;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A write load on a quorum group from this JVM (docs/QUORUM.md §8) and the checks after it.
 * Each of {@code writers} threads puts unique keys {@code PREFIX<w>/<seq>} with unique values, one
 * at a time, and every fourth operation increments its own counter {@code PREFIXc/<w>} by
 * compare-and-set (VALUE EQUAL n, then PUT n+1). Every operation is recorded as acknowledged
 * (OK), refused with nothing applied (FAILED) or outcome unknown (UNKNOWN:
 * {@link QuorumException#outcomeUnknown()}, or no answer within the wait).
 *
 * <p>{@link #verify} reads everything back with linearizable reads and checks: every OK put is
 * there with its value; no FAILED put is; every key present holds the value written for it with
 * version 1 (a put applied twice would make it 2); each counter is between its acknowledged
 * increments and those plus its unknown ones, its version one more than its value; and the store's
 * revision advanced by exactly the puts found plus the increments plus the counters' creation —
 * so nothing was applied that the keys do not show, and nothing twice.
 */
final class QuorumLoad {
    enum Outcome { OK, FAILED, UNKNOWN }

    /** One put as the writer saw it; times from {@link System#nanoTime()}. */
    record Put(int writer, int seq, String key, String value, long startNanos, long endNanos, Outcome outcome,
               String error) {}

    private final QuorumClient client;
    private final String prefix;
    private final int writers;
    private final Duration wait;
    private final List<Put> puts = new CopyOnWriteArrayList<>();
    private final int[] incAcked;
    private final int[] incUnknown;
    private final AtomicInteger[] seqs;
    private final List<Thread> threads = new ArrayList<>();
    private volatile boolean stopping;
    private long baseRevision;

    QuorumLoad(QuorumClient client, String prefix, int writers, Duration wait) {
        this.client = client;
        this.prefix = prefix;
        this.writers = writers;
        this.wait = wait;
        this.incAcked = new int[writers];
        this.incUnknown = new int[writers];
        this.seqs = new AtomicInteger[writers];
        for (int w = 0; w < writers; w++) {
            seqs[w] = new AtomicInteger();
        }
    }

    String counterKey(int w) {
        return prefix + "c/" + w;
    }

    String key(int w, int seq) {
        return String.format("%s%d/%05d", prefix, w, seq);
    }

    /** Creates the counters (at 0) and starts the writers. */
    void start() throws Exception {
        baseRevision = client.read(Batch.of(Op.get(Blob.utf8(prefix))), false).get(30, TimeUnit.SECONDS).revision();
        for (int w = 0; w < writers; w++) {
            client.commit(Batch.of(Op.put(Blob.utf8(counterKey(w)), Blob.utf8("0")))).get(30, TimeUnit.SECONDS);
        }
        for (int w = 0; w < writers; w++) {
            int writer = w;
            Thread t = new Thread(() -> write(writer), "writer-" + w);
            t.setDaemon(true);
            threads.add(t);
            t.start();
        }
    }

    /** Stops the writers once their current operation ends. */
    void stop() throws InterruptedException {
        stopping = true;
        for (Thread t : threads) {
            t.join(wait.multipliedBy(3).toMillis());
            assertThat(t.isAlive()).as(t.getName() + " stopped").isFalse();
        }
    }

    List<Put> puts() {
        return List.copyOf(puts);
    }

    /** Puts with outcome {@code o} that were sent at or after {@code sinceNanos}. */
    List<Put> sentSince(long sinceNanos, Outcome o) {
        return puts.stream().filter(p -> p.startNanos - sinceNanos >= 0 && p.outcome == o).toList();
    }

    /**
     * Waits until {@code count} puts sent at or after {@code sinceNanos} were acknowledged; polls
     * the record every 50 ms (the writers have no event to wait on), failing after {@code limit}.
     */
    void awaitAcks(long sinceNanos, int count, Duration limit, String what) throws InterruptedException {
        long deadline = System.nanoTime() + limit.toNanos();
        while (sentSince(sinceNanos, Outcome.OK).size() < count) {
            if (System.nanoTime() - deadline >= 0) {
                throw new AssertionError(what + ": fewer than " + count + " writes acknowledged within " + limit
                    + "; last errors " + lastErrors(5));
            }
            TimeUnit.MILLISECONDS.sleep(50);
        }
    }

    List<String> lastErrors(int n) {
        List<String> e = puts.stream().filter(p -> p.error != null).map(p -> p.outcome + " " + p.error).toList();
        return e.subList(Math.max(0, e.size() - n), e.size());
    }

    private void write(int w) {
        long n = 0; // what this writer believes its counter holds
        while (!stopping) {
            int seq = seqs[w].incrementAndGet();
            if (seq % 4 == 0) {
                n = increment(w, n);
                continue;
            }
            String key = key(w, seq);
            String value = "w" + w + "-" + seq + "-" + Long.toHexString(System.nanoTime());
            long t0 = System.nanoTime();
            Outcome o;
            String err = null;
            try {
                client.commit(Batch.of(Op.put(Blob.utf8(key), Blob.utf8(value)))).get(wait.toMillis() + 5000,
                    TimeUnit.MILLISECONDS);
                o = Outcome.OK;
            } catch (ExecutionException e) {
                QuorumException q = e.getCause() instanceof QuorumException x ? x : null;
                o = q != null && !q.outcomeUnknown() ? Outcome.FAILED : Outcome.UNKNOWN;
                err = String.valueOf(e.getCause());
            } catch (TimeoutException e) {
                o = Outcome.UNKNOWN;
                err = "no answer within " + wait.toMillis() + " ms + 5 s";
            } catch (InterruptedException e) {
                return;
            }
            puts.add(new Put(w, seq, key, value, t0, System.nanoTime(), o, err));
        }
    }

    /** One compare-and-set increment; returns what the counter now holds as far as we know. */
    private long increment(int w, long n) {
        Blob k = Blob.utf8(counterKey(w));
        Batch cas = new Batch(List.of(Compare.value(k, Compare.Result.EQUAL, Blob.utf8(Long.toString(n)))),
            List.of(Op.put(k, Blob.utf8(Long.toString(n + 1)))), List.of());
        try {
            QuorumClient.Committed c = client.commit(cas).get(wait.toMillis() + 5000, TimeUnit.MILLISECONDS);
            if (c.results().succeeded()) {
                incAcked[w]++;
                return n + 1;
            }
            return readCounter(w, n); // an earlier unknown increment was applied
        } catch (ExecutionException e) {
            if (e.getCause() instanceof QuorumException q && !q.outcomeUnknown()) {
                return n;
            }
            incUnknown[w]++;
            return readCounter(w, n);
        } catch (TimeoutException e) {
            incUnknown[w]++;
            return readCounter(w, n);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return n;
        }
    }

    /** The counter's value by a linearizable read, retried while the group has no leader. */
    private long readCounter(int w, long fallback) {
        while (!stopping) {
            try {
                byte[] v = client.get(counterKey(w)).get(wait.toMillis() + 5000, TimeUnit.MILLISECONDS);
                return Long.parseLong(new String(v, StandardCharsets.UTF_8));
            } catch (ExecutionException | TimeoutException e) {
                // no leader yet: the next read tries again (the client waits within its wait)
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return fallback;
            }
        }
        return fallback;
    }

    /** Counts by outcome, for the test log. */
    Map<Outcome, Long> counts() {
        Map<Outcome, Long> m = new HashMap<>();
        for (Put p : puts) {
            m.merge(p.outcome, 1L, Long::sum);
        }
        return m;
    }

    /** The checks of the class comment, by linearizable reads through {@code reader}; returns the store revision. */
    long verify(QuorumClient reader) throws Exception {
        Map<String, Put> attempted = new HashMap<>();
        puts.forEach(p -> attempted.put(p.key, p));
        Map<String, KeyValue> found = new HashMap<>();
        long revision = -1;
        for (int w = 0; w < writers; w++) {
            int max = seqs[w].get();
            for (int page = 0; page <= max / 100; page++) {
                String pp = String.format("%s%d/%03d", prefix, w, page);
                QuorumClient.ReadResult r = reader.read(Batch.of(Op.getPrefix(Blob.utf8(pp), 0)), false)
                    .get(30, TimeUnit.SECONDS);
                assertThat(r.results().results().get(0).more()).as(pp).isFalse();
                if (revision >= 0) {
                    assertThat(r.revision()).as("no write after the load stopped").isEqualTo(revision);
                }
                revision = r.revision();
                for (KeyValue kv : r.results().results().get(0).kvs()) {
                    found.put(kv.key().utf8(), kv);
                }
            }
        }
        for (Put p : puts) {
            KeyValue kv = found.get(p.key);
            switch (p.outcome) {
                case OK -> {
                    assertThat(kv).as("acknowledged put %s lost", p.key).isNotNull();
                    assertThat(kv.value().utf8()).as(p.key).isEqualTo(p.value);
                }
                case FAILED -> assertThat(kv).as("refused put %s (%s) applied", p.key, p.error).isNull();
                case UNKNOWN -> { }
                default -> throw new AssertionError(p.outcome);
            }
        }
        for (KeyValue kv : found.values()) {
            Put p = attempted.get(kv.key().utf8());
            assertThat(p).as("key %s was never written", kv.key().utf8()).isNotNull();
            assertThat(kv.value().utf8()).as(p.key).isEqualTo(p.value);
            assertThat(kv.version()).as("%s applied more than once", p.key).isEqualTo(1);
            assertThat(kv.modRevision()).as(p.key).isEqualTo(kv.createRevision());
        }
        long increments = 0;
        for (int w = 0; w < writers; w++) {
            QuorumClient.ReadResult r = reader.read(Batch.of(Op.get(Blob.utf8(counterKey(w)))), false)
                .get(30, TimeUnit.SECONDS);
            KeyValue kv = r.results().results().get(0).kvs().get(0);
            long c = Long.parseLong(kv.value().utf8());
            assertThat(c).as("counter %d: acknowledged %d, unknown %d", w, incAcked[w], incUnknown[w])
                .isBetween((long) incAcked[w], (long) incAcked[w] + incUnknown[w]);
            assertThat(kv.version()).as("counter %d version", w).isEqualTo(c + 1);
            increments += c;
        }
        assertThat(revision - baseRevision).as("revisions since the load began: %d puts found, %d increments, %d "
                + "counters made", found.size(), increments, writers)
            .isEqualTo(found.size() + increments + writers);
        return revision;
    }

    /** The keys of acknowledged puts, in order of acknowledgement. */
    List<Put> acknowledged() {
        return puts.stream().filter(p -> p.outcome == Outcome.OK).toList();
    }

    int acknowledgedIncrements() {
        int s = 0;
        for (int a : incAcked) {
            s += a;
        }
        return s;
    }

    int unknownIncrements() {
        int s = 0;
        for (int a : incUnknown) {
            s += a;
        }
        return s;
    }
}
