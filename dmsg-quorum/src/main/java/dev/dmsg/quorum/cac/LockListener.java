package dev.dmsg.quorum.cac;

import java.util.List;

/**
 * Told what every lock entry did, in log order, on the state machine's applying thread after the
 * state is unlocked (docs/CAC.md §5): a member's lock service picks the events of the locks it is
 * home to and sends their messages. Must not block.
 */
public interface LockListener {
    /** The entry at {@code index} was applied and caused {@code events} (an ACQUIRE's lock id is {@code index}). */
    void applied(long index, CacEntry entry, List<CacEvent> events);

    /** The table was replaced by a snapshot's: what was known of its locks may be stale. */
    default void restored() {
    }
}
