package dev.dmsg.quorum.cac;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;

/**
 * The leader's clock for lock leases (docs/CAC.md §3): a lock whose holder was asked to downgrade,
 * or lost, is revoked {@code lease_ms} after the leader applied the entry that started its lease,
 * or after it became leader, whichever is later — never sooner. When a deadline passes,
 * {@link #tick} hands the lock to the expiry callback, which proposes EXPIRE; the log decides (a
 * CHANGE or RELEASE applied first makes the EXPIRE a no-op).
 *
 * <p>Every member keeps the set of running leases (fed from the applied events), so that a new
 * leader knows them; only the leader keeps deadlines. Threading as {@code LeaseKeeper}: the
 * applying thread, Ratis's event threads and the member's scheduler, all under this object's lock;
 * the callback runs after it, on the ticking thread.
 */
public final class CacLeases {
    /** After handing out an expiry, ask again this much later if the lease still runs (the EXPIRE may have been lost). */
    static final long RETRY_NANOS = TimeUnit.SECONDS.toNanos(1);

    /** Tells the leader to propose EXPIRE for {@code lock}. */
    @FunctionalInterface
    public interface Expiry {
        void expire(long lock, int why);
    }

    /**
     * The system property that makes every member revoke without waiting for a lease: a
     * deliberately broken mode, for the lock checker to prove it catches it (docs/CAC.md §9).
     * Never set it anywhere else.
     */
    public static final String UNSAFE_NO_LEASE = "dmsg.unsafe.cac-no-lease";

    private final LongSupplier nanoClock;
    private final Expiry onExpired;
    private final boolean waitLeases;
    private final Map<Long, Lease> leases = new HashMap<>();
    private boolean leader;

    private static final class Lease {
        final long leaseNanos;
        final int why;
        long deadlineNanos;

        Lease(int leaseMs, int why, boolean wait) {
            this.leaseNanos = wait ? TimeUnit.MILLISECONDS.toNanos(leaseMs) : 0;
            this.why = why;
        }
    }

    public CacLeases(LongSupplier nanoClock, Expiry onExpired) {
        this(nanoClock, onExpired, true);
    }

    /**
     * @param waitLeases {@code false} only for the checker's broken mode ({@link #UNSAFE_NO_LEASE}):
     *     every lease is then over as soon as it starts
     */
    public CacLeases(LongSupplier nanoClock, Expiry onExpired, boolean waitLeases) {
        this.nanoClock = Objects.requireNonNull(nanoClock, "nanoClock");
        this.onExpired = Objects.requireNonNull(onExpired, "onExpired");
        this.waitLeases = waitLeases;
    }

    /** The events of one applied entry: leases that start and end. */
    public synchronized void applied(List<CacEvent> events) {
        for (CacEvent e : events) {
            if (e instanceof CacEvent.LeaseStarted s) {
                Lease l = new Lease(s.leaseMs(), s.why(), waitLeases);
                if (leader) {
                    l.deadlineNanos = nanoClock.getAsLong() + l.leaseNanos;
                }
                leases.put(s.lock(), l);
            } else if (e instanceof CacEvent.LeaseEnded x) {
                leases.remove(x.lock());
            }
        }
    }

    /** After a snapshot was loaded: the running leases are exactly {@code leased} (LockTable.leased()). */
    public synchronized void reset(List<LockTable.LockView> leased) {
        leases.clear();
        long now = nanoClock.getAsLong();
        for (LockTable.LockView v : leased) {
            Lease l = new Lease(v.leaseMs(), v.lost() ? LockTable.EXPIRE_LOST : LockTable.EXPIRE_DOWNGRADE,
                waitLeases);
            l.deadlineNanos = now + l.leaseNanos;
            leases.put(v.id(), l);
        }
    }

    /** This member became leader: every running lease gets its whole lease from now. */
    public synchronized void becameLeader() {
        leader = true;
        long now = nanoClock.getAsLong();
        for (Lease l : leases.values()) {
            l.deadlineNanos = now + l.leaseNanos;
        }
    }

    public synchronized void lostLeadership() {
        leader = false;
    }

    /** Running leases (status, tests). */
    public synchronized int size() {
        return leases.size();
    }

    /** While leader: proposes EXPIRE for each lease that passed (and again a second later if it is still there). */
    public void tick() {
        List<long[]> due = new ArrayList<>();
        synchronized (this) {
            if (!leader) {
                return;
            }
            long now = nanoClock.getAsLong();
            for (Map.Entry<Long, Lease> e : leases.entrySet()) {
                Lease l = e.getValue();
                if (now - l.deadlineNanos >= 0) {
                    due.add(new long[] {e.getKey(), l.why});
                    l.deadlineNanos = now + RETRY_NANOS;
                }
            }
        }
        due.sort((a, b) -> Long.compare(a[0], b[0]));
        for (long[] d : due) {
            onExpired.expire(d[0], (int) d[1]);
        }
    }
}
