package dev.dmsg.link.netty;

import static java.util.concurrent.TimeUnit.SECONDS;
import static org.assertj.core.api.Assertions.assertThat;

import dev.dmsg.link.Link;
import dev.dmsg.link.LinkConfig;
import dev.dmsg.link.LinkListener;
import dev.dmsg.link.LinkState;
import dev.dmsg.link.tls.Fingerprints;
import dev.dmsg.link.tls.TlsConfig;
import dev.dmsg.link.tls.TlsConfig.Provider;
import dev.dmsg.testkit.FakeClock;
import dev.dmsg.testkit.LeakDetector;
import dev.dmsg.wire.AuthBody;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.Message;
import io.netty.buffer.Unpooled;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.LockSupport;
import java.util.function.LongSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.slf4j.Logger;

/**
 * docs/SECURITY.md §7 on real sockets: a flood of connections that never handshake is capped (the
 * oldest unfinished ones closed to make room, counted), cannot keep an honest peer out, and writes
 * a bounded number of log lines, while an established honest link keeps working; a peer
 * holding a trusted key that floods open-then-cancel transactions (HTTP/2 "rapid reset") is
 * closed as abusive while others are served; and one peer's transactions are capped across all
 * its links.
 */
@ExtendWith(LeakDetector.class)
@Timeout(60)
class AbuseFloodTest {
    static final int ECHO = TlsLinkTest.ECHO;
    LogCapture logs;
    EventLoopGroup raw;
    final List<AutoCloseable> toClose = new ArrayList<>();

    @BeforeEach
    void start() {
        logs = LogCapture.of("dev.dmsg.link");
        raw = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
    }

    @AfterEach
    void stop() throws Exception {
        for (int i = toClose.size() - 1; i >= 0; i--) {
            toClose.get(i).close();
        }
        raw.shutdownGracefully(0, 1, TimeUnit.SECONDS);
        logs.close();
    }

    LinkEndpoint alpha(TlsConfig tls, LinkConfig.Builder b) {
        LinkEndpoint e = new LinkEndpoint(b.label("alpha").tls(tls).build(), TcpLinkTest.echoServices(),
            LinkListener.NONE, 1);
        toClose.add(e);
        return e;
    }

    LinkEndpoint beta() {
        LinkEndpoint e = new LinkEndpoint(LinkConfig.builder().label("beta")
            .tls(TlsLinkTest.tls(TlsLinkTest.BETA, TlsLinkTest.BETA_TRUSTS, Provider.JDK)).build(),
            TcpLinkTest.echoServices(), LinkListener.NONE, 1);
        toClose.add(e);
        return e;
    }

    /**
     * A full cap (4 here) does not turn newcomers away: the oldest unfinished connection gives
     * way, so the flood's own sockets are closed, an honest client gets in while the flood is
     * still there, and the established link is served throughout.
     */
    @Test
    void aConnectionFloodPushesOutItsOldestWhileAnEstablishedLinkKeepsWorking() throws Exception {
        LinkEndpoint a = alpha(TlsLinkTest.tls(TlsLinkTest.ALPHA, TlsLinkTest.ALPHA_TRUSTS, Provider.JDK)
            .withMaxUnauthenticated(4).withHandshakeTimeout(Duration.ofSeconds(30)), LinkConfig.builder());
        int port = TlsLinkTest.listen(a);
        LinkEndpoint b = beta();
        Link honest = b.connect("127.0.0.1", port).get(10, SECONDS);

        // 10 connections that say nothing: the first 6 give way to the next ones, the last 4 are held
        List<Socket> flood = new ArrayList<>();
        try {
            for (int i = 0; i < 10; i++) {
                flood.add(silent("127.0.0.1", port));
            }
            for (int i = 0; i < 10; i++) {
                assertThat(closedAtOnce(flood.get(i))).as("connection %d closed", i).isEqualTo(i < 6);
            }
            assertThat(a.tlsStats().evicted()).isEqualTo(6);
            assertThat(logs.await(TlsLinkTest.WAIT, "link alpha<->127.0.0.1:", ": TLS handshake failed: closed unfinished"
                + " to make room for 127.0.0.1:", ": 4 connections have not finished the handshake (limit 4); it was the"
                + " oldest of the 4 from 127.0.0.1 (docs/SECURITY.md §7)")).isNotNull();
            for (int i = 0; i < 20; i++) {
                assertThat(TlsLinkTest.echo(honest, "during the flood " + i)).isEqualTo("during the flood " + i);
            }
            // a new honest client gets in with the cap still full of junk: the oldest gives way again
            Link again = b.connect("127.0.0.1", port).get(10, SECONDS);
            assertThat(TlsLinkTest.echo(again, "during")).isEqualTo("during");
            assertThat(a.tlsStats().evicted()).isEqualTo(7);
            assertThat(a.tlsStats().overCap()).isZero();
        } finally {
            for (Socket s : flood) {
                s.close();
            }
        }
    }

