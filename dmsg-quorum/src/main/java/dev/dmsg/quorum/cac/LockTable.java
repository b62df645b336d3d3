package dev.dmsg.quorum.cac;

import dev.dmsg.wire.Dmsg;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * The lock manager's state (docs/CAC.md §2–§5): the deterministic core every member of a group
 * runs in log order — one method per log entry kind, each given the entry's index and returning
 * the {@link CacEvent}s it caused. No clock, no randomness: leases are counted by the leader,
 * outside, and end as EXPIRE entries.
 *
 * <p>Grants: a waiting lock is granted when no other owner's held lock conflicts with what it
 * waits for, and no other owner's conflicting wait is ahead of it (log order). Whenever a lock
 * waits, each holder that blocks it is asked to downgrade to the highest state that would not.
 * A wait that would close a cycle of owners is refused (DEADLOCK), the newest request being the
 * victim. Not thread-safe: the state machine's applying thread only.
 */
public final class LockTable {
    public static final int MAX_LOCKS = 100_000;
    public static final int DEFAULT_LEASE_MS = 10_000;
    public static final int MIN_LEASE_MS = 1_000;
    public static final int MAX_LEASE_MS = 60_000;

    /** Flags of a request (docs/CAC.md §7). */
    public static final int BROADER_OK = 0x0001;
    public static final int NOWAIT = 0x0002;
    public static final int KNOWN_FLAGS = BROADER_OK | NOWAIT;

    /** Why a CANCEL: the holder aborted its wait; its wait_ms passed; its home restarted. */
    public static final int CANCEL_ABORTED = 1;
    public static final int CANCEL_TIMEOUT = 2;
    public static final int CANCEL_HOME_RESTARTED = 3;

    /** Why an EXPIRE (and a lease): a downgrade not met; the holder lost. */
    public static final int EXPIRE_DOWNGRADE = 1;
    public static final int EXPIRE_LOST = 2;

    /** Who a lock belongs to: the requester's authenticated name and its owner id (docs/CAC.md §2). */
    public record Owner(String name, long id) {}

    /** The member a lock's transaction is held at, and that member's incarnation (docs/CAC.md §5). */
    public record Home(String name, long incarnation) {}

    /** An ACQUIRE entry's request. */
    public record Acquire(Owner owner, Home home, CacKey key, CacDomain domain, CacState state, int flags, int leaseMs) {}

    /** A lock as the listing shows it (docs/CAC.md §8). */
    public record LockView(long id, Owner owner, Home home, CacKey key, CacDomain domain, int flags, int leaseMs,
                           CacState held, CacState wanted, long seq, long token, CacState downgradeTo, boolean lost) {}

    private final Map<Long, LockRecord> byId = new HashMap<>();
    private final LockIndex index = new LockIndex();
    /** Waiting locks (requests and upgrades) by the index they started to wait at. */
    private final TreeMap<Long, LockRecord> waiting = new TreeMap<>();
    /** Each owner's waits, in FIFO order: iteration order must be the same in every member. */
    private final Map<Owner, TreeMap<Long, LockRecord>> waitingByOwner = new HashMap<>();

    // ---- the entries -----------------------------------------------------------------------

    /** ACQUIRE at {@code idx}: the lock's id is {@code idx}. */
    public List<CacEvent> acquire(long idx, Acquire a) {
        List<CacEvent> out = new ArrayList<>();
        if (a.state() == null || a.state() == CacState.INVAL) {
            out.add(new CacEvent.Refused(idx, a.home(), Dmsg.ERR_PARAM, "a lock request asks for shared, exclusive or "
                + "modified, not " + (a.state() == null ? "nothing" : a.state().word())));
            return out;
        }
        if ((a.flags() & ~KNOWN_FLAGS) != 0) {
            out.add(new CacEvent.Refused(idx, a.home(), Dmsg.ERR_PARAM, String.format("unknown lock flags 0x%x",
                a.flags() & ~KNOWN_FLAGS)));
            return out;
        }
        if (byId.size() >= MAX_LOCKS) {
            out.add(new CacEvent.Refused(idx, a.home(), Dmsg.ERR_LIMIT, "the group holds " + MAX_LOCKS + " locks"));
            return out;
        }
        LockRecord r = new LockRecord(idx, a.owner(), a.home(), a.key(), a.domain(), a.flags(), lease(a.leaseMs()));
        r.wanted = a.state();
        r.seq = idx;
        List<LockRecord> blockers = blockers(r);
        if (blockers.isEmpty()) {
            add(r);
            grant(idx, r, out);
            return out;
        }
        if ((a.flags() & NOWAIT) != 0) {
            out.add(new CacEvent.Refused(idx, a.home(), Dmsg.ERR_CONFLICT, a.key() + " (" + a.domain().word() + ", "
                + a.state().word() + "): conflicts with " + blockers.get(0)));
            return out;
        }
        String cycle = cycle(r, blockers);
        if (cycle != null) {
            out.add(new CacEvent.Refused(idx, a.home(), Dmsg.ERR_DEADLOCK, cycle));
            return out;
        }
        add(r);
        startWaiting(r);
        out.add(new CacEvent.Waiting(idx, r.home, blockers.get(0).id));
        askDowngrades(idx, r, out);
        return out;
    }

