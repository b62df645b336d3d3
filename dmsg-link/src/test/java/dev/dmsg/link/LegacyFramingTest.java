package dev.dmsg.link;

import static org.assertj.core.api.Assertions.assertThat;

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
 * docs/LEGACY.md, at the link: toward a 2013 C peer a transaction is never opened and closed in one
 * message (libdmsg's responder frees such a state twice), and the peer's own framing — one-way
 * replies ended by a one-way LNK_ERROR — reaches a registered handler.
 */
@ExtendWith(LeakDetector.class)
class LegacyFramingTest {
    LinkScript s;

    @AfterEach
    void close() {
        s.close();
    }

    @Test
    void towardALegacyPeerCreateAndDeleteGoInMessagesOfTheirOwn() {
        s = new LinkScript(b -> b.legacyPeer(true)).up();
        List<String> got = new ArrayList<>();
        int before = s.link.stats().openTransactions(); // the two LNK_CONNs
        Transaction t = s.link.open(Dmsg.DBG_SHELL | Dmsg.DELETE, null, null, s.recorder("shell", got));
        List<Message> out = s.out();
        assertThat(out).extracting(Message::cmd)
            .containsExactly(Dmsg.DBG_SHELL | Dmsg.CREATE, Dmsg.LNK_ERROR | Dmsg.DELETE);
        assertThat(out).extracting(Message::msgid).containsOnly(t.msgid());
        // the peer answers and closes as a 2013 responder does: the transaction ends cleanly
        s.in(Dmsg.LNK_ERROR | Dmsg.CREATE | Dmsg.DELETE | Dmsg.REPLY, t.msgid(), 0);
        assertThat(got).containsExactly("shell: " + String.format("%08x", Dmsg.LNK_ERROR | Dmsg.CREATE | Dmsg.DELETE
            | Dmsg.REPLY) + " err=0");
        assertThat(s.out()).isEmpty(); // nothing more: both directions are closed
        assertThat(s.link.stats().openTransactions()).isEqualTo(before);
        assertThat(s.link.stats().violationCount()).isZero();
    }

    @Test
    void anAbortingOpenKeepsItsAbortOnTheClosingMessage() {
        s = new LinkScript(b -> b.legacyPeer(true)).up();
        Transaction t = s.link.open(Dmsg.DBG_SHELL | Dmsg.DELETE | Dmsg.ABORT, null, null, (tt, m) -> { });
        assertThat(s.out()).extracting(Message::cmd)
            .containsExactly(Dmsg.DBG_SHELL | Dmsg.CREATE, Dmsg.LNK_ERROR | Dmsg.DELETE | Dmsg.ABORT);
        assertThat(t.state().sendOpen()).isFalse();
    }

    @Test
    void toOurNodesAndOnCircuitsOneMessageStaysOneMessage() {
        s = new LinkScript().up();
        s.link.open(Dmsg.DBG_SHELL | Dmsg.DELETE, null, null, (t, m) -> { });
        assertThat(s.out()).extracting(Message::cmd).containsExactly(Dmsg.DBG_SHELL | Dmsg.CREATE | Dmsg.DELETE);
        // a C relay forwards circuit traffic untouched (docs/REFERENCE.md §3.5): the far end is ours
        s.link.markLegacy();
        s.link.circuits().attach(0x55);
        s.link.open(0x55, Dmsg.DBG_SHELL | Dmsg.DELETE, null, null, (t, m) -> { });
        assertThat(s.out()).extracting(Message::cmd).containsExactly(Dmsg.DBG_SHELL | Dmsg.CREATE | Dmsg.DELETE);
    }

    @Test
    void markingAPeerLegacyAtRunTimeSplitsFromThenOnAndStopsPing() {
        s = new LinkScript().up();
        assertThat(s.link.legacyPeer()).isFalse();
        s.link.markLegacy();
        assertThat(s.link.legacyPeer()).isTrue();
        s.link.open(Dmsg.DBG_SHELL | Dmsg.DELETE, null, null, (t, m) -> { });
        assertThat(s.out()).extracting(Message::cmd)
            .containsExactly(Dmsg.DBG_SHELL | Dmsg.CREATE, Dmsg.LNK_ERROR | Dmsg.DELETE);
        s.clock.advanceMillis(60_000);
        s.link.tick(s.clock.nanoTime());
        assertThat(s.out()).isEmpty(); // no PING, and a C peer's silence is not death
        assertThat(s.link.state()).isEqualTo(LinkState.UP);
    }

    @Test
    void aOneWayLnkErrorReachesARegisteredHandlerAndIsStillCounted() {
        s = new LinkScript(b -> b.legacyPeer(true));
        List<String> got = new ArrayList<>();
        s.services.oneWay(Dmsg.DBG_SHELL | Dmsg.REPLY, (l, m) -> got.add("out " + m.auxString()));
        s.services.oneWay(Dmsg.LNK_ERROR | Dmsg.REPLY, (l, m) -> got.add("prompt " + m.error()));
        s.up();
        s.link.receive(Message.of(Dmsg.DBG_SHELL | Dmsg.REPLY, 0, 0, 0, null,
            Unpooled.copiedBuffer("Cluster …\n\0", StandardCharsets.UTF_8)));
        s.in(Dmsg.LNK_ERROR | Dmsg.REPLY, 0, 0);
        s.in(Dmsg.LNK_ERROR, 0, Dmsg.ERR_NOSUPP); // not registered: counted, dropped, never answered
        assertThat(got).containsExactly("out Cluster …\n", "prompt 0");
        assertThat(s.link.stats().oneWayErrors()).isEqualTo(2);
        assertThat(s.link.stats().violationCount()).isZero();
        assertThat(s.out()).isEmpty();
    }
}