    /** One address flooding pushes out only its own: a connection from another address is held. */
    @Test
    void oneAddressFloodingPushesOutOnlyItsOwn() throws Exception {
        LinkEndpoint a = alpha(TlsLinkTest.tls(TlsLinkTest.ALPHA, TlsLinkTest.ALPHA_TRUSTS, Provider.JDK)
            .withMaxUnauthenticatedPerAddress(3).withHandshakeTimeout(Duration.ofSeconds(30)), LinkConfig.builder());
        int port = TlsLinkTest.listen(a);
        List<Socket> flood = new ArrayList<>();
        try {
            Socket other = silent("127.0.0.2", port); // all of 127/8 is loopback
            flood.add(other);
            for (int i = 0; i < 6; i++) {
                flood.add(silent("127.0.0.1", port));
            }
            for (int i = 1; i <= 6; i++) {
                assertThat(closedAtOnce(flood.get(i))).as("connection %d closed", i).isEqualTo(i <= 3);
            }
            assertThat(logs.await(TlsLinkTest.WAIT, "closed unfinished to make room for 127.0.0.1:",
                ": 3 connections from 127.0.0.1 have not finished the handshake (limit 3 per address)")).isNotNull();
            assertThat(closedAtOnce(other)).isFalse();
            assertThat(a.tlsStats().evicted()).isEqualTo(3);
            assertThat(a.tlsStats().overCap()).isZero();
        } finally {
            for (Socket s : flood) {
                s.close();
            }
        }
    }

    /**
     * Issue 13: idle connections from many addresses filled the endpoint's cap (64) and kept every
     * honest peer out for the handshake timeout (10 s); 64 new ones every 10 s kept it so. With
     * the defaults: 200 idle connections from 199 addresses, more arriving at 100 a second
     * (15 times that rate) while an honest peer connects: it links up at once, and the link
     * established before the flood keeps working.
     */
    @Test
    void idleConnectionsFromManyAddressesCannotKeepAnHonestPeerOut() throws Exception {
        LinkEndpoint a = alpha(TlsLinkTest.tls(TlsLinkTest.ALPHA, TlsLinkTest.ALPHA_TRUSTS, Provider.JDK),
            LinkConfig.builder());
        int port = TlsLinkTest.listen(a);
        int cap = TlsConfig.DEFAULT_MAX_UNAUTHENTICATED;
        LinkEndpoint b = beta();
        Link established = b.connect("127.0.0.1", port).get(10, SECONDS);
        List<Socket> flood = new CopyOnWriteArrayList<>();
        AtomicBoolean attacking = new AtomicBoolean(true);
        CompletableFuture<Void> attacker = new CompletableFuture<>();
        try {
            for (int i = 0; i < 200; i++) {
                flood.add(silent("127.0.0." + (2 + i % 199), port)); // 127.0.0.2 .. 127.0.0.200
            }
            awaitCount(() -> a.tlsStats().evicted(), 200 - cap); // the cap is full of idle connections
            Thread t = new Thread(() -> {
                try {
                    for (int i = 0; attacking.get(); i++) {
                        flood.add(silent("127.0.0." + (2 + i % 199), port));
                        LockSupport.parkNanos(10_000_000); // the attacker's rate
                    }
                    attacker.complete(null);
                } catch (Exception e) {
                    attacker.completeExceptionally(e);
                }
            }, "attacker");
            t.start();
            awaitCount(() -> a.tlsStats().evicted(), 200 - cap + 10); // it is under way

            long start = System.nanoTime();
            Link honest = b.connect("127.0.0.1", port).get(TlsConfig.DEFAULT_HANDSHAKE_TIMEOUT.toSeconds(), SECONDS);
            long upMillis = (System.nanoTime() - start) / 1_000_000;
            System.out.println("honest link up in " + upMillis + " ms with the cap full and " + flood.size()
                + " idle connections opened so far; " + a.tlsStats());
            assertThat(upMillis).isLessThan(TlsConfig.DEFAULT_HANDSHAKE_TIMEOUT.toMillis() / 4);
            assertThat(TlsLinkTest.echo(honest, "in during the flood")).isEqualTo("in during the flood");
            for (int i = 0; i < 20; i++) {
                assertThat(TlsLinkTest.echo(established, "during the flood " + i)).isEqualTo("during the flood " + i);
            }
            attacking.set(false);
            attacker.get(10, SECONDS);
            // each give-way is counted; the log has the burst of them, and a line a refill (10 a minute) after
            assertThat(logs.matching("closed unfinished to make room")).hasSizeLessThanOrEqualTo(RefusalLog.BURST + 2);
            assertThat(a.tlsStats().completed()).isEqualTo(2);
            assertThat(a.tlsStats().overCap()).isZero();
            assertThat(a.tlsStats().evicted()).isGreaterThanOrEqualTo(200 - cap + 10);
        } finally {
            attacking.set(false);
            for (Socket s : flood) {
                s.close();
            }
        }
    }