    /** CHANGE of lock {@code id} to {@code to}: down at once, INVAL as a release, up as a wait. */
    public List<CacEvent> change(long idx, long id, CacState to) {
        List<CacEvent> out = new ArrayList<>();
        LockRecord r = byId.get(id);
        if (r == null || !r.isHeld()) {
            out.add(new CacEvent.Refused(id, r == null ? null : r.home, Dmsg.ERR_PARAM, "lock " + id
                + (r == null ? " is not held" : " is not granted yet") + ": nothing to change"));
            return out;
        }
        if (to == CacState.INVAL) {
            return release(idx, id);
        }
        if (r.isWaiting()) {
            out.add(new CacEvent.Refused(id, r.home, Dmsg.ERR_PARAM, "lock " + id + " already waits for "
                + r.wanted.word()));
            return out;
        }
        if (to == r.held || r.held.exclusive() && to.exclusive()) { // the same, or EXCLUSIVE <-> MODIFIED
            r.held = to;
            out.add(new CacEvent.Changed(id, r.home, to, r.token));
            return out;
        }
        if (to.compareTo(r.held) < 0) { // down
            r.held = to;
            if (r.downgradeTo != null && to.compareTo(r.downgradeTo) <= 0) {
                r.downgradeTo = null;
                if (!r.lost) {
                    out.add(new CacEvent.LeaseEnded(id, r.home));
                }
            }
            out.add(new CacEvent.Changed(id, r.home, to, r.token));
            regrant(idx, r, out);
            return out;
        }
        // up: wait for it, keeping what is held
        r.wanted = to;
        r.seq = idx;
        List<LockRecord> blockers = blockers(r);
        if (blockers.isEmpty()) {
            grant(idx, r, out);
            return out;
        }
        String cycle = cycle(r, blockers);
        if (cycle != null) {
            r.wanted = null;
            out.add(new CacEvent.Refused(id, r.home, Dmsg.ERR_DEADLOCK, cycle));
            return out;
        }
        startWaiting(r);
        askDowngrades(idx, r, out);
        return out;
    }

    /** RELEASE (the holder's DELETE): the lock goes, held or waiting. */
    public List<CacEvent> release(long idx, long id) {
        List<CacEvent> out = new ArrayList<>();
        LockRecord r = byId.get(id);
        if (r != null) {
            boolean leased = r.leaseRuns();
            remove(r);
            if (leased) {
                out.add(new CacEvent.LeaseEnded(id, r.home));
            }
            out.add(new CacEvent.Released(id, r.home));
            regrant(idx, r, out);
        }
        return out;
    }

    /** CANCEL of a wait: a waiting request goes; a held lock's upgrade is dropped. */
    public List<CacEvent> cancel(long idx, long id, int why) {
        List<CacEvent> out = new ArrayList<>();
        LockRecord r = byId.get(id);
        if (r == null || !r.isWaiting()) {
            return out; // granted (or gone) first: the log decided
        }
        if (r.isHeld()) {
            stopWaiting(r);
            out.add(new CacEvent.Cancelled(id, r.home, why, true));
        } else {
            remove(r);
            out.add(new CacEvent.Cancelled(id, r.home, why, false));
        }
        regrant(idx, r, out);
        return out;
    }

