package dev.dmsg.mesh;

import dev.dmsg.link.Link;
import dev.dmsg.link.LinkListener;
import dev.dmsg.link.Services;
import dev.dmsg.link.Transaction;
import dev.dmsg.link.TransactionHandler;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.LnkSpan;
import dev.dmsg.wire.Message;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A node's part in the mesh: runs the {@link SpanEngine} on one executor and connects it to the
 * node's links. It accepts LNK_SPAN transactions (registered in the node's {@link Services}),
 * turns link up/down into conn up/down ({@link #listener()}), and gives the engine a
 * {@link Port} per link that hands the work to that link's event loop.
 *
 * <p>Threads: link events arrive on each link's event loop and are posted to the engine's
 * executor; the engine's sends are posted to the link's event loop ({@link Link#execute}), so
 * the engine never blocks on a slow link and a link never waits for the engine. Spans are few
 * and small (top N per node per link), so what is queued is bounded by the database's size.
 */
public final class MeshNode {
    private static final Logger log = LoggerFactory.getLogger(MeshNode.class);

    private final SpanEngine engine;
    private final Executor executor;
    private final Map<Link, LinkPort> ports = new ConcurrentHashMap<>();
    private final Circuits circuits = new Circuits();

    public MeshNode(SpanEngine engine, Executor executor) {
        this.engine = engine;
        this.executor = executor;
    }

    /** Registers the LNK_SPAN acceptor in {@code services}; returns them. */
    public Services register(Services services) {
        services.accept(Dmsg.LNK_SPAN, this::acceptSpan);
        services.accept(Dmsg.LNK_CIRC, circuits::accept);
        return services;
    }

    /** Link events for the engine; chain it with the node's own listener. */
    public LinkListener listener() {
        return new LinkListener() {
            @Override
            public void onUp(Link link) {
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
     * Opens a virtual circuit to the node advertising {@code key}, over the best path (docs/CIRCUITS.md).
     * Completes when the far end has acknowledged it, or exceptionally when there is no path or the
     * forging fails (CANTCIRC).
     */
    public CompletableFuture<CircuitHandle> openCircuit(NodeKey key) {
        CompletableFuture<CircuitHandle> f = new CompletableFuture<>();
        executor.execute(() -> {
            SpanEngine.SpanLink best = engine.bestLinkFor(key);
            if (best == null) {
                f.completeExceptionally(new IllegalStateException("no path to " + key));
                return;
            }
            circuits.open(best).whenComplete((h, e) -> {
                if (e != null) {
                    f.completeExceptionally(e);
                } else {
                    f.complete(h);
                }
            });
        });
        return f;
    }

    /** Ids of the circuits that end at this node on {@code link} (for its services). That link's event loop only. */
    public List<Long> circuitsEndingOn(Link link) {
        return circuits.endingOn(link);
    }

    /** Circuits relayed through or ending on {@code link} right now. That link's event loop only. */
    public int circuitsOn(Link link) {
        return circuits.relayedOn(link);
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

    /** A LNK_SPAN|CREATE from a peer: a path to what it advertises. Runs on the link's loop. */
    private TransactionHandler acceptSpan(Transaction txn, Message create) {
        LnkSpan span = create.ext(LnkSpan.class);
        LinkPort port = port(txn.link());
        SpanEngine.SpanLink[] link = new SpanEngine.SpanLink[1]; // set and read on the engine's thread
        executor.execute(() -> link[0] = engine.spanReceived(port, span, txn));
        return (t, m) -> {
            if (m.isDelete()) {
                circuits.spanClosed(t.link(), t.msgid()); // circuits resting on this span go first
                executor.execute(() -> engine.spanDeleted(link[0]));
                t.close(); // C: state_reply(0), LNK_ERROR|CREATE|DELETE|REPLY
            } else if (m.baseCmd() == Dmsg.LNK_SPAN && !m.isCreate() && !m.isReply()) {
                LnkSpan update = m.ext(LnkSpan.class);
                executor.execute(() -> engine.spanUpdated(link[0], update));
            }
        };
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
            link.execute(() -> {
                Transaction txn = link.open(Dmsg.LNK_SPAN, span, null, (t, m) -> {
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
            link.execute(() -> {
                if (r.attachment instanceof Transaction t && t.state().sendOpen()) {
                    t.sendOneWay(Dmsg.LNK_SPAN, span, null);
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
        public String toString() {
            return name();
        }
    }
}
