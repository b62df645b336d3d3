package dev.dmsg.mesh;

import dev.dmsg.link.CircuitSecurity;
import dev.dmsg.link.Link;
import dev.dmsg.link.LogLimiter;
import dev.dmsg.link.Transaction;
import dev.dmsg.link.TransactionHandler;
import dev.dmsg.link.tls.PeerIdentity;
import dev.dmsg.mesh.auth.CircuitAuth;
import dev.dmsg.mesh.auth.SpanTrust;
import dev.dmsg.wire.CircHello;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.DmsgProtocolException;
import dev.dmsg.wire.ErrorCode;
import dev.dmsg.wire.Message;
import io.netty.buffer.ByteBuf;
import java.security.GeneralSecurityException;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What {@link Circuits} asks at each role about authentication and budgets (docs/IDENTITY.md §4,
 * §6): the hello an originator sends and how it checks the answer, what an endpoint accepts and
 * answers, what a relay passes on, and how many circuits each originator holds here. Without
 * {@link CircuitAuth} (a node without TLS) circuits are neither authenticated nor limited by
 * originator, as before. Thread-safe: called on the event loops of the links involved.
 */
final class CircuitGate {
    private static final Logger log = LoggerFactory.getLogger(CircuitGate.class);

    private final CircuitAuth auth;
    private final int maxPerOriginator;
    private final int maxTransactionsPerOriginator;
    private final Map<String, Integer> held = new ConcurrentHashMap<>();
    /** One transaction budget per originator (its circuits to this node share it); entries live while it has circuits. */
    private final Map<String, CircuitSecurity.Budget> budgets = new ConcurrentHashMap<>();
    private final LogLimiter refusals = LogLimiter.perMinute();
    private final Map<String, Long> refusedByNeighbour = new ConcurrentHashMap<>();

    CircuitGate(CircuitAuth auth, int maxPerOriginator, int maxTransactionsPerOriginator) {
        this.auth = auth;
        this.maxPerOriginator = maxPerOriginator;
        this.maxTransactionsPerOriginator = maxTransactionsPerOriginator;
    }

    boolean enabled() {
        return auth != null;
    }

    int maxTransactionsPerOriginator() {
        return maxTransactionsPerOriginator;
    }

    /** Whether {@code l}'s peer is a configured 2013 C peer (plaintext, its configured role). */
    static boolean legacy(Link l) {
        return l.peer() != null && l.security() == null;
    }

    /** Our nodes: a TLS peer whose LNK_CONN carries our marker. Only they are sent hellos. */
    static boolean ours(Link l) {
        return !legacy(l) && SpanExt.understoodBy(l.peerConn());
    }

    private static String fingerprint(Link l) {
        PeerIdentity p = l.peer();
        return p == null ? null : p.fingerprint();
    }

    // ------------------------------------------------------------------------------------------
    // Originator

    /**
     * The offer for a circuit over {@code best} on {@code first}, or null to forge without a hello:
     * a node without TLS, a first hop that is not one of ours (a C relay drops the hello), or a
     * first hop that is the far end itself ({@link #direct}).
     */
    CircuitAuth.Offer offer(SpanEngine.SpanLink best, Link first) {
        if (auth == null || !ours(first) || direct(best, first)) {
            return null;
        }
        SpanTrust t = best.trust();
        return auth.offer(t == null || t.signerId().isEmpty() ? null : t.signerId());
    }

    /**
     * Whether the far end is {@code first}'s peer itself — the key that signed the target span is
     * the one the link's TLS authenticated (docs/IDENTITY.md §4.3): the link already authenticates
     * and protects every byte, so the circuit is forged without a hello and not sealed.
     */
    boolean direct(SpanEngine.SpanLink best, Link first) {
        SpanTrust t = best.trust();
        String fp = fingerprint(first);
        return auth != null && t != null && fp != null && !legacy(first) && fp.equals(t.signerId());
    }

