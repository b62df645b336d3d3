package dev.dmsg.testkit.linear;

import static dev.dmsg.testkit.linear.RegisterModel.cas;
import static dev.dmsg.testkit.linear.RegisterModel.read;
import static dev.dmsg.testkit.linear.RegisterModel.write;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The classic register histories, each beside its linearizable twin, so every verdict is shown
 * to depend on the one thing that differs.
 */
@Timeout(20)
class LinearizabilityCheckerTest {

    @Test
    void aReadAfterACompletedWriteMustSeeIt() {
        Script s = new Script().op(0, 10, 1, write("x", "a"), null).op(20, 30, 2, read("x"), "a");
        assertThat(s.check().verdict()).isEqualTo(Verdict.LINEARIZABLE);

        Script stale = new Script().op(0, 10, 1, write("x", "a"), null).op(20, 30, 2, read("x"), null);
        CheckResult r = stale.check();
        assertThat(r.verdict()).isEqualTo(Verdict.NOT_LINEARIZABLE);
        KeyResult k = r.key("x");
        assertThat(k.linearization()).extracting(Operation::id).containsExactly(0);
        assertThat(k.unplaced()).extracting(Operation::id).containsExactly(1);
        assertThat(r.explanation()).isEqualTo("""
            NOT_LINEARIZABLE: 2 ops over 1 key, 1 key failing
            key "x": NOT linearizable (2 ops, 4 steps)
              longest linearizable prefix: 1 of 2 completed ops, leaving state "a"
                #0 c1 [0,10] x write("a") -> nil
              cannot place next:
                #1 c2 [20,30] x read() -> nil""");
    }

    @Test
    void aReadConcurrentWithAWriteMaySeeEitherButNeverOldAfterNew() {
        // w(b) in [20,40]; one read sees a, a later overlapping one sees b: b landed between them.
        Script s = new Script();
        s.op(0, 10, 1, write("x", "a"), null);
        History.Call w = s.invoke(20, 1, write("x", "b"));
        History.Call r1 = s.invoke(25, 2, read("x"));
        History.Call r2 = s.invoke(26, 3, read("x"));
        s.ok(30, r1, "a");
        s.ok(35, r2, "b");
        s.ok(40, w, null);
        assertThat(s.check().verdict()).isEqualTo(Verdict.LINEARIZABLE);

        // A read that returned b before another began, which then saw a: new-then-old.
        Script inv = new Script();
        inv.op(0, 10, 1, write("x", "a"), null);
        History.Call w2 = inv.invoke(20, 1, write("x", "b"));
        inv.op(25, 30, 2, read("x"), "b");
        inv.op(31, 35, 3, read("x"), "a");
        inv.ok(40, w2, null);
        CheckResult r = inv.check();
        assertThat(r.verdict()).isEqualTo(Verdict.NOT_LINEARIZABLE);
        assertThat(r.key("x").unplaced().get(0).id()).isEqualTo(3);
    }

    @Test
    void twoReadersMustAgreeOnTheOrderOfTwoConcurrentWrites() {
        assertThat(concurrentWrites("a", "b").verdict()).isEqualTo(Verdict.LINEARIZABLE);
        assertThat(concurrentWrites("b", "b").verdict()).isEqualTo(Verdict.LINEARIZABLE);
        assertThat(concurrentWrites("b", "a").verdict()).isEqualTo(Verdict.NOT_LINEARIZABLE);
    }

    /** w(a) and w(b) over [0,100]; reader 3 sees a then b, reader 4 sees {@code first} then {@code second}. */
    private static CheckResult concurrentWrites(String first, String second) {
        Script s = new Script();
        History.Call wa = s.invoke(0, 1, write("x", "a"));
        History.Call wb = s.invoke(0, 2, write("x", "b"));
        History.Call r3 = s.invoke(10, 3, read("x"));
        History.Call r4 = s.invoke(10, 4, read("x"));
        s.ok(20, r3, "a");
        s.ok(20, r4, first);
        r3 = s.invoke(30, 3, read("x"));
        r4 = s.invoke(30, 4, read("x"));
        s.ok(40, r3, "b");
        s.ok(40, r4, second);
        s.ok(100, wa, null);
        s.ok(100, wb, null);
        return s.check();
    }

    @Test
    void aCompareAndSetSucceedsOnceFromOneValue() {
        assertThat(twoCas(true, false).verdict()).isEqualTo(Verdict.LINEARIZABLE);
        assertThat(twoCas(false, true).verdict()).isEqualTo(Verdict.LINEARIZABLE);
        assertThat(twoCas(true, true).verdict()).isEqualTo(Verdict.NOT_LINEARIZABLE);
    }

