package dev.dmsg.mesh;

import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.LnkConn;
import dev.dmsg.wire.LnkSpan;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.UUID;
import java.util.function.Consumer;
import java.util.function.LongSupplier;
import dev.dmsg.mesh.auth.SpanTrust;

/**
 * The span database and relay of one node (docs/REFERENCE.md §3.4, docs/PROFILE.md §5, docs/MESH.md): nodes, the
 * links that reach them (one per received LNK_SPAN), the conns that subscribed with LNK_CONN, and
 * the relays we opened on them. Single-threaded and sans-IO: every method runs on the engine's
 * thread, and output goes through each link's {@link Port}.
 *
 * <p>Work is incremental: a change marks the one node it touches, and only that node is
 * rescanned against each conn (a new conn scans every node once, for that conn only). C rescans
 * everything on every change.
 */
public final class SpanEngine {
    private final MeshConfig config;
    private final LongSupplier clock;
    private final int rnssAdd;
    private final int origin;
    private final TreeMap<NodeKey, Node> nodes = new TreeMap<>();
    private final Map<Port, Conn> conns = new LinkedHashMap<>();
    private final Map<Source, Fd> fds = new HashMap<>();
    private final Set<Node> dirty = new LinkedHashSet<>();
    private final Map<Source, Starved> starved = new HashMap<>();
    private final Map<Request, Long> requests = new HashMap<>();
    /** Nodes with a shorter path on an older seqno than their best: pulled again on each tick. */
    private final Set<NodeKey> pullingNodes = new HashSet<>();
    private long arrivals;
    private final Counters counters = new Counters();
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
        this.rnssAdd = rnssAdd == 0 ? 1 : rnssAdd;
        this.origin = origin;
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
        final Conn conn;
        final SpanLink source;
        LnkSpan span;
        boolean open = true;
        /** The newest seqno the peer asked for on this relay (-1: none); sent once we have it. */
        int wantSeqno = -1;
        /** The port's handle (a transaction); written and read by the port only. */
        public volatile Object attachment;

        Relay(Node node, Conn conn, SpanLink source, LnkSpan span) {
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

    /** A link whose peer sent LNK_CONN: the peer's filter, and what we relay to it. */
    final class Conn {
        final Port port;
        final LnkConn filter;
        final Map<Node, List<Relay>> relays = new HashMap<>();

        Conn(Port port, LnkConn filter) {
            this.port = port;
            this.filter = filter;
        }
    }

    record Source(NodeKey node, int origin) {}

    record Request(Source source, int seqno, Port via) {}

    /** The feasibility distance of one source: the best value this node has advertised for it. */
    static final class Fd {
        int seqno;
        int dist;
        /** When the source last had a feasible link here. */
        long lastFeasibleNanos;

        Fd(int seqno, int dist, long now) {
            this.seqno = seqno;
            this.dist = dist;
            this.lastFeasibleNanos = now;
        }
    }

    /** A source for which we have links but none feasible: waiting for a newer seqno. */
    static final class Starved {
        int wanted;
    }

    static final Comparator<SpanLink> LINK_ORDER = Comparator.<SpanLink>comparingInt(l -> l.span.dist())
        .thenComparingInt(l -> l.span.rnss())
        .thenComparingLong(l -> l.arrival);

    /** Value order: a newer seqno first, then a smaller dist. */
    static boolean better(int seqA, int distA, int seqB, int distB) {
        if (seqA != seqB) {
            return SpanExt.newer(seqA, seqB);
        }
        return Integer.compareUnsigned(distA, distB) < 0;
    }

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
        SpanExt ext = config.loopFree() ? SpanExt.of(span) : null;
        SpanLink link = new SpanLink(node, from, token, span, ext, trust, proof);
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
        SpanExt e = config.loopFree() ? SpanExt.of(span) : null;
        if (link.dead || link.ext == null || e == null || e.origin() != link.ext.origin() || e.isRequest()) {
            counters.updatesIgnored++;
            return;
        }
        if (!SpanExt.newer(e.seqno(), link.ext.seqno())) {
            counters.updatesIgnored++;
            return;
        }
        counters.updatesReceived++;
        if (proof != null) {
            link.proof = proof;
        }
        setSeqno(link, e.seqno());
        dirty.add(link.node);
        rescan();
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
        if (conns.containsKey(port)) {
            return;
        }
        Conn conn = new Conn(port, filter);
        conns.put(port, conn);
        for (Node node : nodes.values()) {
            sync(node, conn, feasible(node));
        }
        rescan();
    }