    /**
     * The originator's check of the acknowledgement {@code ack}: the circuit's security, or null
     * for an unauthenticated circuit to a legacy target.
     *
     * @throws GeneralSecurityException naming what does not hold: the circuit must be closed
     */
    CircuitAuth.Established finish(CircuitAuth.Offer offer, Message ack, SpanEngine.SpanLink best, Link first)
            throws GeneralSecurityException {
        boolean hello = CircHello.present(ack.aux());
        SpanTrust t = best.trust();
        boolean legacyTarget = t == null || t.kind() == SpanTrust.Kind.LEGACY || t.kind() == SpanTrust.Kind.OPEN;
        if (offer == null && direct(best, first)) {
            return new CircuitAuth.Established(first.peer(), CircHello.DIRECT, null); // the link is the circuit
        }
        if (offer == null || !hello) {
            if (auth != null && !legacyTarget) {
                throw new GeneralSecurityException("the far end did not authenticate (no hello in its answer; a relay "
                    + "that strips it cannot downgrade a circuit, docs/IDENTITY.md §4.4)");
            }
            return null;
        }
        CircHello e;
        try {
            e = CircHello.parse(ack.aux());
        } catch (DmsgProtocolException ex) {
            throw new GeneralSecurityException(ex.getMessage());
        }
        return auth.finish(offer, e, fingerprint(first));
    }

    /**
     * Checks the far end's answer {@code ack} and secures our end of circuit {@code h} (its first
     * transaction {@code t}); the reason it must be closed, or null. On the link's event loop,
     * with the acknowledgement in hand.
     */
    String secureOrigin(CircuitAuth.Offer offer, Message ack, SpanEngine.SpanLink best, Link l, CircuitHandle h,
                        Transaction t) {
        CircuitAuth.Established est;
        try {
            est = finish(offer, ack, best, l);
        } catch (GeneralSecurityException ex) {
            log.warn("circuit to {} via {} refused: {}", MeshNode.describe(h.target()), l.peerLabel(), ex.getMessage());
            return ex.getMessage();
        }
        if (est != null) {
            l.circuits().secure(h.id, new CircuitSecurity(est.peer(), est.seal(), why -> {
                h.lost(why);
                t.reply(Dmsg.ERR_LOSTLINK);
            }, new CircuitSecurity.Budget(maxTransactionsPerOriginator)));
            h.peer = est.peer();
            h.sealed = est.seal() != null;
        }
        return null;
    }

    // ------------------------------------------------------------------------------------------
    // Endpoint

    /** An endpoint's decision on a LNK_CIRC|CREATE. */
    sealed interface Decision permits Refuse, Accept {}

    record Refuse(int error, String why) implements Decision {}

    /**
     * Accept; {@code established} null for an unauthenticated circuit (a legacy neighbour, a node
     * without TLS); {@code answer} is our hello for the acknowledgement, or null.
     */
    record Accept(CircuitAuth.Established established, CircHello answer, String originatorKey) implements Decision {}

    Decision atEndpoint(Link a, Message create) {
        if (auth == null) {
            return new Accept(null, null, null);
        }
        if (!CircHello.present(create.aux())) {
            if (legacy(a) || a.peer() == null) {
                return admit(new Accept(null, null, "legacy@" + name(a)));
            }
            // The neighbour's own circuit (docs/IDENTITY.md §4.3): its TLS identity is the
            // originator. A relay that stripped someone's hello only makes the circuit its own; the
            // originator, answered without a hello, closes it (§4.4).
            PeerIdentity n = a.peer();
            return admit(new Accept(new CircuitAuth.Established(n, CircHello.DIRECT, null), null, n.fingerprint()));
        }
        CircHello o;
        try {
            o = CircHello.parse(create.aux());
        } catch (DmsgProtocolException e) {
            return new Refuse(Dmsg.ERR_PARAM, e.getMessage());
        }
        CircuitAuth.Answer ans = auth.answer(o);
        if (ans instanceof CircuitAuth.Refuse r) {
            return new Refuse(r.error(), r.why());
        }
        CircuitAuth.Accept ok = (CircuitAuth.Accept) ans;
        return admit(new Accept(ok.circuit(), ok.hello(), ok.circuit().peer().fingerprint()));
    }

