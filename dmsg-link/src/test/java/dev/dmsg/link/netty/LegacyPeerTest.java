package dev.dmsg.link.netty;

import static dev.dmsg.link.netty.TlsLinkTest.ALPHA;
import static dev.dmsg.link.netty.TlsLinkTest.ALPHA_TRUSTS;
import static dev.dmsg.link.netty.TlsLinkTest.BETA;
import static dev.dmsg.link.netty.TlsLinkTest.BETA_TRUSTS;
import static dev.dmsg.link.netty.TlsLinkTest.WAIT;
import static dev.dmsg.link.netty.TlsLinkTest.connectFailure;
import static dev.dmsg.link.netty.TlsLinkTest.echo;
import static dev.dmsg.link.netty.TlsLinkTest.listen;
import static java.util.concurrent.TimeUnit.SECONDS;
import static org.assertj.core.api.Assertions.assertThat;

import dev.dmsg.link.LinkDriver;
import dev.dmsg.link.Link;
import dev.dmsg.link.LinkConfig;
import dev.dmsg.link.LinkListener;
import dev.dmsg.link.LinkState;
import dev.dmsg.link.LinkStats;
import dev.dmsg.link.Services;
import dev.dmsg.link.tls.LegacyPeers;
import dev.dmsg.link.tls.PeerIdentity;
import dev.dmsg.link.tls.Role;
import dev.dmsg.link.tls.TlsConfig;
import dev.dmsg.link.tls.TlsConfig.Provider;
import dev.dmsg.testkit.FakeClock;
import dev.dmsg.testkit.LeakDetector;
import dev.dmsg.testkit.Vectors;
import dev.dmsg.wire.FrameDecoder;
import dev.dmsg.wire.Message;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import javax.net.ssl.SSLHandshakeException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Legacy plaintext peers on a TLS endpoint (docs/SECURITY.md §6), over real TCP on loopback: a
 * listener runs plaintext DMSG from a configured source address as a legacy link (no TLS, no
 * LNK_AUTH, no PING, the configured role), refuses it from any other address with one line, and
 * still runs full TLS + LNK_AUTH for everyone else; a connect to a configured address dials
 * plaintext. The cast as in {@link TlsLinkTest} — alpha (TLS, listens), beta (TLS) — plus "old",
 * a plaintext endpoint with legacy rules, and the 2013 C peer's captured bytes.
 */
@ExtendWith(LeakDetector.class)
@Timeout(30)
class LegacyPeerTest {
    /** 127.0.0.1, from any port, as a member: how a node lists a C peer on its own host. */
    static final LegacyPeers LOOPBACK_MEMBER =
        a -> a.getAddress().getHostAddress().equals("127.0.0.1") ? Role.MEMBER : null;
    static final PeerIdentity LOOPBACK_LEGACY = new PeerIdentity("legacy@127.0.0.1", "none (plaintext)", Role.MEMBER, 0);
    static final String REFUSED = "WARN refused: plaintext DMSG from 127\\.0\\.0\\.1:\\d+: not a configured legacy peer"
        + " \\(docs/SECURITY\\.md §6\\)";

    private LogCapture logs;
    private final Deque<AutoCloseable> toClose = new ArrayDeque<>();

    @BeforeEach
    void captureLogs() {
        logs = LogCapture.debug("dev.dmsg.link");
    }

    @AfterEach
    void closeAll() throws Exception {
        while (!toClose.isEmpty()) {
            toClose.pop().close();
        }
        logs.close();
    }

    LinkEndpoint endpoint(LinkConfig.Builder config, Services services, LinkListener listener) {
        LinkEndpoint e = new LinkEndpoint(config.build(), services, listener, 1);
        toClose.push(e);
        return e;
    }

    /** A TLS endpoint serving ECHO, with these legacy peers. */
    LinkEndpoint tlsEndpoint(String label, TlsConfig tls, LegacyPeers legacy, LinkListener listener) {
        return endpoint(LinkConfig.builder().label(label).tls(tls.withLegacy(legacy)), TcpLinkTest.echoServices(),
            listener);
    }

    /** A plaintext endpoint with legacy rules (no PING), as a 2013 C node runs: serves ECHO. */
    LinkEndpoint old(FakeClock clock, LinkListener listener) {
        return endpoint(LinkConfig.builder().label("old").legacyPeer(true).clock(clock), TcpLinkTest.echoServices(),
            listener);
    }

