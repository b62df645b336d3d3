package dev.dmsg.link;

import static dev.dmsg.wire.Dmsg.ABORT;
import static dev.dmsg.wire.Dmsg.BASECMDMASK;
import static dev.dmsg.wire.Dmsg.CREATE;
import static dev.dmsg.wire.Dmsg.DELETE;
import static dev.dmsg.wire.Dmsg.REPLY;

import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.ExtHeader;
import dev.dmsg.wire.Message;
import io.netty.buffer.ByteBuf;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;

/**
 * What we start on a link: transactions ({@link Link#open}) and one-way messages
 * ({@link Link#sendOneWay}). Checked in the caller's thread, so that its mistakes surface there;
 * carried out on the event loop through {@link Iocom#submit}, where the circuit is looked up and
 * the message written with {@link Iocom#sendNow}.
 */
final class LocalSends {
    private final Iocom iocom;
    /** msgids: a counter with a random start, never 0 and never reused on this link (docs/PROFILE.md §2). */
    private final AtomicLong nextMsgid = new AtomicLong(ThreadLocalRandom.current().nextLong(1, 1L << 62));

    LocalSends(Iocom iocom) {
        this.iocom = iocom;
    }

    Transaction open(long circuit, int cmd, ExtHeader ext, ByteBuf aux, TransactionHandler handler) {
        if ((cmd & (CREATE | REPLY)) != 0) {
            releaseQuietly(aux);
            throw new IllegalArgumentException(String.format("open: cmd %08x must not carry CREATE or REPLY", cmd));
        }
        if (handler == null) {
            releaseQuietly(aux);
            throw new IllegalArgumentException("open: handler is null");
        }
        int bytes = checkedSize(cmd | CREATE, ext, aux);
        if (circuit == 0) {
            Txn t = newLocal(iocom.circuits.circuit0, cmd & BASECMDMASK, handler);
            iocom.submit(bytes, () -> openOnLoop(t, cmd, ext, aux));
            return t;
        }
        // The circuit table belongs to the event loop: the real one is found there.
        Txn t = newLocal(new Circuit(circuit), cmd & BASECMDMASK, handler);
        iocom.submit(bytes, () -> {
            Circuit c = iocom.circuits.find(circuit);
            if (c == null) {
                // Not (or no longer) attached: like a dead link, the handler gets LOSTLINK at once.
                releaseQuietly(aux);
                iocom.discardedSend();
                iocom.deliverLost(t);
                return;
            }
            t.circuit = c;
            openOnLoop(t, cmd, ext, aux);
        });
        return t;
    }

    /** A transaction of ours on {@code c}, not yet in its table. */
    Txn newLocal(Circuit c, int icmd, TransactionHandler handler) {
        Txn t = new Txn(iocom, c, nextMsgid.getAndIncrement(), icmd, true);
        t.handler = handler;
        return t;
    }

    /** Puts {@code t} in its table and sends its CREATE; on a dead link, the LOSTLINK abort instead. */
    void openOnLoop(Txn t, int cmd, ExtHeader ext, ByteBuf aux) {
        if (!iocom.state().isAlive()) {
            releaseQuietly(aux);
            iocom.discardedSend();
            iocom.deliverLost(t);
            return;
        }
        t.circuit.opened.put(t.msgid, t);
        iocom.counters.openTransactions++;
        if ((cmd & DELETE) != 0 && t.circuit.id == 0 && iocom.legacyPeer()) {
            // docs/LEGACY.md: a 2013 libdmsg responder frees a transaction opened and closed in one
            // message twice (double free); toward one, CREATE and DELETE go in messages of their own.
            iocom.sendNow(t, Message.of((cmd & ~(DELETE | ABORT)) | CREATE, t.msgid, 0, 0, ext, aux));
            iocom.sendNow(t, Message.of(Dmsg.LNK_ERROR | DELETE | (cmd & ABORT), t.msgid, 0, 0));
            return;
        }
        iocom.sendNow(t, Message.of(cmd | CREATE, t.msgid, t.circuit.id, 0, ext, aux));
    }

    void sendOneWay(long circuit, int cmd, ExtHeader ext, ByteBuf aux) {
        if ((cmd & (CREATE | DELETE | ABORT)) != 0) {
            releaseQuietly(aux);
            throw new IllegalArgumentException(String.format("sendOneWay: cmd %08x carries CREATE, DELETE or ABORT", cmd));
        }
        int bytes = checkedSize(cmd, ext, aux);
        iocom.submit(bytes, () -> {
            if (circuit != 0 && iocom.circuits.find(circuit) == null) {
                releaseQuietly(aux); // not (or no longer) attached: discarded and counted, as on a dead link
                iocom.discardedSend();
                return;
            }
            iocom.sendNow(null, Message.of(cmd, 0, circuit, 0, ext, aux));
        });
    }

    /** Validates in the caller's thread, so that mistakes surface there; returns the frame size. */
    static int checkedSize(int cmd, ExtHeader ext, ByteBuf aux) {
        int auxBytes = aux == null ? 0 : aux.readableBytes();
        try {
            Message.check(cmd, ext, auxBytes);
        } catch (IllegalArgumentException e) {
            releaseQuietly(aux);
            throw e;
        }
        return Dmsg.hdrBytes(cmd) + (int) Dmsg.align(auxBytes);
    }

    static void releaseQuietly(ByteBuf b) {
        if (b != null && b.refCnt() > 0) {
            b.release();
        }
    }
}