    /**
     * Issue 13: 2,000 unauthenticated connect/close cycles wrote 2,000 WARN lines. Each kind of
     * refusal line is now rate-limited (a burst, then a trickle; the endpoint's clock is frozen
     * here, so exactly the burst), the next admitted line says how many were left out, and the
     * counters still count every attempt; an established honest link is served throughout. The
     * cycles take turns: close at once, reset, send bytes that are not TLS, send plaintext DMSG.
     */
    @Test
    void aConnectCloseFloodLogsABoundedNumberOfLinesAndCountsEveryAttempt() throws Exception {
        FakeClock clock = new FakeClock();
        LinkEndpoint a = alpha(TlsLinkTest.tls(TlsLinkTest.ALPHA, TlsLinkTest.ALPHA_TRUSTS, Provider.JDK),
            LinkConfig.builder().clock(clock));
        int port = TlsLinkTest.listen(a);
        Link honest = beta().connect("127.0.0.1", port).get(10, SECONDS);
        TlsStats st = a.tlsStats();
        try (LogCapture all = LogCapture.of(Logger.ROOT_LOGGER_NAME)) {
            int cycles = 2000;
            for (int i = 0; i < cycles; i++) {
                // from 50 source addresses: the point is the log, not the per-address cap
                try (Socket s = new Socket()) {
                    s.bind(new InetSocketAddress("127.0.0." + (2 + i % 50), 0));
                    s.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
                    switch (i % 4) {
                        case 1 -> s.setSoLinger(true, 0); // RST instead of FIN
                        case 2 -> s.getOutputStream()
                            .write("GET / HTTP/1.0\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
                        case 3 -> s.getOutputStream().write(new byte[] {0x32, 0x48, 0, 0}); // plaintext DMSG (LE magic)
                        default -> { } // close at once
                    }
                }
                if (i % 16 == 15) {
                    // at most 64 not yet seen by the listener, under its backlog (128): past it the
                    // kernel drops SYNs, and a connect waits a second for the retransmission
                    awaitCount(() -> st.failed() + st.overCap(), i + 1 - 48);
                }
                if (i % 250 == 0) {
                    assertThat(TlsLinkTest.echo(honest, "during the flood " + i)).isEqualTo("during the flood " + i);
                }
            }
            awaitCount(() -> st.failed() + st.overCap(), cycles);
            assertThat(st.failed() + st.overCap()).isEqualTo(cycles);
            assertThat(st.plaintextRefused()).isEqualTo(cycles / 4);
            assertThat(st.completed()).isEqualTo(1); // the honest link alone
            assertThat(all.matching("TLS handshake failed")).hasSize(RefusalLog.BURST)
                .allSatisfy(l -> assertThat(l).startsWith("WARN link alpha<->127.0.0."));
            assertThat(all.matching("refused: plaintext DMSG from 127.0.0.")).hasSize(RefusalLog.BURST);
            List<String> warnings = all.matching("WARN ");
            assertThat(warnings).hasSize(2 * RefusalLog.BURST + Math.min(RefusalLog.BURST, (int) st.overCap()));
            assertThat(st.logLinesSuppressed()).isEqualTo(cycles - warnings.size());

            // a token back (10 a minute): the next line of each kind says how many of its kind were left out
            clock.advance(RefusalLog.WINDOW.toNanos() / RefusalLog.BURST, TimeUnit.NANOSECONDS);
            long failedBefore = st.failed() - st.plaintextRefused();
            new Socket(InetAddress.getLoopbackAddress(), port).close();
            String next = all.await(TlsLinkTest.WAIT, "TLS handshake failed", "similar suppressed)");
            assertThat(next).endsWith(" (+" + (failedBefore - RefusalLog.BURST) + " similar suppressed)");
            awaitCount(() -> st.failed() + st.overCap(), cycles + 1);
            assertThat(st.failed() + st.overCap()).isEqualTo(cycles + 1);
            assertThat(all.matching("TLS handshake failed")).hasSize(RefusalLog.BURST + 1);
        }
        assertThat(TlsLinkTest.echo(honest, "after")).isEqualTo("after");
    }

    /** Waits until {@code count} reaches at least {@code expected}: the listener sees closes after the client has made them. */
    static void awaitCount(LongSupplier count, long expected) {
        long deadline = System.nanoTime() + TlsLinkTest.WAIT.toNanos();
        while (count.getAsLong() < expected) {
            if (System.nanoTime() - deadline > 0) {
                throw new AssertionError("count " + count.getAsLong() + " != expected " + expected + " after "
                    + TlsLinkTest.WAIT);
            }
            LockSupport.parkNanos(1_000_000); // a poll: no event says "the listener is done"
        }
    }

    /** A connection from {@code localAddress} that says nothing. */
    static Socket silent(String localAddress, int port) throws Exception {
        Socket s = new Socket();
        s.bind(new InetSocketAddress(localAddress, 0));
        s.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
        s.setSoTimeout(1000); // refused ones are closed at accept; held ones answer nothing
        return s;
    }

    /** Whether the listener closed {@code s} at once (EOF or reset) rather than holding it. */
    static boolean closedAtOnce(Socket s) {
        try {
            return s.getInputStream().read() < 0;
        } catch (SocketTimeoutException held) {
            return false;
        } catch (IOException reset) {
            return true;
        }
    }

    @Test
    void aRapidResetFloodClosesTheAbuserAndOthersAreServed() throws Exception {
        LinkEndpoint a = alpha(TlsLinkTest.tls(TlsLinkTest.ALPHA, TlsLinkTest.ALPHA_TRUSTS, Provider.JDK),
            LinkConfig.builder().abortBudget(100, 200));
        int port = TlsLinkTest.listen(a);
        Link honest = beta().connect("127.0.0.1", port).get(10, SECONDS);
        // beta's key, a correct LNK_AUTH, then 10 000 transactions opened and cancelled in one message each
        List<Message> frames = new ArrayList<>();
        frames.add(Message.of(Dmsg.LNK_AUTH, 0, 0, 0, new AuthBody(1, 3, 0, 0,
            Fingerprints.sha256(TlsLinkTest.BETA.publicKey()), "beta").toLnkAuth(), null));
        for (long id = 1; id <= 10_000; id++) {
            frames.add(Message.of(ECHO | Dmsg.CREATE | Dmsg.ABORT | Dmsg.DELETE, id, 0, 0, null, null));
        }
        RawTlsPeer.send(raw, port, TlsLinkTest.BETA, frames).get(20, SECONDS); // closed by alpha
        assertThat(logs.await(TlsLinkTest.WAIT, "abusive peer: more than 200 aborts of its own transactions at once",
            "CVE-2023-44487")).isNotNull();
        assertThat(honest.state()).isEqualTo(LinkState.UP);
        assertThat(TlsLinkTest.echo(honest, "still served")).isEqualTo("still served");
    }

    @Test
    void onePeersTransactionsAreCappedAcrossItsLinks() throws Exception {
        LinkEndpoint a = alpha(TlsLinkTest.tls(TlsLinkTest.ALPHA, TlsLinkTest.ALPHA_TRUSTS, Provider.JDK),
            LinkConfig.builder().maxTransactionsPerPeer(6));
        int port = TlsLinkTest.listen(a);
        LinkEndpoint b = beta();
        Link first = b.connect("127.0.0.1", port).get(10, SECONDS);
        Link second = b.connect("127.0.0.1", port).get(10, SECONDS);
        // each link's LNK_CONN is one (2); four held ECHOs on the first make 6
        for (int i = 0; i < 4; i++) {
            first.open(ECHO, null, Unpooled.copiedBuffer("held\0", StandardCharsets.UTF_8),
                (t, m) -> { });
        }
        CompletableFuture<Integer> refused = new CompletableFuture<>();
        // the seventh, on the other link, is over beta's budget here
        TlsLinkTest.echo(first, "sync"); // the four are in before we go on (one-message echoes are not held)
        second.open(ECHO, null, Unpooled.copiedBuffer("one too many\0", StandardCharsets.UTF_8),
            (t, m) -> {
                if (m.isDelete()) {
                    refused.complete(m.error());
                }
            });
        assertThat(refused.get(10, SECONDS)).isEqualTo(Dmsg.ERR_LIMIT);
        assertThat(logs.await(TlsLinkTest.WAIT, "on all its links (limit 6)")).isNotNull();
    }

}
