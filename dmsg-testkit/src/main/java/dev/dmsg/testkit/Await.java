package dev.dmsg.testkit;

import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.function.Predicate;
import java.util.function.Supplier;

/**
 * The one way a test waits for a condition. Two kinds of waiting, never mixed:
 *
 * <ul>
 *   <li>Real sockets, threads or processes ({@link #until}, {@link #atMost}): poll every 20 ms on
 *       the wall clock, fail with {@code what} (and the last value observed, where there is one)
 *       after the limit. Bounded, never a fixed sleep.
 *   <li>Simulated time ({@link #stepping}, {@link #advancing}): take one step of a simulator or a
 *       {@link FakeClock} between checks, fail after a number of steps; no wall clock at all.
 * </ul>
 */
public final class Await {
    private static final long POLL_MILLIS = 20;

    private final Duration limit;
    private final long pollMillis;

    private Await(Duration limit, long pollMillis) {
        this.limit = Objects.requireNonNull(limit);
        this.pollMillis = pollMillis;
    }

    /** A waiter with one limit, for a test class whose waits all share it: {@code WAIT.until(cond, what)}. */
    public static Await atMost(Duration limit) {
        return new Await(limit, POLL_MILLIS);
    }

    /** This waiter polling every {@code poll} instead: for a check that is itself costly (a process's status). */
    public Await every(Duration poll) {
        return new Await(limit, poll.toMillis());
    }

    public Duration limit() {
        return limit;
    }

    public void until(BooleanSupplier condition, String what) throws InterruptedException {
        until(condition, limit, what);
    }

    /** As {@link #until(BooleanSupplier, String)} for a condition that may throw (a status call). */
    public void untilCall(Callable<Boolean> condition, String what) throws Exception {
        untilValue(condition, Boolean::booleanValue, what);
    }

    public <T> T until(Supplier<T> observe, Predicate<? super T> done, String what) throws InterruptedException {
        return until(observe, done, limit, what);
    }

    /**
     * Calls {@code observe} (which may throw: a status call over the wire) until {@code done}
     * accepts its value, and returns that value; fails with the last value observed.
     */
    public <T> T untilValue(Callable<T> observe, Predicate<? super T> done, String what) throws Exception {
        long deadline = System.nanoTime() + limit.toNanos();
        while (true) {
            T v = observe.call();
            if (done.test(v)) {
                return v;
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError("not reached within " + limit + ": " + what + "; last observed: " + v);
            }
            TimeUnit.MILLISECONDS.sleep(pollMillis); // bounded by limit; the state is outside this JVM's control
        }
    }

    public static void until(BooleanSupplier condition, Duration limit, String what) throws InterruptedException {
        long deadline = System.nanoTime() + limit.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("not reached within " + limit + ": " + what);
            }
            TimeUnit.MILLISECONDS.sleep(POLL_MILLIS); // bounded by limit; the condition is outside this JVM's control
        }
    }

    /**
     * Polls {@code observe} until {@code done} accepts its value, and returns that value; fails with
     * the last value observed, so a failure shows how far things got.
     */
    public static <T> T until(Supplier<T> observe, Predicate<? super T> done, Duration limit, String what)
        throws InterruptedException {
        try {
            return atMost(limit).untilValue(observe::get, done, what);
        } catch (InterruptedException | RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new IllegalStateException("a Supplier threw a checked exception", e); // cannot happen
        }
    }

    /**
     * Simulated time: checks {@code condition}, and while it does not hold runs {@code step} (one
     * tick of a simulator, say), at most {@code maxSteps} times.
     */
    public static void stepping(Runnable step, int maxSteps, BooleanSupplier condition, String what) {
        for (int i = 0; !condition.getAsBoolean(); i++) {
            if (i >= maxSteps) {
                throw new AssertionError("not reached within " + maxSteps + " steps: " + what);
            }
            step.run();
        }
    }

    /**
     * A {@link FakeClock}: advances it by {@code tick} and runs {@code afterTick} (what the code
     * under test does when time passes) until {@code condition} holds, for at most {@code limit} of
     * fake time.
     */
    public static void advancing(FakeClock clock, Duration tick, Duration limit, Runnable afterTick,
        BooleanSupplier condition, String what) {
        long steps = Math.max(1, limit.toNanos() / tick.toNanos());
        stepping(() -> {
            clock.advance(tick.toNanos(), TimeUnit.NANOSECONDS);
            afterTick.run();
        }, (int) Math.min(Integer.MAX_VALUE, steps), condition, what + " (fake time " + limit + ")");
    }
}