    /** The peer's LNK_CONN closed, or its link died: close what we relayed to it. */
    public void connDown(Port port) {
        Conn conn = conns.remove(port);
        if (conn == null) {
            return;
        }
        for (List<Relay> rs : conn.relays.values()) {
            for (Relay r : rs) {
                r.open = false;
                r.source.relays.remove(r);
                counters.relaysClosed++;
                port.closeRelay(r);
            }
        }
        conn.relays.clear();
        pruneEmptyNodes();
    }

    /** The peer closed a relay we opened (DELETE on it), or its link died. */
    public void relayClosed(Relay r) {
        if (!r.open) {
            return;
        }
        r.open = false;
        r.source.relays.remove(r);
        List<Relay> rs = r.conn.relays.get(r.node);
        if (rs != null) {
            rs.remove(r);
            if (rs.isEmpty()) {
                r.conn.relays.remove(r.node);
            }
        }
        counters.relaysClosedByPeer++;
        // Not rescanned now: a peer that refuses a span would otherwise get it again at once.
        // The relay comes back when the node next changes.
    }

    /** A seqno request arrived on a relay we opened (mid-stream LNK_SPAN|REPLY). */
    public void seqnoRequested(Relay r, LnkSpan request) {
        SpanExt e = SpanExt.of(request);
        if (!config.loopFree() || e == null || !e.isRequest() || !r.open || r.source.dead) {
            counters.requestsIgnored++;
            return;
        }
        counters.requestsReceived++;
        Node node = r.node;
        SpanLink src = r.source;
        if (r.wantSeqno < 0 || SpanExt.newer(e.seqno(), r.wantSeqno)) {
            r.wantSeqno = e.seqno();
        }
        boolean sameSource = src.ext != null && src.ext.origin() == e.origin();
        if (sameSource && src.local()) {
            if (SpanExt.newer(e.seqno(), src.ext.seqno())) {
                counters.seqnoBumps++;
                setSeqno(src, e.seqno());
            }
            dirty.add(node); // the rescan sends the relay its update
            rescan();
            return;
        }
        if (sameSource && !SpanExt.newer(e.seqno(), src.ext.seqno())) {
            dirty.add(node); // the path this relay comes from already has it
            rescan();
            return;
        }
        // Ask upstream, along the path this relay comes from (the requester's path to the
        // origin), else along our shortest path from a peer that understands requests.
        SpanLink toward = sameSource && !src.local() && src.from.extAware() ? src : null;
        for (SpanLink l : node.links) {
            if (toward != null) {
                break;
            }
            if (l.ext != null && l.ext.origin() == e.origin() && !l.local() && l.from.extAware()
                    && l.from != r.conn.port) {
                toward = l; // links are sorted: the shortest
            }
        }
        if (toward != null && mayRequest(new Request(new Source(node.key, e.origin()), e.seqno(), toward.from))) {
            counters.requestsForwarded++;
            toward.from.requestSeqno(toward, new SpanExt(SpanExt.SEQREQ, e.seqno(), e.origin()).applyTo(toward.span));
        }
    }