    static TlsConfig alphaTls() {
        return TlsLinkTest.tls(ALPHA, ALPHA_TRUSTS, Provider.JDK);
    }

    static TlsConfig betaTls() {
        return TlsLinkTest.tls(BETA, BETA_TRUSTS, Provider.JDK);
    }

    /** Runs {@code c} on the link's event loop (where its counters and its tick live). */
    static <T> T onLoop(Link link, Callable<T> c) throws Exception {
        CompletableFuture<T> f = new CompletableFuture<>();
        link.execute(() -> {
            try {
                f.complete(c.call());
            } catch (Exception e) {
                f.completeExceptionally(e);
            }
        });
        return f.get(WAIT.toSeconds(), SECONDS);
    }

    /**
     * Waits until the link's event loop has finished what it was doing — say, the read that
     * answered our last request, whose end (channelReadComplete) flushes and reads the clock as the
     * time of the last send — so that a clock moved after this finds nothing of the past.
     */
    static void settle(Link link) throws Exception {
        onLoop(link, () -> null);
    }

    /** The link's PINGs sent after one keepalive tick at {@code clock}'s time. */
    static long pingsAfterTick(Link link, FakeClock clock) throws Exception {
        return onLoop(link, () -> {
            ((LinkDriver) link).tick(clock.getAsLong());
            return link.stats().pingsSent();
        });
    }

    /** After a refusal the listener still runs full TLS + LNK_AUTH with beta. */
    void assertServesBetaWithTlsAndAuth(int port) throws Exception {
        LinkEndpoint b = tlsEndpoint("beta", betaTls(), LegacyPeers.NONE, LinkListener.NONE);
        Link link = b.connect("127.0.0.1", port).get(WAIT.toSeconds(), SECONDS);
        assertThat(link.peer().name()).isEqualTo("alpha");
        assertThat(echo(link, "still serving")).isEqualTo("still serving");
        logs.await(WAIT, "link beta<->127.0.0.1:" + port + ": authenticated alpha (admin");
    }

    // ------------------------------------------------------------------------------------------

    /**
     * A plaintext client from 127.0.0.1, configured as a legacy member: a link with its configured
     * identity, transactions both ways, neither AUTH nor PING from the listener. On the same
     * listener a TLS client gets TLS and AUTH, and PINGs: the control that shows the tick used to
     * look for PINGs sends one when the rules allow it.
     */
    @Test
    void aConfiguredLegacyClientGetsAPlaintextLinkWithItsRoleAndNoAuthOrPing() throws Exception {
        FakeClock alphaClock = new FakeClock();
        FakeClock oldClock = new FakeClock();
        TlsLinkTest.Ups ups = new TlsLinkTest.Ups();
        LinkEndpoint a = endpoint(LinkConfig.builder().label("alpha").clock(alphaClock)
            .tls(alphaTls().withLegacy(LOOPBACK_MEMBER)), TcpLinkTest.echoServices(), ups);
        int port = listen(a);

        Link client = old(oldClock, LinkListener.NONE).connect("127.0.0.1", port).get(WAIT.toSeconds(), SECONDS);
        Link served = ups.next();
        assertThat(served.peer()).isEqualTo(LOOPBACK_LEGACY);
        assertThat(served.state()).isEqualTo(LinkState.UP);
        assertThat(client.peer()).isNull(); // a plaintext endpoint knows no identities
        logs.await(WAIT, "link alpha<->127.0.0.1:", ": plaintext with legacy peer legacy@127.0.0.1 (member, none"
            + " (plaintext)): no TLS, no LNK_AUTH, no PING (docs/SECURITY.md §6)");
        assertThat(echo(client, "from the old node")).isEqualTo("from the old node");
        assertThat(echo(served, "and back")).isEqualTo("and back");
        // An AUTH from alpha would be an unknown one-way message to old: counted there. And alpha
        // took old's LNK_CONN, which it would not before an AUTH ("traffic before AUTH").
        assertThat(onLoop(client, client::stats).violationCount()).isZero();
        assertThat(logs.matching("traffic before AUTH")).isEmpty();

        // TLS still for everyone else, on the same listener.
        LinkEndpoint b = tlsEndpoint("beta", betaTls(), LegacyPeers.NONE, LinkListener.NONE);
        Link tlsLink = b.connect("127.0.0.1", port).get(WAIT.toSeconds(), SECONDS);
        Link servedTls = ups.next();
        assertThat(tlsLink.peer()).isEqualTo(TlsLinkTest.id(ALPHA, Role.ADMIN));
        assertThat(servedTls.peer()).isEqualTo(TlsLinkTest.id(BETA, Role.MEMBER));
        logs.await(WAIT, "link alpha<->127.0.0.1:", ": authenticated beta (member", "it grants us admin");
        assertThat(echo(tlsLink, "over TLS")).isEqualTo("over TLS");

        // Keepalive: 3 s on alpha's clock is past its 1 s PING interval, short of the 10 s dead timeout.
        settle(servedTls);
        settle(served);
        settle(client);
        alphaClock.advance(3, SECONDS);
        oldClock.advance(3, SECONDS);
        assertThat(pingsAfterTick(servedTls, alphaClock)).as("PINGs to beta (TLS)").isEqualTo(1);
        assertThat(pingsAfterTick(served, alphaClock)).as("PINGs to old (legacy)").isZero();
        assertThat(pingsAfterTick(client, oldClock)).as("PINGs from old (legacy rules)").isZero();

        assertThat(a.tlsStats().legacy()).isEqualTo(1);
        assertThat(a.tlsStats().completed()).isEqualTo(1);
        assertThat(a.tlsStats().failed()).isZero();
    }

