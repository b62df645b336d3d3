package dev.dmsg.testkit;

import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/**
 * Waits for a condition that real sockets, threads or processes bring about: polls every 20 ms,
 * fails with {@code what} after {@code limit}. For logic with time in it, use {@link FakeClock}.
 */
public final class Await {
    private Await() {}

    public static void until(BooleanSupplier condition, Duration limit, String what) throws InterruptedException {
        long deadline = System.nanoTime() + limit.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("not reached within " + limit + ": " + what);
            }
            TimeUnit.MILLISECONDS.sleep(20); // bounded by limit; the condition is outside this JVM's control
        }
    }
}
