package dev.dmsg.testkit.linear;

/**
 * A sequential specification (Porcupine's {@code Model}): a start state and what one operation
 * does to a state. The checker memoises on states, so a state must be an immutable value with
 * {@code equals} and {@code hashCode} (a record), and never {@code null}.
 *
 * @param <S> the state
 */
public interface Model<S> {
    /** The result of an operation whose outcome is unknown, passed to {@link #step}. */
    Object UNKNOWN = new Object() {
        @Override
        public String toString() {
            return "unknown";
        }
    };

    /** The state before any operation. */
    S initial();

    /**
     * The state after {@code op} is applied to {@code state} and answers {@code result}, or
     * {@code null} if the specification cannot give that answer from that state. For a result of
     * {@link #UNKNOWN}, the state after {@code op} takes effect with whatever answer it would give:
     * that it did not take effect at all the checker covers by leaving it out.
     *
     * @throws IllegalArgumentException for an op the model does not know, naming it
     */
    S step(S state, Op op, Object result);

    /**
     * Whether {@code op} never changes the state (a read): an unknown read-only operation
     * constrains nothing, so the checker drops it instead of searching where to put it.
     */
    default boolean readOnly(Op op) {
        return false;
    }

    /** The state as an explanation prints it. */
    default String describe(S state) {
        return String.valueOf(state);
    }
}
