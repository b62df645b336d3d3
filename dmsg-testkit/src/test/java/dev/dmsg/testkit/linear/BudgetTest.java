package dev.dmsg.testkit.linear;

import static dev.dmsg.testkit.linear.RegisterModel.read;
import static dev.dmsg.testkit.linear.RegisterModel.write;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.function.LongSupplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** A history whose search is exponential makes the checker give up within its budget, not hang. */
@Timeout(20)
class BudgetTest {
    static final int WRITERS = 24;

    /**
     * {@value #WRITERS} concurrent writes of distinct values, then a read of a value none wrote:
     * every order of every subset of the writes is a distinct configuration to refute.
     */
    static Script pathological(String key) {
        Script s = new Script();
        History.Call[] w = new History.Call[WRITERS];
        for (int i = 0; i < WRITERS; i++) {
            w[i] = s.invoke(i, i, write(key, (long) i));
        }
        for (int i = 0; i < WRITERS; i++) {
            s.ok(100 + i, w[i], null);
        }
        s.op(200, 210, WRITERS, read(key), "never written");
        return s;
    }

    @Test
    void theStepBudgetEndsTheSearchWithGaveUp() {
        CheckResult r = new LinearizabilityChecker<>(new RegisterModel()).maxStepsPerKey(50_000)
            .check(pathological("p").history);
        assertThat(r.verdict()).isEqualTo(Verdict.GAVE_UP);
        assertThat(r.linearizable()).isFalse();
        assertThat(r.key("p").steps()).isEqualTo(50_000);
        assertThat(r.explanation()).isEqualTo("""
            GAVE_UP: 25 ops over 1 key, 1 key failing
            key "p": GAVE UP after 50000 steps, out of its step budget 50000 (25 ops; at best 24 of 25 completed ops placed)""");
        assertThatThrownBy(r::requireLinearizable).isInstanceOf(AssertionError.class).hasMessageContaining("GAVE UP");
    }

    @Test
    void theTimeBudgetEndsTheSearchWithGaveUp() {
        long[] now = {0};
        int[] readings = {0};
        LongSupplier clock = () -> {
            readings[0]++;
            return now[0] += 1_000_000; // a millisecond a reading
        };
        CheckResult r = new LinearizabilityChecker<>(new RegisterModel())
            .timeBudgetPerKey(Duration.ofMillis(20), clock).check(pathological("p").history);
        assertThat(r.verdict()).isEqualTo(Verdict.GAVE_UP);
        assertThat(r.key("p").explanation()).contains("out of its time budget 20 ms");
        // Read once at the start, then every 4096 steps or so: the 21st reading after it is past 20 ms.
        assertThat(readings[0]).isEqualTo(22);
        assertThat(r.key("p").steps()).isBetween(21L * KeySearch.CLOCK_EVERY_STEPS, 23L * KeySearch.CLOCK_EVERY_STEPS);
    }

    @Test
    void aKeyThatIsNotLinearizableOutweighsOneGivenUpOn() {
        Script s = pathological("p");
        s.op(300, 310, 1, write("q", "a"), null).op(320, 330, 2, read("q"), "b");
        CheckResult r = new LinearizabilityChecker<>(new RegisterModel()).maxStepsPerKey(10_000).check(s.history);
        assertThat(r.key("p").verdict()).isEqualTo(Verdict.GAVE_UP);
        assertThat(r.key("q").verdict()).isEqualTo(Verdict.NOT_LINEARIZABLE);
        assertThat(r.verdict()).isEqualTo(Verdict.NOT_LINEARIZABLE);
        assertThat(r.explanation()).contains("key \"q\": NOT linearizable", "key \"p\": GAVE UP");
    }

    @Test
    void budgetsMustBePositive() {
        LinearizabilityChecker<RegisterModel.Value> c = new LinearizabilityChecker<>(new RegisterModel());
        assertThatThrownBy(() -> c.maxStepsPerKey(0)).hasMessage("maxStepsPerKey 0 < 1");
        assertThatThrownBy(() -> c.timeBudgetPerKey(Duration.ZERO, System::nanoTime))
            .hasMessage("timeBudgetPerKey PT0S not positive");
    }
}
