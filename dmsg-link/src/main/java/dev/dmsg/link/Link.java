package dev.dmsg.link;

import dev.dmsg.link.tls.LegacyPeers;
import dev.dmsg.link.tls.PeerIdentity;
import dev.dmsg.wire.ExtHeader;
import dev.dmsg.wire.LnkConn;
import io.netty.buffer.ByteBuf;
import java.util.concurrent.CompletableFuture;

/**
 * One connection to a peer node (libdmsg: an iocom). Safe to use from any thread.
 *
 * <p><b>Backpressure.</b> The outbound side is bounded. A call from a thread other than the link's
 * event loop blocks while the link's queued bytes exceed {@link LinkConfig#maxQueuedBytes()} or
 * the socket buffer is above its high-water mark: a fast producer is slowed, never buffered
 * without limit. Calls on the event loop (inside handlers) never block; instead the link stops
 * reading from the peer while its outbound side is full, so replies cannot pile up either.
 * {@link #isWritable()} lets an asynchronous producer check first.
 */
public interface Link {
    /** Our label (the fs_label of the LNK_CONN we send). */
    String label();

    /**
     * Who the peer is, from our trust store, once the TLS handshake has checked its pinned key
     * (docs/SECURITY.md §3); on a TLS endpoint's link with a configured legacy peer, that peer as
     * {@link LegacyPeers#identity} (its address and configured role, no key;
     * §6); {@code null} on a plaintext endpoint's link or a test transport.
     */
    PeerIdentity peer();

    /** The link's TLS: protocol, cipher suite and provider ("TLSv1.3 TLS_AES_128_GCM_SHA256 JDK"), or {@code null}. */
    String security();

    /** The peer's label from its LNK_CONN, or its address until that arrives. */
    String peerLabel();

    /** The LNK_CONN the peer sent (its SPAN filter), or {@code null} before it arrives. */
    LnkConn peerConn();

    String remoteAddress();

    LinkState state();

    /**
     * Opens a transaction on circuit 0: sends {@code cmd|CREATE} (plus DELETE and/or ABORT if
     * {@code cmd} carries them: a one-message command, a non-blocking request). Replies go to
     * {@code handler}. If the link is already gone, the handler gets the LOSTLINK abort at once.
     *
     * @param aux owned by the link from now on; may be {@code null}
     * @throws IllegalArgumentException if {@code cmd} has CREATE or REPLY set, or {@code ext}
     *     does not fit {@code cmd}
     */
    Transaction open(int cmd, ExtHeader ext, ByteBuf aux, TransactionHandler handler);

    /**
     * Opens a transaction on circuit {@code circuit} (0: circuit 0), which must be attached to
     * this link (the mesh attaches the circuits that end here). On a circuit that is not, or no
     * longer, attached the handler gets the LOSTLINK abort at once, as on a dead link.
     */
    Transaction open(long circuit, int cmd, ExtHeader ext, ByteBuf aux, TransactionHandler handler);

    /** The mesh layer's hold on the link: circuits ending here and passing through. */
    LinkCircuits circuits();

    /** The authenticated far end of circuit {@code id} ending here, or {@code null}. Any thread. */
    PeerIdentity circuitPeer(long id);

    /**
     * Whether the peer is a 2013 C node — a configured legacy peer, a plaintext link the CLI made,
     * or a peer whose LNK_CONN lacked our marker ({@link #markLegacy}): transactions opened toward
     * it on circuit 0 are closed in a message of their own, and no PING is sent (docs/LEGACY.md).
     * Any thread.
     */
    boolean legacyPeer();

    /** From now on, treats the peer as a 2013 C node ({@link #legacyPeer}). Any thread. */
    void markLegacy();

    default Transaction open(int cmd, TransactionHandler handler) {
        return open(cmd, null, null, handler);
    }

    /**
     * Sends a one-way message (no CREATE, DELETE or ABORT) with msgid 0 on circuit 0.
     *
     * @throws IllegalArgumentException if {@code cmd} has CREATE, DELETE or ABORT set
     */
    void sendOneWay(int cmd, ExtHeader ext, ByteBuf aux);

    /**
     * Sends a one-way message with msgid 0 on circuit {@code circuit} (attached to this link); on
     * a circuit that is not, or no longer, attached it is discarded and counted.
     */
    void sendOneWay(long circuit, int cmd, ExtHeader ext, ByteBuf aux);

    /**
     * Closes the link in order: our LNK_CONN and the peer's are closed with DELETE, pending output
     * is flushed, then the socket is closed. Transactions still open get the LOSTLINK abort.
     */
    void close();

    /**
     * Our LNK_CONN transaction, open for the life of the link: one-way messages inside it (LNK_VOLCONF,
     * docs/REFERENCE.md §3.6) go through {@link Transaction#sendOneWay}. {@code null} before {@code start}.
     */
    Transaction conn();

    /**
     * The peer's LNK_CONN transaction, {@code null} until it arrives: an answer to a one-way
     * message the peer sent inside it goes through its {@link Transaction#sendOneWay}, as a REPLY
     * (which our {@link Services#oneWay} handlers receive, registered with REPLY).
     */
    Transaction peerConnTxn();

    /** Why the link closed (set as it closes, before its transactions are aborted), or {@code null}. */
    String closeReason();

    /** Completes with the reason once the link is {@link LinkState#CLOSED}. */
    CompletableFuture<String> closeFuture();

    /** Whether a send from another thread would proceed without blocking right now. */
    boolean isWritable();

    /**
     * Runs {@code task} once on the link's event loop: soon if {@link #isWritable()} is true now,
     * else once the outbound side has drained to half its budget (a low-water mark, so that a
     * producer is not woken per frame), or when the link closes (the task then finds it closed). This is how
     * a producer on the event loop waits for the outbound side to drain without blocking or
     * spinning: send while {@code isWritable()}, then {@code whenWritable(this::produce)}.
     */
    void whenWritable(Runnable task);

    /**
     * Counts (and logs, the first few and then every power of two) a request refused because the
     * peer's role does not allow it (docs/SECURITY.md §5); the caller sends the PERM answer. Any thread.
     */
    void denied(String what);

    /** Counters; exact on the event loop, possibly a little stale elsewhere. */
    LinkStats stats();

    /** Runs {@code task} on the link's event loop (where handlers run). */
    void execute(Runnable task);
}
