package dev.dmsg.testkit.linear;

import java.util.Objects;

/**
 * A register per key (Knossos's {@code cas-register}): {@code read() -> value},
 * {@code write(value) -> nil}, {@code cas(expected, new) -> true|false}. Values are strings or
 * longs; {@code null} is an absent key, so {@code write(nil)} is a delete and
 * {@code cas(nil, v)} a create-if-absent. Every key starts absent.
 */
public final class RegisterModel implements Model<RegisterModel.Value> {
    /** The register's content; {@code value} null when absent. */
    public record Value(Object value) {
        @Override
        public String toString() {
            return Op.show(value);
        }
    }

    private static final Value ABSENT = new Value(null);

    /** Reads {@code key}; the result is the value read, {@code null} when absent. */
    public static Op read(String key) {
        return Op.of(key, "read");
    }

    /** Writes {@code value} ({@code null}: deletes) to {@code key}; the result is {@code null}. */
    public static Op write(String key, Object value) {
        return Op.of(key, "write", value);
    }

    /** Sets {@code key} to {@code value} if it holds {@code expected}; the result says whether it did. */
    public static Op cas(String key, Object expected, Object value) {
        return Op.of(key, "cas", expected, value);
    }

    @Override
    public Value initial() {
        return ABSENT;
    }

    @Override
    public Value step(Value state, Op op, Object result) {
        boolean unknown = result == UNKNOWN;
        switch (op.f()) {
            case "read" -> {
                arity(op, 0);
                return unknown || Objects.equals(state.value(), result) ? state : null;
            }
            case "write" -> {
                arity(op, 1);
                return unknown || result == null ? new Value(op.arg(0)) : null;
            }
            case "cas" -> {
                arity(op, 2);
                boolean matches = Objects.equals(state.value(), op.arg(0));
                if (unknown) {
                    // One that could not swap changed nothing: leaving it out says the same, with less search.
                    return matches ? new Value(op.arg(1)) : null;
                }
                if (!(result instanceof Boolean swapped)) {
                    return null;
                }
                if (swapped != matches) {
                    return null;
                }
                return swapped ? new Value(op.arg(1)) : state;
            }
            default -> throw new IllegalArgumentException("op f \"" + op.f() + "\": the register knows read, write, cas");
        }
    }

    @Override
    public boolean readOnly(Op op) {
        return op.f().equals("read");
    }

    private static void arity(Op op, int n) {
        if (op.args().size() != n) {
            throw new IllegalArgumentException("op " + op.f() + " args: " + op.args().size() + " given, " + n + " expected");
        }
    }
}
