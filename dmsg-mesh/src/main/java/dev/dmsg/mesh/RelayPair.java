package dev.dmsg.mesh;

import dev.dmsg.link.Link;
import dev.dmsg.link.Transaction;
import dev.dmsg.link.TransactionHandler;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.LnkCirc;
import dev.dmsg.wire.Message;
import io.netty.buffer.ByteBuf;
import java.util.ArrayDeque;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One circuit through this node (docs/CIRCUITS.md, docs/REFERENCE.md §3.5, docs/PROFILE.md §6):
 * side A (the LNK_CIRC we accepted on link a) paired with side B (the LNK_CIRC we opened on link b
 * toward the span's sender). Messages on idA go to b as idB and back (libdmsg
 * dmsg_circuit_route), untracked. {@link Circuits#accept} starts one with {@link #relay}; it
 * records itself in the {@link CircuitRegistry} and releases its originator's budget in the
 * {@link CircuitGate} (docs/IDENTITY.md §6) once both sides are down.
 *
 * <p>Threads: side A's fields are touched on a's loop, side B's on b's loop; the relayed frames
 * themselves go through the two {@link Direction}s, one read batch per task.
 */
final class RelayPair extends CircuitRegistry.Entry {
    private final CircuitRegistry registry;
    private final CircuitGate gate;
    final Transaction txnA;
    final Link b;
    volatile Transaction txnB;
    volatile long idB;
    private boolean downA; // a's loop
    private boolean downB; // b's loop
    private final AtomicInteger sidesDown = new AtomicInteger();
    Runnable onRelayCloseA;
    Runnable onSpanCloseB;
    /** Each link's tables, held here: after a link dies its map entry is gone (never made anew). */
    final CircuitRegistry.PerLink plA;
    CircuitRegistry.PerLink plB; // b's loop
    final long target;
    final long spanMsgidOnB;
    /** What this circuit counts against (docs/IDENTITY.md §6). */
    String originatorKey;

    private RelayPair(CircuitRegistry registry, CircuitGate gate, NodeKey key, Transaction txnA, Link a, long idA,
                      long target, Link b, long spanMsgidOnB) {
        super(CircuitRegistry.Role.RELAY, key, a, idA, registry.nanoTime());
        this.registry = registry;
        this.gate = gate;
        this.txnA = txnA;
        this.b = b;
        this.target = target;
        this.spanMsgidOnB = spanMsgidOnB;
        this.plA = registry.on(a);
    }

    /** Messages from a: forwarded on b as idB. */
    final Direction towardB = new Direction() {
        @Override Link from() { return a; }
        @Override Link to() { return b; }
        @Override long id() { return idB; }
        @Override boolean closed() { return downB || txnB == null; }
    };
    /** Messages from b: forwarded on a as idA. */
    final Direction towardA = new Direction() {
        @Override Link from() { return b; }
        @Override Link to() { return a; }
        @Override long id() { return idA; }
        @Override boolean closed() { return downA; }
    };

    /** Closes side A with {@code error} (LNK_ERROR|DELETE|REPLY toward a). On a's loop. */
    void closeA(int error) {
        if (!downA) {
            downA = true;
            open = false;
            plA.sides--;
            a.circuits().unrelay(idA);
            CircuitRegistry.removeTearDown(plA.onRelayClose, target, onRelayCloseA);
            sideDown();
        }
        txnA.reply(error); // nothing once our side is closed
    }

    /** Closes side B with {@code error}. On b's loop. */
    void closeB(int error) {
        Transaction tb = txnB;
        if (tb == null) {
            return;
        }
        if (!downB) {
            downB = true;
            open = false;
            if (plB != null) {
                plB.sides--;
                b.circuits().unrelay(idB);
                CircuitRegistry.removeTearDown(plB.onSpanClose, spanMsgidOnB, onSpanCloseB);
            }
            sideDown();
        }
        tb.reply(error);
    }

    /** Both sides, each on its own loop. */
    void closeBoth(int error) {
        a.execute(() -> closeA(error));
        b.execute(() -> closeB(error));
    }

    private void sideDown() {
        if (sidesDown.incrementAndGet() == 2) {
            registry.remove(this);
            gate.release(originatorKey);
        }
    }

    /**
     * One direction of a relayed circuit: messages arrive on {@code from}'s event loop and go out
     * on {@code to}'s with the circuit id {@link #id()} (libdmsg dmsg_circuit_route). What one read
     * batch of {@code from} brings is handed to {@code to}'s loop as one task, not one per message:
     * a task for another event loop costs a wake-up system call when that loop sleeps, which a
     * profile of a relay showed as its largest cost. When {@code to} is over its budget the relay
     * pauses reading {@code from} until {@code to} drains (docs/CIRCUITS.md).
     */
    abstract static class Direction {
        private final ArrayDeque<Message> pending = new ArrayDeque<>(); // from's loop
        private boolean scheduled; // from's loop
        private boolean pausedFrom; // to's loop
        /** Messages forwarded (written on to's loop only). */
        volatile long count;

        abstract Link from();

        abstract Link to();

        abstract long id();

        /** Whether the side we forward to is closed (its loop only). */
        abstract boolean closed();

        /** A message from {@code from}, on its loop. */
        void receive(Message m) {
            pending.add(m);
            if (!scheduled) {
                scheduled = true;
                from().execute(this::handOver); // runs after the rest of this read batch
            }
        }

        private void handOver() {
            scheduled = false;
            Message[] batch = pending.toArray(new Message[0]);
            pending.clear();
            to().execute(() -> send(batch));
        }

        private void send(Message[] batch) {
            Link to = to();
            if (closed()) {
                for (Message m : batch) {
                    m.release();
                }
                return;
            }
            boolean writable = true;
            long id = id();
            for (Message m : batch) {
                writable = to.circuits().forward(m, id);
            }
            count += batch.length;
            if (!writable && !pausedFrom) {
                pausedFrom = true; // to is over its budget: stop reading from until it drains
                Link from = from();
                from.execute(from.circuits()::pauseReading);
                to.whenWritable(() -> {
                    pausedFrom = false;
                    from.execute(from.circuits()::resumeReading);
                });
            }
        }
    }

    /**
     * The circuit passes through: pairs (a, idA) with a new LNK_CIRC on b toward the span's sender
     * (docs/REFERENCE.md §3.5); returns side A's handler.
     */
    static TransactionHandler relay(CircuitRegistry registry, CircuitGate gate, Transaction txnA, Link a, long idA,
                                    long target, Link b, long spanMsgidOnB, NodeKey key, String originatorKey,
                                    ByteBuf hello) {
        RelayPair p = new RelayPair(registry, gate, key, txnA, a, idA, target, b, spanMsgidOnB);
        p.originatorKey = originatorKey;
        registry.add(p);
        p.plA.sides++;
        // Messages on idA go to b, in order after the LNK_CIRC below (one queue: b's loop).
        a.circuits().relay(idA, (from, m) -> p.towardB.receive(m));
        p.onRelayCloseA = () -> p.closeBoth(Dmsg.ERR_LOSTLINK); // the span we relayed to a is gone
        CircuitRegistry.addTearDown(p.plA.onRelayClose, target, p.onRelayCloseA);
        b.execute(() -> {
            Transaction tb = b.open(Dmsg.LNK_CIRC, new LnkCirc(0, spanMsgidOnB), hello, (t, m) -> {
                if (m.isDelete()) {
                    p.closeB(0);
                    t.close();
                    int err = m.error();
                    a.execute(() -> p.closeA(err)); // libdmsg: state_reply on the peer circuit, same error
                } else if (m.isCreate() && m.isReply()) {
                    int err = m.error();
                    ByteBuf answer = err == 0 ? CircuitGate.passOn(m, a) : null; // the endpoint's hello
                    a.execute(() -> {
                        p.open = err == 0;
                        if (answer != null) {
                            txnA.send(Dmsg.LNK_ERROR, err, null, answer); // the acknowledgement travels back hop by hop
                        } else {
                            txnA.result(err);
                        }
                    });
                }
            });
            p.idB = tb.msgid();
            p.txnB = tb;
            if (p.downB || !tb.state().sendOpen()) {
                // b died between the check and now: the open got its LOSTLINK at once (the handler
                // above, before txnB was set, closed side A); nothing of side B was set up.
                if (!p.downB) {
                    p.downB = true;
                    p.sideDown();
                }
                return;
            }
            p.plB = registry.on(b);
            p.plB.sides++;
            b.circuits().relay(p.idB, (from, m) -> p.towardA.receive(m));
            p.onSpanCloseB = () -> p.closeBoth(Dmsg.ERR_LOSTLINK); // the span this circuit follows is withdrawn
            CircuitRegistry.addTearDown(p.plB.onSpanClose, spanMsgidOnB, p.onSpanCloseB);
        });
        return (t, m) -> {
            if (m.isDelete()) {
                p.closeBoth(m.error());
            }
        };
    }
}