    /**
     * Plaintext DMSG from 127.0.0.1 when only 10.0.0.9 is a legacy peer: refused at its first
     * bytes with exactly one line, in either byte order of the magic; the listener serves TLS on.
     */
    @Test
    void plaintextFromAnAddressThatIsNotAConfiguredLegacyPeerIsRefusedWithOneLine() throws Exception {
        LegacyPeers other = a -> a.getAddress().getHostAddress().equals("10.0.0.9") ? Role.MEMBER : null;
        LinkEndpoint a = tlsEndpoint("alpha", alphaTls(), other, LinkListener.NONE);
        int port = listen(a);

        // The magic big-endian (48 32), from a socket whose port we know: the exact line.
        try (Socket s = new Socket(InetAddress.getLoopbackAddress(), port)) {
            s.setSoTimeout((int) WAIT.toMillis());
            byte[] header = new byte[64];
            header[0] = 0x48;
            header[1] = 0x32;
            s.getOutputStream().write(header);
            assertThat(readsToTheEnd(s.getInputStream())).as("closed by the listener").isTrue();
            assertThat(logs.await(WAIT, "refused: plaintext DMSG")).isEqualTo("WARN refused: plaintext DMSG from"
                + " 127.0.0.1:" + s.getLocalPort() + ": not a configured legacy peer (docs/SECURITY.md §6)");
        }

        // Our plaintext endpoint (little-endian, 32 48): TCP comes up, then the listener closes it.
        Link link = old(new FakeClock(), LinkListener.NONE).connect("127.0.0.1", port).get(WAIT.toSeconds(), SECONDS);
        assertThat(link.closeFuture().get(WAIT.toSeconds(), SECONDS))
            .isIn("EOF from peer", "socket error: Connection reset by peer");
        // The line is written before the listener closes: both are here.
        List<String> refusals = logs.matching("refused: plaintext DMSG");
        assertThat(refusals).hasSize(2).allMatch(l -> l.matches(REFUSED));
        assertThat(logs.matching("TLS handshake failed")).as("no second line per connection").isEmpty();
        assertThat(a.tlsStats().plaintextRefused()).isEqualTo(2);
        assertThat(a.tlsStats().failed()).isEqualTo(2);
        assertThat(a.tlsStats().legacy()).isZero();
        assertThat(a.links()).isEmpty();

        assertServesBetaWithTlsAndAuth(port);
        assertThat(a.tlsStats().completed()).isEqualTo(1);
    }