    /** Starts advertising {@code span} as this node's own (dist 0). */
    public SpanLink advertise(LnkSpan span) {
        LnkSpan s = new LnkSpan(span.pfsClid(), span.pfsFsid(), span.pfsType(), span.peerType(),
            span.protoVersion(), span.status(), 0, 0, 0, span.mediaBytes(), span.mediaBlksize(),
            span.clLabel(), span.fsLabel());
        SpanExt ext = null;
        if (config.loopFree()) {
            ext = new SpanExt(0, 1, origin);
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
        if (!config.loopFree()) {
            return;
        }
        // A source's FD is forgotten once it has had no feasible link for fdHold: its links are
        // gone (nothing to protect), or the origin cannot be asked for a newer seqno (a path
        // through a C relay, which forwards no requests) and the old paths become usable again.
        Iterator<Map.Entry<Source, Fd>> it = fds.entrySet().iterator();
        while (it.hasNext()) {
            Map.Entry<Source, Fd> e = it.next();
            Fd fd = e.getValue();
            Node node = nodes.get(e.getKey().node());
            if (node != null && hasFeasible(node, e.getKey().origin(), fd)) {
                fd.lastFeasibleNanos = now;
            } else if (now - fd.lastFeasibleNanos >= config.fdHoldNanos()) {
                it.remove();
                counters.fdExpired++;
                if (node != null) {
                    dirty.add(node);
                }
            }
        }
        requests.values().removeIf(t -> now - t >= config.requestHoldNanos());
        for (NodeKey k : new ArrayList<>(pullingNodes)) {
            Node node = nodes.get(k);
            if (node != null) {
                dirty.add(node);
            } else {
                pullingNodes.remove(k);
            }
        }
        for (Source s : new ArrayList<>(starved.keySet())) {
            Node node = nodes.get(s.node());
            if (node != null) {
                dirty.add(node);
            } else {
                starved.remove(s);
            }
        }
        rescan();
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

    private void setSeqno(SpanLink link, int seqno) {
        link.ext = link.ext.withSeqno(seqno);
        link.span = link.ext.applyTo(link.span);
        if (link.local() && signer != null) {
            link.proof = signer.sign(link.span); // a new seqno needs a new proof (docs/IDENTITY.md §3.1)
        }
    }

    private void rescan() {
        while (!dirty.isEmpty()) {
            Iterator<Node> it = dirty.iterator();
            Node node = it.next();
            it.remove();
            counters.nodeScans++;
            List<SpanLink> feasible = feasible(node);
            requestNewerSeqnos(node);
            for (Conn conn : conns.values()) {
                sync(node, conn, feasible);
            }
            if (node.links.isEmpty() && nodes.get(node.key) == node) {
                boolean relayed = conns.values().stream().anyMatch(c -> c.relays.containsKey(node));
                if (!relayed) {
                    nodes.remove(node.key);
                }
            }
            for (var l : onChange) {
                l.accept(node.key);
            }
        }
    }

    private void pruneEmptyNodes() {
        nodes.values().removeIf(n -> n.links.isEmpty()
            && conns.values().stream().noneMatch(c -> c.relays.containsKey(n)));
    }

    /**
     * The links we may relay, in order. C: all of them. Loop-free: per source, its best link (the
     * first feasible one by dist) and the other links as short as it; none while no link of the
     * source is feasible. Our own advertisement outranks every echo of it; spans without our
     * extension (from C origins) follow the C rules.
     */
    List<SpanLink> feasible(Node node) {
        if (!config.loopFree()) {
            return node.links;
        }
        List<SpanLink> out = new ArrayList<>(node.links.size());
        Map<Integer, List<SpanLink>> bySource = new LinkedHashMap<>();
        for (SpanLink l : node.links) {
            bySource.computeIfAbsent(l.originId(), k -> new ArrayList<>(2)).add(l);
        }
        for (Map.Entry<Integer, List<SpanLink>> e : bySource.entrySet()) {
            List<SpanLink> links = e.getValue();
            if (e.getKey() == 0) {
                out.addAll(links);
                continue;
            }
            List<SpanLink> local = links.stream().filter(SpanLink::local).toList();
            if (!local.isEmpty()) {
                out.addAll(local);
                continue;
            }
            SpanLink best = bestOf(node, links);
            if (best == null) {
                continue; // starved: nothing relayed until a newer seqno comes (requestNewerSeqnos)
            }
            // Relay the best and the paths as short as it, whatever their seqno. Only the best
            // must be feasible (it is the next hop, invariant 2 in docs/MESH.md); an equal path
            // advertises a value no better than FD and cannot grow anything. Not requiring the
            // same seqno keeps a seqno update from closing and reopening relays while it spreads.
            out.add(best);
            for (SpanLink l : links) {
                if (l != best && l.dist() == best.dist()) {
                    out.add(l);
                }
            }
        }
        if (bySource.size() > 1) {
            out.sort(LINK_ORDER);
        }
        return out;
    }

    /** The first feasible link of one source's {@code links} (sorted by dist, rnss, arrival). */
    private SpanLink bestOf(Node node, List<SpanLink> links) {
        Fd fd = null;
        for (SpanLink l : links) {
            if (fd == null) {
                fd = fds.get(new Source(node.key, l.ext.origin()));
            }
            if (fd == null || better(l.ext.seqno(), l.dist(), fd.seqno, fd.dist)) {
                return l;
            }
        }
        return null;
    }

    /**
     * For each source of {@code node} that has links but none feasible: ask for a newer seqno
     * along the shortest path from a peer that understands requests (RFC 8966 §3.8.2).
     */
    private void requestNewerSeqnos(Node node) {
        if (!config.loopFree()) {
            return;
        }
        Map<Integer, SpanLink> shortest = new LinkedHashMap<>();
        Set<Integer> fed = new HashSet<>();
        for (SpanLink l : node.links) {
            if (l.ext == null) {
                continue;
            }
            if (l.local()) {
                fed.add(l.ext.origin());
                continue;
            }
            Fd fd = fds.get(new Source(node.key, l.ext.origin()));
            if (fd == null || better(l.ext.seqno(), l.dist(), fd.seqno, fd.dist)) {
                fed.add(l.ext.origin());
            } else if (l.from.extAware()) {
                shortest.putIfAbsent(l.ext.origin(), l);
            }
        }
        for (Integer o : fed) {
            starved.remove(new Source(node.key, o));
        }
        for (Map.Entry<Integer, SpanLink> e : shortest.entrySet()) {
            if (fed.contains(e.getKey())) {
                continue;
            }
            Source s = new Source(node.key, e.getKey());
            Fd fd = fds.get(s);
            int wanted = (fd.seqno + 1) & 0xFFFF;
            starved.computeIfAbsent(s, k -> new Starved()).wanted = wanted;
            SpanLink l = e.getValue();
            if (mayRequest(new Request(s, wanted, l.from))) {
                counters.requestsSent++;
                l.from.requestSeqno(l, new SpanExt(SpanExt.SEQREQ, wanted, e.getKey()).applyTo(l.span));
            }
        }
        starved.keySet().removeIf(s -> s.node().equals(node.key) && !shortest.containsKey(s.origin()));
        if (!config.floodUpdates()) {
            pullShorterPaths(node);
        }
    }

    /**
     * With targeted updates a node can hold the newer seqno on a longer path while a neighbour
     * offers a shorter one still on the older seqno — unfeasible here, since our FD moved to the
     * newer seqno, and never updated, since nobody asked that neighbour. Ask it: it sends its
     * relay the newer seqno if it has it, else asks upstream; either way the shorter path comes
     * back feasible. Repeated on each tick while such a path remains (as requests are).
     */
    private void pullShorterPaths(Node node) {
        SpanLink best = bestLink(node);
        boolean pulling = false;
        if (best != null && best.ext != null && !best.local()) {
            for (SpanLink l : node.links) {
                if (l.dist() >= best.dist()) {
                    break; // sorted by dist
                }
                if (l.local() || l.ext == null || l.ext.origin() != best.ext.origin() || !l.from.extAware()
                        || !SpanExt.newer(best.ext.seqno(), l.ext.seqno())) {
                    continue;
                }
                pulling = true;
                Source s = new Source(node.key, l.ext.origin());
                if (mayRequest(new Request(s, best.ext.seqno(), l.from))) {
                    counters.requestsSent++;
                    counters.pulls++;
                    l.from.requestSeqno(l, new SpanExt(SpanExt.SEQREQ, best.ext.seqno(), l.ext.origin()).applyTo(l.span));
                }
            }
        }
        if (pulling) {
            pullingNodes.add(node.key);
        } else {
            pullingNodes.remove(node.key);
        }
    }

    private static boolean hasFeasible(Node node, int origin, Fd fd) {
        for (SpanLink l : node.links) {
            if (l.ext != null && l.ext.origin() == origin && !l.local()
                    && better(l.ext.seqno(), l.dist(), fd.seqno, fd.dist)) {
                return true;
            }
        }
        return false;
    }

    private boolean mayRequest(Request r) {
        long now = clock.getAsLong();
        Long last = requests.get(r);
        if (last != null && now - last < config.requestHoldNanos()) {
            return false;
        }
        requests.put(r, now);
        return true;
    }

    /** Makes the relays of {@code node} on {@code conn} the top N of {@code feasible} that pass its filter. */
    private void sync(Node node, Conn conn, List<SpanLink> feasible) {
        List<SpanLink> want = new ArrayList<>(config.topN());
        for (SpanLink l : feasible) {
            if (l.dist() > config.maxDist()) {
                break; // sorted by dist
            }
            if (!passes(l, conn)) {
                if (!config.loopFree()) {
                    break; // C: any failure stops the scan for this node (docs/REFERENCE.md §3.4 step 3)
                }
                continue;
            }
            want.add(l);
            if (want.size() == config.topN()) {
                break;
            }
        }
        // Make before break, as C does (docs/REFERENCE.md §3.4 steps 4-5): the peer sees the new path
        // before the old one goes, so it is never left without one in between — which, with
        // feasibility, would make it withdraw and ask the origin for a new seqno.
        List<Relay> have = conn.relays.get(node);
        List<Relay> stale = new ArrayList<>(2);
        if (have != null) {
            for (Relay r : have) {
                if (!want.contains(r.source)) {
                    stale.add(r);
                }
            }
        }
        for (SpanLink l : want) {
            Relay r = null;
            List<Relay> rs = conn.relays.get(node);
            if (rs != null) {
                for (Relay x : rs) {
                    if (x.source == l) {
                        r = x;
                    }
                }
            }
            if (r == null) {
                openRelay(node, conn, l);
            } else if (l.ext != null && !l.ext.equals(SpanExt.of(r.span)) && (config.floodUpdates()
                    || (r.wantSeqno >= 0 && !SpanExt.newer(r.wantSeqno, l.ext.seqno())))) {
                // Targeted (default): the newer seqno goes only where it was asked for, back down
                // the request path; a relay left on an older seqno still advertises a value no
                // better than our FD. Flooding (Babel) sends it down every relay.
                r.wantSeqno = -1;
                r.span = l.ext.applyTo(r.span);
                noteAdvertised(l, r.span.dist());
                if (conn.port.extAware()) {
                    counters.updatesSent++;
                    conn.port.updateRelay(r);
                }
            }
        }
        for (Relay r : stale) {
            closeRelay(r);
        }
    }

    private void openRelay(Node node, Conn conn, SpanLink l) {
        LnkSpan s = l.local() ? l.span : l.span.relayed(rnssAdd);
        Relay r = new Relay(node, conn, l, s);
        conn.relays.computeIfAbsent(node, k -> new ArrayList<>(2)).add(r);
        l.relays.add(r);
        noteAdvertised(l, s.dist());
        counters.relaysOpened++;
        conn.port.openRelay(r);
    }

    private void closeRelay(Relay r) {
        r.open = false;
        r.source.relays.remove(r);
        List<Relay> rs = r.conn.relays.get(r.node);
        rs.remove(r);
        if (rs.isEmpty()) {
            r.conn.relays.remove(r.node);
        }
        counters.relaysClosed++;
        r.conn.port.closeRelay(r);
    }

    private void noteAdvertised(SpanLink l, int dist) {
        if (l.ext == null || l.local()) {
            return;
        }
        Source s = new Source(l.node.key, l.ext.origin());
        Fd fd = fds.get(s);
        if (fd == null) {
            fds.put(s, new Fd(l.ext.seqno(), dist, clock.getAsLong()));
        } else if (better(l.ext.seqno(), dist, fd.seqno, fd.dist)) {
            fd.seqno = l.ext.seqno();
            fd.dist = dist;
        }
    }

    /** The receiving peer's LNK_CONN filter (docs/REFERENCE.md §3.4 step 3 a–g; a is checked by the caller). */
    static boolean passes(SpanLink l, Conn conn) {
        if (l.from == conn.port) {
            return false; // split horizon
        }
        LnkSpan s = l.span;
        LnkConn f = conn.filter;
        if (f == null) {
            return true;
        }
        if (s.peerType() < 64 && ((1L << s.peerType()) & f.peerMask()) == 0) {
            return false;
        }
        if (s.pfsType() < 64 && ((1L << s.pfsType()) & f.pfsMask()) == 0) {
            return false;
        }
        if (f.pfsType() == Dmsg.PFSTYPE_CLIENT && s.pfsType() == Dmsg.PFSTYPE_CLIENT) {
            return false; // clients never see clients
        }
        if (s.peerType() == f.peerType()) {
            UUID nil = new UUID(0, 0);
            if (!f.pfsClid().equals(nil) && !f.pfsClid().equals(s.pfsClid())) {
                return false;
            }
            if (!f.clLabel().isEmpty() && !f.clLabel().equals(s.clLabel())) {
                return false;
            }
        }
        return true;
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
    private SpanLink bestLink(Node node) {
        for (SpanLink l : node.links) {
            if (isFeasible(node, l)) {
                return l;
            }
        }
        return null;
    }

    /** Whether {@code l} may be the next hop: ours, a C origin's (C rules), or strictly better than FD. */
    private boolean isFeasible(Node node, SpanLink l) {
        if (!config.loopFree() || l.local() || l.ext == null) {
            return true;
        }
        if (node.links.stream().anyMatch(x -> x.local() && x.ext != null && x.ext.origin() == l.ext.origin())) {
            return false; // an echo of our own span
        }
        Fd fd = fds.get(new Source(node.key, l.ext.origin()));
        return fd == null || better(l.ext.seqno(), l.dist(), fd.seqno, fd.dist);
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
            if (isFeasible(node, l)) {
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
                    l.ext == null ? -1 : l.ext.seqno(), isFeasible(node, l), to,
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
