package dev.dmsg.mesh.sim;

import dev.dmsg.link.LinkDriver;
import dev.dmsg.link.Transport;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.Message;
import java.util.ArrayDeque;
import java.util.SplittableRandom;

/**
 * One direction-pair end of a simulated link: what the local link engine ({@link LinkDriver}) writes arrives at the
 * peer's after the link's delay. Delivery is in order, like TCP; a "lost" frame models TCP
 * recovering it: it (and everything behind it) arrives one retransmission timeout later.
 */
final class SimTransport implements Transport {
    private final SimScheduler sched;
    private final String remoteName;
    private final SimMesh.Stats stats;
    final long delayNanos;
    final double loss;
    final long rtoNanos;
    private final SplittableRandom random;
    SimTransport peer;
    LinkDriver iocom;
    private long lastDelivery;
    boolean closed;

    SimTransport(SimScheduler sched, String remoteName, SimMesh.Stats stats, long delayNanos, double loss,
                 long rtoNanos, SplittableRandom random) {
        this.sched = sched;
        this.remoteName = remoteName;
        this.stats = stats;
        this.delayNanos = delayNanos;
        this.loss = loss;
        this.rtoNanos = rtoNanos;
        this.random = random;
    }

    @Override
    public void write(Message m) {
        if (closed) {
            m.release();
            return;
        }
        stats.count(m);
        long t = sched.now() + delayNanos;
        if (loss > 0 && random.nextDouble() < loss) {
            t += rtoNanos;
        }
        t = Math.max(t, lastDelivery);
        lastDelivery = t;
        SimTransport to = peer;
        sched.at(t, () -> {
            if (to.closed) {
                m.release();
            } else if (to.readPaused || !to.held.isEmpty()) {
                to.held.add(m); // not read yet: it waits in the "socket" until reading resumes
            } else {
                to.iocom.receive(m);
                to.iocom.readComplete();
            }
        });
    }

    /** Arrived while reading was paused, in order. */
    private final ArrayDeque<Message> held = new ArrayDeque<>();
    private boolean readPaused;

    @Override
    public void setReadPaused(boolean paused) {
        readPaused = paused;
        if (!paused && !held.isEmpty()) {
            sched.execute(this::drainHeld);
        }
    }

    private void drainHeld() {
        Message m;
        while (!readPaused && (m = held.poll()) != null) {
            if (closed) {
                m.release();
            } else {
                iocom.receive(m);
                iocom.readComplete();
            }
        }
    }

    @Override
    public void flush() {
    }

    /** Orderly close: the peer sees EOF once what we sent has arrived. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        SimTransport to = peer;
        sched.at(Math.max(sched.now() + delayNanos, lastDelivery), () -> to.eof("EOF from peer"));
        sched.execute(() -> iocom.transportClosed("closed"));
    }

    /** The link is cut: both ends see it at once (a reset, or the dead-link timer elsewhere). */
    void cut(String why) {
        held.forEach(Message::release);
        held.clear();
        peer.held.forEach(Message::release);
        peer.held.clear();
        if (!closed) {
            closed = true;
            iocom.fail(why);
        }
        if (!peer.closed) {
            peer.closed = true;
            peer.iocom.fail(why);
        }
    }

    private void eof(String why) {
        held.forEach(Message::release);
        held.clear();
        if (!closed) {
            closed = true;
            iocom.transportClosed(why);
        }
    }

    /** Set by tests ({@link SimMesh.SimLink#setWritable}); sim links have no window of their own. */
    boolean writable = true;

    @Override
    public boolean isWritable() {
        return writable;
    }

    boolean readPaused() {
        return readPaused;
    }

    int held() {
        return held.size();
    }

    @Override
    public long outboundBacklogBytes() {
        return 0;
    }

    @Override
    public boolean inEventLoop() {
        return true;
    }

    @Override
    public void execute(Runnable task) {
        sched.execute(task);
    }

    @Override
    public String remoteAddress() {
        return remoteName;
    }

    static boolean isSpanTraffic(Message m) {
        return m.baseCmd() == Dmsg.LNK_SPAN || m.baseCmd() == Dmsg.LNK_ERROR;
    }
}
