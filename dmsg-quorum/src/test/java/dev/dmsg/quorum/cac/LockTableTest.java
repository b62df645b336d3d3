package dev.dmsg.quorum.cac;

import static dev.dmsg.quorum.cac.CacDomain.ATTR;
import static dev.dmsg.quorum.cac.CacDomain.DIRENT;
import static dev.dmsg.quorum.cac.CacDomain.INUM;
import static dev.dmsg.quorum.cac.CacDomain.TREE;
import static dev.dmsg.quorum.cac.CacState.EXCLUSIVE;
import static dev.dmsg.quorum.cac.CacState.INVAL;
import static dev.dmsg.quorum.cac.CacState.MODIFIED;
import static dev.dmsg.quorum.cac.CacState.SHARED;
import static org.assertj.core.api.Assertions.assertThat;

import dev.dmsg.quorum.cac.LockTable.Acquire;
import dev.dmsg.quorum.cac.LockTable.Home;
import dev.dmsg.quorum.cac.LockTable.LockView;
import dev.dmsg.quorum.cac.LockTable.Owner;
import dev.dmsg.wire.Dmsg;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The lock table (docs/CAC.md §1–§5) entry by entry: the compatibility matrix, TREE and DIRENT
 * against ancestors and descendants, FIFO, downgrade requests, upgrades, deadlocks, leases ending
 * as EXPIRE, broader grants, a restarted home; then random operations checked against the rules
 * computed independently of the table's index after every entry.
 */
class LockTableTest {
    static final Home H = new Home("m1", 1);
    final LockTable t = new LockTable();
    long idx = 100;

    static Owner o(String n) {
        return new Owner(n, 0);
    }

    List<CacEvent> acquire(Owner who, String key, CacDomain d, CacState s) {
        return acquire(who, key, d, s, 0);
    }

    List<CacEvent> acquire(Owner who, String key, CacDomain d, CacState s, int flags) {
        return t.acquire(++idx, new Acquire(who, H, CacKey.of(key), d, s, flags, 0));
    }

    static <T extends CacEvent> T first(List<CacEvent> ev, Class<T> type) {
        return ev.stream().filter(type::isInstance).map(type::cast).findFirst().orElseThrow(
            () -> new AssertionError("no " + type.getSimpleName() + " in " + ev));
    }

    static boolean has(List<CacEvent> ev, Class<? extends CacEvent> type) {
        return ev.stream().anyMatch(type::isInstance);
    }

