package dev.dmsg.mesh;

import dev.dmsg.wire.LnkConn;
import dev.dmsg.wire.LnkSpan;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Consumer;
import java.util.function.LongSupplier;
import dev.dmsg.mesh.auth.SpanTrust;

/**
 * The span database and relay of one node (docs/REFERENCE.md §3.4, docs/PROFILE.md §5, docs/MESH.md): nodes, the
 * links that reach them (one per received LNK_SPAN), the conns that subscribed with LNK_CONN, and
 * the relays we opened on them. Single-threaded and sans-IO: every method runs on the engine's
 * thread, and output goes through each link's {@link Port}.
 *
 * <p>Who does what: this class keeps the table (nodes and their links in relay order), takes the
 * inputs, rescans marked nodes and answers the views; {@link SpanRelays} keeps the conns and
 * syncs each node's relays on them; a {@link SpanStrategy} decides what the two algorithms decide
 * differently — {@link CRelayStrategy} (the 2013 C relay) or {@link LoopFreeStrategy} (ours),
 * chosen once from {@link MeshConfig#loopFree()}. The public types below are the ones ports,
 * circuits and the status tree hold.
 *
 * <p>Work is incremental: a change marks the one node it touches, and only that node is
 * rescanned against each conn (a new conn scans every node once, for that conn only). C rescans
 * everything on every change.
 *
 * <p>About 550 lines, above the house's 500: besides the table it holds the public types that
 * ports, circuits and the status tree name as {@code SpanEngine.SpanLink}, {@code Relay},
 * {@code NodeView}, {@code LinkView}, {@code Counters} and {@code Signer}; moving them out would
 * rename them in every module above.
 */
public final class SpanEngine {
    private final MeshConfig config;
    private final LongSupplier clock;
    private final int origin;
    private final TreeMap<NodeKey, Node> nodes = new TreeMap<>();
    private final Set<Node> dirty = new LinkedHashSet<>();
    private long arrivals;
    private final Counters counters = new Counters();
    /** What the two algorithms decide differently: C's or ours (docs/MESH.md). */
    private final SpanStrategy strategy;
    /** The conns and what we relay on them. */
    private final SpanRelays relays;
    private final List<Consumer<NodeKey>> onChange = new ArrayList<>(2);
    /** Makes the proofs of our own spans and the vouches for legacy ones (docs/IDENTITY.md §3); null: unsigned. */
    private Signer signer;

    /** What signs for the engine (docs/IDENTITY.md §3): our spans, and legacy spans we let into the mesh. */
    public interface Signer {
        /** The proof (aux bytes) of a span this node originates. */
        byte[] sign(LnkSpan span);

        /** The proof with which this node vouches for a legacy span it relays to our nodes. */
        byte[] vouch(LnkSpan span);
    }

    /**
     * @param rnssAdd the per-node constant added to rnss when relaying (C: random, non-zero)
     * @param origin this node's origin id for the spans it advertises (random per start, non-zero)
     */
    public SpanEngine(MeshConfig config, LongSupplier clock, int rnssAdd, int origin) {
        if (origin == 0) {
            throw new IllegalArgumentException("origin id must be non-zero");
        }
        this.config = config;
        this.clock = clock;
        this.origin = origin;
        this.strategy = config.loopFree() ? new LoopFreeStrategy(this, config, counters, origin)
            : new CRelayStrategy(counters);
        this.relays = new SpanRelays(this, config, strategy, counters, rnssAdd == 0 ? 1 : rnssAdd);
    }

    /**
     * Adds a listener called with each node key after it has been rescanned, on the engine's
     * thread (the simulator watches for loops; circuits waiting for a path retry).
     */
    public void onChange(Consumer<NodeKey> listener) {
        onChange.add(listener);
    }

    public MeshConfig config() {
        return config;
    }

    /** Signs our spans from now on (set before the first {@link #advertise}). */
    public void signer(Signer s) {
        this.signer = s;
    }

    public int origin() {
        return origin;
    }

    /** Marks {@code node} for the next {@link #rescan()}. */
    void mark(Node node) {
        dirty.add(node);
    }

    /** The node of {@code key}, or {@code null}. */
    Node node(NodeKey key) {
        return nodes.get(key);
    }

    /** The signer of our spans, {@code null} on an unsigned node. */
    Signer signer() {
        return signer;
    }

    long nanoTime() {
        return clock.getAsLong();
    }

    // ------------------------------------------------------------------------------------------
    // The database

    /** A destination: what one node key advertises, and every path we know to it. */
    public final class Node {
        final NodeKey key;
        /** Sorted by (dist, rnss, arrival): docs/REFERENCE.md §3.4. */
        final List<SpanLink> links = new ArrayList<>(2);

