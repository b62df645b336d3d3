package dev.dmsg.testkit.linear;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.function.LongSupplier;

/**
 * The search for one key: Wing &amp; Gong's backtracking with Lowe's memoisation, ported from
 * Porcupine's {@code checkSingle}. The history is a doubly linked list of call and return
 * entries in time order; linearizing an operation lifts its call and return out of the list,
 * backtracking puts them back. Reaching a return means its operation should have been placed
 * already: undo the last choice and try the next call instead. A cache of (set of linearized
 * operations, model state) prunes every configuration already explored.
 *
 * <p>Unknown operations (Jepsen's {@code :info}) return at +infinity and need not be placed: the
 * search succeeds once every completed operation is linearized, whatever unknown ones are left,
 * which is the same as placing them never. Single-threaded; one instance per check.
 */
final class KeySearch<S> {
    /** An entry of the list: a call ({@code match} is its return) or a return ({@code match} null). */
    private static final class Node {
        final int op;
        final Node match;
        Node prev;
        Node next;

        Node(int op, Node match) {
            this.op = op;
            this.match = match;
        }
    }

    /** A memoised configuration: which operations are linearized, and the state they lead to. */
    private static final class Seen {
        final long[] linearized;
        final Object state;
        final int hash;

        Seen(long[] linearized, Object state) {
            this.linearized = linearized;
            this.state = state;
            this.hash = 31 * Arrays.hashCode(linearized) + state.hashCode();
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Seen s && hash == s.hash && Arrays.equals(linearized, s.linearized)
                && state.equals(s.state);
        }

        @Override
        public int hashCode() {
            return hash;
        }
    }

    private final Model<S> model;
    private final String key;
    private final List<Operation> ops;
    private final long maxSteps;
    private final long budgetNanos;
    private final LongSupplier clock;

    KeySearch(Model<S> model, String key, List<Operation> ops, long maxSteps, long budgetNanos, LongSupplier clock) {
        this.model = model;
        this.key = key;
        this.ops = ops;
        this.maxSteps = maxSteps;
        this.budgetNanos = budgetNanos;
        this.clock = clock;
    }

    KeyResult run() {
        int n = ops.size();
        int completed = 0;
        for (Operation o : ops) {
            completed += o.outcome() == Operation.Outcome.OK ? 1 : 0;
        }
        Node head = link();
        long[] linearized = new long[(n + 63) >>> 6];
        Set<Seen> cache = new HashSet<>();
        Node[] stackEntry = new Node[n];
        Object[] stackState = new Object[n];
        int depth = 0;
        int placed = 0; // completed operations linearized
        S state = model.initial();
        long start = clock.getAsLong();
        long steps = 0;

        int bestPlaced = -1;
        int[] bestPrefix = new int[0];
        S bestState = state;
        int blocked = -1;
        List<Integer> alsoTried = List.of();

        Node entry = head.next;
        while (placed < completed) {
            if (++steps > maxSteps || ((steps & 0xfff) == 0 && clock.getAsLong() - start > budgetNanos)) {
                String why = steps > maxSteps ? "step budget " + maxSteps : "time budget " + budgetNanos / 1_000_000 + " ms";
                return KeyResult.gaveUp(key, ops, steps - 1, why, bestPrefix, bestPlaced, completed);
            }
            if (entry != null && entry.match != null) {
                Operation o = ops.get(entry.op);
                S next = model.step(state, o.op(), o.outcome() == Operation.Outcome.OK ? o.result() : Model.UNKNOWN);
                if (next != null) {
                    linearized[entry.op >>> 6] |= 1L << entry.op;
                    if (cache.add(new Seen(linearized.clone(), next))) {
                        stackEntry[depth] = entry;
                        stackState[depth++] = state;
                        state = next;
                        placed += o.outcome() == Operation.Outcome.OK ? 1 : 0;
                        lift(entry);
                        entry = head.next;
                        continue;
                    }
                    linearized[entry.op >>> 6] &= ~(1L << entry.op);
                }
                entry = entry.next;
                continue;
            }
            // A return (or the end): its operation had to be placed by now.
            if (placed > bestPlaced && entry != null) {
                bestPlaced = placed;
                bestPrefix = prefix(stackEntry, depth);
                bestState = state;
                blocked = entry.op;
                alsoTried = callsBefore(head, entry);
            }
            if (depth == 0) {
                return KeyResult.notLinearizable(key, ops, steps, bestPrefix, model.describe(bestState), blocked,
                    alsoTried, completed);
            }
            entry = stackEntry[--depth];
            @SuppressWarnings("unchecked")
            S previous = (S) stackState[depth];
            state = previous;
            stackState[depth] = null;
            linearized[entry.op >>> 6] &= ~(1L << entry.op);
            placed -= ops.get(entry.op).outcome() == Operation.Outcome.OK ? 1 : 0;
            unlift(entry);
            entry = entry.next;
        }
        return KeyResult.linearizable(key, ops, steps, prefix(stackEntry, depth));
    }

    /** The list of entries behind a head sentinel: by time, calls before returns at the same time. */
    private Node link() {
        int n = ops.size();
        long[] times = new long[2 * n];
        Integer[] order = new Integer[2 * n]; // 2i: call of op i, 2i+1: its return
        for (int i = 0; i < n; i++) {
            Operation o = ops.get(i);
            order[2 * i] = 2 * i;
            order[2 * i + 1] = 2 * i + 1;
            times[2 * i] = o.invokeNanos();
            times[2 * i + 1] = o.outcome() == Operation.Outcome.OK ? o.completeNanos() : Long.MAX_VALUE;
        }
        // Equal times overlap (calls first): the conservative reading of a clock too coarse to order them.
        Arrays.sort(order, (a, b) -> times[a] != times[b] ? Long.compare(times[a], times[b])
            : Integer.compare(a & 1, b & 1) != 0 ? Integer.compare(a & 1, b & 1) : Integer.compare(a, b));
        Node[] returns = new Node[n];
        for (int i = 0; i < n; i++) {
            returns[i] = new Node(i, null);
        }
        Node head = new Node(-1, null);
        Node last = head;
        for (Integer e : order) {
            Node node = (e & 1) == 1 ? returns[e >>> 1] : new Node(e >>> 1, returns[e >>> 1]);
            last.next = node;
            node.prev = last;
            last = node;
        }
        return head;
    }

    private static void lift(Node call) {
        call.prev.next = call.next;
        call.next.prev = call.prev; // a call always has its return after it
        Node ret = call.match;
        ret.prev.next = ret.next;
        if (ret.next != null) {
            ret.next.prev = ret.prev;
        }
    }

    private static void unlift(Node call) {
        Node ret = call.match;
        ret.prev.next = ret;
        if (ret.next != null) {
            ret.next.prev = ret;
        }
        call.prev.next = call;
        call.next.prev = call;
    }

    private static int[] prefix(Node[] stack, int depth) {
        int[] ids = new int[depth];
        for (int i = 0; i < depth; i++) {
            ids[i] = stack[i].op;
        }
        return ids;
    }

    /** The other unplaced operations invoked before {@code stop} returned: the search tried each in its place. */
    private static List<Integer> callsBefore(Node head, Node stop) {
        List<Integer> calls = new ArrayList<>();
        for (Node e = head.next; e != stop; e = e.next) {
            if (e.match != null && e.op != stop.op) {
                calls.add(e.op);
            }
        }
        return calls;
    }
}
