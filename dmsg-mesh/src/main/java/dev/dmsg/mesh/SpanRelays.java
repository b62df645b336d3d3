package dev.dmsg.mesh;

import dev.dmsg.mesh.SpanEngine.Node;
import dev.dmsg.mesh.SpanEngine.Relay;
import dev.dmsg.mesh.SpanEngine.SpanLink;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.LnkConn;
import dev.dmsg.wire.LnkSpan;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

/**
 * Relaying out, for both algorithms (docs/REFERENCE.md §3.4 steps 3–5): the conns (peers that
 * subscribed with LNK_CONN) and, per conn and node, the relays we opened on it. {@link #sync}
 * makes a node's relays on a conn the top N of what the {@link SpanStrategy} says may be relayed
 * that pass the conn's filter, make before break. Called by {@link SpanEngine} only, on its
 * thread; the relays' transactions are the ports' business.
 */
final class SpanRelays {
    private final SpanEngine engine;
    private final MeshConfig config;
    private final SpanStrategy strategy;
    private final SpanEngine.Counters counters;
    private final int rnssAdd;
    private final Map<Port, Conn> conns = new LinkedHashMap<>();

    /** @param rnssAdd the per-node constant added to rnss when relaying (C: random, non-zero) */
    SpanRelays(SpanEngine engine, MeshConfig config, SpanStrategy strategy, SpanEngine.Counters counters,
               int rnssAdd) {
        this.engine = engine;
        this.config = config;
        this.strategy = strategy;
        this.counters = counters;
        this.rnssAdd = rnssAdd;
    }

    /** A link whose peer sent LNK_CONN: the peer's filter, and what we relay to it. */
    static final class Conn {
        final Port port;
        final LnkConn filter;
        final Map<Node, List<Relay>> relays = new HashMap<>();

        Conn(Port port, LnkConn filter) {
            this.port = port;
            this.filter = filter;
        }
    }

    /** A new conn on {@code port}, or {@code null} if it has one already. */
    Conn connUp(Port port, LnkConn filter) {
        if (conns.containsKey(port)) {
            return null;
        }
        Conn conn = new Conn(port, filter);
        conns.put(port, conn);
        return conn;
    }

    /** Closes every relay on {@code port}'s conn and forgets it; false if it had none. */
    boolean connDown(Port port) {
        Conn conn = conns.remove(port);
        if (conn == null) {
            return false;
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
        return true;
    }

    /** The peer closed relay {@code r} (DELETE on it), or its link died. */
    void closedByPeer(Relay r) {
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

    /** Whether some conn still has a relay of {@code node}. */
    boolean isRelayed(Node node) {
        return conns.values().stream().anyMatch(c -> c.relays.containsKey(node));
    }

    /** {@link #sync} on every conn. */
    void syncAll(Node node, List<SpanLink> relayable) {
        for (Conn conn : conns.values()) {
            sync(node, conn, relayable);
        }
    }

    /** Makes the relays of {@code node} on {@code conn} the top N of {@code relayable} that pass its filter. */
    void sync(Node node, Conn conn, List<SpanLink> relayable) {
        List<SpanLink> want = new ArrayList<>(config.topN());
        for (SpanLink l : relayable) {
            if (l.dist() > config.maxDist()) {
                break; // sorted by dist
            }
            if (!passes(l, conn)) {
                if (strategy.stopsAtFiltered()) {
                    break;
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
            } else {
                strategy.refresh(conn, r, l);
            }
        }
        for (Relay r : stale) {
            closeRelay(r);
        }
    }

    private void openRelay(Node node, Conn conn, SpanLink l) {
        LnkSpan s = l.local() ? l.span : l.span.relayed(rnssAdd);
        Relay r = engine.new Relay(node, conn, l, s); // inner: its proof is made by the engine's signer
        conn.relays.computeIfAbsent(node, k -> new ArrayList<>(2)).add(r);
        l.relays.add(r);
        strategy.advertised(l, s.dist());
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
}