        Node(NodeKey key) {
            this.key = key;
        }

        public NodeKey key() {
            return key;
        }
    }

    /** One received LNK_SPAN transaction (a path), or a span this node advertises ({@code from == null}). */
    public final class SpanLink {
        final Node node;
        final Port from;
        final Object token;
        LnkSpan span;
        SpanExt ext;
        final long arrival;
        final List<Relay> relays = new ArrayList<>(2);
        boolean dead;
        /** Who made it, as checked when it arrived (docs/IDENTITY.md §3.3). */
        SpanTrust trust;
        /** Its proof as received (or made, for ours), relayed with it; null when it had none. */
        byte[] proof;
        /** Our vouch for it, made on first relay to one of our nodes, for a legacy span without a proof. */
        byte[] vouch;

        SpanLink(Node node, Port from, Object token, LnkSpan span, SpanExt ext, SpanTrust trust, byte[] proof) {
            this.node = node;
            this.from = from;
            this.token = token;
            this.span = span;
            this.ext = ext;
            this.arrival = arrivals++;
            this.trust = trust;
            this.proof = proof;
        }

        public SpanTrust trust() {
            return trust;
        }

        /** The transaction (or whatever the port attached) that brought this span. */
        public Object token() {
            return token;
        }

        public Port from() {
            return from;
        }

        public LnkSpan span() {
            return span;
        }

        public int dist() {
            return span.dist();
        }

        boolean local() {
            return from == null;
        }

        int originId() {
            return ext == null ? 0 : ext.origin();
        }

        /** The dist a relay of this link carries. */
        int relayDist() {
            return local() ? span.dist() : span.dist() + 1;
        }
    }

    /** One LNK_SPAN transaction we opened on a conn, copied from a link. */
    public final class Relay {
        final Node node;
        final SpanRelays.Conn conn;
        final SpanLink source;
        LnkSpan span;
        boolean open = true;
        /** The newest seqno the peer asked for on this relay (-1: none); sent once we have it. */
        int wantSeqno = -1;
        /** The port's handle (a transaction); written and read by the port only. */
        public volatile Object attachment;

        Relay(Node node, SpanRelays.Conn conn, SpanLink source, LnkSpan span) {
            this.node = node;
            this.conn = conn;
            this.source = source;
            this.span = span;
        }

        public LnkSpan span() {
            return span;
        }

        public Port port() {
            return conn.port;
        }

        /**
         * The proof to send with this relay (docs/IDENTITY.md §3): the source's own, or our vouch
         * for a legacy span; null when there is none (an open node). Only our nodes are sent one.
         */
        public byte[] proof() {
            SpanLink s = source;
            if (s.proof != null) {
                return s.proof;
            }
            if (s.trust != null && s.trust.kind() == SpanTrust.Kind.LEGACY && signer != null) {
                if (s.vouch == null) {
                    s.vouch = signer.vouch(s.span);
                }
                return s.vouch;
            }
            return null;
        }
    }

    static final Comparator<SpanLink> LINK_ORDER = Comparator.<SpanLink>comparingInt(l -> l.span.dist())
        .thenComparingInt(l -> l.span.rnss())
        .thenComparingLong(l -> l.arrival);

    // ------------------------------------------------------------------------------------------
    // Inputs

    /** A LNK_SPAN|CREATE arrived from {@code from}; {@code token} identifies its transaction. Unchecked (an open node). */
    public SpanLink spanReceived(Port from, LnkSpan span, Object token) {
        return spanReceived(from, span, token, SpanTrust.OPEN, null);
    }

    /**
     * A LNK_SPAN|CREATE arrived from {@code from}, checked as {@code trust} (docs/IDENTITY.md
     * §3.3), with {@code proof} to relay with it (null: none).
     */
    public SpanLink spanReceived(Port from, LnkSpan span, Object token, SpanTrust trust, byte[] proof) {
        counters.spansReceived++;
        Node node = nodes.computeIfAbsent(NodeKey.of(span), Node::new);
        SpanLink link = new SpanLink(node, from, token, span, strategy.extOf(span), trust, proof);
        insert(node, link);
        dirty.add(node);
        rescan();
        return link;
    }

    /** A span update (mid-stream LNK_SPAN from its sender) on a received span, unchecked (an open node). */
    public void spanUpdated(SpanLink link, LnkSpan span) {
        spanUpdated(link, span, null);
    }

    /** A span update with its new {@code proof} (checked by the caller; null keeps none). */
    public void spanUpdated(SpanLink link, LnkSpan span, byte[] proof) {
        strategy.spanUpdated(link, span, proof);
    }

