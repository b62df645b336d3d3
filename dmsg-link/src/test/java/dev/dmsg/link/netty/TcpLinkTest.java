package dev.dmsg.link.netty;

import static org.assertj.core.api.Assertions.assertThat;

import dev.dmsg.link.Link;
import dev.dmsg.link.LinkConfig;
import dev.dmsg.link.LinkListener;
import dev.dmsg.link.LinkState;
import dev.dmsg.link.Services;
import dev.dmsg.link.Transaction;
import dev.dmsg.link.TransactionHandler;
import dev.dmsg.testkit.LeakDetector;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.Message;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/** Two endpoints over real TCP on loopback. */
@ExtendWith(LeakDetector.class)
@Timeout(30)
class TcpLinkTest {
    static final int ECHO = 0x0010fe01; // a private DBG command, as in the C vectors

    /** Serves ECHO: answers each CREATE with the same aux in CREATE|DELETE|REPLY. */
    static Services echoServices() {
        // Answers the opening message and closes: a legacy peer's opening comes as CREATE, then
        // LNK_ERROR|DELETE (docs/LEGACY.md); ours in one CREATE|DELETE.
        return new Services().accept(ECHO, (txn, create) -> (t, m) -> {
            if (m.isCreate()) {
                t.send(ECHO | Dmsg.DELETE, null, m.aux().retain());
            }
        });
    }

    @Test
    void linkComesUpAndCarriesATransaction() throws Exception {
        CountDownLatch up = new CountDownLatch(2);
        LinkListener l = new LinkListener() {
            @Override
            public void onUp(Link link) {
                up.countDown();
            }
        };
        try (LinkEndpoint a = new LinkEndpoint(LinkConfig.builder().label("A").build(), echoServices(), l, 1);
             LinkEndpoint b = new LinkEndpoint(LinkConfig.builder().label("B").build(), new Services(), l, 1)) {
            int port = a.listen("127.0.0.1", 0).getPort();
            Link link = b.connect("127.0.0.1", port).get(5, TimeUnit.SECONDS);
            assertThat(up.await(5, TimeUnit.SECONDS)).isTrue();
            assertThat(link.state()).isEqualTo(LinkState.UP);
            assertThat(link.peerLabel()).isEqualTo("A");

            CompletableFuture<String> answer = new CompletableFuture<>();
            link.open(ECHO | Dmsg.DELETE, null, Unpooled.copiedBuffer("hello\0", StandardCharsets.UTF_8),
                (t, m) -> {
                    if (m.isDelete()) {
                        answer.complete(Integer.toHexString(m.cmd()) + ":" + m.auxString());
                    }
                });
            assertThat(answer.get(5, TimeUnit.SECONDS)).isEqualTo("e010fe01:hello");
        }
    }

    @Test
    void killingALinkAbortsEveryOpenTransactionOnceOnBothSides() throws Exception {
        List<Message> serverSide = new CopyOnWriteArrayList<>();
        List<Message> clientSide = new CopyOnWriteArrayList<>();
        CountDownLatch serverGotCreate = new CountDownLatch(1);
        Services held = new Services().accept(ECHO, (txn, create) -> (t, m) -> {
            serverSide.add(m.retain());
            if (m.isCreate()) serverGotCreate.countDown();
        });
        CompletableFuture<String> down = new CompletableFuture<>();
        LinkListener onDown = new LinkListener() {
            @Override
            public void onDown(Link link, String reason, int aborted) {
                down.complete(reason + " aborted=" + aborted);
            }
        };
        try (LinkEndpoint a = new LinkEndpoint(LinkConfig.builder().label("A").build(), held, LinkListener.NONE, 1);
             LinkEndpoint b = new LinkEndpoint(LinkConfig.builder().label("B").build(), new Services(), onDown, 1)) {
            int port = a.listen("127.0.0.1", 0).getPort();
            Link link = b.connect("127.0.0.1", port).get(5, TimeUnit.SECONDS);
            TransactionHandler rec = (t, m) -> clientSide.add(m.retain());
            Transaction t1 = link.open(ECHO, rec);
            assertThat(serverGotCreate.await(5, TimeUnit.SECONDS)).isTrue();
            a.close(Duration.ofSeconds(2)); // server side goes away: client sees EOF
            // The orderly close DELETEs both LNK_CONNs first, so only ECHO is left to abort.
            assertThat(down.get(5, TimeUnit.SECONDS)).isEqualTo("EOF from peer aborted=1");
            assertThat(clientSide).hasSize(1);
            Message lost = clientSide.get(0);
            assertThat(lost.cmd()).isEqualTo(Dmsg.LNK_ERROR | Dmsg.ABORT | Dmsg.DELETE | Dmsg.REPLY | Dmsg.CREATE);
            assertThat(lost.error()).isEqualTo(Dmsg.ERR_LOSTLINK);
            assertThat(lost.msgid()).isEqualTo(t1.msgid());
            assertThat(link.stats().openTransactions()).isZero();
            // The server closed in order: its handler saw the CREATE, then exactly one LOSTLINK abort.
            assertThat(serverSide).hasSize(2);
            assertThat(serverSide.get(1).error()).isEqualTo(Dmsg.ERR_LOSTLINK);
            assertThat(serverSide.get(1).isDelete()).isTrue();
        } finally {
            serverSide.forEach(Message::release);
            clientSide.forEach(Message::release);
        }
    }
}
