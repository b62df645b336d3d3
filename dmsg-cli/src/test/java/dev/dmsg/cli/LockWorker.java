package dev.dmsg.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dmsg.link.tls.TlsConfig;
import dev.dmsg.quorum.cac.CacDomain;
import dev.dmsg.quorum.cac.CacState;
import dev.dmsg.services.blk.BlkClient;
import dev.dmsg.services.blk.BlockException;
import dev.dmsg.services.blk.RemoteBlockDevice;
import dev.dmsg.services.cac.CacheLocks;
import dev.dmsg.services.cac.LockHandle;
import dev.dmsg.services.node.GuestNode;
import dev.dmsg.services.quorum.QuorumClient;
import dev.dmsg.services.quorum.QuorumException;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.qrm.Batch;
import dev.dmsg.wire.qrm.Blob;
import dev.dmsg.wire.qrm.Compare;
import dev.dmsg.wire.qrm.Op;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * One worker process of the lock checker (docs/CAC.md §9): joins the mesh as a guest through one
 * member, and runs threads that take locks on {@link #DISK} and {@link #KV} and write through
 * their fences, recording every event as a JSON line in its history file for {@link LockHistory}.
 * Started by {@link LockFaultProcessTest} in a JVM of its own, so that it can be SIGSTOPped and
 * killed. Arguments: {@code HISTORY IDENTITY_DIR NODE_HOST:PORT GROUP EXPORT THREADS SECONDS
 * LEASE_MS SEED WORKER HOME} (WORKER: this worker's name, e.g. {@code w1}; HOME: the member it
 * joined, e.g. {@code n0}). Each thread stops after its current lock once a file {@code stop}
 * appears beside HISTORY ({@link #STOP_FILE}), or SECONDS after the start at the latest.
 */
public final class LockWorker {
    static final String DISK = "/f/disk";
    static final String KV = "/f/kv";
    static final int RECORD = 4096;
    static final String STOP_FILE = "stop";
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Duration CALL = Duration.ofSeconds(8);

    private final FileChannel history;
    private final GuestNode guest;
    private final String group;
    private final String export;
    private final long deadlineNanos;
    private final int leaseMs;
    private final Path stop;

    private LockWorker(FileChannel history, Path stop, GuestNode guest, String group, String export, long deadlineNanos,
                       int leaseMs) {
        this.history = history;
        this.stop = stop;
        this.guest = guest;
        this.group = group;
        this.export = export;
        this.deadlineNanos = deadlineNanos;
        this.leaseMs = leaseMs;
    }

    public static void main(String[] a) throws Exception {
        Path file = Path.of(a[0]);
        String[] hp = a[2].split(":");
        int threads = Integer.parseInt(a[5]);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(Long.parseLong(a[6]));
        long seed = Long.parseLong(a[8]);
        try (FileChannel h = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.APPEND);
             GuestNode g = GuestNode.join("lockw", hp[0], Integer.parseInt(hp[1]), Path.of(a[1]), false,
                 TlsConfig.Provider.AUTO)) {
            LockWorker w = new LockWorker(h, file.toAbsolutePath().resolveSibling(STOP_FILE), g, a[3], a[4], deadline,
                Integer.parseInt(a[7]));
            long pid = ProcessHandle.current().pid();
            w.record("start", Map.of("pid", pid, "worker", a[9], "home", a[10]));
            List<Thread> ts = new ArrayList<>();
            for (int i = 0; i < threads; i++) {
                long owner = pid * 8 + i;
                Random r = new Random(seed * 31 + i);
                Thread t = new Thread(() -> w.loop(owner, r), "lockw-" + i);
                t.start();
                ts.add(t);
            }
            for (Thread t : ts) {
                t.join();
            }
            w.record("end", Map.of("pid", pid));
        }
        System.exit(0); // the guest's threads are daemons, but say it: the test waits for this exit
    }

    /** One line of history; a single write, so a kill -9 leaves at worst the last line cut. */
    synchronized void record(String event, Map<String, Object> fields) {
        ObjectNode n = JSON.createObjectNode();
        n.put("ev", event);
        n.put("t", System.nanoTime());
        fields.forEach((k, v) -> n.putPOJO(k, v));
        try {
            history.write(ByteBuffer.wrap((n.toString() + "\n").getBytes(StandardCharsets.UTF_8)));
        } catch (IOException e) {
            throw new IllegalStateException("history: " + e, e);
        }
    }

    private void loop(long owner, Random r) {
        RemoteBlockDevice dev = null;
        try (CacheLocks locks = new CacheLocks(guest.mesh(), guest.node().endpoint()::links, group, CALL, owner);
             QuorumClient kv = new QuorumClient(guest.mesh(), guest.node().endpoint()::links, group, CALL)) {
            while (System.nanoTime() - deadlineNanos < 0 && !Files.exists(stop)) {
                String key = r.nextBoolean() ? DISK : KV;
                CacState state = r.nextInt(4) == 0 ? CacState.SHARED : CacState.EXCLUSIVE;
                if (key.equals(DISK) && dev == null) {
                    dev = openDisk(owner);
                    if (dev == null) {
                        continue;
                    }
                }
                section(locks, kv, dev, owner, key, state, r);
            }
        } catch (RuntimeException | InterruptedException e) {
            record("fail", Map.of("owner", owner, "what", "thread", "error", String.valueOf(e)));
        } finally {
            if (dev != null) {
                dev.close();
            }
        }
    }

    private RemoteBlockDevice openDisk(long owner) throws InterruptedException {
        try {
            return BlkClient.open(guest.mesh(), export, true,
                    new RemoteBlockDevice.Options(Duration.ofSeconds(4), CALL, 16, 64))
                .get(CALL.toMillis() + 5_000, TimeUnit.MILLISECONDS);
        } catch (ExecutionException | TimeoutException e) {
            record("fail", Map.of("owner", owner, "what", "open", "error", String.valueOf(e)));
            TimeUnit.MILLISECONDS.sleep(200); // no path yet (a fault): try again shortly
            return null;
        }
    }

    private void section(CacheLocks locks, QuorumClient kv, RemoteBlockDevice dev, long owner, String key,
                         CacState state, Random r) throws InterruptedException {
        record("req", Map.of("owner", owner, "key", key, "state", state.name()));
        LockHandle h;
        try {
            h = locks.acquire(key, CacDomain.TREE, state,
                    CacheLocks.Options.defaults().withWait(Duration.ofSeconds(12)).withLease(Duration.ofMillis(leaseMs)))
                .get(20, TimeUnit.SECONDS);
        } catch (ExecutionException | TimeoutException e) {
            record("fail", Map.of("owner", owner, "what", "acquire", "key", key, "error",
                String.valueOf(QuorumClient.unwrap(e instanceof ExecutionException x ? x.getCause() : e))));
            TimeUnit.MILLISECONDS.sleep(100);
            return;
        }
        long token = h.token();
        record("grant", Map.of("owner", owner, "key", key, "state", h.state().name(), "token", token, "id", h.id()));
        h.onDowngradeRequested(to -> record("downgrade", Map.of("owner", owner, "token", token, "to", to.name())));
        h.lost().thenAccept(why -> record("lost", Map.of("owner", owner, "token", token, "error", why.error(),
            "why", String.valueOf(why.getMessage()))));
        try {
            if (key.equals(DISK)) {
                diskSection(dev, owner, token, state == CacState.EXCLUSIVE, r);
            } else {
                kvSection(kv, owner, token, state == CacState.EXCLUSIVE, r);
            }
        } finally {
            record("release", Map.of("owner", owner, "key", key, "token", token));
            try {
                h.release().get(CALL.toMillis(), TimeUnit.MILLISECONDS);
            } catch (ExecutionException | TimeoutException e) {
                // a lost lock has nothing to release; the test judges by the grants that follow
            }
        }
    }

    private void diskSection(RemoteBlockDevice dev, long owner, long token, boolean exclusive, Random r)
        throws InterruptedException {
        dev.fence(token);
        long t0 = System.nanoTime();
        String presented = outcome(dev.flush());
        record("present", Map.of("owner", owner, "key", DISK, "token", token, "outcome", presented, "t0", t0));
        long[] first = readRecord(dev);
        if (first == null) {
            return;
        }
        TimeUnit.MILLISECONDS.sleep(20 + r.nextInt(130));
        if (!exclusive) {
            long[] second = readRecord(dev);
            if (second != null && presented.equals("ok")) {
                record("sread", Map.of("owner", owner, "key", DISK, "token", token, "v1", first[0], "v2", second[0],
                    "t0", t0));
            }
            return;
        }
        ByteBuf b = Unpooled.buffer(RECORD).writeLong(first[0] + 1).writeLong(token).writeLong(owner).writerIndex(RECORD);
        long w0 = System.nanoTime();
        String out = outcome(dev.write(0, b, true));
        record("write", Map.of("owner", owner, "key", DISK, "token", token, "read", first[0], "wrote", first[0] + 1,
            "outcome", out, "t0", w0));
    }

    /** Block 0: counter, token, writer; {@code null} (recorded) when the read fails. */
    private long[] readRecord(RemoteBlockDevice dev) throws InterruptedException {
        try {
            ByteBuf b = dev.read(0, RECORD).get(CALL.toMillis() + 5_000, TimeUnit.MILLISECONDS);
            try {
                return new long[] {b.getLong(0), b.getLong(8), b.getLong(16)};
            } finally {
                b.release();
            }
        } catch (ExecutionException | TimeoutException e) {
            record("fail", Map.of("what", "read", "key", DISK, "error", String.valueOf(e)));
            return null;
        }
    }

    /** ok; fenced (refused FENCED: certainly not written); unknown (any other failure). */
    private static String outcome(CompletableFuture<Void> f) throws InterruptedException {
        try {
            f.get(CALL.toMillis() + 5_000, TimeUnit.MILLISECONDS);
            return "ok";
        } catch (ExecutionException e) {
            return e.getCause() instanceof BlockException b && b.error() == Dmsg.ERR_FENCED ? "fenced" : "unknown";
        } catch (TimeoutException e) {
            return "unknown";
        }
    }

    private void kvSection(QuorumClient kv, long owner, long token, boolean exclusive, Random r)
        throws InterruptedException {
        long t0 = System.nanoTime();
        Long first = kvRead(kv);
        if (first == null) {
            return;
        }
        TimeUnit.MILLISECONDS.sleep(20 + r.nextInt(130));
        if (!exclusive) {
            Long second = kvRead(kv);
            if (second != null) {
                record("sread", Map.of("owner", owner, "key", KV, "token", token, "v1", first, "v2", second, "t0", t0));
            }
            return;
        }
        Batch b = new Batch(List.of(Compare.number(Compare.Target.LOCK, Blob.utf8(KV), Compare.Result.EQUAL, token)),
            List.of(Op.put(Blob.utf8(KV), Blob.utf8((first + 1) + " " + token + " " + owner))), List.of());
        long w0 = System.nanoTime();
        Map<String, Object> f = new HashMap<>(Map.of("owner", owner, "key", KV, "token", token, "read", first,
            "wrote", first + 1, "t0", w0));
        try {
            QuorumClient.Committed c = kv.commit(b).get(CALL.toMillis() + 5_000, TimeUnit.MILLISECONDS);
            f.put("outcome", c.results().succeeded() ? "ok" : "fenced");
            f.put("index", c.index());
        } catch (ExecutionException e) {
            Throwable x = QuorumClient.unwrap(e.getCause());
            f.put("outcome", x instanceof QuorumException q && !q.outcomeUnknown() ? "failed" : "unknown");
            f.put("error", String.valueOf(x));
        } catch (TimeoutException e) {
            f.put("outcome", "unknown");
        }
        record("write", f);
    }

    /** The counter {@link #KV} holds (0 before the first write), or {@code null} (recorded). */
    private Long kvRead(QuorumClient kv) throws InterruptedException {
        try {
            byte[] v = kv.get(KV).get(CALL.toMillis() + 5_000, TimeUnit.MILLISECONDS);
            return v == null ? 0L : Long.parseLong(new String(v, StandardCharsets.UTF_8).split(" ")[0]);
        } catch (ExecutionException | TimeoutException e) {
            record("fail", Map.of("what", "read", "key", KV, "error", String.valueOf(e)));
            return null;
        }
    }
}
