package dev.dmsg.testkit;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;

/**
 * A wall clock ({@link Clock}) that moves only when the test moves it: for what is dated on the
 * wall clock (certificate validity, join-token expiry), as {@link FakeClock} is for the monotonic
 * nanoseconds the link and mesh time their work by.
 */
public final class FakeWallClock extends Clock {
    private volatile Instant now;

    public FakeWallClock(Instant start) {
        this.now = start;
    }

    /** Starting now. */
    public FakeWallClock() {
        this(Instant.now());
    }

    /** Moves the clock by {@code d} (negative: back). */
    public void advance(Duration d) {
        now = now.plus(d);
    }

    @Override
    public Instant instant() {
        return now;
    }

    @Override
    public ZoneId getZone() {
        return ZoneOffset.UTC;
    }

    @Override
    public Clock withZone(ZoneId zone) {
        return this;
    }
}
