package dev.dmsg.link.netty;

import java.net.InetAddress;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Consumer;

/**
 * The caps on accepted connections that have not finished their handshake — TLS and the peer's
 * first frame (docs/SECURITY.md §7): {@code max} per endpoint, {@code maxPerAddress} per source
 * address. A full cap does not turn the newcomer away; an unfinished connection gives way:
 * <ul>
 *   <li>the newcomer's address holds {@code maxPerAddress}: that address's oldest;
 *   <li>the endpoint holds {@code max}: the oldest of the address that would hold the most with
 *       the newcomer counted, the oldest of all among addresses holding as many.
 * </ul>
 * Only a connection still in TLS can give way: one that has presented a trusted key
 * ({@link #pastTls}) waits for its first frame undisturbed. If none can, the newcomer is refused.
 *
 * <p>Why (docs/SECURITY.md §7): refusing the newcomer lets idle connections keep a full cap
 * for the handshake timeout (10 s), so 64 new ones every 10 s kept every honest peer out.
 * Evicting the oldest turns that around: an honest handshake, tens of milliseconds, is lost only
 * if {@code max} newer connections arrive while it runs, and with "the address holding the
 * most" first, only if they come from at least {@code max} addresses holding one each.
 *
 * <p>Concurrency: the connections of an endpoint run on several event loops; every method
 * decides under this object's lock and returns. The caller evicts ({@link Slot#evict}) after,
 * and the victim closes itself on its own event loop. Sequence numbers, not a clock, say which
 * is oldest.
 */
final class HandshakeSlots {
    private final int max;
    private final int maxPerAddress;
    /** Unfinished accepted connections by source address, oldest first; guarded by this. */
    private final Map<InetAddress, Deque<Slot>> byAddress = new LinkedHashMap<>();
    private int held;
    private long nextSeq;

    HandshakeSlots(int max, int maxPerAddress) {
        if (max < 1 || maxPerAddress < 1) {
            throw new IllegalArgumentException("max and maxPerAddress must be >= 1, not " + max + " and "
                + maxPerAddress);
        }
        this.max = max;
        this.maxPerAddress = maxPerAddress;
    }

    /** One accepted connection holding a slot until it finishes, fails, closes or gives way. */
    static final class Slot {
        final InetAddress from;
        /** HOST:PORT, for log lines. */
        final String remote;
        private final long seq;
        private final Consumer<String> onEvicted;
        /** Guarded by the owning {@link HandshakeSlots}. */
        private boolean held = true;
        private boolean pastTls;

        Slot(InetAddress from, String remote, long seq, Consumer<String> onEvicted) {
            this.from = from;
            this.remote = remote;
            this.seq = seq;
            this.onEvicted = onEvicted;
        }

        /** Tells the connection it gave way, with the reason; call outside the lock. */
        void evict(String why) {
            onEvicted.accept(why);
        }

        @Override
        public String toString() {
            return remote + "#" + seq;
        }
    }

    /**
     * What {@link #admit} decided.
     *
     * @param slot the newcomer's slot, or {@code null} if it is refused
     * @param victim the connection that gave way for it ({@link Slot#evict} it), or {@code null}
     * @param why which cap was full ({@code null} if none); with a victim, the victim's reason
     */
    record Admission(Slot slot, Slot victim, String why) {}

    /**
     * Takes a slot for a connection just accepted from {@code from}.
     *
     * @param onEvicted called (by whoever admits a later connection, on its thread) if this one
     *     has to give way, with the reason: close it
     */
    synchronized Admission admit(InetAddress from, String remote, Consumer<String> onEvicted) {
        Deque<Slot> mine = byAddress.get(from);
        int mineCount = mine == null ? 0 : mine.size();
        Slot victim = null;
        String cap = null;
        if (mineCount >= maxPerAddress) {
            cap = mineCount + " connections from " + from.getHostAddress() + " have not finished the handshake (limit "
                + maxPerAddress + " per address)";
            victim = oldestEvictable(mine);
        } else if (held >= max) {
            cap = held + " connections have not finished the handshake (limit " + max + ")";
            victim = mostHeldAddressOldest(from);
        }
        if (cap != null && victim == null) {
            return new Admission(null, null, cap + "; none of them can give way (each has presented a trusted key)");
        }
        String why = null;
        if (victim != null) {
            why = "closed unfinished to make room for " + remote + ": " + cap + "; it was the oldest of the "
                + byAddress.get(victim.from).size() + " from " + victim.from.getHostAddress();
            remove(victim);
        }
        Slot s = new Slot(from, remote, nextSeq++, onEvicted);
        byAddress.computeIfAbsent(from, k -> new ArrayDeque<>()).addLast(s);
        held++;
        return new Admission(s, victim, why);
    }

    /** {@code s} has presented a trusted key: it no longer gives way, and waits only for its first frame. */
    synchronized void pastTls(Slot s) {
        s.pastTls = true;
    }

    /** {@code s} is done (authenticated, failed, closed, a legacy link): its slot is free. Idempotent. */
    synchronized void release(Slot s) {
        if (s.held) {
            remove(s);
        }
    }

    /** Slots held now. */
    synchronized int held() {
        return held;
    }

    private void remove(Slot s) {
        s.held = false;
        held--;
        Deque<Slot> d = byAddress.get(s.from);
        d.remove(s);
        if (d.isEmpty()) {
            byAddress.remove(s.from);
        }
    }

    private static Slot oldestEvictable(Deque<Slot> d) {
        for (Slot s : d) {
            if (!s.pastTls) {
                return s;
            }
        }
        return null;
    }

    /**
     * The oldest evictable slot of the address holding the most, counting the newcomer for
     * {@code from}; among addresses holding as many, the oldest of them. At most {@code max}
     * slots to look at.
     */
    private Slot mostHeldAddressOldest(InetAddress from) {
        Slot best = null;
        int bestCount = -1;
        for (Map.Entry<InetAddress, Deque<Slot>> e : byAddress.entrySet()) {
            Slot candidate = oldestEvictable(e.getValue());
            if (candidate == null) {
                continue;
            }
            int count = e.getValue().size() + (e.getKey().equals(from) ? 1 : 0);
            if (count > bestCount || (count == bestCount && candidate.seq < best.seq)) {
                best = candidate;
                bestCount = count;
            }
        }
        return best;
    }
}
