package dev.dmsg.quorum.cac;

import java.util.List;
import java.util.Objects;

/**
 * A lock entry of the group's log (docs/CAC.md §5), applied by {@link LockTable}; encoded by
 * {@link CacEntries}. The lock an entry names is its ACQUIRE entry's index.
 */
public sealed interface CacEntry {
    /** A request, proposed by its home; {@code nonce} lets the home find its lock's id when it is applied. */
    record Acquire(long nonce, LockTable.Acquire request) implements CacEntry {
        public Acquire {
            Objects.requireNonNull(request, "request");
        }
    }

    /** The holder's CHANGE (or a downgrade met). */
    record Change(long lock, CacState state) implements CacEntry {
        public Change {
            Objects.requireNonNull(state, "state");
        }
    }

    /** The holder's DELETE. */
    record Release(long lock) implements CacEntry {}

    /** A wait given up: {@code why} is one of LockTable.CANCEL_*. */
    record Cancel(long lock, int why) implements CacEntry {}

    /** The home lost the holder's transaction. */
    record Lost(long lock) implements CacEntry {}

    /** The leader saw a lease pass: {@code why} is one of LockTable.EXPIRE_*. */
    record Expire(long lock, int why) implements CacEntry {}

    /** A member started: locks of its older incarnations are lost. */
    record HomeUp(LockTable.Home home) implements CacEntry {
        public HomeUp {
            Objects.requireNonNull(home, "home");
        }
    }

    /** Applies this entry, at log {@code index}, to {@code t}. */
    default List<CacEvent> applyTo(LockTable t, long index) {
        if (this instanceof Acquire a) {
            return t.acquire(index, a.request());
        } else if (this instanceof Change c) {
            return t.change(index, c.lock(), c.state());
        } else if (this instanceof Release r) {
            return t.release(index, r.lock());
        } else if (this instanceof Cancel c) {
            return t.cancel(index, c.lock(), c.why());
        } else if (this instanceof Lost l) {
            return t.lost(index, l.lock());
        } else if (this instanceof Expire x) {
            return t.expire(index, x.lock(), x.why());
        } else if (this instanceof HomeUp h) {
            return t.home(index, h.home());
        }
        throw new AssertionError(this);
    }
}
