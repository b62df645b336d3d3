package dev.dmsg.quorum.cac;

/** A cache state (docs/CAC.md §1), in increasing order; {@link #wire} is its value in the header. */
public enum CacState {
    INVAL, SHARED, EXCLUSIVE, MODIFIED;

    public int wire() {
        return ordinal();
    }

    /** The state with wire value {@code v}, or {@code null}. */
    public static CacState of(int v) {
        return v >= 0 && v < values().length ? values()[v] : null;
    }

    /** Whether a holder in this state excludes every other owner (EXCLUSIVE, MODIFIED). */
    public boolean exclusive() {
        return this == EXCLUSIVE || this == MODIFIED;
    }

    /** Whether this state and {@code o}, on overlapping locks of different owners, conflict. */
    public boolean conflictsWith(CacState o) {
        return this != INVAL && o != INVAL && (exclusive() || o.exclusive());
    }

    public String word() {
        return name().toLowerCase();
    }
}
