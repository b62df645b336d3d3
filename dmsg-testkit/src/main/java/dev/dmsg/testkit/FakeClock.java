package dev.dmsg.testkit;

import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;

/**
 * A clock that moves only when a test moves it (gRPC's FakeClock, reduced). Read by the code under
 * test as a {@link LongSupplier} of nanoseconds.
 */
public final class FakeClock implements LongSupplier {
    private volatile long nowNanos;

    public FakeClock() {
        this(1_000_000_000L);
    }

    public FakeClock(long startNanos) {
        this.nowNanos = startNanos;
    }

    @Override
    public long getAsLong() {
        return nowNanos;
    }

    public long nanoTime() {
        return nowNanos;
    }

    public void advance(long amount, TimeUnit unit) {
        nowNanos += unit.toNanos(amount);
    }

    public void advanceMillis(long millis) {
        advance(millis, TimeUnit.MILLISECONDS);
    }
}
