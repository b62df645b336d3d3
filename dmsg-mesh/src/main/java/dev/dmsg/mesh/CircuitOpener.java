package dev.dmsg.mesh;

import dev.dmsg.link.Link;
import dev.dmsg.link.Transaction;
import dev.dmsg.mesh.auth.CircuitAuth;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.ErrorCode;
import dev.dmsg.wire.LnkCirc;
import dev.dmsg.wire.Message;
import java.util.concurrent.CompletableFuture;

/**
 * The originating side of a virtual circuit (docs/CIRCUITS.md, docs/REFERENCE.md §3.5,
 * docs/PROFILE.md §6): sends the LNK_CIRC over the best received span, authenticates the far end
 * through the {@link CircuitGate} (docs/IDENTITY.md §4), and turns a DELETE, a withdrawn span or
 * a missing acknowledgement into a lost {@link CircuitHandle}. {@link Circuits#open} calls it;
 * it records the circuit in the {@link CircuitRegistry}.
 *
 * <p>Threads: {@link #open} may run on any thread; everything after the signature runs on the
 * link's event loop.
 */
final class CircuitOpener {
    private final CircuitRegistry registry;
    private final MeshScheduler scheduler;
    private final long ackTimeoutNanos;
    private final CircuitGate gate;

    CircuitOpener(CircuitRegistry registry, MeshScheduler scheduler, long ackTimeoutNanos, CircuitGate gate) {
        this.registry = registry;
        this.scheduler = scheduler;
        this.ackTimeoutNanos = ackTimeoutNanos;
        this.gate = gate;
    }

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
            CircuitRegistry.Entry e = new CircuitRegistry.Entry(CircuitRegistry.Role.ORIGIN, key, l, 0,
                scheduler.nanoTime());
            CircuitRegistry.PerLink pl = registry.on(l);
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
            registry.add(e);
            pl.sides++;
            withdrawn[0] = () -> {
                h.lost(l.state().isAlive()
                    ? "the span it rests on (" + MeshNode.describe(key) + " via " + l.peerLabel() + ") was withdrawn"
                    : "the link to " + l.peerLabel() + " was lost (" + l.closeReason() + ")");
                t.reply(Dmsg.ERR_LOSTLINK);
            };
            CircuitRegistry.addTearDown(pl.onSpanClose, target, withdrawn[0]);
            h.onLost(why -> {
                registry.remove(e);
                e.open = false;
                pl.sides--;
                CircuitRegistry.removeTearDown(pl.onSpanClose, target, withdrawn[0]);
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
