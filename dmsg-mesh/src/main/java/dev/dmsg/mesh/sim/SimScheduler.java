package dev.dmsg.mesh.sim;

import dev.dmsg.mesh.MeshScheduler;
import java.util.PriorityQueue;
import java.util.function.LongSupplier;

/**
 * Discrete-event time for the simulator: events run in (time, insertion) order on the caller's
 * thread, and the clock jumps from one event to the next. Everything in a simulated mesh — links,
 * engines, timers — runs through one scheduler, so a run is deterministic for a given seed.
 */
public final class SimScheduler implements MeshScheduler, LongSupplier {
    private record Event(long time, long seq, Runnable task) implements Comparable<Event> {
        @Override
        public int compareTo(Event o) {
            int c = Long.compare(time, o.time);
            return c != 0 ? c : Long.compare(seq, o.seq);
        }
    }

    private final PriorityQueue<Event> queue = new PriorityQueue<>();
    private long now;
    private long seq;
    private long executed;
    private Runnable afterEach = () -> { };

    /** Simulated nanoseconds since the start. */
    public long now() {
        return now;
    }

    @Override
    public long getAsLong() {
        return now;
    }

    @Override
    public long nanoTime() {
        return now;
    }

    @Override
    public void schedule(long delayNanos, Runnable task) {
        after(delayNanos, task);
    }

    public void at(long time, Runnable task) {
        queue.add(new Event(Math.max(time, now), seq++, task));
    }

    public void after(long delayNanos, Runnable task) {
        at(now + delayNanos, task);
    }

    /** Runs {@code task} at the current time, after what is already due now. */
    @Override
    public void execute(Runnable task) {
        at(now, task);
    }

    /** A hook run after every event (the loop detector). */
    public void afterEach(Runnable hook) {
        this.afterEach = hook;
    }

    /** Runs events until none is due at or before {@code until}; the clock ends at {@code until}. */
    public void runUntil(long until) {
        Event e;
        while ((e = queue.peek()) != null && e.time <= until) {
            queue.poll();
            now = e.time;
            e.task.run();
            executed++;
            afterEach.run();
        }
        now = Math.max(now, until);
    }

    public boolean idle() {
        return queue.isEmpty();
    }

    /** Time of the next event, or {@code Long.MAX_VALUE}. */
    public long nextTime() {
        Event e = queue.peek();
        return e == null ? Long.MAX_VALUE : e.time;
    }

    public long executed() {
        return executed;
    }
}
