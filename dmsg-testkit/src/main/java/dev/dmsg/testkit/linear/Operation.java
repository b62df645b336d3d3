package dev.dmsg.testkit.linear;

import java.util.Objects;

/**
 * One operation of a history, its invocation joined with its completion: what the checker
 * orders. {@code completeNanos} is {@link Long#MAX_VALUE} for an operation still open when the
 * history was read; an {@link Outcome#UNKNOWN} one is open for the checker whatever its time.
 */
public record Operation(int id, int client, Op op, long invokeNanos, Outcome outcome, long completeNanos,
                        Object result) {
    /** Checks what the search relies on: an operation completes no earlier than it was invoked. */
    public Operation {
        Objects.requireNonNull(op, "op");
        Objects.requireNonNull(outcome, "outcome");
        if (completeNanos < invokeNanos) {
            throw new IllegalArgumentException("op #" + id + ": completeNanos " + completeNanos + " < invokeNanos "
                + invokeNanos);
        }
    }

    /** How an operation ended, as the client saw it (Jepsen's {@code :ok}, {@code :fail}, {@code :info}). */
    public enum Outcome {
        /** It took effect, once, between invocation and completion; {@code result} is its answer. */
        OK,
        /** It certainly did not take effect (refused before anything happened); the checker drops it. */
        FAIL,
        /** It may or may not have taken effect, at any time after its invocation (a timeout, LOSTLINK). */
        UNKNOWN
    }

    /** {@code #id c<client> [invoke,complete] op -> result}, times as given, an open end as {@code ?}. */
    @Override
    public String toString() {
        String end = outcome == Outcome.OK ? Long.toString(completeNanos) : "?";
        String out = switch (outcome) {
            case OK -> Op.show(result);
            case FAIL -> "fail";
            case UNKNOWN -> "unknown";
        };
        return "#" + id + " c" + client + " [" + invokeNanos + "," + end + "] " + op.key() + " " + op + " -> " + out;
    }
}
