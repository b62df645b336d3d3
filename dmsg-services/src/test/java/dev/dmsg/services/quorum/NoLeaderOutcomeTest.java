package dev.dmsg.services.quorum;

import static org.assertj.core.api.Assertions.assertThat;

import dev.dmsg.wire.Dmsg;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/**
 * A write whose proposal failed with NOLEADER may still be applied, and the member says so
 * (docs/QUORUM.md §3.2); the client must hear it even when Ratis's detail is long and the reason is
 * cut at 256 bytes. It was not: the mark came last and was cut off, and the client only treated
 * LOSTLINK as unknown — a write could be reported refused and then applied (seen with real
 * processes, QuorumProcessTest: a retry failure's detail is ~400 bytes).
 */
class NoLeaderOutcomeTest {
    static String onTheWire(QuorumException atMember) {
        byte[] aux = Refusal.aux(atMember.getMessage());
        assertThat(aux.length).isLessThanOrEqualTo(Refusal.MAX_REASON_BYTES);
        return new String(Arrays.copyOf(aux, aux.length - 1), StandardCharsets.UTF_8);
    }

    @Test
    void aWriteWithoutALeaderIsAnUnknownOutcomeAtTheClientDespiteALongDetail() {
        IOException ratis = new IOException("Failed RaftClientRequest:client-7660D6D5D6F9->n2@group-EE1533C02C53, "
            + "cid=441, seq=262*, RW, Message:05010100000001000000...(size=28) for 50 attempts with "
            + "RetryLimited(maxAttempts=50, sleepTime=200ms)".repeat(3));
        QuorumException atMember = RaftGroupEngine.noLeader("g", ratis, true);
        assertThat(atMember.outcomeUnknown()).isTrue();
        String reason = onTheWire(atMember);
        assertThat(reason).startsWith("quorum g: no leader took the request; " + QuorumException.MAY_STILL_BE_APPLIED);
        QuorumException atClient = QuorumClient.refusal(Dmsg.ERR_NOLEADER, reason);
        assertThat(atClient.error()).isEqualTo(Dmsg.ERR_NOLEADER);
        assertThat(atClient.outcomeUnknown()).isTrue();
    }

    @Test
    void aPrepareOrAReadWithoutALeaderAppliedNothing() {
        QuorumException prepare = RaftGroupEngine.noLeader("g", new IOException("timeout"), false);
        assertThat(QuorumClient.refusal(Dmsg.ERR_NOLEADER, onTheWire(prepare)).outcomeUnknown()).isFalse();
        assertThat(QuorumClient.refusal(Dmsg.ERR_CONFLICT, "key \"/a\": reserved").outcomeUnknown()).isFalse();
        assertThat(QuorumClient.refusal(Dmsg.ERR_LOSTLINK, "").outcomeUnknown()).isTrue();
        // the mark counts only on a NOLEADER, where a member puts it
        assertThat(QuorumClient.refusal(Dmsg.ERR_PARAM, "key \"" + QuorumException.MAY_STILL_BE_APPLIED + "\"")
            .outcomeUnknown()).isFalse();
    }
}