    /** The span's transaction closed (DELETE, or the link died): the path is gone. */
    public void spanDeleted(SpanLink link) {
        if (link.dead) {
            return;
        }
        link.dead = true;
        counters.spansDeleted++;
        link.node.links.remove(link);
        dirty.add(link.node);
        rescan();
    }

    /** The peer on {@code port} sent LNK_CONN: relay to it what {@code filter} lets through. */
    public void connUp(Port port, LnkConn filter) {
        SpanRelays.Conn conn = relays.connUp(port, filter);
        if (conn == null) {
            return;
        }
        for (Node node : nodes.values()) {
            relays.sync(node, conn, strategy.relayable(node));
        }
        rescan();
    }

    /** The peer's LNK_CONN closed, or its link died: close what we relayed to it. */
    public void connDown(Port port) {
        if (relays.connDown(port)) {
            pruneEmptyNodes();
        }
    }

    /** The peer closed a relay we opened (DELETE on it), or its link died. */
    public void relayClosed(Relay r) {
        relays.closedByPeer(r);
    }

    /** A seqno request arrived on a relay we opened (mid-stream LNK_SPAN|REPLY). */
    public void seqnoRequested(Relay r, LnkSpan request) {
        strategy.seqnoRequested(r, request);
    }

    /** Starts advertising {@code span} as this node's own (dist 0). */
    public SpanLink advertise(LnkSpan span) {
        LnkSpan s = new LnkSpan(span.pfsClid(), span.pfsFsid(), span.pfsType(), span.peerType(),
            span.protoVersion(), span.status(), 0, 0, 0, span.mediaBytes(), span.mediaBlksize(),
            span.clLabel(), span.fsLabel());
        SpanExt ext = strategy.ownExt();
        if (ext != null) {
            s = ext.applyTo(s);
        }
        Node node = nodes.computeIfAbsent(NodeKey.of(s), Node::new);
        SpanLink link = new SpanLink(node, null, null, s, ext, SpanTrust.OPEN, signer == null ? null : signer.sign(s));
        insert(node, link);
        dirty.add(node);
        rescan();
        return link;
    }

    /** Stops advertising a span returned by {@link #advertise}. */
    public void withdraw(SpanLink local) {
        if (!local.local()) {
            throw new IllegalArgumentException("not a local advertisement");
        }
        spanDeleted(local);
    }

    /** Timers: forgets old feasibility distances and re-sends seqno requests still unanswered. */
    public void tick(long now) {
        strategy.tick(now);
    }

    // ------------------------------------------------------------------------------------------
    // Relay

    private void insert(Node node, SpanLink link) {
        List<SpanLink> links = node.links;
        int i = links.size();
        while (i > 0 && LINK_ORDER.compare(links.get(i - 1), link) > 0) {
            i--;
        }
        links.add(i, link);
    }

    /** Rescans every marked node: its relays on every conn, then its listeners. */
    void rescan() {
        while (!dirty.isEmpty()) {
            Iterator<Node> it = dirty.iterator();
            Node node = it.next();
            it.remove();
            counters.nodeScans++;
            List<SpanLink> feasible = strategy.relayable(node);
            strategy.scanning(node);
            relays.syncAll(node, feasible);
            if (node.links.isEmpty() && nodes.get(node.key) == node && !relays.isRelayed(node)) {
                nodes.remove(node.key);
            }
            for (var l : onChange) {
                l.accept(node.key);
            }
        }
    }

    private void pruneEmptyNodes() {
        nodes.values().removeIf(n -> n.links.isEmpty() && !relays.isRelayed(n));
    }

    // ------------------------------------------------------------------------------------------
    // Views

    /** The port of the best path to {@code key} (its next hop), {@code null} if none or local. */
    public Port nextHop(NodeKey key) {
        Node node = nodes.get(key);
        SpanLink best = node == null ? null : bestLink(node);
        return best == null ? null : best.from;
    }

    /** The path in use: the first link, by dist, that is ours, from a C origin, or feasible. */
    SpanLink bestLink(Node node) {
        for (SpanLink l : node.links) {
            if (strategy.isFeasible(node, l)) {
                return l;
            }
        }
        return null;
    }

    /**
     * A path to {@code key} that avoids the links in {@code avoid} (their paths failed a circuit's
     * authentication, docs/IDENTITY.md §4): the first feasible one by dist, else the shortest. For
     * forging one circuit only — what is relayed still follows feasibility. Engine thread only.
     */
    public SpanLink pathFor(NodeKey key, Set<Port> avoid) {
        Node node = nodes.get(key);
        if (node == null) {
            return null;
        }
        SpanLink shortest = null;
        for (SpanLink l : node.links) {
            if (l.local() || avoid.contains(l.from)) {
                continue;
            }
            if (strategy.isFeasible(node, l)) {
                return l;
            }
            if (shortest == null) {
                shortest = l;
            }
        }
        return shortest;
    }

