package dev.dmsg.mesh;

import dev.dmsg.link.Link;
import dev.dmsg.link.LinkState;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The bookkeeping of virtual circuits (docs/CIRCUITS.md, docs/REFERENCE.md §3.5): each link's
 * tables ({@link PerLink}: the SPAN relays a LNK_CIRC may target, the tear-downs that run when a
 * span or relay closes, the circuit sides) and the registry of {@link Entry entries} that status
 * output reads. {@link Circuits} (accept side), {@link CircuitOpener} (originating side) and
 * {@link RelayPair} (relay side) record here; {@link MeshNode} reads it through {@link Circuits}.
 *
 * <p>Threads: a link's {@link PerLink} is touched only on that link's event loop; the map of them
 * and the set of entries are concurrent, and an entry's fields are volatile, so {@link #views} may
 * run on any thread.
 */
final class CircuitRegistry {
    /** One link's circuit state; its link's event loop only. */
    static final class PerLink {
        /** SPAN relays we opened on this link, by their msgid: what a LNK_CIRC target names. */
        final Map<Long, SpanEngine.Relay> relays = new HashMap<>();
        /** Tear-downs to run when the relay with that msgid closes (the span a circuit rests on). */
        final Map<Long, List<Runnable>> onRelayClose = new HashMap<>();
        /** Tear-downs to run when the received span with that msgid closes (originator side). */
        final Map<Long, List<Runnable>> onSpanClose = new HashMap<>();
        /** Circuit sides on this link: ends and relay halves. */
        int sides;
        /** Circuits that end here, accepted from the peer: their ids on this link, and which of our spans each was forged to. */
        final Map<Long, NodeKey> endpoints = new LinkedHashMap<>();
    }

    /** What a circuit is to this node. */
    enum Role { ORIGIN, ENDPOINT, RELAY }

    /** A circuit this node takes part in (for {@code circuits} and status); fields readable from any thread. */
    static class Entry {
        final Role role;
        final NodeKey target;
        final Link a;
        volatile long idA;
        final long openedNanos;
        volatile boolean open;

        Entry(Role role, NodeKey target, Link a, long idA, long openedNanos) {
            this.role = role;
            this.target = target;
            this.a = a;
            this.idA = idA;
            this.openedNanos = openedNanos;
        }
    }

    private final Map<Link, PerLink> perLink = new ConcurrentHashMap<>();
    private final Set<Entry> entries = ConcurrentHashMap.newKeySet();
    private final MeshScheduler scheduler;

    CircuitRegistry(MeshScheduler scheduler) {
        this.scheduler = scheduler;
    }

    long nanoTime() {
        return scheduler.nanoTime();
    }

    void add(Entry e) {
        entries.add(e);
    }

    void remove(Entry e) {
        entries.remove(e);
    }

    /**
     * {@code l}'s tables. A link's entry goes with it ({@link #linkDown}, after its transactions'
     * aborts have run); a late task for a closed link gets a throwaway, so none is made anew.
     */
    PerLink on(Link l) {
        PerLink p = perLink.get(l);
        if (p == null) {
            p = new PerLink();
            if (l.state() != LinkState.CLOSED) {
                PerLink had = perLink.putIfAbsent(l, p);
                p = had != null ? had : p;
            }
        }
        return p;
    }

    void linkDown(Link l) {
        perLink.remove(l);
    }

    /** Circuit sides (ends and relay halves) on {@code l} now (for status and tests). */
    int sidesOn(Link l) {
        PerLink p = perLink.get(l);
        return p == null ? 0 : p.sides;
    }

    /** Ids of the circuits accepted on {@code l} that end at this node; its event loop only. */
    List<Long> endingOn(Link l) {
        PerLink p = perLink.get(l);
        return p == null ? List.of() : List.copyOf(p.endpoints.keySet());
    }

    /** Which of this node's spans circuit {@code id} on {@code l} was forged to, or null; its event loop only. */
    NodeKey endpointTarget(Link l, long id) {
        PerLink p = perLink.get(l);
        return p == null ? null : p.endpoints.get(id);
    }

    /** Every circuit this node takes part in now. Any thread. */
    List<MeshNode.CircuitView> views() {
        long now = scheduler.nanoTime();
        List<MeshNode.CircuitView> out = new ArrayList<>();
        for (Entry e : entries) {
            RelayPair p = e instanceof RelayPair x ? x : null;
            out.add(new MeshNode.CircuitView(e.role.name().toLowerCase(), e.target, e.a.peerLabel(), e.idA,
                p == null ? null : p.b.peerLabel(), p == null ? 0 : p.idB, e.open, now - e.openedNanos,
                p == null ? 0 : p.towardB.count, p == null ? 0 : p.towardA.count));
        }
        out.sort(Comparator.comparing(MeshNode.CircuitView::role).thenComparing(v -> v.target().fsLabel())
            .thenComparingLong(MeshNode.CircuitView::ageNanos));
        return out;
    }

    void relayOpened(Link l, long msgid, SpanEngine.Relay r) {
        on(l).relays.put(msgid, r);
    }

    void relayClosed(Link l, long msgid) {
        PerLink p = on(l);
        p.relays.remove(msgid);
        runAll(p.onRelayClose.remove(msgid));
    }

    void spanClosed(Link l, long msgid) {
        runAll(on(l).onSpanClose.remove(msgid));
    }

    private static void runAll(List<Runnable> rs) {
        if (rs != null) {
            rs.forEach(Runnable::run);
        }
    }

    /** Registers tear-down {@code r} under {@code key} in one of a {@link PerLink}'s tear-down tables. */
    static void addTearDown(Map<Long, List<Runnable>> m, long key, Runnable r) {
        m.computeIfAbsent(key, k -> new ArrayList<>(1)).add(r);
    }

    /** Forgets tear-down {@code r} under {@code key} (its circuit went first). */
    static void removeTearDown(Map<Long, List<Runnable>> m, long key, Runnable r) {
        List<Runnable> rs = m.get(key);
        if (rs != null && rs.remove(r) && rs.isEmpty()) {
            m.remove(key);
        }
    }
}
