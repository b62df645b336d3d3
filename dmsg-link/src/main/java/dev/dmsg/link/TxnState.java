package dev.dmsg.link;

import dev.dmsg.wire.Dmsg;

/**
 * A transaction's state from this end: the phase of the direction we send ({@code tx}, libdmsg
 * {@code txcmd}) and the one we receive ({@code rx}, {@code rxcmd}). State is kept until DELETE has
 * been both sent and received (docs/REFERENCE.md §2.1). Netty's {@code Http2Stream.State} is the model:
 * constants carry their derived facts.
 */
public enum TxnState {
    /** We sent CREATE; no reply yet. */
    LOCAL_OPEN(Phase.OPEN, Phase.IDLE),
    /** We sent CREATE|DELETE; no reply yet. */
    LOCAL_CLOSED_AWAITING_REPLY(Phase.CLOSED, Phase.IDLE),
    /** The peer sent CREATE; we have not answered. */
    REMOTE_OPEN(Phase.IDLE, Phase.OPEN),
    /** The peer sent CREATE|DELETE; we owe the reply. */
    REMOTE_CLOSED_AWAITING_REPLY(Phase.IDLE, Phase.CLOSED),
    /** Both directions created and open. */
    OPEN(Phase.OPEN, Phase.OPEN),
    /** We sent DELETE; the peer's direction is still open (or not yet created). */
    HALF_CLOSED_LOCAL(Phase.CLOSED, Phase.OPEN),
    /** The peer sent DELETE; ours is still open. */
    HALF_CLOSED_REMOTE(Phase.OPEN, Phase.CLOSED),
    /** DELETE sent and received: the transaction is gone from the tables. */
    CLOSED(Phase.CLOSED, Phase.CLOSED),
    /** Never reachable for a live transaction; completes the product of phases. */
    IDLE(Phase.IDLE, Phase.IDLE);

    public final Phase tx;
    public final Phase rx;

    TxnState(Phase tx, Phase rx) {
        this.tx = tx;
        this.rx = rx;
    }

    public boolean sendOpen() {
        return tx != Phase.CLOSED;
    }

    public boolean receiveOpen() {
        return rx != Phase.CLOSED;
    }

    public boolean isClosed() {
        return this == CLOSED;
    }

    public static TxnState of(Phase tx, Phase rx) {
        switch (tx) {
            case IDLE: return rx == Phase.IDLE ? IDLE : rx == Phase.OPEN ? REMOTE_OPEN : REMOTE_CLOSED_AWAITING_REPLY;
            case OPEN: return rx == Phase.IDLE ? LOCAL_OPEN : rx == Phase.OPEN ? OPEN : HALF_CLOSED_REMOTE;
            case CLOSED: return rx == Phase.IDLE ? LOCAL_CLOSED_AWAITING_REPLY : rx == Phase.OPEN ? HALF_CLOSED_LOCAL : CLOSED;
            default: throw new AssertionError(tx);
        }
    }

    /** What happened to a transaction; {@link #next} decides what it makes of the state. */
    enum Event {
        /** We sent a message of the transaction: CREATE opens our direction, DELETE closes it. */
        SENT,
        /** We received one: CREATE opens the peer's direction, DELETE closes it. */
        RECEIVED,
        /**
         * The link or the circuit is gone, or the transaction was refused and forgotten: closed both
         * ways at once, as the simulated LOSTLINK abort says (docs/PROFILE.md §3).
         */
        LOST
    }

    /**
     * The one transition method (docs/REFERENCE.md §2.1): the state after {@code event}, for a
     * message with {@code cmd}'s CREATE/DELETE flags. ABORT changes nothing by itself: ABORT|DELETE
     * closes through DELETE, a mid-stream ABORT is delivered and leaves the state as it was.
     */
    TxnState next(Event event, int cmd) {
        switch (event) {
            case SENT: return of(advance(tx, cmd), rx);
            case RECEIVED: return of(tx, advance(rx, cmd));
            case LOST: return CLOSED;
            default: throw new AssertionError(this + " on " + event);
        }
    }

    private static Phase advance(Phase p, int cmd) {
        if ((cmd & Dmsg.DELETE) != 0) {
            return Phase.CLOSED;
        }
        if ((cmd & Dmsg.CREATE) != 0 && p == Phase.IDLE) {
            return Phase.OPEN;
        }
        return p;
    }
}
