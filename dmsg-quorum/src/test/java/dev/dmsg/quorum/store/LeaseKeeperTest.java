package dev.dmsg.quorum.store;

import static org.assertj.core.api.Assertions.assertThat;

import dev.dmsg.testkit.FakeClock;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** {@link LeaseKeeper} on a fake clock (docs/QUORUM.md §4 "Lost initiator"). */
class LeaseKeeperTest {
    static final Txid A = new Txid(1, 1);
    static final Txid B = new Txid(2, 2);

    final FakeClock clock = new FakeClock();
    final List<Txid> expired = new ArrayList<>();
    final LeaseKeeper keeper = new LeaseKeeper(clock, expired::add);

    @Test
    void theLeaderExpiresABatchOnceItsLeaseRunsOut() {
        keeper.becameLeader();
        keeper.prepared(A, 10_000);
        clock.advanceMillis(9_999);
        keeper.tick();
        assertThat(expired).isEmpty();
        clock.advanceMillis(1);
        keeper.tick();
        assertThat(expired).containsExactly(A);
        keeper.tick();
        assertThat(expired).as("handed out once, not every tick").containsExactly(A);
        // the EXPIRE got lost: asked again a second later while still prepared
        clock.advance(LeaseKeeper.RETRY_NANOS, TimeUnit.NANOSECONDS);
        keeper.tick();
        assertThat(expired).containsExactly(A, A);
        keeper.resolved(A);
        clock.advanceMillis(60_000);
        keeper.tick();
        assertThat(expired).containsExactly(A, A);
    }

    @Test
    void aCommittedBatchNeverExpires() {
        keeper.becameLeader();
        keeper.prepared(A, 1_000);
        keeper.prepared(B, 1_000);
        keeper.resolved(A);
        clock.advanceMillis(5_000);
        keeper.tick();
        assertThat(expired).containsExactly(B);
    }

    @Test
    void aFollowerNeverExpiresAnything() {
        keeper.prepared(A, 1_000);
        clock.advanceMillis(100_000);
        keeper.tick();
        assertThat(expired).isEmpty();
        assertThat(keeper.size()).isEqualTo(1);
    }

    @Test
    void aNewLeaderRestartsEveryLease_neverShorterThanTheLease() {
        // prepared under an earlier leader, long ago from this member's point of view
        keeper.prepared(A, 10_000);
        clock.advanceMillis(9_000);
        keeper.becameLeader();
        assertThat(keeper.remainingNanos(A)).isEqualTo(TimeUnit.MILLISECONDS.toNanos(10_000));
        clock.advanceMillis(9_999);
        keeper.tick();
        assertThat(expired).isEmpty();
        clock.advanceMillis(1);
        keeper.tick();
        assertThat(expired).containsExactly(A);
    }

    @Test
    void losingAndRegainingLeadershipStartsAgain() {
        keeper.becameLeader();
        keeper.prepared(A, 2_000);
        clock.advanceMillis(1_500);
        keeper.lostLeadership();
        clock.advanceMillis(10_000);
        keeper.tick();
        assertThat(expired).isEmpty();
        keeper.becameLeader();
        clock.advanceMillis(1_999);
        keeper.tick();
        assertThat(expired).isEmpty();
        clock.advanceMillis(1);
        keeper.tick();
        assertThat(expired).containsExactly(A);
    }

    @Test
    void afterASnapshotTheRestoredBatchesGetWholeLeases() {
        keeper.becameLeader();
        keeper.prepared(B, 1_000);
        clock.advanceMillis(500);
        keeper.reset(Map.of(A, 3_000));
        clock.advanceMillis(2_999);
        keeper.tick();
        assertThat(expired).isEmpty();
        clock.advanceMillis(1);
        keeper.tick();
        assertThat(expired).containsExactly(A);
        assertThat(keeper.size()).isEqualTo(1);
    }
}
