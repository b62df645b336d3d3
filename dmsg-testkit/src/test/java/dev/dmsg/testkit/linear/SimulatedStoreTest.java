package dev.dmsg.testkit.linear;

import static org.assertj.core.api.Assertions.assertThat;

import dev.dmsg.testkit.linear.SimStore.Fault;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Histories of a simulated store on a seeded scheduler: the linearizable store passes on every
 * seed, each deliberately broken mode is caught on every seed, and checking a large history is
 * fast. Seeds are fixed, so a failure here replays exactly.
 */
@Timeout(20)
class SimulatedStoreTest {
    static final LinearizabilityChecker<RegisterModel.Value> CHECKER = new LinearizabilityChecker<>(new RegisterModel());

    @Test
    void aLinearizableStorePassesOnEverySeed() {
        for (long seed = 1; seed <= 20; seed++) {
            History h = new SimStore(seed, 6, 3, Fault.NONE, 40, 0.05, 0.05).run(1500);
            CheckResult r = CHECKER.check(h);
            assertThat(r.verdict()).as("seed %d: %s", seed, r).isEqualTo(Verdict.LINEARIZABLE);
        }
    }

    @Test
    void staleReadsFromALaggingReplicaAreCaughtOnEverySeed() {
        for (long seed = 1; seed <= 20; seed++) {
            History h = new SimStore(seed, 6, 3, Fault.STALE_READS, 40, 0.05, 0.05).run(1500);
            CheckResult r = CHECKER.check(h);
            assertThat(r.verdict()).as("seed %d", seed).isEqualTo(Verdict.NOT_LINEARIZABLE);
            KeyResult bad = r.keys().stream().filter(k -> k.verdict() == Verdict.NOT_LINEARIZABLE).findFirst().get();
            assertThat(bad.unplaced()).isNotEmpty();
        }
    }

    @Test
    void aCompareAndSetThatLosesUpdatesIsCaughtOnEverySeed() {
        for (long seed = 1; seed <= 20; seed++) {
            History h = new SimStore(seed, 6, 3, Fault.LOST_UPDATE_CAS, 40, 0.05, 0.05).run(1500);
            assertThat(CHECKER.check(h).verdict()).as("seed %d", seed).isEqualTo(Verdict.NOT_LINEARIZABLE);
        }
    }

    @Test
    void oneHotKeyWithManyUnknownOperationsIsStillDecided() {
        // 3000 ops on one key, 5% unknown: each stays a candidate to the end of the history.
        History h = new SimStore(11, 8, 1, Fault.NONE, 40, 0.05, 0.02).run(3000);
        CheckResult r = CHECKER.check(h);
        assertThat(r.verdict()).as("%s", r).isEqualTo(Verdict.LINEARIZABLE);
        for (long seed = 1; seed <= 5; seed++) {
            History broken = new SimStore(seed, 8, 1, Fault.STALE_READS, 40, 0.05, 0.02).run(3000);
            assertThat(CHECKER.check(broken).verdict()).as("seed %d", seed).isEqualTo(Verdict.NOT_LINEARIZABLE);
        }
    }

    @Test
    void aReplicaThatDoesNotLagIsNotBroken() {
        // The fault needs the lag: with none, the "replica" is the primary and the checker must agree.
        History h = new SimStore(7, 6, 3, Fault.STALE_READS, 0, 0.05, 0.05).run(1500);
        assertThat(CHECKER.check(h).verdict()).isEqualTo(Verdict.LINEARIZABLE);
    }

    @Test
    void tenThousandOperationsOverFiftyKeysCheckInWellUnderASecond() {
        History h = new SimStore(42, 8, 50, Fault.NONE, 40, 0.02, 0.02).run(10_000);
        long start = System.nanoTime();
        CheckResult r = CHECKER.check(h);
        long tookMillis = (System.nanoTime() - start) / 1_000_000;
        System.out.println("checked 10000 ops over 50 keys in " + tookMillis + " ms, "
            + r.keys().stream().mapToLong(KeyResult::steps).sum() + " steps");
        assertThat(r.verdict()).isEqualTo(Verdict.LINEARIZABLE);
        assertThat(r.keys()).hasSize(50);
        assertThat(tookMillis).isLessThan(1000);
    }
}
