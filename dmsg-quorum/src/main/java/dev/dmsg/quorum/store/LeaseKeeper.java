package dev.dmsg.quorum.store;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.function.LongSupplier;

/**
 * The leases of prepared batches (docs/QUORUM.md §4 "Lost initiator"), counted by the leader
 * only: a batch's deadline is when this member applied its PREPARE while leader, or when it
 * became leader for batches prepared before, plus {@code lease_ms} — never shorter than the lease.
 * When a deadline passes, {@link #tick} hands the txid to the expiry callback, which proposes an
 * EXPIRE entry; the log then decides (a COMMIT applied first wins, and the EXPIRE is a no-op).
 *
 * <p>Every member keeps the set of prepared txids and their leases (fed from the applied entries),
 * so that a member that becomes leader knows them all; only the leader keeps deadlines.
 *
 * <p>Threading: {@link #prepared}/{@link #resolved}/{@link #reset} come from the applying thread,
 * {@link #becameLeader}/{@link #lostLeadership} from Ratis's event threads, {@link #tick} from the
 * member's scheduler (every 100 ms). All take this object's lock; the callback runs after it, on
 * the thread that called {@link #tick}.
 */
public final class LeaseKeeper {
    /** After handing out an expiry, ask again this much later if the batch is still prepared (the EXPIRE may have been lost). */
    static final long RETRY_NANOS = TimeUnit.SECONDS.toNanos(1);

    private final LongSupplier nanoClock;
    private final Consumer<Txid> onExpired;
    private final Map<Txid, Lease> leases = new HashMap<>();
    private boolean leader;

    private static final class Lease {
        final long leaseNanos;
        /** Meaningful only while leader. */
        long deadlineNanos;

        Lease(int leaseMs) {
            this.leaseNanos = TimeUnit.MILLISECONDS.toNanos(leaseMs);
        }
    }

    /**
     * @param nanoClock the member's monotonic clock ({@code System::nanoTime}; tests: a FakeClock)
     * @param onExpired told each txid whose lease ran out, while leader: propose EXPIRE(txid)
     */
    public LeaseKeeper(LongSupplier nanoClock, Consumer<Txid> onExpired) {
        this.nanoClock = Objects.requireNonNull(nanoClock, "nanoClock");
        this.onExpired = Objects.requireNonNull(onExpired, "onExpired");
    }

    /** A PREPARE was applied with its (normalised) lease: if leader, the lease starts now. */
    public synchronized void prepared(Txid txid, int leaseMs) {
        Lease l = new Lease(leaseMs);
        if (leader) {
            l.deadlineNanos = nanoClock.getAsLong() + l.leaseNanos;
        }
        leases.putIfAbsent(txid, l);
    }

    /** A COMMIT, ABORT or EXPIRE of {@code txid} was applied. */
    public synchronized void resolved(Txid txid) {
        leases.remove(txid);
    }

    /** A snapshot replaced the state: these are the prepared txids now, with their leases in ms. */
    public synchronized void reset(Map<Txid, Integer> prepared) {
        leases.clear();
        long now = nanoClock.getAsLong();
        prepared.forEach((t, ms) -> {
            Lease l = new Lease(ms);
            l.deadlineNanos = now + l.leaseNanos;
            leases.put(t, l);
        });
    }

    /** This member became leader: every batch prepared so far gets a whole lease from now. */
    public synchronized void becameLeader() {
        long now = nanoClock.getAsLong();
        leader = true;
        for (Lease l : leases.values()) {
            l.deadlineNanos = now + l.leaseNanos;
        }
    }

    /** This member is no longer leader: it stops counting (the next leader starts again). */
    public synchronized void lostLeadership() {
        leader = false;
    }

    public synchronized boolean isLeader() {
        return leader;
    }

    /** Hands every expired txid to the callback (leader only); each is asked again after {@link #RETRY_NANOS} if still prepared. */
    public void tick() {
        List<Txid> expired = new ArrayList<>();
        synchronized (this) {
            if (!leader) {
                return;
            }
            long now = nanoClock.getAsLong();
            for (Map.Entry<Txid, Lease> e : leases.entrySet()) {
                Lease l = e.getValue();
                if (now - l.deadlineNanos >= 0) {
                    expired.add(e.getKey());
                    l.deadlineNanos = now + RETRY_NANOS;
                }
            }
        }
        expired.forEach(onExpired);
    }

    /** Txids tracked (every member). */
    public synchronized int size() {
        return leases.size();
    }

    /** Nanos until {@code txid}'s lease runs out, or {@code null} if not leader or not prepared (tests, status). */
    synchronized Long remainingNanos(Txid txid) {
        Lease l = leases.get(txid);
        return l == null || !leader ? null : l.deadlineNanos - nanoClock.getAsLong();
    }
}
