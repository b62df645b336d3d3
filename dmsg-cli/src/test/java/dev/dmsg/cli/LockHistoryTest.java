package dev.dmsg.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dmsg.wire.Dmsg;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The lock checker can fail: each rule of docs/CAC.md §9 is caught breaking, and a safe history passes. */
class LockHistoryTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long LEASE = ms(2000);
    private static final String D = LockWorker.DISK;
    private static final String K = LockWorker.KV;

    private static long ms(long m) {
        return TimeUnit.MILLISECONDS.toNanos(m);
    }

    /** One worker's events. */
    private static final class Events {
        final List<JsonNode> list = new ArrayList<>();

        Events(String worker, String home) {
            ev("start", 0).put("worker", worker).put("home", home);
        }

        ObjectNode ev(String kind, long tMs) {
            ObjectNode n = JSON.createObjectNode().put("ev", kind).put("t", ms(tMs));
            list.add(n);
            return n;
        }

        Events hold(long owner, String key, String state, long token, long reqMs, long grantMs, long releaseMs) {
            ev("req", reqMs).put("owner", owner).put("key", key).put("state", state);
            ev("grant", grantMs).put("owner", owner).put("key", key).put("state", state).put("token", token);
            if (releaseMs >= 0) {
                ev("release", releaseMs).put("owner", owner).put("key", key).put("token", token);
            }
            return this;
        }
    }

    private static LockHistory history(List<LockHistory.Fault> faults, Events... workers) {
        LockHistory h = new LockHistory(LEASE);
        h.faults.addAll(faults);
        for (Events e : workers) {
            h.add(e.list);
        }
        return h;
    }

    @Test
    void aHandOverAfterReleaseAndFencedStaleWritesAreSafe() {
        Events a = new Events("w1", "n0").hold(1, D, "EXCLUSIVE", 10, 0, 5, 100);
        a.ev("write", 90).put("owner", 1).put("key", D).put("token", 10).put("read", 0).put("wrote", 1)
            .put("outcome", "ok").put("t0", ms(80));
        Events b = new Events("w2", "n1").hold(2, D, "EXCLUSIVE", 12, 50, 110, 300);
        b.ev("present", 120).put("owner", 2).put("key", D).put("token", 12).put("outcome", "ok");
        b.ev("write", 200).put("owner", 2).put("key", D).put("token", 12).put("read", 1).put("wrote", 2)
            .put("outcome", "ok").put("t0", ms(190));
        a.ev("write", 260).put("owner", 1).put("key", D).put("token", 10).put("read", 1).put("wrote", 2)
            .put("outcome", "fenced").put("t0", ms(250)); // a stale writer refused: fine
        LockHistory h = history(List.of(), a, b);
        assertThat(h.violations()).isEmpty();
        assertThat(h.acknowledged(D)).isEqualTo(2);
        assertThat(h.fenced(D)).isEqualTo(1);
    }

    @Test
    void rule1CatchesAGrantUnderAHolderThatStillHeldItAndWasNeverTold() {
        Events a = new Events("w1", "n0").hold(1, K, "EXCLUSIVE", 10, 0, 5, 500);
        Events b = new Events("w2", "n1").hold(2, K, "SHARED", 12, 40, 50, 600);
        assertThat(history(List.of(), a, b).violations()).singleElement().asString()
            .startsWith("rule 1:").contains("granted 50 ms after").contains("(its own request)");
    }

    private static Events revoked(String why) {
        Events a = new Events("w1", "n0").hold(1, K, "EXCLUSIVE", 10, 0, 5, -1);
        a.ev("lost", 3_000).put("owner", 1).put("token", 10).put("error", Dmsg.ERR_REVOKED).put("why", why);
        return a;
    }

    @Test
    void rule1CountsAnUnmetDowngradesLeaseFromTheFirstConflictingRequest() {
        String unmet = "lock 1 revoked: asked to downgrade to inval, the holder did not within its lease of 2000 ms";
        Events early = new Events("w2", "n1").hold(2, K, "EXCLUSIVE", 12, 500, 2_000, 2_100);
        assertThat(history(List.of(), revoked(unmet), early).violations()).singleElement().asString()
            .contains("granted 1500 ms after").contains("(a conflicting request)");
        Events late = new Events("w2", "n1").hold(2, K, "EXCLUSIVE", 12, 500, 2_300, 2_400); // 500 + 2000 - 250 slack
        assertThat(history(List.of(), revoked(unmet), late).violations()).isEmpty();
        Events sooner = new Events("w3", "n2"); // a reader asked first and gave up: its request started the lease
        sooner.ev("req", 200).put("owner", 3).put("key", K).put("state", "SHARED");
        assertThat(history(List.of(), revoked(unmet), sooner, early).violations()).isEmpty();
    }

    @Test
    void rule1CountsALostHoldersLeaseOnlyFromItsOwnRequest() {
        String lost = "lock 1 revoked: the holder was lost and its lease of 2000 ms passed";
        Events b = new Events("w2", "n1").hold(2, D, "EXCLUSIVE", 12, 1_900, 2_000, 2_100); // its home may have seen it go at once
        assertThat(history(List.of(), revoked(lost), b).violations()).isEmpty();
        Events a = new Events("w1", "n0").hold(1, D, "EXCLUSIVE", 10, 0, 5, -1);
        a.ev("lost", 120).put("owner", 1).put("token", 10).put("error", Dmsg.ERR_LOSTLINK);
        Events soon = new Events("w2", "n1").hold(2, D, "EXCLUSIVE", 12, 50, 1_500, 1_600);
        assertThat(history(List.of(), a, soon).violations()).singleElement().asString().contains("granted 1500 ms after");
    }

    @Test
    void rule2CatchesAStoreWriteAcknowledgedAfterAnotherGrant() {
        Events a = new Events("w1", "n0").hold(1, K, "EXCLUSIVE", 10, 0, 5, -1);
        a.ev("lost", 50).put("owner", 1).put("token", 10).put("error", Dmsg.ERR_LOSTLINK);
        a.ev("write", 3_000).put("owner", 1).put("key", K).put("token", 10).put("read", 0).put("wrote", 1)
            .put("outcome", "ok").put("index", 20).put("t0", ms(2_900));
        Events b = new Events("w2", "n1").hold(2, K, "EXCLUSIVE", 15, 100, 2_500, 2_600);
        assertThat(history(List.of(), a, b).violations()).singleElement().asString()
            .startsWith("rule 2:").contains("index 20");
    }

    @Test
    void rule3CatchesALostUpdateAndADecreasingToken() {
        Events a = new Events("w1", "n0");
        a.ev("write", 10).put("owner", 1).put("key", D).put("token", 10).put("wrote", 5).put("outcome", "ok").put("t0", 0);
        a.ev("write", 20).put("owner", 2).put("key", D).put("token", 12).put("wrote", 5).put("outcome", "ok").put("t0", 0);
        assertThat(history(List.of(), a).violations()).singleElement().asString().contains("lost update");
        Events b = new Events("w1", "n0");
        b.ev("write", 10).put("owner", 1).put("key", K).put("token", 12).put("wrote", 5).put("outcome", "ok").put("t0", 0);
        b.ev("write", 20).put("owner", 2).put("key", K).put("token", 10).put("wrote", 6).put("outcome", "ok").put("t0", 0);
        assertThat(history(List.of(), b).violations()).singleElement().asString().contains("after counter 5 with the newer");
    }

    @Test
    void rule3CatchesAnExportThatTookAStaleTokenAfterANewerOne() {
        Events a = new Events("w1", "n0");
        a.ev("present", 100).put("owner", 2).put("key", D).put("token", 12).put("outcome", "ok");
        a.ev("write", 200).put("owner", 1).put("key", D).put("token", 10).put("wrote", 1).put("outcome", "ok")
            .put("t0", ms(150));
        assertThat(history(List.of(), a).violations()).singleElement().asString()
            .contains("started 50 ms after it had acknowledged token 12");
    }

    @Test
    void rule4CatchesASharedReadThatChangedWithNoConflictingGrant() {
        Events a = new Events("w1", "n0").hold(1, D, "SHARED", 10, 0, 5, 200);
        a.ev("sread", 150).put("owner", 1).put("key", D).put("token", 10).put("v1", 3).put("v2", 4);
        assertThat(history(List.of(), a).violations()).singleElement().asString().startsWith("rule 4:");
    }

    @Test
    void handOverAfterAKillIsMeasuredFromTheKill() {
        Events a = new Events("w1", "n0").hold(1, D, "EXCLUSIVE", 10, 0, 5, -1);
        Events b = new Events("w2", "n1").hold(2, D, "EXCLUSIVE", 12, 500, 3_100, 3_200);
        LockHistory h = history(List.of(new LockHistory.Fault("kill", "w1", ms(1_000), LockHistory.NEVER)), a, b);
        assertThat(h.violations()).isEmpty();
        assertThat(h.handOverAfterKills()).containsExactly(2_100L);
    }
}
