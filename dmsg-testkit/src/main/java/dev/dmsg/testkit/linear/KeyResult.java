package dev.dmsg.testkit.linear;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * The checker's answer for one key. {@code linearization} is an order of the key's operations
 * the model accepts: all completed ones when {@link Verdict#LINEARIZABLE}, else the longest
 * prefix the search found. {@code unplaced} is empty unless {@link Verdict#NOT_LINEARIZABLE}:
 * first the operation whose return the search could not get past, then the others invoked
 * before that return, each of which it tried in its place.
 */
public record KeyResult(String key, Verdict verdict, long steps, List<Operation> linearization,
                        List<Operation> unplaced, String explanation) {
    /** At most this many operations of a list are printed; the rest are counted. */
    static final int SHOWN = 12;

    static KeyResult linearizable(String key, List<Operation> ops, long steps, int[] order) {
        return new KeyResult(key, Verdict.LINEARIZABLE, steps, pick(ops, order), List.of(),
            "key " + Op.show(key) + ": linearizable (" + ops.size() + " ops, " + steps + " steps)");
    }

    static KeyResult notLinearizable(String key, List<Operation> ops, long steps, int[] prefix, String state,
                                     int blocked, List<Integer> alsoTried, int completed) {
        List<Operation> lin = pick(ops, prefix);
        List<Operation> unplaced = new ArrayList<>();
        unplaced.add(ops.get(blocked));
        for (int i : alsoTried) {
            unplaced.add(ops.get(i));
        }
        StringBuilder sb = new StringBuilder();
        sb.append("key ").append(Op.show(key)).append(": NOT linearizable (").append(ops.size()).append(" ops, ")
            .append(steps).append(" steps)\n");
        sb.append("  longest linearizable prefix: ").append(placed(lin)).append(" of ").append(completed)
            .append(" completed ops, leaving state ").append(state).append('\n');
        list(sb, lin, true);
        sb.append("  cannot place next:\n    ").append(ops.get(blocked)).append('\n');
        if (!alsoTried.isEmpty()) {
            sb.append("  nor, before it, any of the ").append(alsoTried.size()).append(" other ops invoked before it returned:\n");
            list(sb, unplaced.subList(1, unplaced.size()), false);
        }
        return new KeyResult(key, Verdict.NOT_LINEARIZABLE, steps, lin, Collections.unmodifiableList(unplaced),
            sb.toString().stripTrailing());
    }

    static KeyResult gaveUp(String key, List<Operation> ops, long steps, String why, int[] best, int bestPlaced,
                            int completed) {
        return new KeyResult(key, Verdict.GAVE_UP, steps, pick(ops, best), List.of(),
            "key " + Op.show(key) + ": GAVE UP after " + steps + " steps, out of its " + why + " (" + ops.size()
                + " ops; at best " + Math.max(bestPlaced, 0) + " of " + completed + " completed ops placed)");
    }

    private static List<Operation> pick(List<Operation> ops, int[] order) {
        List<Operation> out = new ArrayList<>(order.length);
        for (int i : order) {
            out.add(ops.get(i));
        }
        return Collections.unmodifiableList(out);
    }

    private static long placed(List<Operation> lin) {
        return lin.stream().filter(o -> o.outcome() == Operation.Outcome.OK).count();
    }

    /** One operation a line; of a long list only the last ({@code tail}) or first {@link #SHOWN}. */
    private static void list(StringBuilder sb, List<Operation> ops, boolean tail) {
        int skip = Math.max(0, ops.size() - SHOWN);
        if (tail && skip > 0) {
            sb.append("    … ").append(skip).append(" earlier\n");
        }
        List<Operation> shown = tail ? ops.subList(skip, ops.size()) : ops.subList(0, ops.size() - skip);
        for (Operation o : shown) {
            sb.append("    ").append(o).append('\n');
        }
        if (!tail && skip > 0) {
            sb.append("    … ").append(skip).append(" more\n");
        }
    }

    @Override
    public String toString() {
        return explanation;
    }
}
