package dev.dmsg.link;

import static org.assertj.core.api.Assertions.assertThat;

import dev.dmsg.testkit.LeakDetector;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.Message;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * LNK_CONN on start-up and the keepalive of docs/PROFILE.md §4, on a fake clock: PING after 1 s without
 * sending, dead after 10 s without life; PING and PAD received are ignored; legacy peers get no
 * PING; an orderly close.
 */
@ExtendWith(LeakDetector.class)
class KeepaliveTest {
    LinkScript s = new LinkScript();

    @AfterEach
    void down() {
        s.close();
    }

    void tickAfter(long millis) {
        s.clock.advanceMillis(millis);
        s.link.tick(s.clock.nanoTime());
    }

    List<Integer> sent() {
        return s.out().stream().map(Message::cmd).toList();
    }

    @Test
    void startOpensOurConnAndThePeersConnIsAnsweredWithAResult() {
        s.link.start();
        assertThat(s.link.state()).isEqualTo(LinkState.OPENING);
        assertThat(sent()).containsExactly(0x80001108);
        s.in(Dmsg.LNK_CONN | Dmsg.CREATE, 0x7777, LinkScript.conn());
        List<Message> out = s.out();
        assertThat(out).extracting(Message::cmd).containsExactly(0xa00fff01);
        assertThat(out.get(0).msgid()).isEqualTo(0x7777);
        assertThat(out.get(0).error()).isZero();
        assertThat(s.link.state()).isEqualTo(LinkState.UP);
        assertThat(s.link.peerLabel()).isEqualTo("peer");
        assertThat(s.events).containsExactly("up");
        s.in(Dmsg.LNK_ERROR | Dmsg.CREATE | Dmsg.REPLY, s.ourConnMsgid(), 0);
        assertThat(s.events).containsExactly("up", "conn-result 0");
    }

    @Test
    void pingAfterOneSecondWithoutSendingAndNotBefore() {
        s.up();
        tickAfter(999);
        assertThat(sent()).isEmpty();
        tickAfter(1);
        List<Message> out = s.out();
        assertThat(out).extracting(Message::cmd).containsExactly(0x00000101);
        assertThat(out.get(0).msgid()).isZero();
        tickAfter(500);
        assertThat(sent()).isEmpty();
        tickAfter(500);
        assertThat(sent()).containsExactly(0x00000101);
        assertThat(s.link.stats().pingsSent()).isEqualTo(2);
    }

    @Test
    void sendingSomethingElsePostponesThePing() {
        s.up();
        tickAfter(900);
        s.link.sendOneWay(Dmsg.DBG_SHELL, null, null);
        s.out();
        tickAfter(900);
        assertThat(sent()).isEmpty();
        tickAfter(100);
        assertThat(sent()).containsExactly(0x00000101);
    }

    @Test
    void legacyPeersGetNoPingAndTheirSilenceIsNotDeath() {
        s = new LinkScript(b -> b.legacyPeer(true));
        s.up();
        tickAfter(5000);
        assertThat(sent()).isEmpty();
        tickAfter(60_000); // a C peer never pings: an idle legacy link is silent both ways
        assertThat(sent()).isEmpty();
        assertThat(s.link.state()).isEqualTo(LinkState.UP);
    }

    @Test
    void receivedPingAndPadAreIgnoredButCountAsLife() {
        s.up();
        for (int i = 0; i < 12; i++) {
            s.clock.advanceMillis(900);
            s.in(i % 2 == 0 ? Dmsg.LNK_PING : Dmsg.LNK_PAD, 0, 0);
            s.link.tick(s.clock.nanoTime());
        }
        assertThat(s.out()).extracting(Message::cmd).containsOnly(0x00000101); // only our own PINGs
        assertThat(s.link.state()).isEqualTo(LinkState.UP);
        assertThat(s.link.stats().pingsReceived()).isEqualTo(6);
        assertThat(s.link.stats().violationCount()).isZero();
    }

    @Test
    void deadAfterTenSecondsWithoutReceiving() {
        s.up();
        tickAfter(9_999);
        assertThat(s.link.state()).isEqualTo(LinkState.UP);
        tickAfter(1);
        assertThat(s.link.state()).isEqualTo(LinkState.CLOSED);
        assertThat(s.link.closeReason()).isEqualTo("ping timeout: nothing received for 10.0 s");
        assertThat(s.events).contains("down ping timeout: nothing received for 10.0 s aborted=2");
    }

    @Test
    void anyReceivedMessageIsLife() {
        s.up();
        tickAfter(9_000);
        s.in(Dmsg.DBG_SHELL | Dmsg.REPLY, 0, 0);
        tickAfter(9_000);
        assertThat(s.link.state()).isEqualTo(LinkState.UP);
        tickAfter(1_000);
        assertThat(s.link.state()).isEqualTo(LinkState.CLOSED);
    }

    @Test
    void aPeerDrainingOurBacklogIsAliveEvenIfWeAreNotReading() {
        s.up();
        s.transport.backlog = 5_000_000;
        tickAfter(1);
        for (int i = 0; i < 30; i++) {
            s.transport.backlog -= 100_000; // the peer reads what we send
            tickAfter(1_000);
        }
        assertThat(s.link.state()).isEqualTo(LinkState.UP);
        for (int i = 0; i < 10; i++) {
            tickAfter(1_000); // the backlog stops moving
        }
        assertThat(s.link.state()).isEqualTo(LinkState.CLOSED);
    }

    @Test
    void intervalsComeFromTheConfig() {
        s = new LinkScript(b -> b.pingInterval(Duration.ofMillis(200)).deadTimeout(Duration.ofSeconds(2)));
        s.up();
        tickAfter(200);
        assertThat(sent()).containsExactly(0x00000101);
        tickAfter(1_799);
        assertThat(s.link.state()).isEqualTo(LinkState.UP);
        tickAfter(1);
        assertThat(s.link.state()).isEqualTo(LinkState.CLOSED);
    }

    @Test
    void orderlyCloseDeletesBothConnsThenClosesTheTransport() {
        s.services.accept(LinkScript.ECHO, (t, c) -> TransactionHandler.CLOSE_ON_DELETE);
        s.up();
        long peerConn = 0x7777;
        long ourConn = s.ourConnMsgid();
        s.in(LinkScript.ECHO | Dmsg.CREATE, 5, 0);
        s.link.close();
        List<Message> out = s.out();
        assertThat(out).extracting(Message::cmd).containsExactly(0x400fff01, 0x600fff01);
        assertThat(out).extracting(Message::msgid).containsExactly(ourConn, peerConn);
        assertThat(s.link.state()).isEqualTo(LinkState.CLOSING);
        assertThat(s.transport.closes).isEqualTo(1);
        s.link.sendOneWay(Dmsg.DBG_SHELL, null, null); // the output is half-closed: discarded
        assertThat(s.out()).isEmpty();
        s.link.transportClosed("EOF from peer");
        assertThat(s.link.state()).isEqualTo(LinkState.CLOSED);
        assertThat(s.link.closeReason()).isEqualTo("closed locally");
        assertThat(s.events).contains("down closed locally aborted=3"); // ECHO and both CONNs, still half-open
    }
}
