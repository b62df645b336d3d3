package dev.dmsg.link;

import dev.dmsg.link.tls.LegacyPeers;
import dev.dmsg.link.tls.PeerIdentity;
import dev.dmsg.wire.Message;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * What an {@link Iocom} needs from the connection under it: the seam between the transaction
 * engine and TCP (Netty), an in-memory simulator, or later TLS with LNK_AUTH in front.
 *
 * <p>All methods except {@link #execute} and {@link #inEventLoop} are called on the event loop.
 */
public interface Transport {
    /** Queues {@code m} for the socket; the transport owns it now. Salt is assigned as it is written. */
    void write(Message m);

    /** Pushes queued writes to the socket. */
    void flush();

    /** Closes the connection once everything already written has been flushed. */
    void close();

    /** Whether the outbound buffer is below its high-water mark. */
    boolean isWritable();

    /** Bytes written but not yet accepted by the socket; a falling value means the peer is reading. */
    long outboundBacklogBytes();

    boolean inEventLoop();

    /** Runs {@code task} on the event loop, after tasks already submitted. */
    void execute(Runnable task);

    /**
     * Stops ({@code true}) or resumes reading from the peer, on top of the transport's own
     * backpressure (it does not read while its outbound side is full). Circuit relays use it to
     * slow a source link down to the pace of the link they forward to.
     */
    void setReadPaused(boolean paused);

    /**
     * The peer as the TLS handshake established it, a configured legacy peer
     * ({@link LegacyPeers#identity}), or {@code null} (plaintext endpoint).
     */
    default PeerIdentity peer() {
        return null;
    }

    /**
     * The count of transactions this link's authenticated peer holds open across all its links
     * to our endpoint (docs/SECURITY.md §7), shared by those links; {@code null}: no such limit.
     */
    default AtomicInteger peerTransactions() {
        return null;
    }

    /** The protocol, cipher suite and provider of the link's TLS, or {@code null} (plaintext). */
    default String security() {
        return null;
    }

    /** The peer's address, for logs. */
    String remoteAddress();
}
