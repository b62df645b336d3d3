package dev.dmsg.testkit.linear;

/** What the checker concluded, for one key or a whole history. */
public enum Verdict {
    /** An order exists that the model accepts and that respects real time. */
    LINEARIZABLE,
    /** No such order exists: the explanation shows how far the search got. */
    NOT_LINEARIZABLE,
    /** The search ran out of its step or time budget (Porcupine's {@code Unknown}): a test must fail on it. */
    GAVE_UP
}