    /**
     * beta (TLS) lists old's listening address as a legacy member: a connect there is plaintext
     * with legacy rules; a connect to alpha (another port) from the same endpoint is TLS; and an
     * endpoint without the entry fails against old with the reason it always gave.
     */
    @Test
    void aConnectToAConfiguredLegacyAddressIsPlaintextAndAnyOtherIsTls() throws Exception {
        TlsLinkTest.Ups oldUps = new TlsLinkTest.Ups();
        int oldPort = listen(old(new FakeClock(), oldUps));
        LegacyPeers oldsAddress = a -> a.getAddress().getHostAddress().equals("127.0.0.1") && a.getPort() == oldPort
            ? Role.MEMBER : null;
        FakeClock betaClock = new FakeClock();
        LinkEndpoint b = endpoint(LinkConfig.builder().label("beta").clock(betaClock)
            .tls(betaTls().withLegacy(oldsAddress)), TcpLinkTest.echoServices(), LinkListener.NONE);

        Link link = b.connect("127.0.0.1", oldPort).get(WAIT.toSeconds(), SECONDS);
        Link atOld = oldUps.next();
        assertThat(link.peer()).isEqualTo(LOOPBACK_LEGACY);
        logs.await(WAIT, "link beta<->127.0.0.1:" + oldPort + ": plaintext with legacy peer legacy@127.0.0.1 (member");
        assertThat(echo(link, "to the old node")).isEqualTo("to the old node");
        assertThat(echo(atOld, "from the old node")).isEqualTo("from the old node");
        // No AUTH reached old (it would be an unknown one-way message there); no PING is due.
        assertThat(onLoop(atOld, atOld::stats).violationCount()).isZero();
        settle(link);
        betaClock.advance(3, SECONDS);
        assertThat(pingsAfterTick(link, betaClock)).as("PINGs to old").isZero();
        assertThat(b.tlsStats().legacy()).isEqualTo(1);

        // The entry is for old's address only: alpha, on another port, gets TLS and AUTH.
        int alphaPort = listen(tlsEndpoint("alpha", alphaTls(), LegacyPeers.NONE, LinkListener.NONE));
        Link tlsLink = b.connect("127.0.0.1", alphaPort).get(WAIT.toSeconds(), SECONDS);
        assertThat(tlsLink.peer()).isEqualTo(TlsLinkTest.id(ALPHA, Role.ADMIN));
        assertThat(echo(tlsLink, "over TLS")).isEqualTo("over TLS");
        assertThat(b.tlsStats().completed()).isEqualTo(1);

        // Without the entry: TLS to a plaintext listener, refused as before.
        LinkEndpoint strict = tlsEndpoint("beta", betaTls(), LegacyPeers.NONE, LinkListener.NONE);
        assertThat(connectFailure(strict, oldPort)).isInstanceOf(SSLHandshakeException.class)
            .hasMessage("TLS handshake with 127.0.0.1:" + oldPort + " failed: the peer sent plaintext DMSG (magic 0x4832),"
                + " not TLS: it runs without TLS (a legacy peer?) and this end requires TLS");
        assertThat(strict.tlsStats().legacy()).isZero();
    }

    /**
     * The bytes the 2013 C connector sent in the captured run, through a real socket: a TLS
     * listener that lists 127.0.0.1 as legacy answers them exactly as a plaintext listener does
     * (and as {@link CPeerReplayTest} pins), and its link names the peer as the legacy member.
     */
    @Test
    void theCapturedCPeerIsALegacyLinkOnATlsListenerExactlyAsOnAPlaintextOne() throws Exception {
        TlsLinkTest.Ups plainUps = new TlsLinkTest.Ups();
        // Fake clocks that do not move: no PING is due on either listener, legacy rules or not.
        LinkEndpoint plain = endpoint(LinkConfig.builder().label("java").clock(new FakeClock()),
            CPeerReplayTest.cEchoServices(), plainUps);
        Replay onPlain = replayC2s(listen(plain), plainUps);

        TlsLinkTest.Ups tlsUps = new TlsLinkTest.Ups();
        LinkEndpoint tls = endpoint(LinkConfig.builder().label("java").clock(new FakeClock())
            .tls(alphaTls().withLegacy(LOOPBACK_MEMBER)), CPeerReplayTest.cEchoServices(), tlsUps);
        Replay onTls = replayC2s(listen(tls), tlsUps);

        assertThat(onTls.answers).isEqualTo(onPlain.answers).isEqualTo(CPeerReplayTest.ANSWERS_TO_C2S);
        assertThat(onTls.peer).isEqualTo(LOOPBACK_LEGACY);
        assertThat(onPlain.peer).isNull();
        assertThat(onTls.state).isEqualTo(LinkState.UP).isEqualTo(onPlain.state);
        assertThat(onTls.peerMediaid).isEqualTo("dadeda00-44c8-480a-a3c9-aafc302d464b").isEqualTo(onPlain.peerMediaid);
        for (LinkStats s : List.of(onTls.stats, onPlain.stats)) {
            assertThat(s.msgsIn()).isEqualTo(7);
            assertThat(s.msgsOut()).isEqualTo(5); // the answers, and nothing else: no AUTH
            assertThat(s.nosuppSent()).isEqualTo(1);
            assertThat(s.openTransactions()).isEqualTo(3);
        }
        assertThat(onTls.stats.violations()).isEqualTo(onPlain.stats.violations());
        assertThat(tls.tlsStats().legacy()).isEqualTo(1);
        assertThat(tls.tlsStats().failed()).isZero();
    }

