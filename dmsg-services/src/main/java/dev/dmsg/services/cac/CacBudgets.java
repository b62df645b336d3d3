package dev.dmsg.services.cac;

import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * What one originator may hold at once at this member (docs/CAC.md §8): open lock transactions,
 * and of them, requests still waiting. Kept per originator (its key's fingerprint and name), so
 * that a flood from one node leaves every other its own budget; an originator's entry goes once it
 * holds nothing.
 */
final class CacBudgets {
    static final int OPEN = 256;
    static final int WAITING = 64;

    private final int open;
    private final int waiting;
    private final ConcurrentHashMap<String, int[]> held = new ConcurrentHashMap<>();
    private final AtomicLong refused = new AtomicLong();

    CacBudgets(int open, int waiting) {
        this.open = open;
        this.waiting = waiting;
    }

    static CacBudgets defaults() {
        return new CacBudgets(OPEN, WAITING);
    }

    /** One more open and waiting lock for {@code originator}, or the reason it may not have one. */
    String take(String originator) {
        String[] why = {null};
        held.compute(originator, (k, v) -> {
            int[] c = v == null ? new int[2] : v;
            if (c[0] >= open) {
                why[0] = open + " lock transactions of this originator open here";
            } else if (c[1] >= waiting) {
                why[0] = waiting + " lock requests of this originator waiting here";
            } else {
                c[0]++;
                c[1]++;
            }
            return c[0] == 0 && c[1] == 0 ? null : c;
        });
        if (why[0] != null) {
            refused.incrementAndGet();
        }
        return why[0];
    }

    /** The request stopped waiting (granted, or ended). */
    void granted(String originator) {
        change(originator, 0, -1);
    }

    /** The transaction ended; {@code wasWaiting}: it had not stopped waiting. */
    void ended(String originator, boolean wasWaiting) {
        change(originator, -1, wasWaiting ? -1 : 0);
    }

    private void change(String originator, int dOpen, int dWaiting) {
        held.computeIfPresent(originator, (k, c) -> {
            c[0] = Math.max(0, c[0] + dOpen);
            c[1] = Math.max(0, c[1] + dWaiting);
            return c[0] == 0 && c[1] == 0 ? null : c;
        });
    }

    long refused() {
        return refused.get();
    }

    int originators() {
        return held.size();
    }
}