    /** LOST: the home lost the transaction. A wait is cancelled; a held lock's lease starts. */
    public List<CacEvent> lost(long idx, long id) {
        LockRecord r = byId.get(id);
        if (r == null || r.lost) {
            return new ArrayList<>();
        }
        if (!r.isHeld()) {
            return cancel(idx, id, CANCEL_ABORTED);
        }
        List<CacEvent> out = new ArrayList<>();
        if (r.isWaiting()) {
            stopWaiting(r);
            regrant(idx, r, out);
        }
        boolean leased = r.leaseRuns();
        r.lost = true;
        if (!leased) {
            out.add(new CacEvent.LeaseStarted(id, r.home, r.leaseMs, EXPIRE_LOST));
        }
        return out;
    }

    /**
     * EXPIRE from the leader: the lock is revoked if a lease still runs on it (a downgrade unmet,
     * or the holder lost — {@code why} is what the leader counted, for the record); else a no-op.
     */
    public List<CacEvent> expire(long idx, long id, int why) {
        List<CacEvent> out = new ArrayList<>();
        LockRecord r = byId.get(id);
        if (r == null || !r.leaseRuns()) {
            return out; // the holder complied, or released, before the EXPIRE was applied: the log decided
        }
        remove(r);
        out.add(new CacEvent.LeaseEnded(id, r.home));
        out.add(new CacEvent.Revoked(id, r.home, r.lost
            ? "the holder was lost and its lease of " + r.leaseMs + " ms passed"
            : "asked to downgrade to " + r.downgradeTo.word() + ", the holder did not within its lease of " + r.leaseMs
                + " ms"));
        regrant(idx, r, out);
        return out;
    }

    /** HOME: a member started with a new incarnation; what its older incarnations were home to is lost. */
    public List<CacEvent> home(long idx, Home h) {
        List<CacEvent> out = new ArrayList<>();
        List<LockRecord> old = new ArrayList<>();
        for (LockRecord r : byId.values()) {
            if (r.home.name().equals(h.name()) && r.home.incarnation() != h.incarnation()) {
                old.add(r);
            }
        }
        old.sort(Comparator.comparingLong(r -> r.id));
        for (LockRecord r : old) {
            out.addAll(r.isHeld() ? lost(idx, r.id) : cancel(idx, r.id, CANCEL_HOME_RESTARTED));
        }
        return out;
    }

    // ---- queries ---------------------------------------------------------------------------

    public int size() {
        return byId.size();
    }

    /** How many locks the table has, how many hold a state, wait for one, and run a lease (status). */
    public record Counts(int locks, int held, int waiting, int leased) {}

    public Counts counts() {
        int held = 0;
        int waiting = 0;
        int leased = 0;
        for (LockRecord r : byId.values()) {
            held += r.isHeld() ? 1 : 0;
            waiting += r.isWaiting() ? 1 : 0;
            leased += r.leaseRuns() ? 1 : 0;
        }
        return new Counts(byId.size(), held, waiting, leased);
    }

    public LockView view(long id) {
        LockRecord r = byId.get(id);
        return r == null ? null : view(r);
    }

    /** Every lock whose key starts with {@code prefix}, in key order, then id. */
    public List<LockView> list(String prefix) {
        List<LockRecord> l = index.withPrefix(prefix);
        l.sort(Comparator.<LockRecord, CacKey>comparing(r -> r.key).thenComparingLong(r -> r.id));
        return l.stream().map(LockTable::view).toList();
    }

    /** Every lock, by id (snapshots). */
    public List<LockView> all() {
        return byId.values().stream().sorted(Comparator.comparingLong(r -> r.id)).map(LockTable::view).toList();
    }

    /** Locks whose lease runs now (a new leader starts counting them). */
    public List<LockView> leased() {
        return byId.values().stream().filter(LockRecord::leaseRuns).sorted(Comparator.comparingLong(r -> r.id))
            .map(LockTable::view).toList();
    }

    /**
     * Whether a lock granted with {@code token} is held EXCLUSIVE or MODIFIED now and covers
     * {@code key} in some aspect (docs/CAC.md §6: the store's {@code lock(KEY) = TOKEN} compare).
     */
    public boolean fences(CacKey key, long token) {
        boolean[] found = {false};
        for (CacDomain aspect : ASPECTS) { // a probe on each of the key's own aspects
            index.overlapping(new LockRecord(0, NOBODY, null, key, aspect, 0, 0),
                o -> found[0] |= o.token == token && o.isHeld() && o.held.exclusive());
        }
        return found[0];
    }