    /** The security to give the link for an accepted, authenticated circuit. */
    CircuitSecurity security(Accept a, Consumer<String> onBroken) {
        CircuitAuth.Established est = a.established();
        CircuitSecurity.Budget b = budgets.computeIfAbsent(a.originatorKey(),
            k -> new CircuitSecurity.Budget(maxTransactionsPerOriginator));
        return new CircuitSecurity(est.peer(), est.seal(), onBroken, b);
    }

    // ------------------------------------------------------------------------------------------
    // Relay

    /**
     * A relay's decision: who the originator is for its budget (the hello's key if trusted here
     * and signed, else a bucket shared by the neighbour's unidentified originators), or a refusal.
     */
    Decision atRelay(Link a, Message create) {
        if (auth == null) {
            return new Accept(null, null, null);
        }
        String key = null;
        if (CircHello.present(create.aux())) {
            try {
                key = auth.originator(CircHello.parse(create.aux()));
            } catch (DmsgProtocolException e) {
                return new Refuse(Dmsg.ERR_PARAM, e.getMessage());
            }
        }
        return admit(new Accept(null, null, key != null ? key : "unidentified@" + name(a)));
    }

    /** What a relay forwards of {@code m}'s aux (a hello) on {@code to}: a copy for our nodes, nothing for C. */
    static ByteBuf passOn(Message m, Link to) {
        return ours(to) && CircHello.present(m.aux()) ? m.aux().copy() : null;
    }

    // ------------------------------------------------------------------------------------------
    // Budgets

    private Decision admit(Accept a) {
        String key = a.originatorKey();
        boolean[] ok = {false};
        held.compute(key, (k, n) -> {
            int have = n == null ? 0 : n;
            if (have >= maxPerOriginator) {
                return n;
            }
            ok[0] = true;
            return have + 1;
        });
        if (!ok[0]) {
            return new Refuse(Dmsg.ERR_LIMIT, "originator " + key + " already holds " + maxPerOriginator
                + " circuits through or to this node (the limit, docs/IDENTITY.md §6)");
        }
        return a;
    }

    /** Gives back what {@link #admit} took for a circuit that has closed. */
    void release(String originatorKey) {
        if (originatorKey == null) {
            return;
        }
        held.computeIfPresent(originatorKey, (k, n) -> {
            if (n <= 1) {
                budgets.remove(k);
                return null;
            }
            return n - 1;
        });
    }

    /** Circuits {@code originatorKey} holds here now (tests, status). */
    int held(String originatorKey) {
        return held.getOrDefault(originatorKey, 0);
    }

    /** Answers a refused LNK_CIRC with its error, counted and logged; the handler for what follows. */
    TransactionHandler refuse(Transaction txnA, Link a, Refuse no) {
        refused(a, no);
        txnA.reply(no.error());
        return TransactionHandler.CLOSE_ON_DELETE;
    }

    /** Counts and logs (limited) a refused LNK_CIRC, naming the neighbour it came from. */
    private void refused(Link a, Refuse r) {
        refusedByNeighbour.merge(name(a), 1L, Long::sum);
        String more = refusals.admit();
        if (more != null) {
            log.warn("LNK_CIRC from neighbour '{}' refused ({}): {}{}", name(a), ErrorCode.nameOf(r.error()),
                r.why(), more);
        }
    }

    Map<String, Long> refusedByNeighbour() {
        return Map.copyOf(refusedByNeighbour);
    }

    private static String name(Link l) {
        PeerIdentity p = l.peer();
        return p != null ? p.name() : l.peerLabel();
    }
}
