package dev.dmsg.services.testing;

import dev.dmsg.services.quorum.QuorumClient;
import dev.dmsg.services.quorum.QuorumException;
import dev.dmsg.testkit.linear.History;
import dev.dmsg.testkit.linear.RegisterModel;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.qrm.Batch;
import dev.dmsg.wire.qrm.Blob;
import dev.dmsg.wire.qrm.Compare;
import dev.dmsg.wire.qrm.KeyValue;
import dev.dmsg.wire.qrm.Op;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Register operations from concurrent {@link QuorumClient}s, each recorded in a {@link History}
 * as docs/QUORUM.md §8 says: a GET of one key is {@code read}, a one-phase PUT of a value no one
 * else writes is {@code write} (a DELETE {@code write(nil)}), a batch {@code VALUE(key) EQUAL e} (absent: {@code VERSION(key)
 * EQUAL 0}) then PUT is {@code cas(e, v)} answered by {@code succeeded}. A reply is ok; a refusal
 * that applied nothing (PERM, PARAM, CONFLICT, NOTPREPARED, LIMIT, NOLEADER without
 * {@link QuorumException#outcomeUnknown()}) is fail; LOSTLINK, an unknown outcome, or no answer
 * within the op's wait is unknown. A read is never unknown: a read that did not answer changed
 * nothing, so it is a fail.
 *
 * <p>One thread per client, each with its own seeded {@link Random} (seed + client), so a run is
 * reproducible up to the cluster's timing. {@link #serializableReads} turns the reads of chosen
 * clients into SERIALIZABLE ones still recorded as linearizable — the deliberately broken mode
 * the checker must catch.
 *
 * <p>In the test-jar (dev.dmsg.services.testing) so that dmsg-cli's process tests run the same
 * workload against real {@code dmsg node} processes.
 */
public final class RegisterWorkload {
    /** What a run did. */
    public record Stats(int ops, int reads, int writes, int cases, int ok, int fail, int unknown, int casHeld) {
        @Override
        public String toString() {
            return ops + " ops (" + reads + " read, " + writes + " write or delete, " + cases + " cas, " + casHeld
                + " of them held): " + ok + " ok, " + fail + " fail, " + unknown + " unknown";
        }
    }

    private final History history;
    private final List<QuorumClient> clients;
    private final List<String> keys;
    private final long seed;
    private final Duration opWait;
    private final List<Integer> staleReaders = new ArrayList<>();
    /** The last value each key was seen to hold by any client: what a cas expects. */
    private final Map<String, String> lastSeen = new ConcurrentHashMap<>();
    private final AtomicInteger[] counts = new AtomicInteger[8];
    private final AtomicInteger[] okByClient;
    private volatile boolean stopping;
    private final List<Thread> threads = new ArrayList<>();

    public RegisterWorkload(History history, List<QuorumClient> clients, List<String> keys, long seed, Duration opWait) {
        this.history = history;
        this.clients = List.copyOf(clients);
        this.keys = List.copyOf(keys);
        this.seed = seed;
        this.opWait = opWait;
        for (int i = 0; i < counts.length; i++) {
            counts[i] = new AtomicInteger();
        }
        okByClient = new AtomicInteger[this.clients.size()];
        for (int i = 0; i < okByClient.length; i++) {
            okByClient[i] = new AtomicInteger();
        }
    }

    /**
     * Client {@code i} only reads, with SERIALIZABLE, and records them as linearizable reads (the
     * broken mode): a member's local state, served as if it were the group's.
     */
    public RegisterWorkload serializableReads(int client) {
        staleReaders.add(client);
        return this;
    }

    /** Starts one thread per client. */
    public void start() {
        for (int i = 0; i < clients.size(); i++) {
            int c = i;
            Thread t = new Thread(() -> run(c), "register-client-" + c);
            t.setDaemon(true);
            threads.add(t);
            t.start();
        }
    }

    /** Stops the clients after their current operation and waits for them. */
    public Stats stop() throws InterruptedException {
        stopping = true;
        for (Thread t : threads) {
            t.join(opWait.toMillis() * 2 + 5_000);
            if (t.isAlive()) {
                throw new AssertionError(t.getName() + " is stuck: " + stackOf(t));
            }
        }
        return stats();
    }

    private static String stackOf(Thread t) {
        StringBuilder b = new StringBuilder();
        for (StackTraceElement e : t.getStackTrace()) {
            b.append("\n  at ").append(e);
        }
        return b.toString();
    }

    /** Operations each client completed ok, by client: a client that never got through shows 0. */
    public List<Integer> okByClient() {
        List<Integer> out = new ArrayList<>();
        for (AtomicInteger n : okByClient) {
            out.add(n.get());
        }
        return out;
    }

    public Stats stats() {
        return new Stats(counts[0].get(), counts[1].get(), counts[2].get(), counts[3].get(), counts[4].get(),
            counts[5].get(), counts[6].get(), counts[7].get());
    }

    private void run(int client) {
        Random r = new Random(seed * 31 + client);
        int n = 0;
        while (!stopping) {
            String key = keys.get(r.nextInt(keys.size()));
            int kind = staleReaders.contains(client) ? 0 : r.nextInt(10);
            String value = "c" + client + "-" + n++;
            if (kind < 4) {
                read(client, key);
            } else if (kind < 6) {
                write(client, key, value);
            } else if (kind < 7) {
                write(client, key, null);
            } else {
                String expected = r.nextInt(5) == 0 ? null : lastSeen.get(key);
                cas(client, key, expected, value);
            }
        }
    }

    /** One operation's end as the client saw it: ok, fail or unknown. */
    private enum End { OK, FAIL, UNKNOWN }

    public void read(int client, String key) {
        counts[1].incrementAndGet();
        boolean serializable = staleReaders.contains(client);
        History.Call call = history.invoke(client, RegisterModel.read(key));
        CompletableFuture<QuorumClient.ReadResult> f = clients.get(client).read(Batch.of(Op.get(Blob.utf8(key))), serializable);
        try {
            List<KeyValue> kvs = f.get(opWait.toMillis(), TimeUnit.MILLISECONDS).results().results().get(0).kvs();
            String v = kvs.isEmpty() ? null : kvs.get(0).value().utf8();
            call.ok(v);
            seen(key, v);
            count(client, End.OK);
        } catch (ExecutionException | TimeoutException e) {
            call.fail(); // a read changes nothing: one that did not answer is as if never made
            count(client, End.FAIL);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            call.fail();
        }
    }

    /** A one-phase PUT of {@code value}, or a DELETE when it is null (docs/QUORUM.md §8: {@code write(nil)}). */
    public void write(int client, String key, String value) {
        counts[2].incrementAndGet();
        History.Call call = history.invoke(client, RegisterModel.write(key, value));
        Op op = value == null ? Op.delete(Blob.utf8(key)) : Op.put(Blob.utf8(key), Blob.utf8(value));
        CompletableFuture<QuorumClient.Committed> f = clients.get(client).commit(Batch.of(op));
        End end = end(f);
        if (end == End.OK) {
            call.ok(null);
            seen(key, value);
        } else {
            complete(call, end);
        }
        count(client, end);
    }

    public void cas(int client, String key, String expected, String value) {
        counts[3].incrementAndGet();
        Compare c = expected == null ? Compare.number(Compare.Target.VERSION, Blob.utf8(key), Compare.Result.EQUAL, 0)
            : Compare.value(Blob.utf8(key), Compare.Result.EQUAL, Blob.utf8(expected));
        History.Call call = history.invoke(client, RegisterModel.cas(key, expected, value));
        CompletableFuture<QuorumClient.Committed> f = clients.get(client)
            .commit(new Batch(List.of(c), List.of(Op.put(Blob.utf8(key), Blob.utf8(value))), List.of()));
        End end = end(f);
        if (end == End.OK) {
            boolean held = f.join().results().succeeded();
            call.ok(held);
            if (held) {
                counts[7].incrementAndGet();
                seen(key, value);
            }
        } else {
            complete(call, end);
        }
        count(client, end);
    }

    /** How a write ended, by docs/QUORUM.md §8's rules. */
    private End end(CompletableFuture<QuorumClient.Committed> f) {
        try {
            f.get(opWait.toMillis(), TimeUnit.MILLISECONDS);
            return End.OK;
        } catch (TimeoutException e) {
            return End.UNKNOWN; // sent, never answered
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return End.UNKNOWN;
        } catch (ExecutionException e) {
            Throwable x = unwrap(e.getCause());
            if (!(x instanceof QuorumException q) || q.outcomeUnknown()) {
                return End.UNKNOWN;
            }
            return switch (q.error()) {
                case Dmsg.ERR_PERM, Dmsg.ERR_PARAM, Dmsg.ERR_CONFLICT, Dmsg.ERR_NOTPREPARED, Dmsg.ERR_LIMIT,
                     Dmsg.ERR_NOLEADER -> End.FAIL;
                default -> End.UNKNOWN; // LOSTLINK, IO: it may have been applied
            };
        }
    }

    private static void complete(History.Call call, End end) {
        if (end == End.FAIL) {
            call.fail();
        } else {
            call.unknown();
        }
    }

    private void count(int client, End end) {
        counts[0].incrementAndGet();
        counts[4 + end.ordinal()].incrementAndGet();
        if (end == End.OK) {
            okByClient[client].incrementAndGet();
        }
    }

    private void seen(String key, String value) {
        if (value == null) {
            lastSeen.remove(key);
        } else {
            lastSeen.put(key, value);
        }
    }

    /** The cause a future failed with, through any {@link CompletionException} wrapping it. */
    private static Throwable unwrap(Throwable e) {
        while (e instanceof CompletionException && e.getCause() != null) {
            e = e.getCause();
        }
        return e;
    }
}
