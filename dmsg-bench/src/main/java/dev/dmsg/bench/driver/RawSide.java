package dev.dmsg.bench.driver;

import static dev.dmsg.bench.driver.BenchProtocol.RAW_DATA;
import static dev.dmsg.bench.driver.BenchProtocol.RAW_ECHO;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.Channel;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.HdrHistogram.Histogram;

/**
 * The same scenarios over the raw-Netty baseline connection. Small frames are one pooled buffer
 * each ({@code [u32 length][kind][zeros]}, 64 bytes on the wire, the size of a header-only DMSG
 * frame); large payloads are a 4-byte prefix plus a shared buffer, not copied, as DMSG sends
 * large aux. Everything runs on the connection's event loop; it is always produced there (plain
 * Netty has no blocking send to compare with the DMSG producer thread).
 */
final class RawSide extends Side {
    /** Wire size of a small raw frame, prefix included: the size of a header-only DMSG frame. */
    static final int SMALL_FRAME = 64;
    /** Payloads from this size on are sent as prefix + shared buffer (DMSG: 1 KiB). */
    static final int ZERO_COPY_BYTES = 1024;

    private final RawNetty.Client client;
    private final Channel ch;

    RawSide(RawNetty.Client client, MemorySampler memory) {
        super(memory);
        this.client = client;
        this.ch = client.channel;
    }

    @Override
    String name() {
        return "raw";
    }

    @Override
    CompletableFuture<String> control(String command) {
        return client.control(command);
    }

    @Override
    Flood flood(int auxBytes, Producer producer, int batch, AtomicBoolean stop) {
        RawProducer p = new RawProducer(auxBytes, batch, stop);
        ch.eventLoop().execute(() -> {
            client.driver = p;
            p.run();
        });
        return new Flood(p.fence, () -> p.handed);
    }

    /**
     * Writes frames in batches while the channel is writable, flushing each batch; resumes from
     * {@code channelWritabilityChanged} when it was not. {@code auxBytes} 0 means a 64-byte frame;
     * otherwise the body is exactly {@code auxBytes} (its first byte the kind), like a DMSG aux.
     */
    private final class RawProducer implements Runnable, RawNetty.Driver {
        final CompletableFuture<String> fence = new CompletableFuture<>();
        private final int bodyBytes;
        private final int batch;
        private final AtomicBoolean stop;
        private final ByteBuf payload;
        private boolean waiting;
        volatile long handed;

        RawProducer(int auxBytes, int batch, AtomicBoolean stop) {
            this.bodyBytes = auxBytes == 0 ? SMALL_FRAME - 4 : auxBytes;
            this.batch = batch;
            this.stop = stop;
            if (bodyBytes >= ZERO_COPY_BYTES) {
                payload = ch.alloc().directBuffer(bodyBytes).writeByte(RAW_DATA).writeZero(bodyBytes - 1);
                fence.whenComplete((v, e) -> payload.release());
            } else {
                payload = null;
            }
        }

        @Override
        public void run() {
            if (stop.get()) {
                client.driver = null;
                client.control("stats").whenComplete((v, e) -> {
                    if (e != null) {
                        fence.completeExceptionally(e);
                    } else {
                        fence.complete(v);
                    }
                });
                return;
            }
            if (!ch.isActive()) {
                fence.completeExceptionally(new IllegalStateException("raw connection closed"));
                return;
            }
            ByteBufAllocator alloc = ch.alloc();
            int n = 0;
            while (n < batch && ch.isWritable()) {
                if (payload != null) {
                    ch.write(alloc.ioBuffer(4).writeInt(bodyBytes), ch.voidPromise());
                    ch.write(payload.retainedDuplicate(), ch.voidPromise());
                } else {
                    ch.write(RawNetty.frame(alloc, RAW_DATA, bodyBytes), ch.voidPromise());
                }
                n++;
            }
            handed += n;
            ch.flush();
            if (ch.isWritable()) {
                ch.eventLoop().execute(this);
            } else {
                waiting = true;
            }
        }

        @Override
        public void onFrame(ByteBuf frame) {
            // nothing comes back during a flood
        }

        @Override
        public void onWritable() {
            if (waiting) {
                waiting = false;
                run();
            }
        }
    }

    @Override
    Echoer echoer(int inflight) {
        RawEchoer e = new RawEchoer(inflight);
        ch.eventLoop().execute(() -> {
            client.driver = e;
            e.start();
        });
        return e;
    }

    /** Keeps {@code inflight} 64-byte echo frames in flight; each answer sends the next. */
    private final class RawEchoer implements Echoer, RawNetty.Driver {
        private final int inflight;
        private final AtomicLong completed = new AtomicLong();
        private final Histogram histogram = newHistogram();
        private final CompletableFuture<Histogram> done = new CompletableFuture<>();
        private volatile boolean recording;
        private volatile boolean stopping;
        private int outstanding;
        private long sentAtNanos;

        RawEchoer(int inflight) {
            this.inflight = inflight;
        }

        void start() {
            for (int i = 0; i < inflight; i++) {
                send();
            }
            ch.flush();
        }

        /** Written now, flushed by the handler at the end of the read batch (as a DMSG link does). */
        private void send() {
            outstanding++;
            sentAtNanos = System.nanoTime();
            ch.write(RawNetty.frame(ch.alloc(), RAW_ECHO, SMALL_FRAME - 4), ch.voidPromise());
        }

        @Override
        public void onFrame(ByteBuf frame) {
            long now = System.nanoTime();
            outstanding--;
            if (recording) {
                histogram.recordValue(now - sentAtNanos);
            }
            completed.lazySet(completed.get() + 1);
            if (!stopping) {
                send();
            } else if (outstanding == 0) {
                client.driver = null;
                done.complete(histogram);
            }
        }

        @Override
        public long completed() {
            return completed.get();
        }

        @Override
        public void record() {
            recording = true;
        }

        @Override
        public CompletableFuture<Histogram> stop() {
            stopping = true;
            return done;
        }
    }

    @Override
    public void close() {
        client.close();
    }
}
