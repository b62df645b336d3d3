package dev.dmsg.quorum.cac;

/**
 * What applying one lock entry caused (docs/CAC.md §3, §5), in order: the lock's home member turns
 * each into a message on the lock's transaction; the leader's lease clock follows
 * {@link LeaseStarted} and {@link LeaseEnded}. Every member computes the same events.
 */
public sealed interface CacEvent {
    /** The lock the event is about. */
    long lock();

    /** Its home member (who sends the message), as the ACQUIRE named it. */
    LockTable.Home home();

    /** The request waits behind lock {@code behind} (sent once, when it starts to wait). */
    record Waiting(long lock, LockTable.Home home, long behind) implements CacEvent {}

    /** The first grant: {@code state} (perhaps broader than asked), its fencing token, the lease as applied. */
    record Granted(long lock, LockTable.Home home, CacState state, long token, int leaseMs) implements CacEvent {}

    /** The holder is asked to go down to {@code target} (INVAL: release). */
    record Downgrade(long lock, LockTable.Home home, CacState target) implements CacEvent {}

    /** A CHANGE applied (or an upgrade granted): the state held now, and its token (new for an upgrade). */
    record Changed(long lock, LockTable.Home home, CacState state, long token) implements CacEvent {}

    /** The holder's release applied: the transaction ends. */
    record Released(long lock, LockTable.Home home) implements CacEvent {}

    /** A waiting request was cancelled ({@code why}: {@link LockTable#CANCEL_ABORTED} …); an upgrade dropped, if {@code upgrade}. */
    record Cancelled(long lock, LockTable.Home home, int why, boolean upgrade) implements CacEvent {}

    /** The entry was refused with {@code error} (a DMSG error code) and a one-line reason; nothing changed. */
    record Refused(long lock, LockTable.Home home, int error, String reason) implements CacEvent {}

    /** The lock was taken away (its lease passed); the holder's transaction ends with REVOKED. */
    record Revoked(long lock, LockTable.Home home, String reason) implements CacEvent {}

    /** The leader starts counting this lock's lease (a downgrade asked, or the holder lost). */
    record LeaseStarted(long lock, LockTable.Home home, int leaseMs, int why) implements CacEvent {}

    /** The lock's lease no longer runs (complied, released, revoked). */
    record LeaseEnded(long lock, LockTable.Home home) implements CacEvent {}
}