    /** Same key, two owners, exclusive both: conflict exactly as the table in docs/CAC.md §1. */
    static Stream<Arguments> sameKeyMatrix() {
        String[] rows = {"TREE x x x x", "INUM x x - -", "ATTR x - x x", "DIRENT x - x x"};
        CacDomain[] cols = {TREE, INUM, ATTR, DIRENT};
        List<Arguments> out = new ArrayList<>();
        for (String row : rows) {
            String[] f = row.split(" ");
            for (int c = 0; c < 4; c++) {
                out.add(Arguments.of(CacDomain.valueOf(f[0]), cols[c], f[c + 1].equals("x")));
            }
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{0} vs {1} on one key: conflict {2}")
    @MethodSource("sameKeyMatrix")
    void theSameKeyMatrix(CacDomain held, CacDomain asked, boolean conflict) {
        assertThat(has(acquire(o("a"), "/v/k", held, EXCLUSIVE), CacEvent.Granted.class)).isTrue();
        List<CacEvent> ev = acquire(o("b"), "/v/k", asked, EXCLUSIVE);
        assertThat(has(ev, CacEvent.Waiting.class)).isEqualTo(conflict);
        assertThat(has(ev, CacEvent.Granted.class)).isEqualTo(!conflict);
        t.release(++idx, ev.get(0).lock());
        // the same against SHARED; and SHARED with SHARED never conflicts
        assertThat(has(acquire(o("c"), "/v/k", asked, SHARED), CacEvent.Waiting.class)).isEqualTo(conflict);
        LockTable shared = new LockTable();
        shared.acquire(1, new Acquire(o("a"), H, CacKey.of("/v/k"), held, SHARED, 0, 0));
        assertThat(has(shared.acquire(2, new Acquire(o("b"), H, CacKey.of("/v/k"), asked, SHARED, 0, 0)),
            CacEvent.Granted.class)).isTrue();
    }

    /** Ancestors and descendants: {held domain on key, asked domain on key, conflict}. */
    static Stream<Arguments> acrossTheTree() {
        return Stream.of(
            Arguments.of(TREE, "/v", INUM, "/v/a/b/c", true),     // TREE covers every descendant
            Arguments.of(TREE, "/", ATTR, "/v", true),            // the root's TREE covers all
            Arguments.of(INUM, "/v/a/b", TREE, "/v", true),       // seen from the other side
            Arguments.of(DIRENT, "/v", INUM, "/v/a", true),       // a name directly under it
            Arguments.of(DIRENT, "/v", ATTR, "/v/a", true),
            Arguments.of(DIRENT, "/v", DIRENT, "/v/a", true),     // the child's own attributes
            Arguments.of(DIRENT, "/v", INUM, "/v/a/b", false),    // not grandchildren
            Arguments.of(DIRENT, "/v", TREE, "/v/a", true),
            Arguments.of(ATTR, "/v", INUM, "/v/a", false),        // ATTR and INUM do not reach below
            Arguments.of(INUM, "/v", TREE, "/v/a", false),        // nor does TREE reach above
            Arguments.of(TREE, "/v/a", TREE, "/v/b", false),      // siblings
            Arguments.of(TREE, "/va", TREE, "/v", false),         // a prefix that is no ancestor
            Arguments.of(DIRENT, "/v", ATTR, "/va", false));
    }

    @ParameterizedTest(name = "{0} {1} vs {2} {3}: conflict {4}")
    @MethodSource("acrossTheTree")
    void ancestorsAndDescendants(CacDomain d1, String k1, CacDomain d2, String k2, boolean conflict) {
        assertThat(CacDomain.overlap(CacKey.of(k1), d1, CacKey.of(k2), d2)).isEqualTo(conflict);
        assertThat(CacDomain.overlap(CacKey.of(k2), d2, CacKey.of(k1), d1)).as("symmetric").isEqualTo(conflict);
        assertThat(has(acquire(o("a"), k1, d1, EXCLUSIVE), CacEvent.Granted.class)).isTrue();
        assertThat(has(acquire(o("b"), k2, d2, SHARED), CacEvent.Waiting.class)).isEqualTo(conflict);
    }

    @Test
    void anOwnersLocksNeverConflictWithEachOther() {
        acquire(o("a"), "/v", TREE, EXCLUSIVE);
        assertThat(has(acquire(o("a"), "/v/x", INUM, MODIFIED), CacEvent.Granted.class)).isTrue();
        assertThat(has(acquire(new Owner("a", 7), "/v/x", INUM, SHARED), CacEvent.Waiting.class))
            .as("another owner id of the same name is another owner").isTrue();
    }

    @Test
    void tokensAreTheGrantingEntrysIndexAndGrowWithEveryGrant() {
        CacEvent.Granted g1 = first(acquire(o("a"), "/k", INUM, EXCLUSIVE), CacEvent.Granted.class);
        assertThat(g1.token()).isEqualTo(idx).isEqualTo(g1.lock());
        long waiter = idx + 1;
        acquire(o("b"), "/k", INUM, EXCLUSIVE);
        List<CacEvent> ev = t.release(++idx, g1.lock());
        assertThat(first(ev, CacEvent.Released.class).lock()).isEqualTo(g1.lock());
        CacEvent.Granted g2 = first(ev, CacEvent.Granted.class);
        assertThat(g2.lock()).isEqualTo(waiter);
        assertThat(g2.token()).as("the release's index, not the request's").isEqualTo(idx).isGreaterThan(g1.token());
        assertThat(t.fences(CacKey.of("/k"), g2.token())).isTrue();
        assertThat(t.fences(CacKey.of("/k"), g1.token())).isFalse();
    }

    @Test
    void waitersAreGrantedFirstComeFirstServedAndSharedDoesNotOvertakeAWaitingWriter() {
        long r1 = lockId(acquire(o("r1"), "/k", INUM, SHARED));
        long w = lockId(acquire(o("w"), "/k", INUM, EXCLUSIVE));
        List<CacEvent> r2 = acquire(o("r2"), "/k", INUM, SHARED);
        assertThat(has(r2, CacEvent.Waiting.class)).as("behind the waiting writer though r1 only shares").isTrue();
        long r2id = idx;
        List<CacEvent> ev = t.release(++idx, r1);
        assertThat(first(ev, CacEvent.Granted.class).lock()).isEqualTo(w);
        assertThat(ev.stream().filter(e -> e instanceof CacEvent.Granted).count()).isOne();
        assertThat(first(ev, CacEvent.Downgrade.class)).as("the new writer is asked to make way for r2 at once")
            .isEqualTo(new CacEvent.Downgrade(w, H, SHARED));
        ev = t.change(++idx, w, SHARED);
        assertThat(first(ev, CacEvent.Granted.class).lock()).isEqualTo(r2id);
    }

    @Test
    void aWaitAsksEachBlockingHolderToMakeWayAndItsLeaseEndsItIfItDoesNot() {
        long a = lockId(acquire(o("a"), "/k", ATTR, MODIFIED));
        List<CacEvent> ev = acquire(o("b"), "/k", DIRENT, SHARED);
        long b = idx;
        assertThat(ev).containsExactly(new CacEvent.Waiting(b, H, a), new CacEvent.Downgrade(a, H, SHARED),
            new CacEvent.LeaseStarted(a, H, LockTable.DEFAULT_LEASE_MS, LockTable.EXPIRE_DOWNGRADE));
        ev = acquire(o("c"), "/k", ATTR, EXCLUSIVE);
        long c = idx;
        assertThat(ev).as("a stricter wait: a lower target, the same lease")
            .containsExactly(new CacEvent.Waiting(c, H, a), new CacEvent.Downgrade(a, H, INVAL));

        ev = t.change(++idx, a, SHARED); // a writes back and shares: not yet what c needs
        assertThat(ev).contains(new CacEvent.Changed(a, H, SHARED, a)).noneMatch(e -> e instanceof CacEvent.LeaseEnded);
        assertThat(first(ev, CacEvent.Granted.class)).isEqualTo(new CacEvent.Granted(b, H, SHARED, idx,
            LockTable.DEFAULT_LEASE_MS));
        assertThat(ev).as("b, now a holder in c's way, is asked too").contains(new CacEvent.Downgrade(b, H, INVAL));

        ev = t.release(++idx, a);
        assertThat(ev).containsExactly(new CacEvent.LeaseEnded(a, H), new CacEvent.Released(a, H));
        assertThat(t.expire(++idx, a, LockTable.EXPIRE_DOWNGRADE)).as("gone already: a no-op").isEmpty();
        ev = t.expire(++idx, b, LockTable.EXPIRE_DOWNGRADE);
        assertThat(first(ev, CacEvent.Revoked.class).lock()).isEqualTo(b);
        assertThat(first(ev, CacEvent.Granted.class)).isEqualTo(new CacEvent.Granted(c, H, EXCLUSIVE, idx,
            LockTable.DEFAULT_LEASE_MS));
    }

    @Test
    void aLostHolderKeepsItsLockUntilTheLeaderExpiresItAndAComplyingOneIsNotRevoked() {
        long a = lockId(acquire(o("a"), "/k", INUM, EXCLUSIVE, 0));
        acquire(o("b"), "/k", INUM, EXCLUSIVE);
        long b = idx;
        assertThat(t.lost(++idx, a)).as("the downgrade's lease already runs").isEmpty();
        assertThat(t.view(a).lost()).isTrue();
        assertThat(t.view(a).held()).as("still held: the holder may not know yet").isEqualTo(EXCLUSIVE);
        List<CacEvent> ev = t.expire(++idx, a, LockTable.EXPIRE_LOST);
        assertThat(first(ev, CacEvent.Revoked.class).reason()).contains("lost");
        assertThat(first(ev, CacEvent.Granted.class).lock()).isEqualTo(b);

        // a holder that complied before the EXPIRE was applied keeps what it went down to
        long c = lockId(acquire(o("c"), "/j", INUM, EXCLUSIVE));
        acquire(o("d"), "/j", INUM, SHARED);
        t.change(++idx, c, SHARED);
        assertThat(t.expire(++idx, c, LockTable.EXPIRE_DOWNGRADE)).isEmpty();
        assertThat(t.view(c).held()).isEqualTo(SHARED);
        // a lost holder with no downgrade pending starts its lease when LOST is applied
        long e = lockId(acquire(o("e"), "/i", INUM, EXCLUSIVE));
        assertThat(t.lost(++idx, e)).containsExactly(new CacEvent.LeaseStarted(e, H, LockTable.DEFAULT_LEASE_MS,
            LockTable.EXPIRE_LOST));
    }

    @Test
    void aWaitingRequestCancelledGoesAndLetsThoseBehindIt() {
        long a = lockId(acquire(o("a"), "/k", INUM, SHARED));
        acquire(o("w"), "/k", INUM, EXCLUSIVE);
        long w = idx;
        acquire(o("r"), "/k", INUM, SHARED);
        long r = idx;
        List<CacEvent> ev = t.cancel(++idx, w, LockTable.CANCEL_TIMEOUT);
        assertThat(ev).contains(new CacEvent.Cancelled(w, H, LockTable.CANCEL_TIMEOUT, false));
        assertThat(first(ev, CacEvent.Granted.class).lock()).isEqualTo(r);
        assertThat(t.view(w)).isNull();
        assertThat(t.cancel(++idx, a, LockTable.CANCEL_ABORTED)).as("a granted lock is not cancelled").isEmpty();
    }

    @Test
    void aWaiterThatGivesUpCostsTheHolderNothing() {
        long a = lockId(acquire(o("a"), "/k", INUM, EXCLUSIVE));
        acquire(o("b"), "/k", INUM, SHARED);
        long b = idx;
        acquire(o("c"), "/k", INUM, EXCLUSIVE);
        long c = idx;
        assertThat(t.view(a).downgradeTo()).isEqualTo(INVAL);
        List<CacEvent> ev = t.cancel(++idx, c, LockTable.CANCEL_TIMEOUT);
        assertThat(t.view(a).downgradeTo()).as("b still needs a to share").isEqualTo(SHARED);
        assertThat(ev).noneMatch(e -> e instanceof CacEvent.LeaseEnded);
        ev = t.cancel(++idx, b, LockTable.CANCEL_TIMEOUT);
        assertThat(ev).contains(new CacEvent.LeaseEnded(a, H));
        assertThat(t.view(a).downgradeTo()).isNull();
        assertThat(t.expire(++idx, a, LockTable.EXPIRE_DOWNGRADE)).as("no lease runs: a keeps its lock").isEmpty();
        assertThat(t.view(a).held()).isEqualTo(EXCLUSIVE);
    }

    @Test
    void upgradesWaitAtTheTailAndTwoSharedHoldersUpgradingIsADeadlock() {
        long a = lockId(acquire(o("a"), "/k", INUM, SHARED));
        long b = lockId(acquire(o("b"), "/k", INUM, SHARED));
        List<CacEvent> ev = t.change(++idx, a, EXCLUSIVE);
        assertThat(ev).containsExactly(new CacEvent.Downgrade(b, H, INVAL),
            new CacEvent.LeaseStarted(b, H, LockTable.DEFAULT_LEASE_MS, LockTable.EXPIRE_DOWNGRADE));
        assertThat(t.view(a).held()).as("keeps what it had while it waits").isEqualTo(SHARED);
        ev = t.change(++idx, b, EXCLUSIVE);
        CacEvent.Refused refused = first(ev, CacEvent.Refused.class);
        assertThat(refused.error()).isEqualTo(Dmsg.ERR_DEADLOCK);
        assertThat(refused.reason()).contains("deadlock").contains("b would wait for lock " + a);
        assertThat(t.view(b).held()).isEqualTo(SHARED);
        assertThat(t.view(b).wanted()).isNull();
        ev = t.release(++idx, b);
        assertThat(ev).contains(new CacEvent.Changed(a, H, EXCLUSIVE, idx));
    }

    @Test
    void aCycleAcrossKeysFailsTheRequestThatClosesIt() {
        long a1 = lockId(acquire(o("a"), "/x", INUM, EXCLUSIVE));
        long b1 = lockId(acquire(o("b"), "/y", INUM, EXCLUSIVE));
        long c1 = lockId(acquire(o("c"), "/z", INUM, EXCLUSIVE));
        assertThat(has(acquire(o("a"), "/y", INUM, EXCLUSIVE), CacEvent.Waiting.class)).isTrue(); // a -> b
        assertThat(has(acquire(o("b"), "/z", INUM, EXCLUSIVE), CacEvent.Waiting.class)).isTrue(); // b -> c
        List<CacEvent> ev = acquire(o("c"), "/x", TREE, SHARED); // c -> a: the cycle
        assertThat(ev).hasSize(1);
        assertThat(first(ev, CacEvent.Refused.class).error()).isEqualTo(Dmsg.ERR_DEADLOCK);
        assertThat(t.view(idx)).as("nothing recorded").isNull();
        assertThat(t.size()).isEqualTo(5);
        assertThat(has(acquire(o("d"), "/x", INUM, SHARED), CacEvent.Waiting.class)).as("d is in no cycle").isTrue();
        assertThat(List.of(a1, b1, c1)).allMatch(id -> t.view(id).held() == EXCLUSIVE);
    }

    @Test
    void aBroaderGrantIsExclusiveWhenNobodyElseIsNearAndOnlyIfAllowed() {
        CacEvent.Granted g = first(acquire(o("a"), "/k", ATTR, SHARED, LockTable.BROADER_OK), CacEvent.Granted.class);
        assertThat(g.state()).isEqualTo(EXCLUSIVE);
        List<CacEvent> ev = acquire(o("b"), "/k", DIRENT, SHARED, LockTable.BROADER_OK);
        assertThat(ev).as("b only needs a to share").contains(new CacEvent.Downgrade(g.lock(), H, SHARED));
        long b = idx;
        ev = t.change(++idx, g.lock(), SHARED);
        assertThat(first(ev, CacEvent.Granted.class)).as("not broader: a is near").isEqualTo(new CacEvent.Granted(b, H,
            SHARED, idx, LockTable.DEFAULT_LEASE_MS));
        assertThat(first(acquire(o("c"), "/j", ATTR, SHARED), CacEvent.Granted.class).state()).isEqualTo(SHARED);
    }

    @Test
    void noWaitRefusesWithTheConflictAndBadRequestsChangeNothing() {
        long a = lockId(acquire(o("a"), "/k", TREE, EXCLUSIVE));
        CacEvent.Refused r = first(acquire(o("b"), "/k/x", ATTR, SHARED, LockTable.NOWAIT), CacEvent.Refused.class);
        assertThat(r.error()).isEqualTo(Dmsg.ERR_CONFLICT);
        assertThat(r.reason()).contains("lock " + a).contains("tree /k");
        assertThat(first(acquire(o("b"), "/j", ATTR, INVAL), CacEvent.Refused.class).error()).isEqualTo(Dmsg.ERR_PARAM);
        assertThat(first(acquire(o("b"), "/j", ATTR, SHARED, 0x80), CacEvent.Refused.class).reason())
            .contains("unknown lock flags 0x80");
        assertThat(first(t.change(++idx, 424242, SHARED), CacEvent.Refused.class).error()).isEqualTo(Dmsg.ERR_PARAM);
        assertThat(t.release(++idx, 424242)).isEmpty();
        assertThat(t.size()).isOne();
    }

    @Test
    void aHomeThatRestartedLosesItsHeldLocksAndItsWaits() {
        Home old = new Home("m2", 5);
        long held = lockId(t.acquire(++idx, new Acquire(o("a"), old, CacKey.of("/k"), INUM, EXCLUSIVE, 0, 2000)));
        long waits = ++idx;
        t.acquire(waits, new Acquire(o("b"), old, CacKey.of("/k"), INUM, EXCLUSIVE, 0, 0));
        long other = lockId(acquire(o("c"), "/j", INUM, EXCLUSIVE));
        List<CacEvent> ev = t.home(++idx, new Home("m2", 6));
        assertThat(ev).contains(new CacEvent.Cancelled(waits, old, LockTable.CANCEL_HOME_RESTARTED, false));
        assertThat(t.view(held).lost()).isTrue();
        assertThat(t.leased()).extracting(LockView::id).containsExactly(held);
        assertThat(t.view(held).leaseMs()).isEqualTo(2000);
        assertThat(t.view(other).lost()).isFalse();
    }

    @Test
    void leasesAreClampedAndTheTableHasALimit() {
        assertThat(LockTable.lease(0)).isEqualTo(10_000);
        assertThat(LockTable.lease(5)).isEqualTo(1_000);
        assertThat(LockTable.lease(10_000_000)).isEqualTo(60_000);
        for (int i = 0; i < LockTable.MAX_LOCKS; i++) {
            acquire(o("a"), "/k/" + i, INUM, SHARED);
        }
        CacEvent.Refused r = first(acquire(o("a"), "/one/more", INUM, SHARED), CacEvent.Refused.class);
        assertThat(r.error()).isEqualTo(Dmsg.ERR_LIMIT);
    }

    @Test
    void aRestoredTableDecidesAsTheOriginal() {
        Random rnd = new Random(7);
        for (int i = 0; i < 400; i++) {
            randomOp(rnd);
        }
        LockTable copy = new LockTable();
        t.all().forEach(copy::restore);
        assertThat(copy.all()).isEqualTo(t.all());
        for (int i = 0; i < 400; i++) {
            long seed = rnd.nextLong();
            idx++;
            List<CacEvent> a = randomOp(new Random(seed), t, idx);
            List<CacEvent> b = randomOp(new Random(seed), copy, idx);
            assertThat(b).isEqualTo(a);
        }
        assertThat(copy.all()).isEqualTo(t.all());
    }

    @Test
    void randomOperationsKeepEveryRule() {
        Random rnd = new Random(Long.getLong("dmsg.seed", 11));
        int waited = 0;
        for (int i = 0; i < 5000; i++) {
            randomOp(rnd);
            Rules.check(t.all());
            waited += (int) t.all().stream().filter(v -> v.wanted() != null).count();
        }
        assertThat(waited).as("the workload makes locks wait").isGreaterThan(1000);
    }

    @Test
    void theRulesCheckerCatchesABrokenTable() {
        // a table that forgets to wake waiters: build a wait, then remove the holder behind the table's back
        acquire(o("a"), "/k", INUM, EXCLUSIVE);
        acquire(o("b"), "/k", INUM, EXCLUSIVE);
        List<LockView> views = new ArrayList<>(t.all());
        views.remove(0); // the holder gone, the waiter still waiting
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> Rules.check(views)).hasMessageContaining("lost wake-up");
        List<LockView> both = new ArrayList<>(t.all());
        LockView w = both.get(1);
        both.set(1, new LockView(w.id(), w.owner(), w.home(), w.key(), w.domain(), w.flags(), w.leaseMs(), EXCLUSIVE,
            null, 0, w.id(), null, false)); // granted while a still holds
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> Rules.check(both)).hasMessageContaining("two conflicting");
    }

