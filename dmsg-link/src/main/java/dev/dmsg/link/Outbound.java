package dev.dmsg.link;

import java.util.ArrayDeque;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The outbound side of one link: flush batching and backpressure (see {@link Link}).
 *
 * <p><b>Flush batching.</b> Writes made while a read batch is being handled are flushed once at
 * its end ({@link Iocom#readComplete}); others from one task of their own, so that a burst of
 * sends costs one flush.
 *
 * <p><b>Backpressure.</b> A thread other than the event loop blocks in {@link #submit} while the
 * bytes it has queued for the event loop reach {@link LinkConfig#maxQueuedBytes()} or the socket
 * buffer is above its high-water mark, and is woken at the low-water mark (half the budget).
 * The lock guards only that wait: nothing is called under it. Event-loop producers never block;
 * they queue a task for {@link #whenWritable}.
 */
final class Outbound {
    private static final Logger log = LoggerFactory.getLogger(Iocom.class);

    private final Iocom iocom;
    private final Transport transport;
    private final LinkConfig config;
    private final Keepalive keepalive;
    private final LinkCounters counters;

    // Flush batching; event loop only.
    private boolean needsFlush;
    private boolean flushScheduled;
    /** Inside a read batch: the flush waits for its end. */
    boolean inReadBatch;
    private final Runnable flushTask = this::flushScheduled;

    // Backpressure for threads other than the event loop.
    private final AtomicLong queuedBytes = new AtomicLong();
    private volatile boolean transportWritable = true;
    private final ReentrantLock bpLock = new ReentrantLock();
    private final Condition bpCondition = bpLock.newCondition();
    private volatile int bpWaiters;
    /** Event-loop producers waiting for writability ({@link #whenWritable}); event loop only. */
    private final ArrayDeque<Runnable> writableWaiters = new ArrayDeque<>();

    Outbound(Iocom iocom, Transport transport, LinkConfig config, Keepalive keepalive, LinkCounters counters) {
        this.iocom = iocom;
        this.transport = transport;
        this.config = config;
        this.keepalive = keepalive;
        this.counters = counters;
    }

    /** A message went to the transport: flush it with its batch. Event loop only. */
    void written() {
        needsFlush = true;
        if (!inReadBatch && !flushScheduled) {
            flushScheduled = true;
            transport.execute(flushTask);
        }
    }

    private void flushScheduled() {
        flushScheduled = false;
        flushNow();
    }

    /** Pushes what was written to the socket, if anything. Event loop only. */
    void flushNow() {
        if (needsFlush) {
            needsFlush = false;
            transport.flush();
            keepalive.sent(config.clock().getAsLong());
        }
    }

    /**
     * Runs {@code action} on the event loop: now if already there, else after blocking while the
     * outbound side is over budget. {@code bytes} is what the action will queue.
     */
    void submit(int bytes, Runnable action) {
        if (transport.inEventLoop()) {
            action.run();
            return;
        }
        awaitBudget();
        if (!enqueue(bytes, action, true)) {
            throw new IllegalStateException("link " + iocom.name() + " is shut down (" + iocom.closeReason() + ")");
        }
    }

    /**
     * Queues {@code action} for the event loop, its {@code bytes} counted against the budget until
     * it runs; never blocks. {@code wake}: after it runs, wake producers if below the low-water mark.
     * False if the event loop is shut down (nothing queued).
     */
    boolean enqueue(int bytes, Runnable action, boolean wake) {
        queuedBytes.addAndGet(bytes);
        try {
            transport.execute(() -> {
                queuedBytes.addAndGet(-bytes);
                action.run();
                if (wake && (bpWaiters > 0 || !writableWaiters.isEmpty()) && belowLowWater()) {
                    writableAgain();
                }
            });
            return true;
        } catch (RejectedExecutionException e) {
            queuedBytes.addAndGet(-bytes);
            return false;
        }
    }

    private void awaitBudget() {
        if (isWritable() || iocom.state() == LinkState.CLOSED) {
            return;
        }
        bpLock.lock();
        try {
            bpWaiters++;
            while (!belowLowWater() && iocom.state() != LinkState.CLOSED) {
                // The timeout is a safety net against a missed signal, not a polling loop.
                bpCondition.await(10, TimeUnit.MILLISECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for link " + iocom.name() + " to drain", e);
        } finally {
            bpWaiters--;
            bpLock.unlock();
        }
    }

    private void wakeProducers() {
        if (bpWaiters == 0) {
            return;
        }
        bpLock.lock();
        try {
            bpCondition.signalAll();
        } finally {
            bpLock.unlock();
        }
    }

    /** The transport's outbound buffer crossed a water mark. Event loop only. */
    void writabilityChanged(boolean writable) {
        transportWritable = writable;
        if (writable && belowLowWater()) {
            writableAgain();
        }
    }

    /** Wakes blocked producers on other threads and runs the event-loop waiters. Event loop only. */
    void writableAgain() {
        wakeProducers();
        for (int n = writableWaiters.size(); n > 0 && (belowLowWater() || iocom.state() == LinkState.CLOSED); n--) {
            Runnable r = writableWaiters.poll();
            try {
                r.run();
            } catch (RuntimeException e) {
                counters.handlerErrors++;
                log.warn("link {}: whenWritable task threw", iocom.name(), e);
            }
        }
    }

    /** {@link Link#whenWritable}. Any thread. */
    void whenWritable(Runnable task) {
        transport.execute(() -> {
            if (isWritable() || iocom.state() == LinkState.CLOSED) {
                task.run();
            } else {
                writableWaiters.add(task);
            }
        });
    }

    boolean isWritable() {
        return transportWritable && queuedBytes.get() < config.maxQueuedBytes();
    }

    /**
     * The low-water mark for waking producers that found the link not writable: half the budget.
     * Waking them as soon as one frame's worth drains would park and unpark a producer of 64 KiB
     * frames once per frame; with the gap each wake-up buys half a budget of sends.
     */
    private boolean belowLowWater() {
        return transportWritable && queuedBytes.get() <= config.maxQueuedBytes() / 2;
    }
}
