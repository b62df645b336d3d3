package dev.dmsg.bench.driver;

import static dev.dmsg.bench.driver.BenchProtocol.BENCH_CTRL;
import static dev.dmsg.bench.driver.BenchProtocol.BENCH_SINK;

import dev.dmsg.link.Link;
import dev.dmsg.link.LinkState;
import dev.dmsg.link.Transaction;
import dev.dmsg.link.TransactionHandler;
import dev.dmsg.services.EchoService;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.ErrorCode;
import dev.dmsg.wire.Message;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.HdrHistogram.Histogram;

/**
 * The scenarios over one DMSG link, or over a circuit whose first hop is that link, through the
 * public API only ({@link Link}, {@link Transaction}). Handlers and the event-loop producer run on
 * the link's event loop; backpressure is the first hop's (relays further on pause their source).
 */
final class DmsgSide extends Side {
    private final Link link;
    /** 0: the link itself; else a circuit attached to it. */
    private final long circuit;

    DmsgSide(Link link, MemorySampler memory) {
        this(link, 0, memory);
    }

    DmsgSide(Link link, long circuit, MemorySampler memory) {
        super(memory);
        this.link = link;
        this.circuit = circuit;
    }

    @Override
    String name() {
        return "dmsg";
    }

    @Override
    CompletableFuture<String> control(String command) {
        CompletableFuture<String> answer = new CompletableFuture<>();
        link.open(circuit, BENCH_CTRL | Dmsg.DELETE, null, BenchProtocol.text(command), (t, m) -> {
            if (!m.isDelete()) {
                return;
            }
            if (m.error() != 0) {
                answer.completeExceptionally(new IllegalStateException(
                    "control '" + command + "' failed: " + ErrorCode.nameOf(m.error())));
            } else {
                answer.complete(m.auxString());
            }
        });
        return answer;
    }

    /** A pooled direct buffer of {@code auxBytes}, shared (read-only) by every message of a flood. */
    private static ByteBuf auxTemplate(int auxBytes) {
        if (auxBytes == 0) {
            return null;
        }
        ByteBuf b = PooledByteBufAllocator.DEFAULT.directBuffer(auxBytes);
        for (int i = 0; i < auxBytes; i++) {
            b.writeByte(i * 31 + 7);
        }
        return b;
    }

    @Override
    Flood flood(int auxBytes, Producer producer, int batch, AtomicBoolean stop) {
        ByteBuf template = auxTemplate(auxBytes);
        CompletableFuture<String> fence = new CompletableFuture<>();
        fence.whenComplete((v, e) -> {
            if (template != null) {
                template.release();
            }
        });
        if (producer == Producer.LOOP) {
            LoopProducer p = new LoopProducer(template, batch, stop, fence);
            link.execute(p);
            return new Flood(fence, () -> p.handed);
        }
        AtomicLong handed = new AtomicLong();
        Thread t = new Thread(() -> {
            try {
                long n = 0;
                while (!stop.get()) {
                    // Blocks while the link's outbound side is full: the backpressure under test.
                    link.sendOneWay(circuit, BENCH_SINK, null, template == null ? null : template.retainedDuplicate());
                    if ((++n & 255) == 0) {
                        handed.lazySet(n);
                    }
                }
                handed.set(n);
                control("stats").whenComplete((v, e) -> complete(fence, v, e));
            } catch (RuntimeException e) {
                fence.completeExceptionally(e);
            }
        }, "dmsg-producer");
        t.setDaemon(true);
        t.start();
        return new Flood(fence, handed::get);
    }

    private static void complete(CompletableFuture<String> f, String v, Throwable e) {
        if (e != null) {
            f.completeExceptionally(e);
        } else {
            f.complete(v);
        }
    }

    /**
     * A producer on the link's event loop: sends up to {@code batch} messages while the link is
     * writable, then yields the loop (so it can flush and read) and runs again — at once if still
     * writable, else via {@link Link#whenWritable} (re-queueing while unwritable would spin).
     */
    private final class LoopProducer implements Runnable {
        private final ByteBuf template;
        private final int batch;
        private final AtomicBoolean stop;
        private final CompletableFuture<String> fence;
        volatile long handed;

        LoopProducer(ByteBuf template, int batch, AtomicBoolean stop, CompletableFuture<String> fence) {
            this.template = template;
            this.batch = batch;
            this.stop = stop;
            this.fence = fence;
        }

        @Override
        public void run() {
            if (stop.get()) {
                control("stats").whenComplete((v, e) -> complete(fence, v, e));
                return;
            }
            if (link.state() == LinkState.CLOSED) {
                fence.completeExceptionally(new IllegalStateException("link closed: " + link.closeFuture().getNow("?")));
                return;
            }
            int n = 0;
            while (n < batch && link.isWritable()) {
                link.sendOneWay(circuit, BENCH_SINK, null, template == null ? null : template.retainedDuplicate());
                n++;
            }
            handed += n;
            if (link.isWritable()) {
                link.execute(this);
            } else {
                link.whenWritable(this);
            }
        }
    }

    @Override
    Echoer echoer(int inflight) {
        DmsgEchoer e = new DmsgEchoer(inflight);
        link.execute(e::start);
        return e;
    }

    /**
     * Keeps {@code inflight} DBG_ECHO {@code CREATE|DELETE} transactions open; each answer
     * ({@code CREATE|DELETE|REPLY}) opens the next from inside the handler, on the event loop.
     * The round trip of each is timed when one at a time is in flight.
     */
    private final class DmsgEchoer implements Echoer, TransactionHandler {
        private final int inflight;
        private final AtomicLong completed = new AtomicLong();
        private final Histogram histogram = newHistogram();
        private final CompletableFuture<Histogram> done = new CompletableFuture<>();
        private volatile boolean recording;
        private volatile boolean stopping;
        private int outstanding;
        private long sentAtNanos;

        DmsgEchoer(int inflight) {
            this.inflight = inflight;
        }

        void start() {
            for (int i = 0; i < inflight; i++) {
                open();
            }
        }

        private void open() {
            outstanding++;
            sentAtNanos = System.nanoTime();
            link.open(circuit, EchoService.DBG_ECHO | Dmsg.DELETE, null, null, this);
        }

        @Override
        public void onMessage(Transaction txn, Message m) {
            if (!m.isDelete()) {
                return;
            }
            long now = System.nanoTime();
            outstanding--;
            if (m.error() != 0) {
                done.completeExceptionally(new IllegalStateException("echo transaction failed: " + m));
                return;
            }
            if (recording) {
                histogram.recordValue(now - sentAtNanos);
            }
            completed.lazySet(completed.get() + 1);
            if (!stopping) {
                open();
            } else if (outstanding == 0) {
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
        if (circuit != 0) {
            return; // the circuit's owner closes it
        }
        link.close();
        try {
            link.closeFuture().get(5, TimeUnit.SECONDS);
        } catch (Exception e) {
            // reported by the caller if it matters; the endpoint close follows anyway
        }
    }
}
