package dev.dmsg.testkit;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A write workload and the model of what a block device must hold after it (docs/BLK.md "Client
 * and failover"): writes issued from one thread, so issue order is program order, the model taking
 * each write when it is issued. A quarter of the writes overwrite part of the previous one, shifted
 * a little, while it is still in flight; a tenth are zeroings. A device that keeps overlapping
 * writes in issue order — across a failover too — ends equal to {@link #model()} byte for byte.
 *
 * <p>It knows devices only through {@link Device}, so the BLK client, an NBD connection or a
 * process's export are all driven the same way. Run it on its own thread ({@link Runnable}); stop
 * it with {@link #stop()}, then {@link #awaitAll} before comparing.
 */
public final class WriteModel implements Runnable {
    /** The largest plain write, beyond two 64 KiB BLK transfers (docs/BLK.md "The wire"). */
    static final int MAX_WRITE_BYTES = 2 * 64 * 1024 + 5000;

    /** The device under test, as the workload sees it. */
    @FunctionalInterface
    public interface Device {
        /** Writes {@code data} at {@code offset}, or {@code length} zero bytes where {@code data} is null. */
        CompletableFuture<?> write(long offset, int length, byte[] data);
    }

    private final Device dev;
    private final byte[] model;
    private final Random rnd;
    private final Semaphore slots;
    private final List<CompletableFuture<?>> issued = Collections.synchronizedList(new ArrayList<>());
    private final AtomicLong acked = new AtomicLong();
    private final List<Throwable> errors = new CopyOnWriteArrayList<>();
    private volatile boolean stop;
    private long lastOffset;
    private int lastLength;

    /** A workload over a device of {@code sizeBytes}, at most {@code depth} writes in flight. */
    public WriteModel(Device dev, long sizeBytes, long seed, int depth) {
        this.dev = dev;
        this.model = new byte[Math.toIntExact(sizeBytes)];
        this.rnd = new Random(seed);
        this.slots = new Semaphore(depth);
    }

    @Override
    public void run() {
        try {
            while (!stop) {
                slots.acquire();
                issueOne();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    void issueOne() {
        int kind = rnd.nextInt(100);
        long offset;
        int length;
        if (kind < 25 && lastLength > 0) { // over the previous write, shifted a little
            offset = Math.max(0, lastOffset + rnd.nextInt(4096) - 2048);
            length = 1 + rnd.nextInt(lastLength + 4096);
        } else {
            offset = rnd.nextInt(model.length);
            length = 1 + rnd.nextInt(MAX_WRITE_BYTES);
        }
        length = (int) Math.min(length, model.length - offset);
        CompletableFuture<?> f;
        if (kind >= 90) {
            Arrays.fill(model, (int) offset, (int) offset + length, (byte) 0);
            f = dev.write(offset, length, null);
        } else {
            byte[] b = new byte[length];
            rnd.nextBytes(b);
            System.arraycopy(b, 0, model, (int) offset, length);
            f = dev.write(offset, length, b);
        }
        lastOffset = offset;
        lastLength = length;
        issued.add(f);
        f.whenComplete((v, e) -> {
            if (e != null) {
                errors.add(e);
            }
            acked.incrementAndGet();
            slots.release();
        });
    }

    /** Asks the writing thread to stop after the write it is issuing. */
    public void stop() {
        stop = true;
    }

    /** Waits for every write issued to complete (well or not), at most {@code limit}. */
    public void awaitAll(Duration limit) throws Exception {
        List<CompletableFuture<?>> all;
        synchronized (issued) {
            all = new ArrayList<>(issued);
        }
        CompletableFuture.allOf(all.toArray(new CompletableFuture[0])).exceptionally(e -> null)
            .get(limit.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** Writes completed so far, well or not. */
    public long acked() {
        return acked.get();
    }

    public int issuedCount() {
        return issued.size();
    }

    /** What failed, in completion order; empty when every write succeeded. */
    public List<Throwable> errors() {
        return errors;
    }

    /** What the device must hold once every write has completed. */
    public byte[] model() {
        return model;
    }
}
