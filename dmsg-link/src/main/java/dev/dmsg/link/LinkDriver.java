package dev.dmsg.link;

import dev.dmsg.wire.Message;

/**
 * The transport's hold on the link engine it carries: the other half of {@link Transport}. The
 * transport (Netty's channel handler, the mesh simulator) creates it with {@link #create}, feeds
 * it decoded messages, read-batch boundaries, writability changes and timer ticks, and hands
 * {@link #link()} to its users. Every method is called on the event loop only; none is part of
 * the user-facing {@link Link}.
 */
public interface LinkDriver {
    /** A new link engine over {@code transport}; {@link #start()} it once the transport is up. */
    static LinkDriver create(LinkConfig config, Services services, LinkListener listener, Transport transport) {
        return new Iocom(config, services, listener, transport);
    }

    /** The link this engine is, for its users. */
    Link link();

    /** The transport is up: opens our LNK_CONN (after our LNK_AUTH on TLS; docs/PROFILE.md §4). */
    void start();

    /** A decoded message from the peer; the engine owns it from now on. */
    void receive(Message m);

    /** End of a batch of reads: counts as life, flushes the replies made meanwhile. */
    void readComplete();

    /** The transport's outbound buffer crossed a water mark. */
    void writabilityChanged(boolean writable);

    /** Periodic keepalive check (LNK_PING, dead-peer timeout), with the time as the transport's clock reads it. */
    void tick(long nowNanos);

    /** The transport has closed (EOF, reset, or our own close). */
    void transportClosed(String why);

    /**
     * The link is dead: every open transaction gets its LOSTLINK abort exactly once, the
     * transport is closed, the listener told. Idempotent.
     */
    void fail(String reason);
}
