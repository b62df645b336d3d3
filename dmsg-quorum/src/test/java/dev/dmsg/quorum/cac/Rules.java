package dev.dmsg.quorum.cac;

import static org.assertj.core.api.Assertions.assertThat;

import dev.dmsg.quorum.cac.LockTable.LockView;
import java.util.List;

/**
 * The table's promises (docs/CAC.md §2–§3), checked from a listing alone by brute force over
 * pairs — not through the table's index — so that a test can catch the index and the table
 * disagreeing with the rules.
 */
final class Rules {
    private Rules() {}

    static boolean overlap(LockView a, LockView b) {
        return CacDomain.overlap(a.key(), a.domain(), b.key(), b.domain());
    }

    static void check(List<LockView> all) {
        for (LockView a : all) {
            for (LockView b : all) {
                if (a.id() >= b.id() || a.owner().equals(b.owner()) || !overlap(a, b)) {
                    continue;
                }
                assertThat(a.held() != CacState.INVAL && b.held() != CacState.INVAL && a.held().conflictsWith(b.held()))
                    .as("two conflicting grants held at once: %s and %s", a, b).isFalse();
            }
        }
        for (LockView h : all) {
            if (h.downgradeTo() == null) {
                continue;
            }
            boolean reason = false;
            for (LockView w : all) {
                reason |= w.wanted() != null && w.id() != h.id() && !w.owner().equals(h.owner()) && overlap(h, w)
                    && h.held() != CacState.INVAL && h.held().conflictsWith(w.wanted());
            }
            assertThat(reason).as("%s is asked to downgrade though no wait needs it", h).isTrue();
        }
        for (LockView w : all) {
            if (w.wanted() == null) {
                continue;
            }
            boolean blocked = false;
            for (LockView o : all) {
                if (o.id() == w.id() || o.owner().equals(w.owner()) || !overlap(o, w)) {
                    continue;
                }
                if (o.held() != CacState.INVAL && o.held().conflictsWith(w.wanted())) {
                    blocked = true;
                    assertThat(o.downgradeTo()).as("%s blocks %s but was not asked to make way", o, w).isNotNull();
                    CacState need = w.wanted() == CacState.SHARED && o.held().exclusive() ? CacState.SHARED : CacState.INVAL;
                    assertThat(o.downgradeTo().compareTo(need)).as("%s asked too little for %s", o, w).isLessThanOrEqualTo(0);
                }
                if (o.wanted() != null && o.seq() < w.seq() && o.wanted().conflictsWith(w.wanted())) {
                    blocked = true;
                }
            }
            assertThat(blocked).as("%s waits with nothing in its way: a lost wake-up", w).isTrue();
        }
    }
}