    private static final TreeMap<Long, LockRecord> EMPTY = new TreeMap<>();
    private static final Owner NOBODY = new Owner("", 0);
    private static final List<CacDomain> ASPECTS = List.of(CacDomain.INUM, CacDomain.ATTR);

    private static LockView view(LockRecord r) {
        return new LockView(r.id, r.owner, r.home, r.key, r.domain, r.flags, r.leaseMs, r.held, r.wanted,
            r.wanted == null ? 0 : r.seq, r.token, r.downgradeTo, r.lost);
    }

    /** A request's lease_ms as applied (docs/CAC.md §2). */
    public static int lease(int ms) {
        return ms <= 0 ? DEFAULT_LEASE_MS : Math.max(MIN_LEASE_MS, Math.min(ms, MAX_LEASE_MS));
    }

    // ---- the rules -------------------------------------------------------------------------

    /** What keeps {@code r}'s wait from being granted now: other owners' conflicting holds and earlier waits. */
    private List<LockRecord> blockers(LockRecord r) {
        List<LockRecord> b = new ArrayList<>();
        index.overlapping(r, o -> {
            if (r.blockedByHolder(o) || r.blockedByWaiter(o)) {
                b.add(o);
            }
        });
        b.sort(Comparator.comparingLong(o -> o.id));
        return b;
    }

    /** Grants {@code r} what it waits for (or more, BROADER_OK and nobody else near): token = {@code idx}. */
    private void grant(long idx, LockRecord r, List<CacEvent> out) {
        boolean first = !r.isHeld();
        CacState s = r.wanted;
        if (first && s == CacState.SHARED && (r.flags & BROADER_OK) != 0 && alone(r)) {
            s = CacState.EXCLUSIVE;
        }
        stopWaiting(r);
        r.held = s;
        r.token = idx;
        out.add(first ? new CacEvent.Granted(r.id, r.home, s, idx, r.leaseMs) : new CacEvent.Changed(r.id, r.home, s, idx));
        // waits it now blocks as a holder: ask it to make way
        List<LockRecord> behind = new ArrayList<>();
        index.overlapping(r, o -> {
            if (o.isWaiting() && o.blockedByHolder(r)) {
                behind.add(o);
            }
        });
        behind.sort(Comparator.comparingLong(o -> o.seq));
        for (LockRecord w : behind) {
            askDowngrade(idx, r, w, out);
        }
    }

    /** Whether no other owner holds or waits for anything that meets {@code r}. */
    private boolean alone(LockRecord r) {
        boolean[] other = {false};
        index.overlapping(r, o -> other[0] |= !o.owner.equals(r.owner));
        return !other[0];
    }

    /** After {@code gone} went or went down: grants, in FIFO order, the waits it may have let through. */
    private void regrant(long idx, LockRecord gone, List<CacEvent> out) {
        List<LockRecord> candidates = new ArrayList<>();
        index.overlapping(gone, o -> {
            if (o.isWaiting()) {
                candidates.add(o);
            }
        });
        candidates.sort(Comparator.comparingLong(o -> o.seq));
        for (LockRecord w : candidates) {
            if (w.isWaiting() && blockers(w).isEmpty()) {
                grant(idx, w, out);
            }
        }
        relax(gone, out);
    }

    /**
     * After {@code gone} went or changed: a holder near it that was asked to downgrade keeps only
     * what the waits still blocked by it need — nothing, if none is left (a waiter that gave up
     * must not cost a holder its lock), and its lease then stops.
     */
    private void relax(LockRecord gone, List<CacEvent> out) {
        List<LockRecord> asked = new ArrayList<>();
        index.overlapping(gone, o -> {
            if (o.isHeld() && o.downgradeTo != null) {
                asked.add(o);
            }
        });
        asked.sort(Comparator.comparingLong(o -> o.id));
        for (LockRecord h : asked) {
            CacState[] need = {null};
            index.overlapping(h, w -> {
                if (w.isWaiting() && w.blockedByHolder(h)) {
                    CacState t = target(w, h);
                    if (need[0] == null || t.compareTo(need[0]) < 0) {
                        need[0] = t;
                    }
                }
            });
            if (need[0] == null) {
                h.downgradeTo = null;
                if (!h.lost) {
                    out.add(new CacEvent.LeaseEnded(h.id, h.home));
                }
            } else if (need[0].compareTo(h.downgradeTo) > 0) {
                h.downgradeTo = need[0];
            }
        }
    }

