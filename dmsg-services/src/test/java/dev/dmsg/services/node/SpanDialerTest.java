package dev.dmsg.services.node;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.RepeatedTest;
import org.junit.jupiter.api.Test;

/** The {@code span:} paths of VOLCONF slots, and the redial backoff. */
class SpanDialerTest {
    @Test
    void spanPaths() {
        assertThat(SpanDialer.Target.parse("span:10.0.0.2")).isEqualTo(new SpanDialer.Target("10.0.0.2", 987));
        assertThat(SpanDialer.Target.parse("span:host.example:9870")).isEqualTo(new SpanDialer.Target("host.example", 9870));
        assertThat(SpanDialer.Target.parse("span:")).isNull();
        assertThat(SpanDialer.Target.parse("span:h:0")).isNull();
        assertThat(SpanDialer.Target.parse("span:h:70000")).isNull();
        assertThat(SpanDialer.Target.parse("span:h:x")).isNull();
        assertThat(SpanDialer.Target.parse("/dev/da0")).isNull(); // other schemes are not links
        assertThat(SpanDialer.Target.parse(null)).isNull();
    }

    @RepeatedTest(20)
    void backoffIsOneSecondTimes1point6UpTo120sWithTwentyPercentJitter() {
        assertThat(SpanDialer.backoffMillis(0)).isBetween(800L, 1200L);
        assertThat(SpanDialer.backoffMillis(1)).isBetween(1280L, 1920L);
        assertThat(SpanDialer.backoffMillis(5)).isBetween((long) (0.8 * 10486), (long) (1.2 * 10486) + 1);
        assertThat(SpanDialer.backoffMillis(11)).isBetween(96_000L, 144_000L); // capped at 120 s
        assertThat(SpanDialer.backoffMillis(1_000_000)).isBetween(96_000L, 144_000L);
    }
}