    List<CacEvent> randomOp(Random rnd) {
        return randomOp(rnd, t, ++idx);
    }

    static final String[] KEYS = {"/", "/v", "/v/a", "/v/a/b", "/v/b", "/w", "/w/a"};
    static final Owner[] OWNERS = {o("a"), o("b"), o("c"), o("d"), new Owner("a", 1)};

    static List<CacEvent> randomOp(Random rnd, LockTable table, long at) {
        List<LockView> all = table.all();
        int op = all.isEmpty() ? 0 : rnd.nextInt(10);
        LockView v = all.isEmpty() ? null : all.get(rnd.nextInt(all.size()));
        switch (op) {
            case 0, 1, 2, 3:
                return table.acquire(at, new Acquire(OWNERS[rnd.nextInt(OWNERS.length)], H,
                    CacKey.of(KEYS[rnd.nextInt(KEYS.length)]), CacDomain.values()[rnd.nextInt(4)],
                    CacState.values()[1 + rnd.nextInt(3)], rnd.nextInt(4) == 0 ? LockTable.BROADER_OK : 0, 0));
            case 4:
                return table.release(at, v.id());
            case 5:
                return table.change(at, v.id(), CacState.values()[rnd.nextInt(4)]);
            case 6:
                return table.cancel(at, v.id(), LockTable.CANCEL_ABORTED);
            case 7:
                return table.lost(at, v.id());
            case 8:
                return table.expire(at, v.id(), 1 + rnd.nextInt(2));
            default: // a holder complies with what it was asked
                return v.downgradeTo() == null ? List.of() : table.change(at, v.id(), v.downgradeTo());
        }
    }

    static long lockId(List<CacEvent> ev) {
        return ev.get(0).lock();
    }
}
