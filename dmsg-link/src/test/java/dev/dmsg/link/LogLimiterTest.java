package dev.dmsg.link;

import static org.assertj.core.api.Assertions.assertThat;

import dev.dmsg.testkit.FakeClock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class LogLimiterTest {
    @Test
    void aFloodLogsTheBurstThenOneLinePerRefillCarryingWhatWasSuppressed() {
        FakeClock clock = new FakeClock();
        LogLimiter l = new LogLimiter(3, Duration.ofSeconds(3), clock);
        List<String> logged = new ArrayList<>();
        for (int i = 0; i < 2000; i++) {
            String s = l.admit();
            if (s != null) {
                logged.add(s);
            }
        }
        assertThat(logged).containsExactly("", "", "");
        assertThat(l.suppressedTotal()).isEqualTo(1997);
        clock.advanceMillis(1000); // one token back
        assertThat(l.admit()).isEqualTo(" (+1997 similar suppressed)");
        assertThat(l.admit()).isNull();
        clock.advanceMillis(1000);
        assertThat(l.admit()).isEqualTo(" (+1 similar suppressed)");
        clock.advanceMillis(300_000); // quiet: the bucket refills to its burst, no more
        assertThat(l.admit()).isEqualTo("");
        assertThat(l.admit()).isEqualTo("");
        assertThat(l.admit()).isEqualTo("");
        assertThat(l.admit()).isNull();
    }
}
