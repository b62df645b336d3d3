package dev.dmsg.quorum.store;

import dev.dmsg.quorum.cac.CacKey;
import dev.dmsg.quorum.cac.LockTable;
import dev.dmsg.wire.qrm.Batch;
import dev.dmsg.wire.qrm.Compare;
import dev.dmsg.wire.qrm.Op;
import dev.dmsg.wire.qrm.Results;
import dev.dmsg.wire.qrm.WatchEvent;
import java.util.Collection;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Everything a log entry changes (docs/QUORUM.md §2, §4): the store, and the table of prepared
 * batches with the keys they reserve. One method per entry kind; {@link #apply} dispatches.
 *
 * <p>Pure and deterministic: no clock, no random source, no iteration over a hash order that
 * could differ between members. Every member that applies the same entries in the same order
 * ends in the same state and gives the same outcomes. Leases are not here: their clock is the
 * leader's ({@link LeaseKeeper}), and their end is itself a log entry (EXPIRE).
 *
 * <p>Not thread-safe: entries are applied on one thread; readers on other threads must hold the
 * lock of whoever owns this ({@link KvStateMachine}).
 */
public final class KvState {
    /** lease_ms when a PREPARE says 0 (docs/QUORUM.md §3.2). */
    public static final int DEFAULT_LEASE_MS = 10_000;
    /** lease_ms ceiling. */
    public static final int MAX_LEASE_MS = 60_000;
    /** Prepared batches the whole group may hold at once (docs/QUORUM.md §6). */
    public static final int DEFAULT_MAX_PREPARED = 4_096;

    /**
     * A prepared batch: which branch its compares chose ({@code held}: success), the PREPARE's
     * log {@code index}, its lease, and the keys and prefixes it reserves.
     */
    record Prepared(Txid txid, long index, int leaseMs, boolean held, Batch batch, Reservations.Claims claims) {
        List<Op> branch() {
            return held ? batch.success() : batch.failure();
        }
    }

    /** Told every change, in revision order, on the applying thread (the watch history). */
    interface ChangeListener {
        void changed(long revision, List<WatchEvent> events);
    }

    private final KvStore store = new KvStore();
    private final Map<Txid, Prepared> prepared = new LinkedHashMap<>();
    private final Reservations reservations = new Reservations();
    /** The group's locks (docs/CAC.md): the same log, the same snapshot. */
    private final LockTable locks = new LockTable();
    private final int maxPrepared;
    private ChangeListener listener = (r, e) -> { };

    public KvState() {
        this(DEFAULT_MAX_PREPARED);
    }

    public KvState(int maxPrepared) {
        if (maxPrepared < 1) {
            throw new IllegalArgumentException("maxPrepared " + maxPrepared + " < 1");
        }
        this.maxPrepared = maxPrepared;
    }

    void setChangeListener(ChangeListener l) {
        listener = Objects.requireNonNull(l);
    }

    /** Applies the entry at log {@code index}. */
    public Outcome apply(long index, LogEntry entry) {
        if (entry instanceof LogEntry.Prepare p) {
            return prepare(index, p.txid(), p.leaseMs(), p.batch());
        } else if (entry instanceof LogEntry.Commit c) {
            return commit(c.txid());
        } else if (entry instanceof LogEntry.Abort a) {
            return abort(a.txid(), a.why());
        } else if (entry instanceof LogEntry.Expire e) {
            return expire(e.txid());
        } else if (entry instanceof LogEntry.Write w) {
            return write(w.batch());
        } else if (entry instanceof LogEntry.Lock l) {
            return new Outcome.Locked(l.entry().applyTo(locks, index));
        }
        throw new AssertionError(entry);
    }

    /**
     * Phase 1 (docs/QUORUM.md §4): the compares are checked here, at this log position, the
     * branch chosen, and the compared keys and the branch's keys reserved. Refused, with nothing
     * recorded, if one overlaps another prepared batch (CONFLICT) or the table is full (LIMIT).
     * A txid that is already prepared gets its first answer again and changes nothing.
     */
    public Outcome prepare(long index, Txid txid, int leaseMs, Batch batch) {
        Prepared existing = prepared.get(txid);
        if (existing != null) {
            return new Outcome.Prepared(existing.held(), existing.index());
        }
        if (prepared.size() >= maxPrepared) {
            return new Outcome.Limit();
        }
        if (batch.compares().stream().anyMatch(c -> c.target() == Compare.Target.LOCK)) {
            // a lock may be taken away between the two phases: its compare is exact only in one step
            return new Outcome.Invalid("a lock compare needs a one-phase write (docs/CAC.md §6)");
        }
        boolean held = store.evaluate(batch.compares());
        Reservations.Claims claims = Reservations.claims(batch.compares(), held ? batch.success() : batch.failure());
        Reservations.Overlap o = reservations.overlap(claims);
        if (o != null) {
            return new Outcome.Conflict(o.ownerIndex(), o.key());
        }
        prepared.put(txid, new Prepared(txid, index, lease(leaseMs), held, batch, claims));
        reservations.reserve(claims, index);
        return new Outcome.Prepared(held, index);
    }

    /** A PREPARE's lease_ms as applied: 0 is the default, and no more than the maximum. */
    static int lease(int leaseMs) {
        return leaseMs <= 0 ? DEFAULT_LEASE_MS : Math.min(leaseMs, MAX_LEASE_MS);
    }

    /** Phase 2: the prepared branch is applied as one revision and its keys released. */
    public Outcome commit(Txid txid) {
        Prepared p = prepared.remove(txid);
        if (p == null) {
            return new Outcome.NotPrepared();
        }
        reservations.release(p.claims());
        // The compared keys stayed reserved since the PREPARE, so the choice made then still holds.
        return applyBranch(p.branch(), p.held());
    }

    /**
     * The initiator's ABORT, or its member's on losing it: keys released, nothing written.
     * {@code why} changes nothing here; it stays in the log for whoever reads it later.
     */
    public Outcome abort(Txid txid, LogEntry.Why why) {
        return drop(txid);
    }

    /** The leader's EXPIRE when the lease ran out: as ABORT. A no-op if COMMIT came first. */
    public Outcome expire(Txid txid) {
        return drop(txid);
    }

    private Outcome drop(Txid txid) {
        Prepared p = prepared.remove(txid);
        if (p == null) {
            return new Outcome.NotPrepared();
        }
        reservations.release(p.claims());
        return new Outcome.Aborted();
    }

    /** ONE_PHASE: compares, the same conflict check as a PREPARE, and the apply, in one step. */
    public Outcome write(Batch batch) {
        boolean held = holds(batch.compares());
        List<Op> branch = held ? batch.success() : batch.failure();
        Reservations.Overlap o = reservations.overlap(Reservations.claims(storeCompares(batch.compares()), branch));
        if (o != null) {
            return new Outcome.Conflict(o.ownerIndex(), o.key());
        }
        return applyBranch(branch, held);
    }

    /**
     * Whether every compare holds now: the store's against the store, a LOCK compare against the
     * lock table (docs/CAC.md §6) — its key a lock's path (any other key holds nothing), its
     * number the token.
     */
    private boolean holds(List<Compare> compares) {
        for (Compare c : compares) {
            if (c.target() == Compare.Target.LOCK) {
                String path = c.key().utf8();
                boolean fenced = CacKey.problem(path) == null && locks.fences(CacKey.of(path), c.number());
                if (fenced != (c.result() == Compare.Result.EQUAL)) {
                    return false;
                }
            } else if (!store.evaluate(List.of(c))) {
                return false;
            }
        }
        return true;
    }

    /** The compares that name store keys (a LOCK compare names a lock's path, which reserves nothing). */
    private static List<Compare> storeCompares(List<Compare> compares) {
        return compares.stream().noneMatch(c -> c.target() == Compare.Target.LOCK) ? compares
            : compares.stream().filter(c -> c.target() != Compare.Target.LOCK).toList();
    }

    private Outcome applyBranch(List<Op> branch, boolean held) {
        KvStore.Applied a = store.apply(branch, held);
        if (!a.events().isEmpty()) {
            listener.changed(store.revision(), a.events());
        }
        return new Outcome.Done(store.revision(), a.results());
    }

    /**
     * A read batch (GETs only) at the current state; prepared batches do not hide anything, since
     * what they will write is not yet written.
     *
     * @throws IllegalArgumentException if an op writes
     */
    public Outcome.Done read(Batch batch) {
        boolean held = holds(batch.compares());
        Results r = store.read(held ? batch.success() : batch.failure(), held);
        return new Outcome.Done(store.revision(), r);
    }

    public long revision() {
        return store.revision();
    }

    public int preparedCount() {
        return prepared.size();
    }

    /** Number of keys in the store. */
    public int size() {
        return store.size();
    }

    /** The prepared batches in the order they were prepared (snapshots, leases after a restore). */
    Collection<Prepared> prepared() {
        return Collections.unmodifiableCollection(prepared.values());
    }

    KvStore store() {
        return store;
    }

    /** Snapshot restore: re-derives the reservations from the batch, as the PREPARE did. */
    void restorePrepared(Txid txid, long index, int leaseMs, boolean held, Batch batch) {
        Reservations.Claims claims = Reservations.claims(batch.compares(), held ? batch.success() : batch.failure());
        Reservations.Overlap o = reservations.overlap(claims);
        if (o != null || prepared.containsKey(txid)) {
            throw new IllegalStateException("snapshot: prepared " + txid + " at index " + index
                + " overlaps index " + (o == null ? "(same txid)" : o.ownerIndex()));
        }
        prepared.put(txid, new Prepared(txid, index, leaseMs, held, batch, claims));
        reservations.reserve(claims, index);
    }

    /** Same store and same prepared table, in the same order (tests: determinism, snapshots). */
    boolean sameAs(KvState o) {
        return store.sameAs(o.store)
            && List.copyOf(prepared.values()).equals(List.copyOf(o.prepared.values()))
            && reservations.size() == o.reservations.size()
            && locks.all().equals(o.locks.all());
    }

    /** The lock table (docs/CAC.md §2): its queries; applying goes through {@link #apply}. */
    public LockTable locks() {
        return locks;
    }
}
