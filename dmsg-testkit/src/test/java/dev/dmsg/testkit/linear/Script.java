package dev.dmsg.testkit.linear;

/** A history written by hand, each event at a time the test names (times must not go back). */
final class Script {
    long now;
    final History history = new History(() -> now);

    History.Call invoke(long t, int client, Op op) {
        now = t;
        return history.invoke(client, op);
    }

    void ok(long t, History.Call call, Object result) {
        now = t;
        call.ok(result);
    }

    void fail(long t, History.Call call) {
        now = t;
        call.fail();
    }

    void unknown(long t, History.Call call) {
        now = t;
        call.unknown();
    }

    /** An operation that completes ok, {@code [from, to]}. */
    Script op(long from, long to, int client, Op op, Object result) {
        History.Call c = invoke(from, client, op);
        ok(to, c, result);
        return this;
    }

    CheckResult check() {
        return new LinearizabilityChecker<>(new RegisterModel()).check(history);
    }
}
