package dev.dmsg.mesh;

import dev.dmsg.link.Link;
import dev.dmsg.link.LinkListener;
import dev.dmsg.link.Services;
import dev.dmsg.link.Transaction;
import dev.dmsg.link.TransactionHandler;
import dev.dmsg.link.tls.PeerIdentity;
import dev.dmsg.link.tls.Role;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.LnkSpan;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import dev.dmsg.link.LinkConfig;
import dev.dmsg.link.tls.ChainTrust;
import dev.dmsg.link.tls.NodeKeys;
import dev.dmsg.link.tls.TrustPolicy;
import dev.dmsg.mesh.auth.CircuitAuth;
import dev.dmsg.mesh.auth.SpanAuth;
import io.netty.buffer.Unpooled;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A node's part in the mesh: runs the {@link SpanEngine} on one executor and connects it to the
 * node's links. It accepts LNK_SPAN transactions (registered in the node's {@link Services}),
 * turns link up/down into conn up/down ({@link #listener()}), and gives the engine a
 * {@link Port} per link that hands the work to that link's event loop. Received spans are
 * checked and budgeted by its {@link SpanIntake}; circuits are forged by its {@link Circuits}.
 *
 * <p>Threads: link events arrive on each link's event loop and are posted to the engine's
 * executor; the engine's sends are posted to the link's event loop ({@link Link#execute}), so
 * the engine never blocks on a slow link and a link never waits for the engine. Spans are few
 * and small (top N per node per link), so what is queued is bounded by the database's size.
 */
public final class MeshNode {
    private static final Logger log = LoggerFactory.getLogger(MeshNode.class);

    private final SpanEngine engine;
    private final MeshScheduler executor;
    private final Map<Link, LinkPort> ports = new ConcurrentHashMap<>();
    private final Circuits circuits;
    /** Opens waiting for a path to their node; engine thread only. */
    private final Map<NodeKey, List<Runnable>> waitingForPath = new HashMap<>();
    /** The LNK_SPAN transactions peers open to us: checked, budgeted, handed to the engine. */
    private final SpanIntake intake;

    /** A node without TLS: spans are neither signed nor checked. @param executor the engine's one thread and its clock */
    public MeshNode(SpanEngine engine, MeshScheduler executor) {
        this(engine, executor, (SpanAuth) null, (CircuitAuth) null);
    }

    /**
     * A node with an identity: its spans signed and every received span checked
     * (docs/IDENTITY.md §3), its circuits authenticated end to end and counted per originator (§4,
     * §6).
     *
     * @param executor the engine's one thread and its clock
     * @param keys this node's keys
     * @param trust whom it trusts (its own key, pins, a CA)
     */
    public MeshNode(SpanEngine engine, MeshScheduler executor, NodeKeys keys, TrustPolicy trust) {
        this(engine, executor, keys == null ? null : new ChainTrust(trust, System::nanoTime), keys);
    }

    private MeshNode(SpanEngine engine, MeshScheduler executor, ChainTrust chains, NodeKeys keys) {
        this(engine, executor, keys == null ? null : new SpanAuth(keys, chains, System::currentTimeMillis),
            keys == null || !engine.config().circuitAuth() ? null : new CircuitAuth(keys, chains));
    }

    private MeshNode(SpanEngine engine, MeshScheduler executor, SpanAuth auth, CircuitAuth circuitAuth) {
        this.engine = engine;
        this.executor = executor;
        if (auth != null) {
            engine.signer(new SpanEngine.Signer() {
                @Override
                public byte[] sign(LnkSpan span) {
                    return auth.sign(span);
                }

                @Override
                public byte[] vouch(LnkSpan span) {
                    return auth.vouch(span);
                }
            });
        }
        this.circuits = new Circuits(executor, engine.config().circuitAckTimeoutNanos(), new CircuitGate(
            circuitAuth, engine.config().maxCircuitsPerOriginator(), LinkConfig.DEFAULT_MAX_PEER_TRANSACTIONS));
        this.intake = new SpanIntake(engine, executor, circuits, auth);
        engine.onChange(key -> {
            List<Runnable> waiting = waitingForPath.remove(key);
            if (waiting != null) {
                waiting.forEach(Runnable::run);
            }
        });
    }

    /** Registers the LNK_SPAN acceptor in {@code services}; returns them. */
    public Services register(Services services) {
        services.accept(Dmsg.LNK_SPAN, (txn, create) -> meshPeer(txn, "LNK_SPAN") ? intake.accept(txn, create, port(txn.link())) : refused(txn));
        services.accept(Dmsg.LNK_CIRC, (txn, create) -> meshPeer(txn, "LNK_CIRC") ? circuits.accept(txn, create) : refused(txn));
        return services;
    }

    /**
     * Whether the peer may take part in the mesh (docs/SECURITY.md §5): a member or an admin, or
     * a plaintext peer (a legacy C node, configured). A client may not advertise, relay or forge;
     * it is answered PERM and counted.
     */
    private static boolean meshPeer(Transaction txn, String what) {
        PeerIdentity p = txn.link().peer();
        if (p == null || p.role() == Role.MEMBER || p.role() == Role.ADMIN) {
            return true;
        }
        txn.link().denied(what + " from '" + p.name() + "' (" + p.role().word() + "): mesh traffic needs the member role");
        return false;
    }

    private static TransactionHandler refused(Transaction txn) {
        txn.reply(Dmsg.ERR_PERM);
        return TransactionHandler.CLOSE_ON_DELETE;
    }

    /** Link events for the engine; chain it with the node's own listener. */
    public LinkListener listener() {
        return new LinkListener() {
            @Override
            public void onUp(Link link) {
                if (link.security() == null && !SpanExt.understoodBy(link.peerConn())) {
                    // plaintext without our marker: a 2013 C node, or a CLI client that takes us
                    // for one (docs/LEGACY.md); a TLS peer is never a C node, and keeps its PING
                    link.markLegacy();
                }
                LinkPort port = port(link);
                executor.execute(() -> engine.connUp(port, link.peerConn()));
            }

            @Override
            public void onDown(Link link, String reason, int aborted) {
                circuits.linkDown(link);
                LinkPort port = ports.remove(link);
                if (port != null) {
                    executor.execute(() -> engine.connDown(port));
                }
            }
        };
    }

    public SpanEngine engine() {
        return engine;
    }

    /** Runs {@code task} on the engine's thread: the only place to read or change the engine. */
    public void execute(Runnable task) {
        executor.execute(task);
    }

    /** Starts advertising {@code span}; {@code then} receives the handle to withdraw it. */
    public void advertise(LnkSpan span, Consumer<SpanEngine.SpanLink> then) {
        executor.execute(() -> then.accept(engine.advertise(span)));
    }

    public void withdraw(SpanEngine.SpanLink local) {
        executor.execute(() -> engine.withdraw(local));
    }

    /**
     * Opens a virtual circuit to the node advertising {@code key}, over the best path now
     * (docs/CIRCUITS.md). Completes when the far end has acknowledged it, or exceptionally with a
     * {@link CircuitException} when there is no path or the forging fails (CANTCIRC, a link lost,
     * no acknowledgement within {@link MeshConfig#circuitAckTimeoutNanos()}).
     */
    public CompletableFuture<CircuitHandle> openCircuit(NodeKey key) {
        return openCircuit(key, Duration.ZERO);
    }

    /**
     * Like {@link #openCircuit(NodeKey)}, but when there is no path, or forging over the best one
     * fails, waits up to {@code waitForPath} for the mesh to offer one (the span tree changing for
     * {@code key}, or a retry every {@link #RETRY_MAX_NANOS} at most) and tries again. This is how
     * a caller re-opens a lost circuit over another span: the old path is withdrawn as the mesh
     * learns of the failure, and the next best is used. Fails with the last reason at the deadline.
     */
    public CompletableFuture<CircuitHandle> openCircuit(NodeKey key, Duration waitForPath) {
        CompletableFuture<CircuitHandle> f = new CompletableFuture<>();
        executor.execute(() -> new Opening(key, executor.nanoTime() + waitForPath.toNanos(), f).attempt());
        return f;
    }

    /**
     * Forges a circuit over the received span whose LNK_SPAN transaction has {@code spanMsgid}
     * (the C shell's {@code circ}, docs/REFERENCE.md §7.3; the msgids are in the status tree), whatever
     * the best path is. Fails with a {@link CircuitException} if no such span is held.
     */
    public CompletableFuture<CircuitHandle> openCircuitOver(long spanMsgid) {
        CompletableFuture<CircuitHandle> f = new CompletableFuture<>();
        executor.execute(() -> {
            SpanEngine.SpanLink l = engine.receivedSpan(spanMsgid);
            if (l == null) {
                f.completeExceptionally(new CircuitException(String.format(
                    "no received span with msgid %016x (see the SLink msgids of 'tree')", spanMsgid), 0));
                return;
            }
            circuits.open(l, SpanEngine.keyOf(l)).whenComplete((h, e) -> {
                if (e == null) {
                    f.complete(h);
                } else {
                    f.completeExceptionally(e);
                }
            });
        });
        return f;
    }

    /** How long a path whose far end failed a circuit's authentication is avoided for that node. */
    static final long SUSPECT_NANOS = TimeUnit.SECONDS.toNanos(60);
    /** Paths (the link, the node) whose circuits failed authentication, and until when they are avoided. Engine thread only. */
    private final Map<Map.Entry<Port, NodeKey>, Long> suspects = new HashMap<>();

    /** The links to avoid toward {@code key} now. Engine thread only. */
    private Set<Port> suspectPorts(NodeKey key) {
        long now = executor.nanoTime();
        suspects.values().removeIf(until -> now - until >= 0);
        Set<Port> out = new HashSet<>();
        for (Map.Entry<Port, NodeKey> e : suspects.keySet()) {
            if (e.getValue().equals(key)) {
                out.add(e.getKey());
            }
        }
        return out;
    }

    /** First retry after a failed forging, doubled per retry up to {@link #RETRY_MAX_NANOS}. */
    static final long RETRY_FIRST_NANOS = TimeUnit.MILLISECONDS.toNanos(50);
    static final long RETRY_MAX_NANOS = TimeUnit.MILLISECONDS.toNanos(1000);

    /** One {@link #openCircuit(NodeKey, Duration)} call; engine thread only. */
    private final class Opening {
        final NodeKey key;
        final long deadline;
        final CompletableFuture<CircuitHandle> result;
        long retryNanos = RETRY_FIRST_NANOS;
        /** Bumped per attempt: a change event and a retry timer both armed for one wait start one attempt. */
        int generation;

        Opening(NodeKey key, long deadline, CompletableFuture<CircuitHandle> result) {
            this.key = key;
            this.deadline = deadline;
            this.result = result;
        }

        void attempt() {
            generation++;
            Set<Port> avoid = suspectPorts(key);
            SpanEngine.SpanLink best = avoid.isEmpty() ? engine.bestLinkFor(key) : engine.pathFor(key, avoid);
            if (best == null) {
                failOrWait(new CircuitException(engine.isLocal(key) ? describe(key) + " is this node"
                    : "no path to " + describe(key) + " (not in this node's span tree"
                    + (avoid.isEmpty() ? ")" : " but through links whose far end failed authentication)"), 0));
                return;
            }
            Port via = best.from();
            circuits.open(best, key).whenComplete((h, e) -> {
                if (e == null) {
                    result.complete(h);
                } else {
                    executor.execute(() -> {
                        CircuitException ce = e instanceof CircuitException c ? c : new CircuitException(e.toString(), 0);
                        if (ce.farEndNotWhoItClaims() && via != null) {
                            // docs/IDENTITY.md §4: the far end on that path is not who the span names;
                            // leave that path for this node a while and try the next at once
                            suspects.put(Map.entry(via, key), executor.nanoTime() + SUSPECT_NANOS);
                            log.warn("circuit to {} via {} failed authentication ({}); avoiding that path for {} s",
                                describe(key), via.name(), ce.getMessage(), SUSPECT_NANOS / 1_000_000_000L);
                            if (engine.pathFor(key, suspectPorts(key)) != null) {
                                attempt();
                                return;
                            }
                        }
                        failOrWait(ce);
                    });
                }
            });
        }

        void failOrWait(CircuitException why) {
            long now = executor.nanoTime();
            if (now >= deadline) {
                result.completeExceptionally(why);
                return;
            }
            int armed = generation;
            Runnable again = () -> {
                if (generation == armed && !result.isDone()) {
                    attempt();
                }
            };
            waitingForPath.computeIfAbsent(key, k -> new ArrayList<>(1)).add(again);
            long delay = Math.min(retryNanos, deadline - now);
            retryNanos = Math.min(retryNanos * 2, RETRY_MAX_NANOS);
            executor.schedule(delay, () -> {
                List<Runnable> waiting = waitingForPath.get(key); // the timer won: forget the change wait
                if (waiting != null && waiting.remove(again) && waiting.isEmpty()) {
                    waitingForPath.remove(key);
                }
                if (generation == armed && !result.isDone()) {
                    if (executor.nanoTime() >= deadline && engine.bestLinkFor(key) == null) {
                        result.completeExceptionally(why);
                    } else {
                        attempt();
                    }
                }
            });
        }
    }

    /** Opens waiting for a span-tree change right now (tests: none may be left behind). Engine thread only. */
    public int pathWaiters() {
        return waitingForPath.values().stream().mapToInt(List::size).sum();
    }

    /** A node key for people: its label, cluster and fsid. */
    public static String describe(NodeKey key) {
        String fs = key.fsLabel().isEmpty() ? key.pfsFsid().toString() : key.fsLabel();
        return "node '" + fs + "'" + (key.clLabel().isEmpty() ? "" : " (cluster '" + key.clLabel() + "')");
    }

    /** One circuit this node takes part in: originated here, ending here, or relayed through. */
    public record CircuitView(String role, NodeKey target, String link, long id, String otherLink, long otherId,
                              boolean open, long ageNanos, long forwarded, long returned) {}

    /** The circuits this node takes part in now (for the shell's {@code circuits}). Any thread. */
    public List<CircuitView> circuits() {
        return circuits.views();
    }

    /** Ids of the circuits that end at this node on {@code link} (for its services). That link's event loop only. */
    public List<Long> circuitsEndingOn(Link link) {
        return circuits.endingOn(link);
    }

    /**
     * Which of this node's own spans circuit {@code circuit} on {@code link} was forged to (the
     * LNK_CIRC target: an export, or the node itself), or {@code null} if no such circuit ends
     * here. How a service behind several spans (the BLK exports) tells them apart. That link's
     * event loop only.
     */
    public NodeKey circuitTarget(Link link, long circuit) {
        return circuit == 0 ? null : circuits.endpointTarget(link, circuit);
    }

    /** Circuit sides (ends and relay halves) on {@code link} right now. That link's event loop only. */
    public int circuitsOn(Link link) {
        return circuits.sidesOn(link);
    }

    /** The link behind a port this node made, or {@code null}. */
    public static Link linkOf(Port port) {
        return port instanceof LinkPort p ? p.link : null;
    }

    /** The engine's port for {@code link} (made on first use). */
    public Port portFor(Link link) {
        return port(link);
    }

    private LinkPort port(Link link) {
        return ports.computeIfAbsent(link, LinkPort::new);
    }

    /** Spans refused so far, by the neighbour that sent them (docs/IDENTITY.md §3.3). Any thread. */
    public Map<String, Long> spansRefused() {
        return intake.spansRefused();
    }

    /** The engine's view of one link; every call is handed to the link's event loop. */
    final class LinkPort implements Port {
        private final Link link;

        LinkPort(Link link) {
            this.link = link;
        }

        @Override
        public String name() {
            String label = link.peerLabel();
            return (label == null || label.isEmpty() ? "?" : label) + "@" + link.remoteAddress();
        }

        @Override
        public boolean extAware() {
            return SpanExt.understoodBy(link.peerConn());
        }

        @Override
        public void openRelay(SpanEngine.Relay r) {
            LnkSpan span = r.span();
            byte[] proof = extAware() ? r.proof() : null; // a 2013 C peer is never sent a proof
            link.execute(() -> {
                Transaction txn = link.open(Dmsg.LNK_SPAN, span, proof == null ? null : Unpooled.wrappedBuffer(proof), (t, m) -> {
                if (m.isDelete()) {
                    circuits.relayClosed(link, t.msgid());
                    executor.execute(() -> engine.relayClosed(r));
                    t.close();
                } else if (m.baseCmd() == Dmsg.LNK_SPAN && m.isReply() && !m.isCreate()) {
                    LnkSpan request = m.ext(LnkSpan.class);
                    executor.execute(() -> engine.seqnoRequested(r, request));
                }
                });
                r.attachment = txn;
                circuits.relayOpened(link, txn.msgid(), r);
            });
        }

        @Override
        public void closeRelay(SpanEngine.Relay r) {
            link.execute(() -> {
                if (r.attachment instanceof Transaction t) {
                    circuits.relayClosed(link, t.msgid()); // circuits resting on this span go first
                    t.close();
                }
            });
        }

        @Override
        public void updateRelay(SpanEngine.Relay r) {
            LnkSpan span = r.span();
            byte[] proof = extAware() ? r.proof() : null;
            link.execute(() -> {
                if (r.attachment instanceof Transaction t && t.state().sendOpen()) {
                    t.sendOneWay(Dmsg.LNK_SPAN, span, proof == null ? null : Unpooled.wrappedBuffer(proof));
                }
            });
        }

        @Override
        public void requestSeqno(SpanEngine.SpanLink l, LnkSpan request) {
            link.execute(() -> {
                if (l.token() instanceof Transaction t && t.state().sendOpen()) {
                    t.sendOneWay(Dmsg.LNK_SPAN, request, null);
                } else {
                    log.debug("seqno request for {} not sent: its span transaction is closed", request.fsLabel());
                }
            });
        }

        @Override
        public long msgidOf(Object token) {
            return token instanceof Transaction t ? t.msgid() : 0;
        }

        @Override
        public String toString() {
            return name();
        }
    }
}