    /** The path in use to {@code key} (a received span), or {@code null}. Engine thread only. */
    public SpanLink bestLinkFor(NodeKey key) {
        Node node = nodes.get(key);
        SpanLink best = node == null ? null : bestLink(node);
        return best == null || best.local() ? null : best;
    }

    /** Whether this node advertises {@code key} itself. */
    public boolean isLocal(NodeKey key) {
        Node node = nodes.get(key);
        return node != null && node.links.stream().anyMatch(SpanLink::local);
    }

    /** The best dist at which {@code key} is reachable, or -1. */
    public int bestDist(NodeKey key) {
        Node node = nodes.get(key);
        if (node == null) {
            return -1;
        }
        SpanLink best = bestLink(node);
        return best == null ? -1 : best.dist();
    }

    /** A copy of the database for status output, in span-tree order. */
    public List<NodeView> snapshot() {
        List<NodeView> out = new ArrayList<>(nodes.size());
        for (Node node : nodes.values()) {
            List<LinkView> links = new ArrayList<>(node.links.size());
            for (SpanLink l : node.links) {
                List<String> to = new ArrayList<>(l.relays.size());
                for (Relay r : l.relays) {
                    long id = r.conn.port.msgidOf(r.attachment);
                    to.add(r.conn.port.name() + " dist " + r.span.dist() + (id == 0 ? "" : String.format(" msgid %016x", id)));
                }
                links.add(new LinkView(l.local() ? "local" : l.from.name(), l.dist(),
                    l.ext == null ? -1 : l.ext.seqno(), strategy.isFeasible(node, l), to,
                    l.local() ? 0 : l.from.msgidOf(l.token), l.trust));
            }
            LnkSpan s = node.links.isEmpty() ? null : node.links.get(0).span;
            out.add(new NodeView(node.key, s == null ? 0 : s.pfsType(), links, s == null ? 0 : s.mediaBytes(),
                s == null ? 0 : s.mediaBlksize()));
        }
        return out;
    }

    /**
     * One node of {@link #snapshot()}. {@code mediaBytes} and {@code mediaBlksize}: the media
     * union of a PEER_BLOCK span (an export's size and block size), 0 otherwise.
     */
    public record NodeView(NodeKey key, int pfsType, List<LinkView> links, long mediaBytes, int mediaBlksize) {
        /**
         * How well this node is known (docs/IDENTITY.md §3.5): the best rank of its paths — ours and
         * verified 0, legacy 1, unverified 2. Name lookups prefer the best rank present.
         */
        public int trustRank() {
            int best = Integer.MAX_VALUE;
            for (LinkView l : links) {
                int r = l.via().equals("local") || l.trust() == null ? 0 : l.trust().kind().rank();
                best = Math.min(best, r);
            }
            return best;
        }
    }

    /**
     * One path to a node: via which link, at what dist, the relays made from it, and the msgid of
     * the LNK_SPAN transaction that brought it (0 for our own spans): what a LNK_CIRC targets.
     */
    public record LinkView(String via, int dist, int seqno, boolean feasible, List<String> relayedTo, long msgid,
                           SpanTrust trust) {}

    /** The received span (a path) whose transaction has {@code msgid} on its link, or {@code null}. */
    public SpanLink receivedSpan(long msgid) {
        for (Node node : nodes.values()) {
            for (SpanLink l : node.links) {
                if (!l.local() && !l.dead && l.from.msgidOf(l.token) == msgid) {
                    return l;
                }
            }
        }
        return null;
    }

    /** The node a span link leads to. */
    public static NodeKey keyOf(SpanLink l) {
        return l.node.key;
    }

    public int nodeCount() {
        return nodes.size();
    }

    public Collection<NodeKey> nodeKeys() {
        return nodes.keySet();
    }

    public Counters counters() {
        return counters;
    }

    /** What the engine did; read on the engine's thread. */
    public static final class Counters {
        public long spansReceived;
        public long spansDeleted;
        public long updatesReceived;
        public long updatesIgnored;
        public long updatesSent;
        public long relaysOpened;
        public long relaysClosed;
        public long relaysClosedByPeer;
        public long requestsSent;
        public long requestsReceived;
        public long requestsForwarded;
        public long requestsIgnored;
        public long seqnoBumps;
        public long pulls;
        public long fdExpired;
        public long nodeScans;
    }
}