    /** What a listener answered the C bytes and how its link stood then. */
    record Replay(List<Integer> answers, PeerIdentity peer, LinkState state, String peerMediaid, LinkStats stats) {}

    /**
     * Writes the C connector's bytes to 127.0.0.1:{@code port} and reads our answers until the
     * last one (to its final LNK_ERROR|DELETE), decoded with a fresh decoder (CRCs, salt sequence).
     */
    Replay replayC2s(int port, TlsLinkTest.Ups ups) throws Exception {
        try (Socket s = new Socket(InetAddress.getLoopbackAddress(), port)) {
            s.setSoTimeout((int) WAIT.toMillis());
            s.getOutputStream().write(Vectors.c2s());
            Link served = ups.next();
            List<Integer> answers = new ArrayList<>();
            FrameDecoder decoder = new FrameDecoder();
            ByteBuf in = Unpooled.buffer();
            try {
                byte[] chunk = new byte[4096];
                while (answers.size() < CPeerReplayTest.ANSWERS_TO_C2S.size()) {
                    int n = s.getInputStream().read(chunk);
                    assertThat(n).as("answers so far: %s", answers).isPositive();
                    in.writeBytes(chunk, 0, n);
                    Message m;
                    while ((m = decoder.decode(in)) != null) {
                        answers.add(m.cmd());
                        m.release();
                    }
                }
            } finally {
                in.release();
            }
            // The last answer follows the last C frame: every frame has been through the link.
            return onLoop(served, () -> new Replay(answers, served.peer(), served.state(),
                served.peerConn().mediaid().toString(), served.stats()));
        }
    }

    /**
     * With legacy peers configured, the handshake timeout still covers the first bytes: a
     * connection that sends nothing, or half a magic, is closed after it; one from a legacy
     * address that sends neither TLS nor DMSG is refused as not TLS.
     */
    @Test
    void theHandshakeTimeoutCoversTheFirstBytes() throws Exception {
        LinkEndpoint a = endpoint(LinkConfig.builder().label("alpha")
            .tls(alphaTls().withHandshakeTimeout(Duration.ofMillis(500)).withLegacy(LOOPBACK_MEMBER)),
            TcpLinkTest.echoServices(), LinkListener.NONE);
        int port = listen(a);
        for (byte[] first : List.of(new byte[0], new byte[] {0x32})) {
            try (Socket s = new Socket(InetAddress.getLoopbackAddress(), port)) {
                s.setSoTimeout((int) WAIT.toMillis());
                s.getOutputStream().write(first);
                assertThat(readsToTheEnd(s.getInputStream())).as("closed by the listener").isTrue();
            }
        }
        assertThat(logs.matching("link alpha<->", "TLS handshake failed: handshake timeout after 500 ms (TLS not finished)"))
            .hasSize(2);
        assertThat(a.tlsStats().timedOut()).isEqualTo(2);

        try (Socket s = new Socket(InetAddress.getLoopbackAddress(), port)) {
            s.setSoTimeout((int) WAIT.toMillis());
            s.getOutputStream().write(new byte[] {0x01, 0x02, 0x03, 0x04, 0x05, 0x06});
            assertThat(readsToTheEnd(s.getInputStream())).as("closed by the listener").isTrue();
        }
        logs.await(WAIT, "link alpha<->", "TLS handshake failed: the peer does not speak TLS (its first bytes: 010203040506)");
        assertThat(a.tlsStats().failed()).isEqualTo(3);
        assertThat(a.tlsStats().legacy()).isZero();
        assertThat(a.links()).isEmpty();
    }

    /** Whether the peer closed the stream (EOF or reset) before the socket's read timeout. */
    private static boolean readsToTheEnd(InputStream in) throws IOException {
        try {
            while (in.read() != -1) {
                // whatever the listener says on its way out (an alert) is skipped
            }
            return true;
        } catch (SocketTimeoutException e) {
            return false;
        } catch (SocketException e) {
            return true; // reset
        }
    }
}
