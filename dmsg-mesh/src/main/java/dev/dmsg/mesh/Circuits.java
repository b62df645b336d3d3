package dev.dmsg.mesh;

import dev.dmsg.link.Link;
import dev.dmsg.link.Transaction;
import dev.dmsg.link.TransactionHandler;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.LnkCirc;
import dev.dmsg.wire.Message;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Virtual circuits (docs/REFERENCE.md §3.5, docs/PROFILE.md §6, docs/CIRCUITS.md): forging hop by hop along
 * spans, relaying without tracking, and tear-down end to end when a hop's link dies, the span a
 * circuit rests on is withdrawn, or either side closes. This class is what the rest of dmsg-mesh
 * calls ({@link MeshNode}, {@link SpanIntake}) and the accept side of a LNK_CIRC|CREATE (endpoint
 * here, or a relay); the other jobs are package-private classes it wires together:
 * <ul>
 *   <li>{@link CircuitRegistry}: each link's tables and the entries status reads;</li>
 *   <li>{@link RelayPair}: a circuit passing through, relayed frame by frame;</li>
 *   <li>{@link CircuitOpener}: a circuit this node originates (docs/IDENTITY.md §4).</li>
 * </ul>
 *
 * <p>Threads: everything about one link happens on that link's event loop — the per-link tables
 * are only touched there; work for another link is handed to its loop with
 * {@link Link#execute}, so no event loop ever waits for another. The registry of circuits
 * ({@link #views}) is a concurrent set of entries whose fields are volatile, for status output.
 */
final class Circuits {
    private static final Logger log = LoggerFactory.getLogger(Circuits.class);

    private final CircuitRegistry registry;
    private final CircuitOpener opener;
    private final MeshScheduler scheduler;
    /** Authentication and budgets per originator (docs/IDENTITY.md §4, §6). */
    private final CircuitGate gate;

    Circuits(MeshScheduler scheduler, long ackTimeoutNanos, CircuitGate gate) {
        this.scheduler = scheduler;
        this.gate = gate;
        this.registry = new CircuitRegistry(scheduler);
        this.opener = new CircuitOpener(registry, scheduler, ackTimeoutNanos, gate);
    }

    CircuitGate gate() {
        return gate;
    }

    void linkDown(Link l) {
        registry.linkDown(l);
    }

    /** Circuit sides (ends and relay halves) on {@code l} now (for status and tests). */
    int sidesOn(Link l) {
        return registry.sidesOn(l);
    }

    /** Ids of the circuits accepted on {@code l} that end at this node; its event loop only. */
    List<Long> endingOn(Link l) {
        return registry.endingOn(l);
    }

    /** Which of this node's spans circuit {@code id} on {@code l} was forged to, or null; its event loop only. */
    NodeKey endpointTarget(Link l, long id) {
        return registry.endpointTarget(l, id);
    }

    /** Every circuit this node takes part in now. Any thread. */
    List<MeshNode.CircuitView> views() {
        return registry.views();
    }

    void relayOpened(Link l, long msgid, SpanEngine.Relay r) {
        registry.relayOpened(l, msgid, r);
    }

    void relayClosed(Link l, long msgid) {
        registry.relayClosed(l, msgid);
    }

    void spanClosed(Link l, long msgid) {
        registry.spanClosed(l, msgid);
    }

    /**
     * Forges a circuit over {@code best} (a received span for {@code key}); completes when the far
     * end answers, or exceptionally with a {@link CircuitException} — CANTCIRC, the link lost, or
     * no answer within the acknowledgement timeout. See {@link CircuitOpener#open}.
     */
    CompletableFuture<CircuitHandle> open(SpanEngine.SpanLink best, NodeKey key) {
        return opener.open(best, key);
    }

    // ------------------------------------------------------------------------------------------
    // A LNK_CIRC|CREATE from a peer: we are the endpoint, or a relay toward it.

    TransactionHandler accept(Transaction txnA, Message create) {
        Link a = txnA.link();
        long idA = txnA.msgid();
        LnkCirc circ = create.ext(LnkCirc.class);
        // libdmsg dmsg_lnk_circ: the target must be a SPAN this node sent on the link the CIRC came
        // from (its statewr_tree); else CANTCIRC, LNK_ERROR|CREATE|DELETE|REPLY.
        SpanEngine.Relay r = circ == null ? null : registry.on(a).relays.get(circ.target());
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
        return RelayPair.relay(registry, gate, txnA, a, idA, target, b, spanB.msgid(), src.node.key,
            ((CircuitGate.Accept) d).originatorKey(), CircuitGate.passOn(create, b));
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
        CircuitRegistry.Entry e = new CircuitRegistry.Entry(CircuitRegistry.Role.ENDPOINT, key, a, idA,
            scheduler.nanoTime());
        e.open = true;
        registry.add(e);
        CircuitRegistry.PerLink pl = registry.on(a);
        pl.sides++;
        pl.endpoints.put(idA, key);
        Runnable[] withdrawn = new Runnable[1];
        Runnable down = () -> {
            if (e.open) {
                e.open = false;
                registry.remove(e);
                pl.sides--;
                pl.endpoints.remove(idA);
                CircuitRegistry.removeTearDown(pl.onRelayClose, target, withdrawn[0]);
                a.circuits().detach(idA); // every transaction on it: one LOSTLINK abort
                gate.release(acc.originatorKey());
            }
        };
        withdrawn[0] = () -> { // our span is withdrawn: the circuit goes, end to end
            down.run();
            txnA.reply(Dmsg.ERR_LOSTLINK);
        };
        CircuitRegistry.addTearDown(pl.onRelayClose, target, withdrawn[0]);
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
}
