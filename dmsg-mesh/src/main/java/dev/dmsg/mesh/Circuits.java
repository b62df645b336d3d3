package dev.dmsg.mesh;

import dev.dmsg.link.Link;
import dev.dmsg.link.Transaction;
import dev.dmsg.link.TransactionHandler;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.ErrorCode;
import dev.dmsg.wire.LnkCirc;
import dev.dmsg.wire.Message;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Virtual circuits (reference §3.5, PROFILE §6, docs/CIRCUITS.md): forging hop by hop along
 * spans, relaying without tracking, and tear-down end to end when a hop's link dies, the span a
 * circuit rests on is withdrawn, or either side closes.
 *
 * <p>Threads: everything about one link happens on that link's event loop — the per-link tables
 * here are only touched there; work for another link is handed to its loop with
 * {@link Link#execute}, so no event loop ever waits for another.
 */
final class Circuits {
    private static final Logger log = LoggerFactory.getLogger(Circuits.class);

    /** One link's circuit state; its link's event loop only. */
    static final class PerLink {
        /** SPAN relays we opened on this link, by their msgid: what a LNK_CIRC target names. */
        final Map<Long, SpanEngine.Relay> relays = new HashMap<>();
        /** Tear-downs to run when the relay with that msgid closes (the span a circuit rests on). */
        final Map<Long, List<Runnable>> onRelayClose = new HashMap<>();
        /** Tear-downs to run when the received span with that msgid closes (originator side). */
        final Map<Long, List<Runnable>> onSpanClose = new HashMap<>();
        int relayed;
        /** Circuits that end here, accepted from the peer (their ids on this link). */
        final java.util.Set<Long> endpoints = new java.util.LinkedHashSet<>();
    }

    private final Map<Link, PerLink> perLink = new ConcurrentHashMap<>();

    PerLink on(Link l) {
        return perLink.computeIfAbsent(l, k -> new PerLink());
    }

    void linkDown(Link l) {
        perLink.remove(l);
    }

    /** Circuits relayed through {@code l} now (for status and tests). */
    int relayedOn(Link l) {
        PerLink p = perLink.get(l);
        return p == null ? 0 : p.relayed;
    }

    /** Ids of the circuits accepted on {@code l} that end at this node; its event loop only. */
    List<Long> endingOn(Link l) {
        PerLink p = perLink.get(l);
        return p == null ? List.of() : List.copyOf(p.endpoints);
    }

    void relayOpened(Link l, long msgid, SpanEngine.Relay r) {
        on(l).relays.put(msgid, r);
    }

    void relayClosed(Link l, long msgid) {
        PerLink p = on(l);
        p.relays.remove(msgid);
        runAll(p.onRelayClose.remove(msgid));
    }

    void spanClosed(Link l, long msgid) {
        runAll(on(l).onSpanClose.remove(msgid));
    }

    private static void runAll(List<Runnable> rs) {
        if (rs != null) {
            rs.forEach(Runnable::run);
        }
    }

    private static void add(Map<Long, List<Runnable>> m, long key, Runnable r) {
        m.computeIfAbsent(key, k -> new ArrayList<>(1)).add(r);
    }

    // ------------------------------------------------------------------------------------------
    // A LNK_CIRC|CREATE from a peer: we are the endpoint, or a relay toward it.

    TransactionHandler accept(Transaction txnA, Message create) {
        Link a = txnA.link();
        long idA = txnA.msgid();
        LnkCirc circ = create.ext(LnkCirc.class);
        SpanEngine.Relay r = circ == null ? null : on(a).relays.get(circ.target());
        if (r == null || r.source.dead) {
            log.debug("LNK_CIRC from {}: target {} is not a span we sent it", a.peerLabel(),
                circ == null ? "?" : Long.toHexString(circ.target()));
            txnA.reply(Dmsg.ERR_CANTCIRC);
            return TransactionHandler.CLOSE_ON_DELETE;
        }
        long target = circ.target();
        SpanEngine.SpanLink src = r.source;
        if (src.local()) {
            return endpoint(txnA, a, idA, target);
        }
        Link b = MeshNode.linkOf(src.from());
        if (b == null || !(src.token() instanceof Transaction spanB) || !b.state().isAlive()) {
            txnA.reply(Dmsg.ERR_CANTCIRC);
            return TransactionHandler.CLOSE_ON_DELETE;
        }
        return relay(txnA, a, idA, target, b, spanB.msgid());
    }

    /** The circuit ends here: its transactions are ours (Link.open(circuit, …) and the services). */
    private TransactionHandler endpoint(Transaction txnA, Link a, long idA, long target) {
        try {
            a.attachCircuit(idA);
        } catch (IllegalStateException e) {
            txnA.reply(Dmsg.ERR_PARAM);
            return TransactionHandler.CLOSE_ON_DELETE;
        }
        on(a).relayed++;
        on(a).endpoints.add(idA);
        boolean[] down = {false};
        Runnable teardown = () -> {
            if (!down[0]) {
                down[0] = true;
                on(a).relayed--;
                on(a).endpoints.remove(idA);
                a.detachCircuit(idA);
                txnA.reply(Dmsg.ERR_LOSTLINK);
            }
        };
        add(on(a).onRelayClose, target, teardown); // our span is withdrawn: the circuit goes
        txnA.result(0);
        return (t, m) -> {
            if (m.isDelete()) {
                if (!down[0]) {
                    down[0] = true;
                    on(a).relayed--;
                    on(a).endpoints.remove(idA);
                    a.detachCircuit(idA);
                }
                t.close();
            }
        };
    }

    /** The circuit passes through: pair (a, idA) with a new LNK_CIRC on b toward the span's sender. */
    private TransactionHandler relay(Transaction txnA, Link a, long idA, long target, Link b, long spanMsgidOnB) {
        final class Pair {
            volatile Transaction txnB;
            volatile long idB;
            boolean downA; // a's loop only
            boolean downB; // b's loop only

            boolean markDownA() {
                boolean first = !downA;
                downA = true;
                return first;
            }

            boolean markDownB() {
                boolean first = !downB;
                downB = true;
                return first;
            }
        }
        Pair p = new Pair();
        on(a).relayed++;
        // Messages on idA go to b, in order after the LNK_CIRC below (one queue: b's loop).
        a.relayCircuit(idA, (from, m) -> b.execute(() -> {
            if (p.txnB != null) {
                b.forward(m, p.idB);
            } else {
                m.release();
            }
        }));
        b.execute(() -> {
            Transaction tb = b.open(Dmsg.LNK_CIRC, new LnkCirc(0, spanMsgidOnB), null, (t, m) -> {
                if (m.isDelete()) {
                    closeB(b, p.txnB, p.idB, p::markDownB, 0);
                    t.close();
                    int err = m.error();
                    a.execute(() -> closeA(a, txnA, idA, p::markDownA, err));
                } else if (m.isCreate() && m.isReply()) {
                    int err = m.error();
                    a.execute(() -> txnA.result(err)); // the acknowledgement travels back hop by hop
                }
            });
            p.idB = tb.msgid();
            p.txnB = tb;
            on(b).relayed++;
            b.relayCircuit(p.idB, (from, m) -> a.forward(m, idA));
            add(on(b).onSpanClose, spanMsgidOnB, () -> {
                // the span this circuit follows is withdrawn: LOSTLINK both ways
                closeB(b, tb, p.idB, p::markDownB, Dmsg.ERR_LOSTLINK);
                a.execute(() -> closeA(a, txnA, idA, p::markDownA, Dmsg.ERR_LOSTLINK));
            });
        });
        add(on(a).onRelayClose, target, () -> {
            closeA(a, txnA, idA, p::markDownA, Dmsg.ERR_LOSTLINK);
            b.execute(() -> closeB(b, p.txnB, p.idB, p::markDownB, Dmsg.ERR_LOSTLINK));
        });
        return (t, m) -> {
            if (m.isDelete()) {
                closeA(a, txnA, idA, p::markDownA, m.error());
                int err = m.error();
                b.execute(() -> closeB(b, p.txnB, p.idB, p::markDownB, err));
            }
        };
    }

    private void closeA(Link a, Transaction txnA, long idA, java.util.function.BooleanSupplier firstTime, int error) {
        if (firstTime.getAsBoolean()) {
            on(a).relayed--;
            a.unrelayCircuit(idA);
        }
        txnA.reply(error); // nothing once our side is closed
    }

    private void closeB(Link b, Transaction txnB, long idB, java.util.function.BooleanSupplier firstTime, int error) {
        if (txnB == null) {
            return;
        }
        if (firstTime.getAsBoolean()) {
            on(b).relayed--;
            b.unrelayCircuit(idB);
        }
        txnB.reply(error); // nothing once our side is closed
    }

    // ------------------------------------------------------------------------------------------
    // Originating a circuit

    /** Forges a circuit over {@code best} (a received span); completes when the far end answers. */
    CompletableFuture<CircuitHandle> open(SpanEngine.SpanLink best) {
        CompletableFuture<CircuitHandle> done = new CompletableFuture<>();
        Link l = MeshNode.linkOf(best.from());
        if (l == null || !(best.token() instanceof Transaction span)) {
            done.completeExceptionally(new IllegalStateException("no link for that span"));
            return done;
        }
        long target = span.msgid();
        l.execute(() -> {
            CircuitHandle h = new CircuitHandle(l);
            Transaction t = l.open(Dmsg.LNK_CIRC, new LnkCirc(0, target), null, (tt, m) -> {
                if (m.isCreate() && m.isReply() && !m.isDelete() && m.error() == 0) {
                    done.complete(h);
                }
                if (m.isDelete()) {
                    String why = m.error() == Dmsg.ERR_CANTCIRC ? "the far end cannot forge it (CANTCIRC)"
                        : m.error() == 0 ? "closed by the far end" : ErrorCode.nameOf(m.error());
                    h.lost(why);
                    tt.close();
                    done.completeExceptionally(new IllegalStateException("circuit not opened: " + why));
                }
            });
            h.txn = t;
            h.id = t.msgid();
            l.attachCircuit(h.id);
            on(l).relayed++;
            h.onLost(why -> on(l).relayed--);
            add(on(l).onSpanClose, target, () -> {
                h.lost("the span it rests on was withdrawn");
                t.reply(Dmsg.ERR_LOSTLINK);
            });
        });
        return done;
    }
}
