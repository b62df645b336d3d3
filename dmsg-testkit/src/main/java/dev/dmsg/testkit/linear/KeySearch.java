package dev.dmsg.testkit.linear;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.LongSupplier;

/**
 * The search for one key: Wing &amp; Gong's backtracking with Lowe's memoisation, after
 * Porcupine's {@code checkSingle}. The history is a doubly linked list of call and return entries
 * in time order; placing (linearizing) an operation lifts its call and return out of the list,
 * undoing it puts them back. In a configuration, any call before the first return may come next,
 * and the first return's operation must come by then: if none of those calls leads anywhere,
 * undo the last placement. A cache of (operations placed, model state) skips every
 * configuration already explored.
 *
 * <p>Unknown operations (Jepsen's {@code :info}) return at +infinity and need not be placed: the
 * search succeeds once every completed operation is, whatever unknown ones are left — the same as
 * placing them never. Two departures from Porcupine keep them cheap, which they were not (one
 * key with 10,000 operations, 500 of them unknown, gave up on a linearizable history; sixteen
 * concurrent ones made a failing history exponential):
 * <ul>
 *   <li>a configuration with an extra unknown operation placed can do nothing that the one
 *       without it cannot (that one may still leave it out), so the cache also skips a
 *       configuration when it holds one with the same completed operations and state and a
 *       <em>subset</em> of its unknown ones;
 *   <li>a configuration remembers all its successors before exploring the first, so that below
 *       one unknown operation, placing a second finds the configuration where only the second
 *       was placed, and stops there.
 * </ul>
 * The cache's bitsets are compact: completed operations are numbered among themselves and
 * stored from the first word not all placed, unknown ones numbered among themselves.
 * Single-threaded; one instance per check.
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

    /**
     * The completed operations placed, as the count of leading words all placed and the words
     * after them, and the state they lead to: a cache key.
     */
    private static final class Seen {
        final int fullWords;
        final long[] rest;
        final Object state;
        final int hash;

        Seen(int fullWords, long[] rest, Object state) {
            this.fullWords = fullWords;
            this.rest = rest;
            this.state = state;
            this.hash = (31 * fullWords + Arrays.hashCode(rest)) * 31 + state.hashCode();
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Seen s && hash == s.hash && fullWords == s.fullWords && Arrays.equals(rest, s.rest)
                && state.equals(s.state);
        }

        @Override
        public int hashCode() {
            return hash;
        }
    }

    /** How often the time budget is looked at, in steps: reading a clock costs more than a step. */
    static final int CLOCK_EVERY_STEPS = 4096;

    /**
     * The configuration after some placements, once reached: the calls worth placing there, each
     * with the state it leads to, the next to try, and its own state while one is tried.
     */
    private static final class Frame<S> {
        List<Node> calls;
        List<S> states;
        int cursor;
        S state;
    }

    private final Model<S> model;
    private final String key;
    private final List<Operation> ops;
    private final long maxSteps;
    private final long budgetNanos;
    private final LongSupplier clock;

    /** Per operation: completed (else unknown), and its number among its kind. */
    private final boolean[] definite;
    private final int[] slot;
    private final int completed;
    /** The placed operations: completed ones, unknown ones, each by slot. */
    private final long[] done;
    private final long[] unknown;
    /** Per (completed placed, state): the sets of unknown operations placed with them that were seen. */
    private final Map<Seen, List<long[]>> cache = new HashMap<>();

    KeySearch(Model<S> model, String key, List<Operation> ops, long maxSteps, long budgetNanos, LongSupplier clock) {
        this.model = model;
        this.key = key;
        this.ops = ops;
        this.maxSteps = maxSteps;
        this.budgetNanos = budgetNanos;
        this.clock = clock;
        int n = ops.size();
        definite = new boolean[n];
        slot = new int[n];
        int ok = 0;
        for (int i = 0; i < n; i++) {
            definite[i] = ops.get(i).outcome() == Operation.Outcome.OK;
            slot[i] = definite[i] ? ok++ : i - ok;
        }
        completed = ok;
        done = new long[(ok + 63) >>> 6];
        unknown = new long[(n - ok + 63) >>> 6];
    }

    KeyResult run() {
        int n = ops.size();
        Node head = link();
        List<Frame<S>> frames = new ArrayList<>(n + 1);
        for (int i = 0; i <= n; i++) {
            frames.add(new Frame<>());
        }
        Node[] placedEntry = new Node[n];
        int depth = 0;
        int placed = 0; // completed operations placed
        S state = model.initial();
        long start = clock.getAsLong();
        long steps = 0;
        long nextClockStep = CLOCK_EVERY_STEPS;

        int bestPlaced = -1;
        int[] bestPrefix = new int[0];
        S bestState = state;
        int blocked = -1;
        List<Integer> alsoTried = List.of();

        while (placed < completed) {
            boolean late = false;
            if (++steps >= nextClockStep) {
                nextClockStep = steps + CLOCK_EVERY_STEPS;
                late = clock.getAsLong() - start > budgetNanos;
            }
            if (steps > maxSteps || late) {
                String why = steps > maxSteps ? "step budget " + maxSteps : "time budget " + budgetNanos / 1_000_000 + " ms";
                return KeyResult.gaveUp(key, ops, Math.min(steps - 1, maxSteps), why, bestPrefix, bestPlaced, completed);
            }
            Frame<S> frame = frames.get(depth);
            if (frame.calls == null) {
                // A configuration reached for the first time: remember each new successor.
                List<Node> calls = new ArrayList<>();
                List<S> states = new ArrayList<>();
                Node e = head.next;
                for (; e != null && e.match != null; e = e.next) {
                    Operation o = ops.get(e.op);
                    S after = model.step(state, o.op(), definite[e.op] ? o.result() : Model.UNKNOWN);
                    if (after != null && remember(e.op, after)) {
                        calls.add(e);
                        states.add(after);
                    }
                }
                steps += calls.size(); // a step per configuration remembered: the budget bounds the cache too
                if (placed > bestPlaced && e != null) {
                    bestPlaced = placed;
                    bestPrefix = prefix(placedEntry, depth);
                    bestState = state;
                    blocked = e.op;
                    alsoTried = callsBefore(head, e);
                }
                frame.calls = calls;
                frame.states = states;
                frame.cursor = 0;
            }
            if (frame.cursor < frame.calls.size()) {
                Node next = frame.calls.get(frame.cursor);
                S after = frame.states.get(frame.cursor++);
                frame.state = state;
                placedEntry[depth++] = next;
                state = after;
                mark(next.op, true);
                placed += definite[next.op] ? 1 : 0;
                lift(next);
                continue;
            }
            // Nothing left to try here: undo the placement that led here.
            frame.calls = null;
            frame.states = null;
            if (depth == 0) {
                return KeyResult.notLinearizable(key, ops, steps, bestPrefix, model.describe(bestState), blocked,
                    alsoTried, completed);
            }
            Node undo = placedEntry[--depth];
            Frame<S> back = frames.get(depth);
            state = back.state;
            back.state = null;
            mark(undo.op, false);
            placed -= definite[undo.op] ? 1 : 0;
            unlift(undo);
        }
        return KeyResult.linearizable(key, ops, steps, prefix(placedEntry, depth));
    }

    private void mark(int op, boolean on) {
        long[] bits = definite[op] ? done : unknown;
        int s = slot[op];
        if (on) {
            bits[s >>> 6] |= 1L << s;
        } else {
            bits[s >>> 6] &= ~(1L << s);
        }
    }

    /**
     * Whether placing {@code op} now, to reach {@code state}, makes a configuration not seen yet
     * (nor one it is dominated by: same completed operations and state, a subset of its unknown
     * ones); if so it is remembered.
     */
    private boolean remember(int op, Object state) {
        mark(op, true);
        try {
            int full = 0;
            while (full < done.length && done[full] == -1L) {
                full++;
            }
            int end = done.length;
            while (end > full && done[end - 1] == 0) {
                end--;
            }
            List<long[]> seen = cache.computeIfAbsent(new Seen(full, Arrays.copyOfRange(done, full, end), state),
                k -> new ArrayList<>(1));
            for (long[] other : seen) {
                if (subset(other, unknown)) {
                    return false;
                }
            }
            seen.add(unknown.clone());
            return true;
        } finally {
            mark(op, false);
        }
    }

    private static boolean subset(long[] a, long[] b) {
        for (int w = 0; w < a.length; w++) {
            if ((a[w] & ~b[w]) != 0) {
                return false;
            }
        }
        return true;
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
            times[2 * i + 1] = definite[i] ? o.completeNanos() : Long.MAX_VALUE;
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