    private static CheckResult twoCas(boolean first, boolean second) {
        Script s = new Script().op(0, 10, 1, write("x", 0L), null);
        History.Call c1 = s.invoke(20, 1, cas("x", 0L, 1L));
        History.Call c2 = s.invoke(21, 2, cas("x", 0, 2)); // ints are widened: 0 is 0L
        s.ok(30, c1, first);
        s.ok(31, c2, second);
        return s.check();
    }

    @Test
    void aRefusedCompareAndSetIsAnOkThatChangedNothing() {
        Script s = new Script().op(0, 10, 1, write("x", 5L), null).op(20, 30, 2, cas("x", 4L, 1L), false)
            .op(40, 50, 3, read("x"), 5L);
        assertThat(s.check().verdict()).isEqualTo(Verdict.LINEARIZABLE);
        Script wrong = new Script().op(0, 10, 1, write("x", 5L), null).op(20, 30, 2, cas("x", 5L, 1L), false);
        assertThat(wrong.check().verdict()).isEqualTo(Verdict.NOT_LINEARIZABLE);
        Script absent = new Script().op(0, 10, 1, cas("x", null, "new"), true).op(20, 30, 2, read("x"), "new");
        assertThat(absent.check().verdict()).isEqualTo(Verdict.LINEARIZABLE);
    }

    @Test
    void anUnknownWriteMayHaveHappenedOrNot() {
        assertThat(unknownWriteThenReads("a").verdict()).isEqualTo(Verdict.LINEARIZABLE);
        assertThat(unknownWriteThenReads((Object) null).verdict()).isEqualTo(Verdict.LINEARIZABLE);
        assertThat(unknownWriteThenReads(null, "a").verdict()).as("it landed late").isEqualTo(Verdict.LINEARIZABLE);
        assertThat(unknownWriteThenReads("a", null).verdict()).as("once seen it stays")
            .isEqualTo(Verdict.NOT_LINEARIZABLE);
        assertThat(unknownWriteThenReads("b").verdict()).as("never written").isEqualTo(Verdict.NOT_LINEARIZABLE);
    }

    /** w(a) invoked at 10, unknown at 20; then sequential reads, each returning the next of {@code seen}. */
    private static CheckResult unknownWriteThenReads(Object... seen) {
        Script s = new Script();
        History.Call w = s.invoke(10, 1, write("x", "a"));
        s.unknown(20, w);
        long t = 30;
        for (Object v : seen) {
            s.op(t, t + 5, 2, read("x"), v);
            t += 10;
        }
        return s.check();
    }

    @Test
    void anUnknownWriteMayLandAfterWritesThatCompletedLater() {
        Script s = new Script();
        History.Call u = s.invoke(0, 1, write("x", "a"));
        s.op(10, 20, 2, write("x", "b"), null).op(30, 40, 3, read("x"), "a").op(50, 60, 3, read("x"), "a");
        s.unknown(70, u);
        CheckResult r = s.check();
        assertThat(r.verdict()).isEqualTo(Verdict.LINEARIZABLE);
        assertThat(r.key("x").linearization()).extracting(Operation::id).containsExactly(1, 0, 2, 3);
    }

    @Test
    void anUnknownWriteTakesEffectOnce() {
        Script s = new Script();
        History.Call u = s.invoke(0, 1, write("x", "a"));
        s.op(10, 20, 2, read("x"), "a").op(30, 40, 2, write("x", "b"), null).op(50, 60, 3, read("x"), "a");
        s.unknown(70, u);
        assertThat(s.check().verdict()).isEqualTo(Verdict.NOT_LINEARIZABLE);
    }

    @Test
    void manyConcurrentUnknownWritesAreRefutedWithoutExhaustingTheirOrders() {
        // Porcupine's search tries every order of every subset of the unknown writes here (2^24).
        Script s = new Script();
        for (int i = 0; i < 24; i++) {
            s.unknown(50 + i, s.invoke(i, i, write("x", (long) i)));
        }
        s.op(100, 110, 30, write("x", "w"), null).op(200, 210, 30, read("x"), "never written");
        CheckResult r = new LinearizabilityChecker<>(new RegisterModel()).maxStepsPerKey(10_000).check(s.history);
        assertThat(r.verdict()).isEqualTo(Verdict.NOT_LINEARIZABLE);
        assertThat(r.key("x").unplaced().get(0).op()).isEqualTo(read("x"));
    }

    @Test
    void anUnknownWriteCannotTakeEffectBeforeItsInvocation() {
        Script s = new Script().op(0, 5, 2, read("x"), "a");
        s.unknown(20, s.invoke(10, 1, write("x", "a")));
        assertThat(s.check().verdict()).isEqualTo(Verdict.NOT_LINEARIZABLE);
    }

