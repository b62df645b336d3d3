package dev.dmsg.link;

import static dev.dmsg.wire.Dmsg.ABORT;
import static dev.dmsg.wire.Dmsg.CREATE;
import static dev.dmsg.wire.Dmsg.DELETE;
import static dev.dmsg.wire.Dmsg.REPLY;

import dev.dmsg.wire.Command;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.ExtHeader;
import dev.dmsg.wire.Message;
import io.netty.buffer.ByteBuf;

/**
 * A transaction (libdmsg {@code dmsg_state}). Its {@link #state} changes only on the link's event
 * loop and only in {@link #on}, which asks {@link TxnState#next} for the new state; it is volatile
 * so that other threads can check it before submitting.
 */
final class Txn implements Transaction {
    final Iocom iocom;
    /** Set before the transaction is used on the event loop; for an open on a circuit, by that open. */
    Circuit circuit;
    final long circuitId;
    final long msgid;
    final int icmd;
    /** We sent the CREATE: the transaction lives in the circuit's {@code opened} table. */
    final boolean local;
    /** Written only by {@link #on}. */
    private volatile TxnState state = TxnState.IDLE;
    TransactionHandler handler;
    private volatile Object attachment;
    /** The originator budget a peer's transaction on an authenticated circuit counts against (docs/IDENTITY.md §6). */
    CircuitSecurity.Budget budget;
    /** A peer's transaction counted against its link (and the peer's links), until it is removed. */
    boolean countedOnLink;

    Txn(Iocom iocom, Circuit circuit, long msgid, int icmd, boolean local) {
        this.iocom = iocom;
        this.circuit = circuit;
        this.circuitId = circuit.id;
        this.msgid = msgid;
        this.icmd = icmd;
        this.local = local;
    }

    @Override
    public void send(int cmd, ExtHeader ext, ByteBuf aux) {
        send(cmd, 0, ext, aux);
    }

    @Override
    public void send(int cmd, int error, ExtHeader ext, ByteBuf aux) {
        if ((cmd & (CREATE | REPLY)) != 0) {
            LocalSends.releaseQuietly(aux);
            throw new IllegalArgumentException(String.format(
                "send: cmd %08x must not carry CREATE or REPLY; the transaction sets them", cmd));
        }
        boolean abortDelete = (cmd & (ABORT | DELETE)) == (ABORT | DELETE);
        if (iocom.state() == LinkState.CLOSED) {
            // The link is gone (perhaps this is a handler answering the LOSTLINK abort): discard.
            LocalSends.releaseQuietly(aux);
            iocom.discardedSend();
            return;
        }
        if (state.isClosed()) {
            // Closed both ways: the peer ended it, or a LOSTLINK abort did (its circuit detached) —
            // nothing the caller could have known when it decided to send. Discarded, as on a dead link.
            LocalSends.releaseQuietly(aux);
            iocom.discardedSend();
            return;
        }
        if (state.tx == Phase.CLOSED && !abortDelete) {
            LocalSends.releaseQuietly(aux);
            throw new IllegalStateException(String.format(
                "transaction %016x already sent DELETE (state %s)", msgid, state));
        }
        int bytes = LocalSends.checkedSize(cmd | CREATE | REPLY, ext, aux);
        iocom.submit(bytes, () -> sendOnLoop(cmd, error, ext, aux));
    }

    /**
     * Sends in our direction, computing CREATE (first message) and REPLY (the peer opened it),
     * the way libdmsg's reply helpers do (docs/REFERENCE.md §2.5).
     */
    void sendOnLoop(int cmd, int error, ExtHeader ext, ByteBuf aux) {
        boolean abortDelete = (cmd & (ABORT | DELETE)) == (ABORT | DELETE);
        if (state.isClosed() || (state.tx == Phase.CLOSED && !abortDelete)) {
            // Fully closed, or a second DELETE: the kernel's msgtx drops these (docs/REFERENCE.md §2.4).
            LocalSends.releaseQuietly(aux);
            iocom.discardedSend();
            return;
        }
        if (!local) {
            cmd |= REPLY;
        }
        if (state.tx == Phase.IDLE) {
            cmd |= CREATE;
        }
        iocom.sendNow(this, Message.of(cmd, msgid, circuitId, error, ext, aux));
    }

    @Override
    public void sendOneWay(int cmd, int error, ExtHeader ext, ByteBuf aux) {
        if ((cmd & (CREATE | DELETE | ABORT | REPLY)) != 0) {
            LocalSends.releaseQuietly(aux);
            throw new IllegalArgumentException(String.format(
                "sendOneWay: cmd %08x must carry no CREATE, DELETE, ABORT or REPLY", cmd));
        }
        int bytes = LocalSends.checkedSize(cmd, ext, aux);
        iocom.submit(bytes, () -> {
            if (state.isClosed()) {
                LocalSends.releaseQuietly(aux);
                iocom.discardedSend();
                return;
            }
            int c = local ? cmd : cmd | REPLY;
            iocom.sendNow(null, Message.of(c, msgid, circuitId, error, ext, aux));
        });
    }

    @Override
    public void reply(int error) {
        iocom.submit(Dmsg.HDR_SIZE, () -> replyOnLoop(error, true));
    }

    @Override
    public void result(int error) {
        iocom.submit(Dmsg.HDR_SIZE, () -> replyOnLoop(error, false));
    }

    /** libdmsg {@code state_reply} / {@code state_result}: nothing once our direction is closed. */
    void replyOnLoop(int error, boolean delete) {
        if (state.tx == Phase.CLOSED) {
            return;
        }
        sendOnLoop(Dmsg.LNK_ERROR | (delete ? DELETE : 0), error, null, null);
    }

    @Override
    public void abort() {
        iocom.submit(Dmsg.HDR_SIZE, () -> {
            if (state.tx != Phase.CLOSED) {
                sendOnLoop(Dmsg.LNK_ERROR | ABORT, 0, null, null);
            }
        });
    }

    @Override
    public void abortClose() {
        iocom.submit(Dmsg.HDR_SIZE, this::abortCloseOnLoop);
    }

    void abortCloseOnLoop() {
        if (!state.isClosed()) {
            sendOnLoop(Dmsg.LNK_ERROR | ABORT | DELETE, 0, null, null);
        }
    }

    /** The one place the state changes: {@code event} for a message with {@code cmd}'s flags. Event loop only. */
    void on(TxnState.Event event, int cmd) {
        state = state.next(event, cmd);
    }

    /** Removes the transaction from its table once DELETE has been both sent and received. */
    void removeIfClosed() {
        if (state.isClosed() && circuit.table(local).remove(msgid) != null) {
            iocom.removed(this);
        }
    }

    @Override
    public Link link() {
        return iocom;
    }

    @Override
    public long msgid() {
        return msgid;
    }

    @Override
    public long circuit() {
        return circuitId;
    }

    @Override
    public int icmd() {
        return icmd;
    }

    @Override
    public boolean openedLocally() {
        return local;
    }

    @Override
    public TxnState state() {
        return state;
    }

    @Override
    public Object attachment() {
        return attachment;
    }

    @Override
    public void attach(Object attachment) {
        this.attachment = attachment;
    }

    @Override
    public String toString() {
        return String.format("Txn[%016x %s %s %s]", msgid, Command.nameOf(icmd),
            local ? "local" : "remote", state);
    }
}
