package dev.dmsg.services.quorum;

import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * What one originator may hold at once on this member (docs/QUORUM.md §6, docs/IDENTITY.md §6):
 * requests in flight, prepared batches, watches — kept per originator key, so that a flood from
 * one node behind a neighbour leaves every other originator its own budget. An originator's entry
 * goes once it holds nothing, so the table is bounded by what is held.
 */
final class QrmBudgets {
    /** A kind of thing held, with its limit per originator. */
    enum Kind {
        REQUESTS, PREPARED, WATCHES
    }

    private final int[] limits;
    private final ConcurrentHashMap<String, long[]> held = new ConcurrentHashMap<>();
    private final AtomicLong refused = new AtomicLong();

    QrmBudgets(int requests, int prepared, int watches) {
        this.limits = new int[] {requests, prepared, watches};
    }

    static QrmBudgets defaults() {
        return new QrmBudgets(256, 64, 64);
    }

    /** Takes one of {@code kind} for {@code originator}; false (and counted) if it is at its limit. */
    boolean take(String originator, Kind kind) {
        boolean[] ok = {false};
        held.compute(originator, (k, v) -> {
            long[] c = v == null ? new long[Kind.values().length] : v;
            if (c[kind.ordinal()] < limits[kind.ordinal()]) {
                c[kind.ordinal()]++;
                ok[0] = true;
            }
            return c;
        });
        if (!ok[0]) {
            refused.incrementAndGet();
            release(originator, null); // drops an empty entry made above
        }
        return ok[0];
    }

    /** Gives back one of {@code kind} ({@code null}: none, only tidy up). */
    void release(String originator, Kind kind) {
        held.computeIfPresent(originator, (k, c) -> {
            if (kind != null && c[kind.ordinal()] > 0) {
                c[kind.ordinal()]--;
            }
            for (long x : c) {
                if (x != 0) {
                    return c;
                }
            }
            return null;
        });
    }

    int limit(Kind kind) {
        return limits[kind.ordinal()];
    }

    long refused() {
        return refused.get();
    }

    /** Originators holding anything now. */
    int originators() {
        return held.size();
    }
}
