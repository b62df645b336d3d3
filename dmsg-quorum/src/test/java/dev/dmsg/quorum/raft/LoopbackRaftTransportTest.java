package dev.dmsg.quorum.raft;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.dmsg.link.tls.Role;
import java.io.IOException;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The test transport's own contract: who the receiver is told asked, and each fault as documented. */
@Timeout(20)
class LoopbackRaftTransportTest {
    final LoopbackRaftTransport.Network net = new LoopbackRaftTransport.Network();
    LoopbackRaftTransport a;
    LoopbackRaftTransport b;

    @BeforeEach
    void join() {
        a = net.join("alpha", Role.MEMBER);
        b = net.join("bob", Role.CLIENT);
        b.serve((g, o, r) -> CompletableFuture.completedFuture((g + " " + o + " " + r.length).getBytes()));
        a.serve((g, o, r) -> CompletableFuture.completedFuture(("a:" + o.label()).getBytes()));
    }

    @AfterEach
    void close() {
        net.close();
    }

    static String text(CompletableFuture<byte[]> f) throws Exception {
        return new String(f.get(5, TimeUnit.SECONDS));
    }

    @Test
    void theReceiverIsToldTheSendersJoinedLabelAndRole() throws Exception {
        assertThat(text(a.call("g1", "bob", new byte[3]))).isEqualTo("g1 'alpha' (member) 3");
        assertThat(text(b.call("g1", "alpha", new byte[0]))).isEqualTo("a:bob");
        assertThat(text(a.call("g1", "alpha", new byte[0]))).as("a call to itself").isEqualTo("a:alpha");
        assertThatThrownBy(() -> net.join("alpha", Role.ADMIN)).isInstanceOf(IllegalStateException.class);
    }

    @Test
    void aCutOffNodeFailsEveryCallToOrFromItAtOnceUntilReconnected() throws Exception {
        net.cutOff("bob");
        assertThatThrownBy(() -> a.call("g1", "bob", new byte[1]).get(5, TimeUnit.SECONDS))
            .cause().isInstanceOf(IOException.class).hasMessage("'bob' is cut off from the network");
        assertThatThrownBy(() -> b.call("g1", "alpha", new byte[1]).get(5, TimeUnit.SECONDS))
            .cause().isInstanceOf(IOException.class).hasMessage("bob is cut off from the network");
        net.reconnect("bob");
        assertThat(text(a.call("g1", "bob", new byte[1]))).endsWith(" 1");
        assertThatThrownBy(() -> a.call("g1", "carol", new byte[1]).get(5, TimeUnit.SECONDS))
            .cause().hasMessage("no node 'carol' on the network");
    }

    @Test
    void aDroppedRequestIsNeverAnsweredAndOnlyThatOne() throws Exception {
        net.dropNext("alpha", "bob", 1);
        CompletableFuture<byte[]> lost = a.call("g1", "bob", new byte[1]);
        assertThat(text(a.call("g1", "bob", new byte[2]))).endsWith(" 2");
        assertThat(text(b.call("g1", "alpha", new byte[2]))).as("the other direction is not dropped").isEqualTo("a:bob");
        // the wire is one FIFO thread: the later call's answer means the lost one would have been delivered
        assertThat(lost).isNotDone();
        assertThat(net.delivered()).isEqualTo(2);
        a.close();
        assertThatThrownBy(() -> lost.get(1, TimeUnit.SECONDS)).cause().hasMessage("alpha: transport closed");
    }

    @Test
    void aDelayHoldsTheRequestAndTheReply() throws Exception {
        net.delay(Duration.ofMillis(150));
        long t0 = System.nanoTime();
        assertThat(text(a.call("g1", "bob", new byte[1]))).endsWith(" 1");
        assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0)).isGreaterThanOrEqualTo(300);
    }

    @Test
    void closingATransportFailsItsWaitingCalls() throws Exception {
        b.serve((g, o, r) -> new CompletableFuture<>()); // never answers
        CompletableFuture<byte[]> waiting = a.call("g1", "bob", new byte[1]);
        a.close();
        assertThatThrownBy(() -> waiting.get(5, TimeUnit.SECONDS)).isInstanceOf(ExecutionException.class)
            .cause().hasMessage("alpha: transport closed");
    }
}
