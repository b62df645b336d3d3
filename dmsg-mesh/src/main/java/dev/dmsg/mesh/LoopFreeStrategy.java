package dev.dmsg.mesh;

import dev.dmsg.mesh.SpanRelays.Conn;
import dev.dmsg.mesh.SpanEngine.Node;
import dev.dmsg.mesh.SpanEngine.Relay;
import dev.dmsg.mesh.SpanEngine.SpanLink;
import dev.dmsg.wire.LnkSpan;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Our loop-free relay (docs/MESH.md, docs/PROFILE.md §5): Babel's feasibility condition per span
 * source (RFC 8966 §3.5). Each span we originate carries the extension (origin id, seqno;
 * docs/MESH.md "Wire layout of the extension"); per source (node key, origin) this node keeps a
 * feasibility distance (FD: the best value it has advertised) and only a path strictly better
 * than the FD may become the next hop (docs/MESH.md "Why there are no loops"). A source with
 * paths but none feasible is starved: nothing is relayed for it while a newer seqno is asked
 * for along the shortest path (RFC 8966 §3.8.2; docs/MESH.md "Why there is no counting to
 * infinity"); FDs are forgotten after {@link MeshConfig#fdHoldNanos()} without a feasible path
 * (docs/MESH.md "When no newer seqno can come"). Spans without the extension (from C origins)
 * follow the C rules (docs/MESH.md "Interoperating with C peers").
 *
 * <p>State: FDs, starved sources, the hold of recent requests and the nodes being pulled; all
 * touched on the engine's thread only.
 */
final class LoopFreeStrategy implements SpanStrategy {
    private final SpanEngine engine;
    private final MeshConfig config;
    private final SpanEngine.Counters counters;
    private final int origin;
    private final Map<Source, Fd> fds = new HashMap<>();
    private final Map<Source, Starved> starved = new HashMap<>();
    private final Map<Request, Long> requests = new HashMap<>();
    /** Nodes with a shorter path on an older seqno than their best: pulled again on each tick. */
    private final Set<NodeKey> pullingNodes = new HashSet<>();

    /** @param origin this node's origin id for the spans it advertises (non-zero) */
    LoopFreeStrategy(SpanEngine engine, MeshConfig config, SpanEngine.Counters counters, int origin) {
        this.engine = engine;
        this.config = config;
        this.counters = counters;
        this.origin = origin;
    }

    /** One span source: a node key as advertised by one origin. */
    record Source(NodeKey node, int origin) {}

    /** A seqno request sent (or held back) for a source, via one port. */
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

    /** Value order: a newer seqno first, then a smaller dist. */
    static boolean better(int seqA, int distA, int seqB, int distB) {
        if (seqA != seqB) {
            return SpanExt.newer(seqA, seqB);
        }
        return Integer.compareUnsigned(distA, distB) < 0;
    }

    // ------------------------------------------------------------------------------------------
    // What the extension carries

    @Override
    public SpanExt extOf(LnkSpan received) {
        return SpanExt.of(received);
    }

    /** Our own spans start at seqno 1 under this node's origin id. */
    @Override
    public SpanExt ownExt() {
        return new SpanExt(0, 1, origin);
    }

    /** A newer seqno from the sender of {@code link} (docs/MESH.md): the path's value improves. */
    @Override
    public void spanUpdated(SpanLink link, LnkSpan span, byte[] proof) {
        SpanExt e = SpanExt.of(span);
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
        engine.mark(link.node);
        engine.rescan();
    }

    private void setSeqno(SpanLink link, int seqno) {
        link.ext = link.ext.withSeqno(seqno);
        link.span = link.ext.applyTo(link.span);
        SpanEngine.Signer signer = engine.signer();
        if (link.local() && signer != null) {
            link.proof = signer.sign(link.span); // a new seqno needs a new proof (docs/IDENTITY.md §3.1)
        }
    }

    /**
     * A seqno request on a relay we opened (RFC 8966 §3.8.1.2): answered by our own span with a
     * bumped seqno, by the path the relay comes from if it has it already, else forwarded
     * upstream.
     */
    @Override
    public void seqnoRequested(Relay r, LnkSpan request) {
        SpanExt e = SpanExt.of(request);
        if (e == null || !e.isRequest() || !r.open || r.source.dead) {
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
            engine.mark(node); // the rescan sends the relay its update
            engine.rescan();
            return;
        }
        if (sameSource && !SpanExt.newer(e.seqno(), src.ext.seqno())) {
            engine.mark(node); // the path this relay comes from already has it
            engine.rescan();
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

    /** Timers: forgets old feasibility distances and re-sends seqno requests still unanswered. */
    @Override
    public void tick(long now) {
        // A source's FD is forgotten once it has had no feasible link for fdHold: its links are
        // gone (nothing to protect), or the origin cannot be asked for a newer seqno (a path
        // through a C relay, which forwards no requests) and the old paths become usable again.
        Iterator<Map.Entry<Source, Fd>> it = fds.entrySet().iterator();
        while (it.hasNext()) {
            Map.Entry<Source, Fd> e = it.next();
            Fd fd = e.getValue();
            Node node = engine.node(e.getKey().node());
            if (node != null && hasFeasible(node, e.getKey().origin(), fd)) {
                fd.lastFeasibleNanos = now;
            } else if (now - fd.lastFeasibleNanos >= config.fdHoldNanos()) {
                it.remove();
                counters.fdExpired++;
                if (node != null) {
                    engine.mark(node);
                }
            }
        }
        requests.values().removeIf(t -> now - t >= config.requestHoldNanos());
        for (NodeKey k : new ArrayList<>(pullingNodes)) {
            Node node = engine.node(k);
            if (node != null) {
                engine.mark(node);
            } else {
                pullingNodes.remove(k);
            }
        }
        for (Source s : new ArrayList<>(starved.keySet())) {
            Node node = engine.node(s.node());
            if (node != null) {
                engine.mark(node);
            } else {
                starved.remove(s);
            }
        }
        engine.rescan();
    }

    // ------------------------------------------------------------------------------------------
    // Feasibility (docs/MESH.md "What we do")

    /**
     * Per source, its best link (the first feasible one by dist) and the other links as short as
     * it; none while no link of the source is feasible. Our own advertisement outranks every echo
     * of it; spans without our extension (from C origins) follow the C rules.
     */
    @Override
    public List<SpanLink> relayable(Node node) {
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
                continue; // starved: nothing relayed until a newer seqno comes (scanning)
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
            out.sort(SpanEngine.LINK_ORDER);
        }
        return out;
    }

    /** A link the conn's filter refuses is skipped; the scan goes on to the next one. */
    @Override
    public boolean stopsAtFiltered() {
        return false;
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

    /** Ours, a C origin's (C rules), or strictly better than the FD of its source. */
    @Override
    public boolean isFeasible(Node node, SpanLink l) {
        if (l.local() || l.ext == null) {
            return true;
        }
        if (node.links.stream().anyMatch(x -> x.local() && x.ext != null && x.ext.origin() == l.ext.origin())) {
            return false; // an echo of our own span
        }
        Fd fd = fds.get(new Source(node.key, l.ext.origin()));
        return fd == null || better(l.ext.seqno(), l.dist(), fd.seqno, fd.dist);
    }

    /** FD(S) only ever gets better with what we advertise (docs/MESH.md "Feasibility distance"). */
    @Override
    public void advertised(SpanLink l, int dist) {
        if (l.ext == null || l.local()) {
            return;
        }
        Source s = new Source(l.node.key, l.ext.origin());
        Fd fd = fds.get(s);
        if (fd == null) {
            fds.put(s, new Fd(l.ext.seqno(), dist, engine.nanoTime()));
        } else if (better(l.ext.seqno(), dist, fd.seqno, fd.dist)) {
            fd.seqno = l.ext.seqno();
            fd.dist = dist;
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

    // ------------------------------------------------------------------------------------------
    // Seqno requests and updates

    /**
     * For each source of {@code node} that has links but none feasible: ask for a newer seqno
     * along the shortest path from a peer that understands requests (RFC 8966 §3.8.2).
     */
    @Override
    public void scanning(Node node) {
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
        SpanLink best = engine.bestLink(node);
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

    private boolean mayRequest(Request r) {
        long now = engine.nanoTime();
        Long last = requests.get(r);
        if (last != null && now - last < config.requestHoldNanos()) {
            return false;
        }
        requests.put(r, now);
        return true;
    }

    /**
     * Targeted (default): the newer seqno goes only where it was asked for, back down the request
     * path; a relay left on an older seqno still advertises a value no better than our FD.
     * Flooding (Babel) sends it down every relay.
     */
    @Override
    public void refresh(Conn conn, Relay r, SpanLink l) {
        if (l.ext != null && !l.ext.equals(SpanExt.of(r.span)) && (config.floodUpdates()
                || (r.wantSeqno >= 0 && !SpanExt.newer(r.wantSeqno, l.ext.seqno())))) {
            r.wantSeqno = -1;
            r.span = l.ext.applyTo(r.span);
            advertised(l, r.span.dist());
            if (conn.port.extAware()) {
                counters.updatesSent++;
                conn.port.updateRelay(r);
            }
        }
    }
}
