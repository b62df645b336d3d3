package dev.dmsg.link;

import dev.dmsg.wire.ExtHeader;
import io.netty.buffer.ByteBuf;

/**
 * One transaction (libdmsg: a state), opened by us or by the peer. Safe to use from any thread;
 * calls from other threads are carried out on the link's event loop in call order, and may block
 * for backpressure (see {@link Link}).
 *
 * <p>CREATE and REPLY are never given by the caller: the transaction sets REPLY when the peer
 * opened it and CREATE on the first message of our direction, exactly as the reply helpers of
 * docs/REFERENCE.md §2.5 do.
 */
public interface Transaction {
    Link link();

    long msgid();

    long circuit();

    /** The base command that opened the transaction; later messages are dispatched on it. */
    int icmd();

    /** Whether we sent the CREATE. */
    boolean openedLocally();

    TxnState state();

    /**
     * Sends a message in our direction: a streaming element, or the last one if {@code cmd}
     * carries DELETE. ABORT|DELETE is accepted even after our DELETE (abort-after-DELETE).
     *
     * @throws IllegalArgumentException if {@code cmd} has CREATE or REPLY set or {@code ext} does not fit
     * @throws IllegalStateException if our direction already sent DELETE (and this is not
     *     ABORT|DELETE) while the peer's is still open, on a live link; on a dead link, or once
     *     the transaction is closed both ways (the peer's DELETE, a LOSTLINK abort), every send is
     *     discarded (and counted)
     */
    void send(int cmd, ExtHeader ext, ByteBuf aux);

    /**
     * Like {@link #send(int, ExtHeader, ByteBuf)}, with the header's {@code error} field set: an
     * answer that carries both an error code and fields or data (a {@code BLK_ERROR} with
     * {@code resid}, an {@code LNK_ERROR} with aux). Same rules and exceptions.
     */
    void send(int cmd, int error, ExtHeader ext, ByteBuf aux);

    /**
     * Sends a one-way message inside this transaction: it carries our msgid but no CREATE,
     * DELETE or ABORT, and does not change the state (LNK_VOLCONF inside LNK_CONN, docs/REFERENCE.md §3.6).
     */
    default void sendOneWay(int cmd, ExtHeader ext, ByteBuf aux) {
        sendOneWay(cmd, 0, ext, aux);
    }

    /**
     * Like {@link #sendOneWay(int, ExtHeader, ByteBuf)}, with the header's {@code error} field
     * set: how a node answers a one-way message in the peer's transaction (REPLY is set for it),
     * e.g. a LNK_VOLCONF it could not apply, to a peer of ours (never to a 2013 C peer).
     */
    void sendOneWay(int cmd, int error, ExtHeader ext, ByteBuf aux);

    /**
     * libdmsg {@code state_reply}: closes our direction with a header-only LNK_ERROR carrying
     * {@code error}. Nothing if our direction is already closed.
     */
    void reply(int error);

    /** libdmsg {@code state_result}: like {@link #reply} but leaves our direction open. */
    void result(int error);

    /** Closes our direction: {@code reply(0)}. */
    default void close() {
        reply(0);
    }

    /** A mid-stream ABORT (no DELETE). Nothing if our direction is closed. */
    void abort();

    /** ABORT|DELETE: a forced close, allowed even after our DELETE. Nothing once fully closed. */
    void abortClose();

    /** Application state carried with the transaction. */
    Object attachment();

    void attach(Object attachment);
}
