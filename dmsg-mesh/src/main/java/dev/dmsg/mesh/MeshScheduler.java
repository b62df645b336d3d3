package dev.dmsg.mesh;

import java.util.concurrent.Executor;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * The mesh's one thread and its clock: where the span engine runs, and how circuit opening waits
 * (for a path, for the far end's answer) without reading the wall clock inside logic. A node
 * passes its mesh thread ({@link #of}); the simulator passes its discrete-event scheduler.
 */
public interface MeshScheduler extends Executor {
    /** Nanoseconds on this scheduler's clock (monotonic; simulated in the simulator). */
    long nanoTime();

    /** Runs {@code task} on this scheduler after {@code delayNanos}. */
    void schedule(long delayNanos, Runnable task);

    /** A single-threaded scheduled executor on {@link System#nanoTime()}. */
    static MeshScheduler of(ScheduledExecutorService s) {
        return new MeshScheduler() {
            @Override
            public long nanoTime() {
                return System.nanoTime();
            }

            @Override
            public void schedule(long delayNanos, Runnable task) {
                s.schedule(task, delayNanos, TimeUnit.NANOSECONDS);
            }

            @Override
            public void execute(Runnable task) {
                s.execute(task);
            }
        };
    }
}
