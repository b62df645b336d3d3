package dev.dmsg.services.blk;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Holds every operation until {@link #release()}, then completes them on {@code exec} (its own
 * thread; the caller's, {@code Runnable::run}, on the simulator); reads return {@link #contents}.
 */
final class GatedDevice implements BlockDevice {
    static final long SIZE = 4L << 20;

    final AtomicInteger pending = new AtomicInteger();
    final AtomicInteger maxPending = new AtomicInteger();
    final ConcurrentLinkedQueue<Runnable> held = new ConcurrentLinkedQueue<>();
    final Executor exec;
    volatile boolean open;

    GatedDevice() {
        this(Executors.newSingleThreadExecutor());
    }

    GatedDevice(Executor exec) {
        this.exec = exec;
    }

    static byte[] contents(long offset, int length) {
        byte[] b = new byte[length];
        for (int i = 0; i < length; i++) {
            b[i] = (byte) ((offset + i) * 13 + 5);
        }
        return b;
    }

    private void hold(Runnable r) {
        maxPending.accumulateAndGet(pending.incrementAndGet(), Math::max);
        held.add(r);
        if (open) {
            drain();
        }
    }

    private void drain() {
        for (Runnable r; (r = held.poll()) != null; ) {
            Runnable run = r;
            exec.execute(() -> {
                pending.decrementAndGet();
                run.run();
            });
        }
    }

    void release() {
        open = true;
        drain();
    }

    @Override
    public String name() {
        return "slow";
    }

    @Override
    public long sizeBytes() {
        return SIZE;
    }

    @Override
    public int blockSize() {
        return 512;
    }

    @Override
    public boolean readOnly() {
        return false;
    }

    @Override
    public CompletableFuture<ByteBuf> read(long offset, int length) {
        CompletableFuture<ByteBuf> f = new CompletableFuture<>();
        hold(() -> f.complete(PooledByteBufAllocator.DEFAULT.directBuffer(length).writeBytes(contents(offset, length))));
        return f;
    }

    @Override
    public CompletableFuture<Void> write(long offset, ByteBuf data, boolean fua) {
        CompletableFuture<Void> f = new CompletableFuture<>();
        hold(() -> {
            data.release();
            f.complete(null);
        });
        return f;
    }

    @Override
    public CompletableFuture<Void> flush() {
        CompletableFuture<Void> f = new CompletableFuture<>();
        hold(() -> f.complete(null));
        return f;
    }

    @Override
    public CompletableFuture<Void> trim(long offset, long length) {
        return flush();
    }

    @Override
    public CompletableFuture<Void> writeZeroes(long offset, long length, boolean fua) {
        return flush();
    }

    @Override
    public void close() {
        release();
        if (exec instanceof ExecutorService es) {
            es.shutdown();
        }
    }
}
