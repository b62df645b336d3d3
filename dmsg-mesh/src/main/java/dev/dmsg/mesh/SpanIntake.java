package dev.dmsg.mesh;

import dev.dmsg.link.Link;
import dev.dmsg.link.LogLimiter;
import dev.dmsg.link.Transaction;
import dev.dmsg.link.TransactionHandler;
import dev.dmsg.link.tls.PeerIdentity;
import dev.dmsg.mesh.auth.SpanAuth;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.LnkSpan;
import dev.dmsg.wire.Message;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The LNK_SPAN transactions peers open to a {@link MeshNode}: each checked (its proof,
 * docs/IDENTITY.md §3.3) and counted against its originator's budget (§6) before it enters the
 * {@link SpanEngine}; its updates and its DELETE handed on. Refusals are answered, counted per
 * neighbour and logged (limited).
 *
 * <p>Threads: {@link #accept} and the handler it returns run on the link's event loop; checks,
 * budgets and the engine on the engine's executor; replies go back to the link's event loop.
 */
final class SpanIntake {
    /** MeshNode's logger: refusals are the mesh node's to report, wherever the code lives. */
    private static final Logger log = LoggerFactory.getLogger(MeshNode.class);

    private final SpanEngine engine;
    private final MeshScheduler executor;
    private final Circuits circuits;
    /** Checks received spans (docs/IDENTITY.md §3); null on a node without TLS. */
    private final SpanAuth auth;
    private final SpanBudget spanBudget;
    /** Spans refused, by the neighbour that sent them (mesh thread writes; status reads). */
    private final Map<String, Long> spansRefused = new ConcurrentHashMap<>();
    private final LogLimiter refusalLog = LogLimiter.perMinute();

    SpanIntake(SpanEngine engine, MeshScheduler executor, Circuits circuits, SpanAuth auth) {
        this.engine = engine;
        this.executor = executor;
        this.circuits = circuits;
        this.auth = auth;
        this.spanBudget = new SpanBudget(engine.config().maxSpansPerOrigin());
    }

    /**
     * A LNK_SPAN|CREATE from a peer: a path to what it advertises, reached through {@code port}.
     * Runs on the link's loop; the proof is checked and the originator's budget taken on the
     * engine's thread (docs/IDENTITY.md §3.3, §6), where a refused span is answered and forgotten.
     */
    TransactionHandler accept(Transaction txn, Message create, Port port) {
        LnkSpan span = create.ext(LnkSpan.class);
        byte[] proof = create.auxBytes() == 0 ? null : create.auxCopy();
        SpanAuth.From from = from(txn.link());
        SpanEngine.SpanLink[] link = new SpanEngine.SpanLink[1]; // set and read on the engine's thread
        String[] budgetKey = new String[1];
        executor.execute(() -> {
            if (auth == null) {
                link[0] = engine.spanReceived(port, span, txn);
                return;
            }
            SpanAuth.Verdict v = auth.check(from, span, proof);
            if (v instanceof SpanAuth.Refused r) {
                refuseSpan(txn, from, span, r.error(), r.why());
                return;
            }
            SpanAuth.Accepted a = (SpanAuth.Accepted) v;
            NodeKey key = NodeKey.of(span);
            if (!spanBudget.admit(a.budgetKey(), key)) {
                refuseSpan(txn, from, span, Dmsg.ERR_LIMIT, "its originator " + a.trust().describe() + " already has "
                    + spanBudget.max() + " spans here (the limit per originator, docs/IDENTITY.md §6)");
                return;
            }
            budgetKey[0] = a.budgetKey();
            link[0] = engine.spanReceived(port, span, txn, a.trust(), proof);
        });
        return (t, m) -> {
            if (m.isDelete()) {
                circuits.spanClosed(t.link(), t.msgid()); // circuits resting on this span go first
                executor.execute(() -> {
                    if (link[0] != null) {
                        engine.spanDeleted(link[0]);
                        spanBudget.release(budgetKey[0], SpanEngine.keyOf(link[0]));
                        link[0] = null;
                    }
                });
                t.close(); // C: state_reply(0), LNK_ERROR|CREATE|DELETE|REPLY
            } else if (m.baseCmd() == Dmsg.LNK_SPAN && !m.isCreate() && !m.isReply()) {
                LnkSpan update = m.ext(LnkSpan.class);
                byte[] updateProof = m.auxBytes() == 0 ? null : m.auxCopy();
                executor.execute(() -> {
                    if (link[0] == null) {
                        return;
                    }
                    if (auth != null && !(auth.check(from, update, updateProof) instanceof SpanAuth.Accepted a
                            && a.trust().signerId().equals(link[0].trust().signerId()))) {
                        countRefused(from, "an update of the span for '" + SpanAuth.owner(update)
                            + "' whose proof does not hold; the update is ignored");
                        return;
                    }
                    engine.spanUpdated(link[0], update, updateProof);
                });
            }
        };
    }

    /** How {@code link}'s peer is trusted, for span checks: one of ours over TLS, or a configured legacy peer. */
    private static SpanAuth.From from(Link link) {
        PeerIdentity p = link.peer();
        return new SpanAuth.From(p != null ? p.name() : link.peerLabel(), CircuitGate.legacy(link));
    }

    /** Closes a refused span's transaction with {@code error}; counted per neighbour and logged (limited). Engine thread. */
    private void refuseSpan(Transaction txn, SpanAuth.From from, LnkSpan span, int error, String why) {
        countRefused(from, why);
        txn.link().execute(() -> txn.reply(error));
    }

    private void countRefused(SpanAuth.From from, String why) {
        spansRefused.merge(from.name(), 1L, Long::sum);
        String more = refusalLog.admit();
        if (more != null) {
            log.warn("span from neighbour '{}' refused: {}{}", from.name(), why, more);
        }
    }

    /** Spans refused so far, by the neighbour that sent them (docs/IDENTITY.md §3.3). Any thread. */
    Map<String, Long> spansRefused() {
        return Map.copyOf(spansRefused);
    }
}
