package dev.dmsg.testkit.linear;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.LongSupplier;

/**
 * A thread-safe record of operations as clients saw them (Jepsen's history): {@link #invoke}
 * just before a request leaves, then exactly one of {@link Call#ok}, {@link Call#fail} or
 * {@link Call#unknown} on the handle when the client learns its fate. Times come from the
 * injected clock ({@code System::nanoTime} in real use, a {@code FakeClock} in simulations).
 *
 * <p>Concurrency: every event is appended under the history's lock, and its time is read under
 * the same lock, so the event list is in time order whatever the threads do. The clock is the
 * only foreign code called under the lock.
 */
public final class History {
    /** One line of the history: an invocation or a completion. */
    public record Event(Type type, int id, int client, long timeNanos, Op op, Object result) {
        /** The kinds of event, with Jepsen's names, which the history file uses. */
        public enum Type {
            INVOKE("invoke"), OK("ok"), FAIL("fail"), INFO("info");

            final String word;

            Type(String word) {
                this.word = word;
            }
        }
    }

    /** The handle of one invoked operation: complete it exactly once. */
    public final class Call {
        private final int id;
        private final int client;

        private Call(int id, int client) {
            this.id = id;
            this.client = client;
        }

        /** The operation's id in the history. */
        public int id() {
            return id;
        }

        /**
         * It took effect and answered {@code result} — a refused compare-and-set is {@code ok(false)},
         * not a {@link #fail()}.
         */
        public void ok(Object result) {
            complete(Event.Type.OK, id, client, Op.value(result, "result of #" + id));
        }

        /** It certainly did not take effect: refused before anything happened (PERM, no leader before sending). */
        public void fail() {
            complete(Event.Type.FAIL, id, client, null);
        }

        /** It may or may not have taken effect (a timeout, LOSTLINK): open until the end of the history. */
        public void unknown() {
            complete(Event.Type.INFO, id, client, null);
        }
    }

    private final LongSupplier clock;
    private final List<Event> events = new ArrayList<>();
    /** Open invocations by id; an id leaves it when completed. */
    private final Map<Integer, Event> open = new LinkedHashMap<>();
    private int nextId;

    /** An empty history whose times are read from {@code clock}. */
    public History(LongSupplier clock) {
        this.clock = Objects.requireNonNull(clock, "clock");
    }

    /** Records that {@code client} invokes {@code op} now. */
    public Call invoke(int client, Op op) {
        Objects.requireNonNull(op, "op");
        if (client < 0) {
            throw new IllegalArgumentException("client " + client + " < 0");
        }
        synchronized (this) {
            int id = nextId++;
            Event e = new Event(Event.Type.INVOKE, id, client, clock.getAsLong(), op, null);
            events.add(e);
            open.put(id, e);
            return new Call(id, client);
        }
    }

    private synchronized void complete(Event.Type type, int id, int client, Object result) {
        if (open.remove(id) == null) {
            throw new IllegalStateException("op #" + id + " completed twice (now " + type.word + ")");
        }
        events.add(new Event(type, id, client, clock.getAsLong(), null, result));
    }

    /** The events so far, in time order. */
    public synchronized List<Event> events() {
        return List.copyOf(events);
    }

    /** How many operations were invoked. */
    public synchronized int size() {
        return nextId;
    }

    /**
     * The operations so far, by id; one still open is {@link Operation.Outcome#UNKNOWN} with an
     * open end, as Jepsen treats an operation the test stopped waiting for.
     */
    public List<Operation> operations() {
        return operations(events());
    }

    /** The history file of this history (see {@link HistoryFile}). */
    @Override
    public String toString() {
        return HistoryFile.format(events());
    }

    /** Joins invocations and completions; {@code events} are consistent (checked by the caller). */
    static List<Operation> operations(List<Event> events) {
        Map<Integer, Event> invokes = new LinkedHashMap<>();
        Map<Integer, Operation> done = new LinkedHashMap<>();
        for (Event e : events) {
            if (e.type() == Event.Type.INVOKE) {
                invokes.put(e.id(), e);
                continue;
            }
            Event inv = invokes.get(e.id());
            Operation.Outcome outcome = switch (e.type()) {
                case OK -> Operation.Outcome.OK;
                case FAIL -> Operation.Outcome.FAIL;
                default -> Operation.Outcome.UNKNOWN;
            };
            done.put(e.id(), new Operation(e.id(), inv.client(), inv.op(), inv.timeNanos(), outcome, e.timeNanos(),
                e.result()));
        }
        List<Operation> ops = new ArrayList<>(invokes.size());
        for (Event inv : invokes.values()) {
            Operation op = done.get(inv.id());
            ops.add(op != null ? op : new Operation(inv.id(), inv.client(), inv.op(), inv.timeNanos(),
                Operation.Outcome.UNKNOWN, Long.MAX_VALUE, null));
        }
        return Collections.unmodifiableList(ops);
    }

    /** A history of recorded events (read from a file), checked for consistency; its clock is stopped. */
    static History of(List<Event> events) {
        History h = new History(() -> {
            throw new IllegalStateException("a history read from a file records no new events");
        });
        for (Event e : events) {
            if (e.type() == Event.Type.INVOKE) {
                if (e.id() != h.nextId) {
                    throw new IllegalArgumentException("id " + e.id() + ": invocations are numbered 0, 1, …, expected "
                        + h.nextId);
                }
                h.nextId++;
                h.open.put(e.id(), e);
            } else {
                Event inv = h.open.remove(e.id());
                if (inv == null) {
                    throw new IllegalArgumentException("id " + e.id() + ": " + e.type().word
                        + (e.id() < h.nextId ? " of an operation already completed" : " before its invoke"));
                }
                if (e.timeNanos() < inv.timeNanos()) {
                    throw new IllegalArgumentException("id " + e.id() + ": time " + e.timeNanos()
                        + " before its invoke at " + inv.timeNanos());
                }
                if (e.client() != inv.client()) {
                    throw new IllegalArgumentException("id " + e.id() + ": client " + e.client()
                        + " differs from its invoke's " + inv.client());
                }
            }
            h.events.add(e);
        }
        return h;
    }
}
