package dev.dmsg.quorum.cac;

/**
 * One lock in the table (docs/CAC.md §2): what was asked, and what is held and pending now.
 * Mutable, and touched only by the {@link LockTable} that owns it, on the applying thread.
 */
final class LockRecord {
    final long id;
    final LockTable.Owner owner;
    final LockTable.Home home;
    final CacKey key;
    final CacDomain domain;
    final int flags;
    final int leaseMs;
    /** The state granted; INVAL until the first grant. */
    CacState held = CacState.INVAL;
    /** The state waited for (the request, or an upgrade), or {@code null} when nothing waits. */
    CacState wanted;
    /** The index at which {@link #wanted} started to wait: FIFO order. */
    long seq;
    /** The fencing token of the current grant (0 before the first). */
    long token;
    /** The downgrade asked of the holder and not yet met, or {@code null}. */
    CacState downgradeTo;
    /** The home lost the transaction: the lock goes when its lease passes. */
    boolean lost;

    LockRecord(long id, LockTable.Owner owner, LockTable.Home home, CacKey key, CacDomain domain, int flags, int leaseMs) {
        this.id = id;
        this.owner = owner;
        this.home = home;
        this.key = key;
        this.domain = domain;
        this.flags = flags;
        this.leaseMs = leaseMs;
    }

    boolean isHeld() {
        return held != CacState.INVAL;
    }

    boolean isWaiting() {
        return wanted != null;
    }

    /** Whether a lease runs on it (docs/CAC.md §3): a downgrade unmet, or the holder lost. */
    boolean leaseRuns() {
        return isHeld() && (downgradeTo != null || lost);
    }

    /** Whether this lock's coverage meets {@code o}'s (docs/CAC.md §1), whatever the states. */
    boolean overlaps(LockRecord o) {
        return CacDomain.overlap(key, domain, o.key, o.domain);
    }

    /** Whether {@code o}, as it holds now, keeps this lock's wait ({@link #wanted}) from being granted. */
    boolean blockedByHolder(LockRecord o) {
        return o != this && !o.owner.equals(owner) && o.isHeld() && o.held.conflictsWith(wanted) && overlaps(o);
    }

    /** Whether {@code o}, waiting ahead of this lock, keeps this lock's wait from being granted (FIFO). */
    boolean blockedByWaiter(LockRecord o) {
        return o != this && !o.owner.equals(owner) && o.isWaiting() && o.seq < seq && o.wanted.conflictsWith(wanted)
            && overlaps(o);
    }

    @Override
    public String toString() {
        return "lock " + id + " (" + owner.name() + (owner.id() == 0 ? "" : "#" + Long.toHexString(owner.id())) + ", "
            + domain.word() + " " + key + (isHeld() ? ", holds " + held.word() : "")
            + (isWaiting() ? ", waits for " + wanted.word() : "") + ")";
    }
}