    /** The highest state holder {@code h} may keep without blocking waiter {@code w}. */
    private static CacState target(LockRecord w, LockRecord h) {
        return w.wanted == CacState.SHARED && h.held.exclusive() ? CacState.SHARED : CacState.INVAL;
    }

    /** Asks every holder that blocks {@code w} to make way. */
    private void askDowngrades(long idx, LockRecord w, List<CacEvent> out) {
        for (LockRecord h : blockers(w)) {
            if (w.blockedByHolder(h)) {
                askDowngrade(idx, h, w, out);
            }
        }
    }

    /** Asks holder {@code h} to go down to what {@code w} can live with, unless a lower target is pending. */
    private static void askDowngrade(long idx, LockRecord h, LockRecord w, List<CacEvent> out) {
        CacState target = target(w, h);
        if (h.downgradeTo != null && h.downgradeTo.compareTo(target) <= 0) {
            return;
        }
        boolean leased = h.leaseRuns();
        h.downgradeTo = target;
        out.add(new CacEvent.Downgrade(h.id, h.home, target));
        if (!leased) {
            out.add(new CacEvent.LeaseStarted(h.id, h.home, h.leaseMs, EXPIRE_DOWNGRADE));
        }
    }

    /**
     * The cycle of owners {@code r}'s wait would close (docs/CAC.md §4), described, or {@code null}:
     * a path from an owner {@code r} waits for back to {@code r}'s owner through other waits.
     */
    private String cycle(LockRecord r, List<LockRecord> blockers) {
        Map<Owner, LockRecord> via = new LinkedHashMap<>(); // owner reached -> the lock that led there
        Deque<Owner> todo = new ArrayDeque<>();
        for (LockRecord b : blockers) {
            if (via.putIfAbsent(b.owner, b) == null) {
                todo.add(b.owner);
            }
        }
        Set<Owner> seen = new HashSet<>(via.keySet());
        while (!todo.isEmpty()) {
            Owner o = todo.poll();
            for (LockRecord w : waitingByOwner.getOrDefault(o, EMPTY).values()) {
                for (LockRecord b : blockers(w)) {
                    if (b.owner.equals(r.owner)) {
                        return r.owner.name() + " would wait for " + via.get(o) + ", whose owner waits (" + w
                            + ") for " + b + ": a deadlock; this request is refused";
                    }
                    if (seen.add(b.owner)) {
                        via.put(b.owner, via.get(o));
                        todo.add(b.owner);
                    }
                }
            }
        }
        return null;
    }

    // ---- bookkeeping -----------------------------------------------------------------------

    private void add(LockRecord r) {
        byId.put(r.id, r);
        index.add(r);
    }

    private void remove(LockRecord r) {
        stopWaiting(r);
        byId.remove(r.id);
        index.remove(r);
    }

    private void startWaiting(LockRecord r) {
        waiting.put(r.seq, r);
        waitingByOwner.computeIfAbsent(r.owner, o -> new TreeMap<>()).put(r.seq, r);
    }

    private void stopWaiting(LockRecord r) {
        if (r.wanted == null) {
            return;
        }
        waiting.remove(r.seq, r);
        TreeMap<Long, LockRecord> s = waitingByOwner.get(r.owner);
        if (s != null && s.remove(r.seq, r) && s.isEmpty()) {
            waitingByOwner.remove(r.owner);
        }
        r.wanted = null;
    }

    /** Restores one lock from a snapshot, as {@link #all} showed it. */
    public void restore(LockView v) {
        LockRecord r = new LockRecord(v.id(), v.owner(), v.home(), v.key(), v.domain(), v.flags(), v.leaseMs());
        r.held = v.held();
        r.token = v.token();
        r.downgradeTo = v.downgradeTo();
        r.lost = v.lost();
        add(r);
        if (v.wanted() != null) {
            r.wanted = v.wanted();
            r.seq = v.seq();
            startWaiting(r);
        }
    }
}
