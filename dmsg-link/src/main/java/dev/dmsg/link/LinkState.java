package dev.dmsg.link;

import java.util.EnumSet;
import java.util.Set;

/**
 * A link's lifecycle, with the states each may be entered from (Ratis {@code LifeCycle}).
 * {@link Iocom} makes every change through one transition method that logs {@code from -> to}.
 *
 * <pre>
 * NEW -> OPENING -> UP -> CLOSING -> CLOSED
 *          |         |                 ^
 *          +---------+-----------------+   (any failure)
 * </pre>
 *
 * AUTH (a later issue) will sit between NEW and OPENING.
 */
public enum LinkState {
    /** Created; transport not started. */
    NEW,
    /** Transport up, our LNK_CONN sent, the peer's not yet received. */
    OPENING,
    /** The peer's LNK_CONN received and answered. */
    UP,
    /** Orderly close under way: our DELETEs sent, waiting for the socket to close. */
    CLOSING,
    /** Gone; every transaction has been aborted. Terminal. */
    CLOSED;

    private Set<LinkState> predecessors;

    static {
        NEW.predecessors = EnumSet.noneOf(LinkState.class);
        OPENING.predecessors = EnumSet.of(NEW);
        UP.predecessors = EnumSet.of(OPENING);
        CLOSING.predecessors = EnumSet.of(OPENING, UP);
        CLOSED.predecessors = EnumSet.of(NEW, OPENING, UP, CLOSING);
    }

    public boolean canEnterFrom(LinkState from) {
        return predecessors.contains(from);
    }

    public boolean isAlive() {
        return this == OPENING || this == UP;
    }
}