    @Test
    void anOperationStillOpenAtTheEndIsUnknown() {
        Script s = new Script();
        s.invoke(0, 1, write("x", "a")); // never completed
        s.op(10, 20, 2, read("x"), "a");
        assertThat(s.history.operations().get(0).outcome()).isEqualTo(Operation.Outcome.UNKNOWN);
        assertThat(s.check().verdict()).isEqualTo(Verdict.LINEARIZABLE);
    }

    @Test
    void anUnknownCompareAndSetMayHaveSwappedOrNot() {
        for (Object seen : new Object[] {0L, 1L}) {
            Script s = new Script().op(0, 10, 1, write("x", 0L), null);
            s.unknown(30, s.invoke(20, 1, cas("x", 0L, 1L)));
            s.op(40, 50, 2, read("x"), seen);
            assertThat(s.check().verdict()).as("read %s", seen).isEqualTo(Verdict.LINEARIZABLE);
        }
    }

    @Test
    void aFailedWriteDidNotHappen() {
        Script s = new Script();
        s.fail(5, s.invoke(0, 1, write("x", "a")));
        s.op(10, 20, 2, read("x"), "a");
        assertThat(s.check().verdict()).isEqualTo(Verdict.NOT_LINEARIZABLE);

        Script ok = new Script();
        ok.fail(5, ok.invoke(0, 1, write("x", "a")));
        ok.op(10, 20, 2, read("x"), null);
        assertThat(ok.check().verdict()).isEqualTo(Verdict.LINEARIZABLE);
    }

    @Test
    void operationsAtTheSameInstantAreConcurrent() {
        // A clock too coarse to order them: the read may have come first.
        Script s = new Script().op(0, 10, 1, write("x", "a"), null).op(10, 20, 2, read("x"), null);
        assertThat(s.check().verdict()).isEqualTo(Verdict.LINEARIZABLE);
    }

    @Test
    void keysAreCheckedEachOnItsOwn() {
        Script s = new Script().op(0, 10, 1, write("x", "a"), null).op(20, 30, 2, read("y"), "a")
            .op(40, 50, 2, read("x"), "a");
        CheckResult r = s.check();
        assertThat(r.verdict()).isEqualTo(Verdict.NOT_LINEARIZABLE);
        assertThat(r.key("x").verdict()).isEqualTo(Verdict.LINEARIZABLE);
        assertThat(r.key("x").linearization()).extracting(Operation::id).containsExactly(0, 2);
        assertThat(r.key("y").verdict()).isEqualTo(Verdict.NOT_LINEARIZABLE);
        assertThat(r.explanation()).contains("key \"y\": NOT linearizable").doesNotContain("key \"x\"");
        assertThatThrownBy(r::requireLinearizable).isInstanceOf(AssertionError.class)
            .hasMessage(r.explanation());
    }

    @Test
    void anEmptyHistoryIsLinearizable() {
        CheckResult r = new Script().check();
        assertThat(r.verdict()).isEqualTo(Verdict.LINEARIZABLE);
        assertThat(r.requireLinearizable()).isSameAs(r);
    }

    @Test
    void anOperationTheModelDoesNotKnowIsNamed() {
        Script s = new Script().op(0, 1, 1, Op.of("x", "increment"), 1L);
        assertThatThrownBy(s::check).isInstanceOf(IllegalArgumentException.class)
            .hasMessage("op f \"increment\": the register knows read, write, cas");
        Script arity = new Script().op(0, 1, 1, Op.of("x", "write"), null);
        assertThatThrownBy(arity::check).hasMessage("op write args: 0 given, 1 expected");
    }

    @Test
    void anOperationCannotCompleteBeforeItIsInvoked() {
        assertThatThrownBy(() -> new Operation(3, 1, read("x"), 20, Operation.Outcome.OK, 10, null))
            .isInstanceOf(IllegalArgumentException.class).hasMessage("op #3: completeNanos 10 < invokeNanos 20");
    }

    @Test
    void aCallCompletesOnce() {
        Script s = new Script();
        History.Call c = s.invoke(0, 1, read("x"));
        c.ok(null);
        assertThatThrownBy(c::unknown).isInstanceOf(IllegalStateException.class)
            .hasMessage("op #0 completed twice (now info)");
        assertThatThrownBy(() -> s.history.invoke(-1, read("x"))).hasMessage("client -1 < 0");
        assertThatThrownBy(() -> s.history.invoke(1, Op.of("x", "write", 1.5)))
            .hasMessage("op write args[0]: a Double is not a history value (String, Long, Boolean or null)");
    }
}
