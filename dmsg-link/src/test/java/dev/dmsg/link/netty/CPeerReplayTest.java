package dev.dmsg.link.netty;

import static org.assertj.core.api.Assertions.assertThat;

import dev.dmsg.link.Link;
import dev.dmsg.link.LinkConfig;
import dev.dmsg.link.LinkListener;
import dev.dmsg.link.LinkState;
import dev.dmsg.link.LinkStats;
import dev.dmsg.link.Services;
import dev.dmsg.link.Violation;
import dev.dmsg.testkit.FakeClock;
import dev.dmsg.testkit.LeakDetector;
import dev.dmsg.testkit.Vectors;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.FrameDecoder;
import dev.dmsg.wire.Message;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Our link, through its real Netty pipeline, fed the bytes DragonFly's libdmsg sent in the captured
 * run, as if the C process were our peer. Its LNK_CONN is answered, what we do not serve yet gets
 * NOSUPP (transactions) or is counted and dropped (one-way messages), replies to transactions
 * that were never ours are dropped as violations — and the link stays up. Our answers decode with
 * a fresh decoder: sizes, CRCs and the salt sequence are right.
 */
@ExtendWith(LeakDetector.class)
class CPeerReplayTest {
    static final int ECHO = 0x0010fe01;
    final List<Message> sent = new ArrayList<>();
    EmbeddedChannel ch;
    Link link;

    Link start(Services services) {
        FakeClock clock = new FakeClock();
        LinkConfig cfg = LinkConfig.builder().label("java").clock(clock).build();
        CompletableFuture<Link> ready = new CompletableFuture<>();
        ch = new EmbeddedChannel(new FrameCodec.Decoder(),
            new LinkChannelHandler(cfg, services, LinkListener.NONE, ready));
        link = ready.join();
        return link;
    }

    List<Message> outbound() throws Exception {
        ByteBuf all = Unpooled.buffer();
        ByteBuf b;
        while ((b = ch.readOutbound()) != null) {
            all.writeBytes(b);
            b.release();
        }
        FrameDecoder d = new FrameDecoder(); // checks CRCs and that our salt sequence starts at 0
        Message m;
        while ((m = d.decode(all)) != null) {
            sent.add(m);
        }
        assertThat(all.isReadable()).isFalse();
        all.release();
        return sent;
    }

    @AfterEach
    void close() {
        sent.forEach(Message::release);
        if (ch != null) {
            ch.finishAndReleaseAll();
        }
    }

    /** The C run's test transaction: each ECHO answered with its aux, the DELETE with a reply. */
    static Services cEchoServices() {
        return new Services().accept(ECHO, (txn, create) -> (t, m) -> {
            if (m.baseCmd() == ECHO) t.send(ECHO, null, m.aux().retain());
            if (m.isDelete()) t.reply(0);
        });
    }

    /** What we answer the C connector's stream (c2s), in order. */
    static final List<Integer> ANSWERS_TO_C2S = List.of(
        0x80001108,  // our LNK_CONN|CREATE
        0xa00fff01,  // result 0 for the C side's LNK_CONN
        0xe00fff01,  // NOSUPP for its LNK_SPAN (the mesh is a later issue)
        0xa010fe01,  // ECHO|CREATE|REPLY with the same aux
        0x600fff01); // LNK_ERROR|DELETE|REPLY answering its LNK_ERROR|DELETE

    @Test
    void aCConnectorTalkingToUs() throws Exception {
        start(cEchoServices());
        ch.writeInbound(Unpooled.wrappedBuffer(Vectors.c2s()));
        List<Message> out = outbound();

        assertThat(out).extracting(Message::cmd).containsExactlyElementsOf(ANSWERS_TO_C2S);
        assertThat(out.get(1).msgid()).isEqualTo(0x00007fb2f0000e40L);
        assertThat(out.get(1).error()).isZero();
        assertThat(out.get(2).msgid()).isEqualTo(0x00007fb2f00024b0L);
        assertThat(out.get(2).error()).isEqualTo(Dmsg.ERR_NOSUPP);
        assertThat(out.get(3).auxString()).isEqualTo("echo-payload-123");
        assertThat(out.get(4).msgid()).isEqualTo(0x00007fb2f0002900L);

        assertThat(link.state()).isEqualTo(LinkState.UP);
        assertThat(link.peerConn().mediaid().toString()).isEqualTo("dadeda00-44c8-480a-a3c9-aafc302d464b");
        LinkStats s = link.stats();
        assertThat(s.msgsIn()).isEqualTo(7);
        // Frame 1 answers a LNK_CONN of the C run's other side, not ours; the two DBG_SHELL
        // commands are one-way and nobody serves the shell yet.
        assertThat(s.violations()).containsEntry(Violation.UNKNOWN_MSGID, 1L)
            .containsEntry(Violation.UNKNOWN_ONE_WAY, 2L);
        assertThat(s.nosuppSent()).isEqualTo(1);
        // LNK_CONN both ways and the SPAN we refused are still open; ECHO is fully closed.
        assertThat(s.openTransactions()).isEqualTo(3);
    }

    @Test
    void aCListenerTalkingToUs() throws Exception {
        start(new Services());
        ch.writeInbound(Unpooled.wrappedBuffer(Vectors.s2c()));
        List<Message> out = outbound();
        assertThat(out).extracting(Message::cmd).containsExactly(0x80001108, 0xa00fff01, 0xe00fff01);
        LinkStats s = link.stats();
        assertThat(s.msgsIn()).isEqualTo(11);
        assertThat(link.state()).isEqualTo(LinkState.UP);
        // REPLY frames for transactions of the C run's other side: dropped; the shell output (4)
        // and prompts (2, one-way LNK_ERROR|REPLY) are one-way: counted and dropped, never answered.
        assertThat(s.violations()).containsEntry(Violation.UNKNOWN_MSGID, 3L)
            .containsEntry(Violation.UNKNOWN_ONE_WAY, 4L);
        assertThat(s.oneWayErrors()).isEqualTo(2);
    }
}
