package dev.dmsg.testkit.linear;

import java.util.List;

/**
 * The checker's answer for a history: one {@link KeyResult} per key, and a verdict over them —
 * {@link Verdict#NOT_LINEARIZABLE} if any key is, else {@link Verdict#GAVE_UP} if the search gave
 * up on any key, else {@link Verdict#LINEARIZABLE}.
 */
public final class CheckResult {
    /** At most this many failing keys are explained in full. */
    static final int KEYS_SHOWN = 3;

    private final Verdict verdict;
    private final List<KeyResult> keys;
    private final int operations;

    CheckResult(List<KeyResult> keys, int operations) {
        this.keys = List.copyOf(keys);
        this.operations = operations;
        Verdict v = Verdict.LINEARIZABLE;
        for (KeyResult k : keys) {
            if (k.verdict() == Verdict.NOT_LINEARIZABLE) {
                v = Verdict.NOT_LINEARIZABLE;
                break;
            }
            if (k.verdict() == Verdict.GAVE_UP) {
                v = Verdict.GAVE_UP;
            }
        }
        this.verdict = v;
    }

    public Verdict verdict() {
        return verdict;
    }

    /** Whether the verdict is {@link Verdict#LINEARIZABLE}: a gave-up is not. */
    public boolean linearizable() {
        return verdict == Verdict.LINEARIZABLE;
    }

    /** The result of every key, in the order the keys were first invoked. */
    public List<KeyResult> keys() {
        return keys;
    }

    /** The result of {@code key}, or null if the history never touched it. */
    public KeyResult key(String key) {
        for (KeyResult k : keys) {
            if (k.key().equals(key)) {
                return k;
            }
        }
        return null;
    }

    /**
     * The verdict in a few lines: for a failure, the first {@value #KEYS_SHOWN} keys that are not
     * linearizable (or on which the search gave up), each with its longest prefix and the operations
     * it could not place.
     */
    public String explanation() {
        StringBuilder sb = new StringBuilder();
        sb.append(verdict).append(": ").append(operations).append(" ops over ").append(keys.size())
            .append(keys.size() == 1 ? " key" : " keys");
        long bad = keys.stream().filter(k -> k.verdict() != Verdict.LINEARIZABLE).count();
        if (bad > 0) {
            sb.append(", ").append(bad).append(bad == 1 ? " key" : " keys").append(" failing");
        }
        int shown = 0;
        for (Verdict v : new Verdict[] {Verdict.NOT_LINEARIZABLE, Verdict.GAVE_UP}) {
            for (KeyResult k : keys) {
                if (k.verdict() == v && shown++ < KEYS_SHOWN) {
                    sb.append('\n').append(k.explanation());
                }
            }
        }
        if (shown > KEYS_SHOWN) {
            sb.append("\n… and ").append(shown - KEYS_SHOWN).append(" more failing keys");
        }
        return sb.toString();
    }

    /** Returns this result if linearizable, else throws an {@link AssertionError} carrying the explanation. */
    public CheckResult requireLinearizable() {
        if (!linearizable()) {
            throw new AssertionError(explanation());
        }
        return this;
    }

    @Override
    public String toString() {
        return explanation();
    }
}
