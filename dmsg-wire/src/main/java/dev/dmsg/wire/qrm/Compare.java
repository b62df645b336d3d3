package dev.dmsg.wire.qrm;

import java.util.Objects;

/**
 * One condition of a batch (docs/QUORUM.md §3.3): {@code target(key) result operand}. The operand
 * is {@code value} for {@link Target#VALUE} ({@code null}: the key is absent), else {@code number}.
 * {@link Target#LOCK}'s key is a lock's path and its number a fencing token (docs/CAC.md §6):
 * {@code lock(KEY) = TOKEN} holds iff a lock granted with TOKEN is held EXCLUSIVE or MODIFIED now
 * and covers KEY; only EQUAL and NOT_EQUAL, and only in a one-phase write.
 */
public record Compare(Target target, Result result, Blob key, Blob value, long number) {
    public Compare {
        Objects.requireNonNull(target, "target");
        Objects.requireNonNull(result, "result");
        Objects.requireNonNull(key, "key");
        if (target == Target.VALUE ? number != 0 : value != null) {
            throw new IllegalArgumentException(target == Target.VALUE
                ? "a VALUE compare has no number" : target + " compares a number, not a value");
        }
        if (target == Target.LOCK && result != Result.EQUAL && result != Result.NOT_EQUAL) {
            throw new IllegalArgumentException("a LOCK compare is EQUAL or NOT_EQUAL, not " + result);
        }
    }

    public enum Target {
        VALUE(1), VERSION(2), CREATE_REVISION(3), MOD_REVISION(4), LOCK(5);

        public final int code;

        Target(int code) {
            this.code = code;
        }

        /** The target with wire code {@code c}, or {@code null}. */
        public static Target of(int c) {
            for (Target t : values()) {
                if (t.code == c) {
                    return t;
                }
            }
            return null;
        }
    }

    public enum Result {
        EQUAL(1), NOT_EQUAL(2), LESS(3), GREATER(4);

        public final int code;

        Result(int code) {
            this.code = code;
        }

        /** The result with wire code {@code c}, or {@code null}. */
        public static Result of(int c) {
            for (Result r : values()) {
                if (r.code == c) {
                    return r;
                }
            }
            return null;
        }

        /** Whether {@code cmp} (a compareTo of actual against operand) satisfies this result. */
        public boolean holds(int cmp) {
            switch (this) {
                case EQUAL: return cmp == 0;
                case NOT_EQUAL: return cmp != 0;
                case LESS: return cmp < 0;
                case GREATER: return cmp > 0;
                default: throw new AssertionError(this);
            }
        }
    }

    /** {@code value(key) r value}; a {@code null} value is "absent" (the key does not exist). */
    public static Compare value(Blob key, Result r, Blob value) {
        return new Compare(Target.VALUE, r, key, value, 0);
    }

    public static Compare number(Target t, Blob key, Result r, long n) {
        if (t == Target.VALUE) {
            throw new IllegalArgumentException("VALUE compares a value, not a number");
        }
        return new Compare(t, r, key, null, n);
    }
}
