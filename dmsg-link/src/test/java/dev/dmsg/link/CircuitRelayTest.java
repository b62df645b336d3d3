package dev.dmsg.link;

import static dev.dmsg.link.LinkScript.ECHO;
import static dev.dmsg.wire.Dmsg.CREATE;
import static dev.dmsg.wire.Dmsg.DELETE;
import static dev.dmsg.wire.Dmsg.REPLY;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import dev.dmsg.testkit.LeakDetector;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.Message;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The relay side of circuits (docs/REFERENCE.md §3.5 "Forwarding"): messages on a relayed circuit go to
 * its relay untracked, and {@link LinkCircuits#forward} sends them on with only the circuit id changed.
 */
@ExtendWith(LeakDetector.class)
class CircuitRelayTest {
    final LinkScript a = new LinkScript();
    final LinkScript b = new LinkScript();
    final List<Message> relayedToUs = new ArrayList<>();

    @AfterEach
    void down() {
        relayedToUs.forEach(Message::release);
        a.close();
        b.close();
    }

    @Test
    void aRelayedCircuitIsHandedOnAndForwardedWithOnlyItsIdChanged() {
        a.up();
        b.up();
        // circuit 0x77 on link a is paired with circuit 0x55 on link b
        a.link.circuits().relay(0x77, (from, m) -> b.link.circuits().forward(m, 0x55));
        a.in(ECHO | CREATE, 0x1234, 0x77, 0, null);
        a.link.receive(Message.of(ECHO | DELETE, 0x1234, 0x77, 0x21, null,
            Unpooled.copiedBuffer("payload\0", StandardCharsets.US_ASCII)));
        a.link.readComplete();
        List<Message> out = b.out();
        assertThat(out).extracting(Message::cmd).containsExactly(ECHO | CREATE, ECHO | DELETE);
        assertThat(out).extracting(Message::circuit).containsOnly(0x55L);
        assertThat(out).extracting(Message::msgid).containsOnly(0x1234L);
        assertThat(out.get(1).error()).isEqualTo(0x21);
        assertThat(out.get(1).auxString()).isEqualTo("payload");
        // nothing tracked at the relay, nothing counted as a breach
        assertThat(a.link.stats().openTransactions()).isEqualTo(2);
        assertThat(b.link.stats().openTransactions()).isEqualTo(2);
        assertThat(a.link.stats().violationCount()).isZero();
        assertThat(a.link.stats().msgsRelayed()).isEqualTo(2);
        assertThat(b.link.stats().msgsForwarded()).isEqualTo(2);
        // and their frame bytes, the same size each way (the relay only renumbers the circuit)
        long frames = out.stream().mapToLong(dev.dmsg.wire.FrameEncoder::frameBytes).sum();
        assertThat(frames).isGreaterThan(2 * 64);
        assertThat(a.link.stats().bytesRelayed()).isEqualTo(frames);
        assertThat(b.link.stats().bytesForwarded()).isEqualTo(frames);
    }

    @Test
    void replyDirectionTravelsBackTheSameWay() {
        a.up();
        b.up();
        b.link.circuits().relay(0x55, (from, m) -> a.link.circuits().forward(m, 0x77));
        b.in(ECHO | CREATE | DELETE | REPLY, 0x1234, 0x55, 0, null);
        List<Message> out = a.out();
        assertThat(out).hasSize(1);
        assertThat(out.get(0).cmd()).isEqualTo(ECHO | CREATE | DELETE | REPLY);
        assertThat(out.get(0).circuit()).isEqualTo(0x77);
    }

    /**
     * A message crossing the relay's close (the far end's last answer, sent before it saw our
     * DELETE) is late, not a violation: counted, dropped, no warning. A circuit never relayed here
     * is still unknown.
     */
    @Test
    void afterUnrelayALateMessageIsCountedLateAndAnotherCircuitIsStillUnknown() {
        a.up();
        a.link.circuits().relay(0x77, (from, m) -> relayedToUs.add(m));
        a.in(ECHO | CREATE, 1, 0x77, 0, null);
        a.link.circuits().unrelay(0x77);
        a.in(ECHO | DELETE, 1, 0x77, 0, null);
        assertThat(relayedToUs).hasSize(1);
        assertThat(a.link.stats().violations().get(Violation.UNKNOWN_CIRCUIT)).isNull();
        assertThat(a.link.lateOnDetached()).isEqualTo(1);

        a.in(ECHO | CREATE, 2, 0x78, 0, null); // forged: never relayed here
        assertThat(a.link.stats().violations().get(Violation.UNKNOWN_CIRCUIT)).isEqualTo(1L);
        a.link.circuits().unrelay(0x79);       // nothing was relayed: nothing remembered
        a.in(ECHO | CREATE, 3, 0x79, 0, null);
        assertThat(a.link.stats().violations().get(Violation.UNKNOWN_CIRCUIT)).isEqualTo(2L);
        assertThat(relayedToUs).hasSize(1);
    }

    @Test
    void anIdIsEitherAttachedOrRelayed() {
        a.up();
        a.link.circuits().attach(0x77);
        assertThat(catchThrowable(() -> a.link.circuits().relay(0x77, (f, m) -> m.release())))
            .isInstanceOf(IllegalStateException.class);
        a.link.circuits().relay(0x78, (f, m) -> m.release());
        assertThat(catchThrowable(() -> a.link.circuits().attach(0x78))).isInstanceOf(IllegalStateException.class);
    }

    @Test
    void forwardingOnADeadLinkDiscardsAndCounts() {
        a.up();
        a.link.fail("gone");
        a.link.circuits().forward(Message.of(Dmsg.DBG_SHELL, 0, 0x77, 0, null,
            Unpooled.copiedBuffer("x\0", StandardCharsets.US_ASCII)), 0x55);
        assertThat(a.out()).isEmpty();
        assertThat(a.link.stats().sendsDiscarded()).isEqualTo(1);
    }
}
