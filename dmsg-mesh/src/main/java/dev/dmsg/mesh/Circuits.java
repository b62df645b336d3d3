package dev.dmsg.mesh;

import dev.dmsg.link.Link;
import dev.dmsg.link.LinkState;
import dev.dmsg.link.Transaction;
import dev.dmsg.link.TransactionHandler;
import dev.dmsg.mesh.auth.CircuitAuth;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.ErrorCode;
import dev.dmsg.wire.LnkCirc;
import dev.dmsg.wire.Message;
import io.netty.buffer.ByteBuf;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Virtual circuits (docs/REFERENCE.md §3.5, docs/PROFILE.md §6, docs/CIRCUITS.md): forging hop by hop along
 * spans, relaying without tracking, and tear-down end to end when a hop's link dies, the span a
 * circuit rests on is withdrawn, or either side closes.
 *
 * <p>Threads: everything about one link happens on that link's event loop — the per-link tables
 * here are only touched there; work for another link is handed to its loop with
 * {@link Link#execute}, so no event loop ever waits for another. The registry of circuits
 * ({@link #views}) is a concurrent set of entries whose fields are volatile, for status output.
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
        /** Circuit sides on this link: ends and relay halves. */
        int sides;
        /** Circuits that end here, accepted from the peer: their ids on this link, and which of our spans each was forged to. */
        final Map<Long, NodeKey> endpoints = new LinkedHashMap<>();
    }

    /** What a circuit is to this node. */
    enum Role { ORIGIN, ENDPOINT, RELAY }

    /** A circuit this node takes part in (for {@code circuits} and status); fields readable from any thread. */
    static class Entry {
        final Role role;
        final NodeKey target;
        final Link a;
        volatile long idA;
        final long openedNanos;
        volatile boolean open;

        Entry(Role role, NodeKey target, Link a, long idA, long openedNanos) {
            this.role = role;
            this.target = target;
            this.a = a;
            this.idA = idA;
            this.openedNanos = openedNanos;
        }
    }

    private final Map<Link, PerLink> perLink = new ConcurrentHashMap<>();
    private final Set<Entry> entries = ConcurrentHashMap.newKeySet();
    private final MeshScheduler scheduler;
    private final long ackTimeoutNanos;
    /** Authentication and budgets per originator (docs/IDENTITY.md §4, §6). */
    private final CircuitGate gate;

    Circuits(MeshScheduler scheduler, long ackTimeoutNanos, CircuitGate gate) {
        this.scheduler = scheduler;
        this.ackTimeoutNanos = ackTimeoutNanos;
        this.gate = gate;
    }

    CircuitGate gate() {
        return gate;
    }

    /**
     * {@code l}'s tables. A link's entry goes with it ({@link #linkDown}, after its transactions'
     * aborts have run); a late task for a closed link gets a throwaway, so none is made anew.
     */
    PerLink on(Link l) {
        PerLink p = perLink.get(l);
        if (p == null) {
            p = new PerLink();
            if (l.state() != LinkState.CLOSED) {
                PerLink had = perLink.putIfAbsent(l, p);
                p = had != null ? had : p;
            }
        }
        return p;
    }

    void linkDown(Link l) {
        perLink.remove(l);
    }

    /** Circuit sides (ends and relay halves) on {@code l} now (for status and tests). */
    int sidesOn(Link l) {
        PerLink p = perLink.get(l);
        return p == null ? 0 : p.sides;
    }

    /** Ids of the circuits accepted on {@code l} that end at this node; its event loop only. */
    List<Long> endingOn(Link l) {
        PerLink p = perLink.get(l);
        return p == null ? List.of() : List.copyOf(p.endpoints.keySet());
    }

    /** Which of this node's spans circuit {@code id} on {@code l} was forged to, or null; its event loop only. */
    NodeKey endpointTarget(Link l, long id) {
        PerLink p = perLink.get(l);
        return p == null ? null : p.endpoints.get(id);
    }

    /** Every circuit this node takes part in now. Any thread. */
    List<MeshNode.CircuitView> views() {
        long now = scheduler.nanoTime();
        List<MeshNode.CircuitView> out = new ArrayList<>();
        for (Entry e : entries) {
            Pair p = e instanceof Pair x ? x : null;
            out.add(new MeshNode.CircuitView(e.role.name().toLowerCase(), e.target, e.a.peerLabel(), e.idA,
                p == null ? null : p.b.peerLabel(), p == null ? 0 : p.idB, e.open, now - e.openedNanos,
                p == null ? 0 : p.towardB.count, p == null ? 0 : p.towardA.count));
        }
        out.sort(Comparator.comparing(MeshNode.CircuitView::role).thenComparing(v -> v.target().fsLabel())
            .thenComparingLong(MeshNode.CircuitView::ageNanos));
        return out;
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

    private static void remove(Map<Long, List<Runnable>> m, long key, Runnable r) {
        List<Runnable> rs = m.get(key);
        if (rs != null && rs.remove(r) && rs.isEmpty()) {
            m.remove(key);
        }
    }

    // ------------------------------------------------------------------------------------------
    // A LNK_CIRC|CREATE from a peer: we are the endpoint, or a relay toward it.

    TransactionHandler accept(Transaction txnA, Message create) {
        Link a = txnA.link();
        long idA = txnA.msgid();
        LnkCirc circ = create.ext(LnkCirc.class);
        // libdmsg dmsg_lnk_circ: the target must be a SPAN this node sent on the link the CIRC came
        // from (its statewr_tree); else CANTCIRC, LNK_ERROR|CREATE|DELETE|REPLY.
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
            return endpoint(txnA, a, idA, target, src.node.key, create);
        }
        Link b = MeshNode.linkOf(src.from());
        if (b == null || !(src.token() instanceof Transaction spanB) || !b.state().isAlive()) {
            txnA.reply(Dmsg.ERR_CANTCIRC);
            return TransactionHandler.CLOSE_ON_DELETE;
        }
        CircuitGate.Decision d = gate.atRelay(a, create);
        if (d instanceof CircuitGate.Refuse no) {
            return gate.refuse(txnA, a, no);
        }
        return relay(txnA, a, idA, target, b, spanB.msgid(), src.node.key, ((CircuitGate.Accept) d).originatorKey(),
            CircuitGate.passOn(create, b));
    }


    /**
     * The circuit ends here: its transactions are ours (Link.open(circuit, …) and the services).
     * Its originator is authenticated first (docs/IDENTITY.md §4.1) and counted (§6).
     */
    private TransactionHandler endpoint(Transaction txnA, Link a, long idA, long target, NodeKey key, Message create) {
        CircuitGate.Decision d = gate.atEndpoint(a, create);
        if (d instanceof CircuitGate.Refuse no) {
            return gate.refuse(txnA, a, no);
        }
        CircuitGate.Accept acc = (CircuitGate.Accept) d;
        try {
            a.circuits().attach(idA);
        } catch (IllegalStateException e) {
            gate.release(acc.originatorKey());
            txnA.reply(Dmsg.ERR_PARAM);
            return TransactionHandler.CLOSE_ON_DELETE;
        }
        Entry e = new Entry(Role.ENDPOINT, key, a, idA, scheduler.nanoTime());
        e.open = true;
        entries.add(e);
        PerLink pl = on(a);
        pl.sides++;
        pl.endpoints.put(idA, key);
        Runnable[] withdrawn = new Runnable[1];
        Runnable down = () -> {
            if (e.open) {
                e.open = false;
                entries.remove(e);
                pl.sides--;
                pl.endpoints.remove(idA);
                remove(pl.onRelayClose, target, withdrawn[0]);
                a.circuits().detach(idA); // every transaction on it: one LOSTLINK abort
                gate.release(acc.originatorKey());
            }
        };
        withdrawn[0] = () -> { // our span is withdrawn: the circuit goes, end to end
            down.run();
            txnA.reply(Dmsg.ERR_LOSTLINK);
        };
        add(pl.onRelayClose, target, withdrawn[0]);
        if (acc.established() != null) {
            a.circuits().secure(idA, gate.security(acc, why -> { // a message failed to open: end to end
                down.run();
                txnA.reply(Dmsg.ERR_LOSTLINK);
            }));
        }
        if (acc.answer() != null) {
            txnA.send(Dmsg.LNK_ERROR, 0, null, acc.answer().encode()); // msg_result(0) with our hello
        } else {
            txnA.result(0); // docs/REFERENCE.md §3.5 step 3: msg_result(0), the transaction stays open
        }
        return (t, m) -> {
            if (m.isDelete()) {
                down.run();
                t.close();
            }
        };
    }

    /**
     * One circuit through this node: side A (the LNK_CIRC we accepted on link a) paired with side B
     * (the LNK_CIRC we opened on link b toward the span's sender). Messages on idA go to b as idB
     * and back (libdmsg dmsg_circuit_route), untracked. Side A's fields are touched on a's loop,
     * side B's on b's loop.
     */
    final class Pair extends Entry {
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
        final PerLink plA;
        PerLink plB; // b's loop
        final long target;
        final long spanMsgidOnB;
        /** What this circuit counts against (docs/IDENTITY.md §6). */
        String originatorKey;

        Pair(NodeKey key, Transaction txnA, Link a, long idA, long target, Link b, long spanMsgidOnB) {
            super(Role.RELAY, key, a, idA, scheduler.nanoTime());
            this.txnA = txnA;
            this.b = b;
            this.target = target;
            this.spanMsgidOnB = spanMsgidOnB;
            this.plA = on(a);
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
                remove(plA.onRelayClose, target, onRelayCloseA);
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
                    remove(plB.onSpanClose, spanMsgidOnB, onSpanCloseB);
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
                entries.remove(this);
                gate.release(originatorKey);
            }
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

    /** The circuit passes through: pair (a, idA) with a new LNK_CIRC on b toward the span's sender. */
    private TransactionHandler relay(Transaction txnA, Link a, long idA, long target, Link b, long spanMsgidOnB,
                                     NodeKey key, String originatorKey, ByteBuf hello) {
        Pair p = new Pair(key, txnA, a, idA, target, b, spanMsgidOnB);
        p.originatorKey = originatorKey;
        entries.add(p);
        p.plA.sides++;
        // Messages on idA go to b, in order after the LNK_CIRC below (one queue: b's loop).
        a.circuits().relay(idA, (from, m) -> p.towardB.receive(m));
        p.onRelayCloseA = () -> p.closeBoth(Dmsg.ERR_LOSTLINK); // the span we relayed to a is gone
        add(p.plA.onRelayClose, target, p.onRelayCloseA);
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
            p.plB = on(b);
            p.plB.sides++;
            b.circuits().relay(p.idB, (from, m) -> p.towardA.receive(m));
            p.onSpanCloseB = () -> p.closeBoth(Dmsg.ERR_LOSTLINK); // the span this circuit follows is withdrawn
            add(p.plB.onSpanClose, spanMsgidOnB, p.onSpanCloseB);
        });
        return (t, m) -> {
            if (m.isDelete()) {
                p.closeBoth(m.error());
            }
        };
    }

    // ------------------------------------------------------------------------------------------
    // Originating a circuit

    /**
     * Forges a circuit over {@code best} (a received span for {@code key}); completes when the far
     * end answers, or exceptionally with a {@link CircuitException} — CANTCIRC, the link lost, or
     * no answer within the acknowledgement timeout.
     */
    CompletableFuture<CircuitHandle> open(SpanEngine.SpanLink best, NodeKey key) {
        CompletableFuture<CircuitHandle> done = new CompletableFuture<>();
        Link l = MeshNode.linkOf(best.from());
        if (l == null || !(best.token() instanceof Transaction span)) {
            done.completeExceptionally(new CircuitException("no link for the span of " + MeshNode.describe(key), 0));
            return done;
        }
        long target = span.msgid();
        int dist = best.dist();
        CircuitAuth.Offer offer = gate.offer(best, l); // signed here, off the link's event loop
        l.execute(() -> {
            if (!l.state().isAlive()) {
                done.completeExceptionally(new CircuitException("the link to " + l.peerLabel() + " toward "
                    + MeshNode.describe(key) + " is down", Dmsg.ERR_LOSTLINK));
                return;
            }
            CircuitHandle h = new CircuitHandle(l, key, dist + 1);
            Entry e = new Entry(Role.ORIGIN, key, l, 0, scheduler.nanoTime());
            PerLink pl = on(l);
            Runnable[] withdrawn = new Runnable[1];
            Transaction t = l.open(Dmsg.LNK_CIRC, new LnkCirc(0, target),
                offer == null ? null : offer.hello().encode(), (tt, m) -> {
                if (m.isCreate() && m.isReply() && !m.isDelete()) {
                    if (m.error() == 0) {
                        String refused = gate.secureOrigin(offer, m, best, l, h, tt);
                        if (refused != null) {
                            h.lost(refused);
                            tt.reply(Dmsg.ERR_PERM); // closed end to end: relays let go, the far end forgets it
                            done.completeExceptionally(new CircuitException("cannot open a circuit to "
                                + MeshNode.describe(key) + ": " + refused, Dmsg.ERR_PERM, true));
                            return;
                        }
                        e.open = true;
                        done.complete(h);
                    } else {
                        tt.reply(m.error());
                    }
                }
                if (m.isDelete()) {
                    String why = whyLost(l, m, key);
                    boolean forged = done.isDone();
                    h.lost(why);
                    tt.close();
                    if (!forged) {
                        done.completeExceptionally(new CircuitException("cannot open a circuit to "
                            + MeshNode.describe(key) + ": " + why, m.error()));
                    }
                }
            });
            h.txn = t;
            h.id = t.msgid();
            e.idA = h.id;
            if (!t.state().sendOpen() || done.isDone()) {
                return; // the link went while we opened: the handler above has failed it
            }
            l.circuits().attach(h.id);
            entries.add(e);
            pl.sides++;
            withdrawn[0] = () -> {
                h.lost(l.state().isAlive()
                    ? "the span it rests on (" + MeshNode.describe(key) + " via " + l.peerLabel() + ") was withdrawn"
                    : "the link to " + l.peerLabel() + " was lost (" + l.closeReason() + ")");
                t.reply(Dmsg.ERR_LOSTLINK);
            };
            add(pl.onSpanClose, target, withdrawn[0]);
            h.onLost(why -> {
                entries.remove(e);
                e.open = false;
                pl.sides--;
                remove(pl.onSpanClose, target, withdrawn[0]);
            });
            scheduler.schedule(ackTimeoutNanos, () -> l.execute(() -> {
                if (!done.isDone()) {
                    String why = "no acknowledgement from " + MeshNode.describe(key) + " within "
                        + ackTimeoutNanos / 1_000_000 + " ms";
                    h.lost(why);
                    t.reply(Dmsg.ERR_LOSTLINK); // close it end to end: relays tear their halves down
                    done.completeExceptionally(new CircuitException("cannot open a circuit to "
                        + MeshNode.describe(key) + ": " + why, Dmsg.ERR_LOSTLINK));
                }
            }));
        });
        return done;
    }

    /** Words for the DELETE that ended an originated circuit. */
    private static String whyLost(Link l, Message m, NodeKey key) {
        int err = m.error();
        if (err == Dmsg.ERR_CANTCIRC) {
            return "a relay or the far end no longer has the span (CANTCIRC)";
        }
        if (err == Dmsg.ERR_LOSTLINK && m.isAbort()) {
            return "the link to " + l.peerLabel() + " was lost (" + l.closeReason() + ")";
        }
        if (err == Dmsg.ERR_LOSTLINK) {
            return "a hop on the path was lost (a link died or a span was withdrawn)";
        }
        if (err == Dmsg.ERR_PERM) {
            return "refused (PERM): the far end, or a node on the path, does not accept this node as the circuit's "
                + "originator; it must trust this node's key (dmsg trust add, or a cluster CA; docs/IDENTITY.md §4.1)";
        }
        if (err == Dmsg.ERR_LIMIT) {
            return "refused (LIMIT): this node already holds as many circuits through a node on the path as it may "
                + "(docs/IDENTITY.md §6)";
        }
        return err == 0 ? "closed by " + MeshNode.describe(key) : "closed with " + ErrorCode.nameOf(err);
    }
}
