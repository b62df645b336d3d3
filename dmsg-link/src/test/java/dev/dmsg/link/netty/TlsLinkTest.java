package dev.dmsg.link.netty;

import static java.nio.charset.StandardCharsets.UTF_8;
import static java.util.concurrent.TimeUnit.SECONDS;
import static org.assertj.core.api.Assertions.assertThat;

import dev.dmsg.link.Link;
import dev.dmsg.link.LinkConfig;
import dev.dmsg.link.LinkListener;
import dev.dmsg.link.tls.NodeKeys;
import dev.dmsg.link.tls.PeerIdentity;
import dev.dmsg.link.tls.Role;
import dev.dmsg.link.tls.TlsConfig;
import dev.dmsg.link.tls.TlsConfig.Provider;
import dev.dmsg.link.tls.TrustPolicy;
import dev.dmsg.testkit.LeakDetector;
import dev.dmsg.wire.Dmsg;
import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.ssl.ClientAuth;
import io.netty.handler.ssl.OpenSsl;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.util.InsecureTrustManagerFactory;
import io.netty.util.ReferenceCountUtil;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.security.KeyPair;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.List;
import java.util.Random;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.stream.Stream;
import javax.net.ssl.SSLHandshakeException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * TLS 1.3 with mutual authentication and pinned keys on real TCP links (docs/SECURITY.md §3):
 * who is accepted, who is refused with which line on which side, and that a listener carries on
 * serving honest peers after every refusal. The cast: alpha (listens, trusts beta as a member),
 * beta (trusts alpha as an admin), mallory (trusted by nobody).
 */
@ExtendWith(LeakDetector.class)
@Timeout(30)
class TlsLinkTest {
    static final int ECHO = TcpLinkTest.ECHO;
    static final Duration WAIT = Duration.ofSeconds(10);

    static final NodeKeys ALPHA = NodeKeys.generate("alpha");
    static final NodeKeys BETA = NodeKeys.generate("beta");
    static final NodeKeys MALLORY = NodeKeys.generate("mallory");
    static final TrustPolicy ALPHA_TRUSTS = TrustPolicy.of(List.of(id(BETA, Role.MEMBER)));
    static final TrustPolicy BETA_TRUSTS = TrustPolicy.of(List.of(id(ALPHA, Role.ADMIN)));

    private LogCapture logs;
    private final Deque<AutoCloseable> toClose = new ArrayDeque<>();

    static PeerIdentity id(NodeKeys k, Role role) {
        return new PeerIdentity(k.label(), k.fingerprint(), role, 0);
    }

    /** The providers that load here: JDK always, OPENSSL when netty-tcnative does. */
    static Stream<Provider> providers() {
        return OpenSsl.isAvailable() ? Stream.of(Provider.JDK, Provider.OPENSSL) : Stream.of(Provider.JDK);
    }

    static Stream<Arguments> providerPairs() {
        return providers().flatMap(c -> providers().map(s -> Arguments.of(c, s)));
    }

    @BeforeAll
    static void sayWhichProviders() {
        System.out.println("TLS providers here: " + providers().toList()
            + (OpenSsl.isAvailable() ? " (" + OpenSsl.versionString() + ")" : " (OpenSSL: " + OpenSsl.unavailabilityCause() + ")"));
    }

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

    static TlsConfig tls(NodeKeys keys, TrustPolicy trust, Provider p) {
        return TlsConfig.of(keys, trust).withProvider(p);
    }

    /** An endpoint that serves ECHO; {@code tls} null for plaintext. */
    LinkEndpoint endpoint(String label, TlsConfig tls, LinkListener listener) {
        LinkEndpoint e = new LinkEndpoint(LinkConfig.builder().label(label).tls(tls).build(),
            TcpLinkTest.echoServices(), listener, 1);
        toClose.push(e);
        return e;
    }

    LinkEndpoint alpha(Provider p) {
        return endpoint("alpha", tls(ALPHA, ALPHA_TRUSTS, p), LinkListener.NONE);
    }

    static int listen(LinkEndpoint e) throws InterruptedException {
        return e.listen("127.0.0.1", 0).getPort();
    }

    /** The cause a connect fails with; an AssertionError if it connects. */
    static Throwable connectFailure(LinkEndpoint e, int port) throws Exception {
        CompletableFuture<Link> f = e.connect("127.0.0.1", port);
        try {
            Link l = f.get(WAIT.toSeconds(), SECONDS);
            throw new AssertionError("connected, to " + l.peer());
        } catch (ExecutionException x) {
            return x.getCause();
        }
    }

    static String echo(Link link, String text) throws Exception {
        CompletableFuture<String> answer = new CompletableFuture<>();
        link.open(ECHO | Dmsg.DELETE, null, Unpooled.copiedBuffer(text + "\0", UTF_8), (t, m) -> {
            if (m.isDelete()) {
                answer.complete(m.auxString());
            }
        });
        return answer.get(WAIT.toSeconds(), SECONDS);
    }

    /** After a refusal the listener still serves beta, the honest client. */
    void assertServesAnHonestClient(int port) throws Exception {
        LinkEndpoint b = endpoint("beta", tls(BETA, BETA_TRUSTS, Provider.JDK), LinkListener.NONE);
        Link link = b.connect("127.0.0.1", port).get(WAIT.toSeconds(), SECONDS);
        assertThat(link.peer().name()).isEqualTo("alpha");
        assertThat(echo(link, "still serving")).isEqualTo("still serving");
    }

    /** Links as they come up at a listener. */
    static final class Ups implements LinkListener {
        final BlockingQueue<Link> up = new LinkedBlockingQueue<>();

        @Override
        public void onUp(Link link) {
            up.add(link);
        }

        Link next() throws InterruptedException {
            Link l = up.poll(WAIT.toSeconds(), SECONDS);
            assertThat(l).as("a link came up").isNotNull();
            return l;
        }
    }

    // ------------------------------------------------------------------------------------------

    @ParameterizedTest(name = "client {0}, server {1}")
    @MethodSource("providerPairs")
    void mutualAuthNamesThePeerWithItsRoleOnBothSidesAndCarriesTransactions(Provider client, Provider server)
            throws Exception {
        Ups ups = new Ups();
        LinkEndpoint a = endpoint("alpha", tls(ALPHA, ALPHA_TRUSTS, server), ups);
        LinkEndpoint b = endpoint("beta", tls(BETA, BETA_TRUSTS, client), LinkListener.NONE);
        assertThat(a.tlsProvider()).isEqualTo(server.name());
        assertThat(b.tlsProvider()).isEqualTo(client.name());
        int port = listen(a);

        Link link = b.connect("127.0.0.1", port).get(WAIT.toSeconds(), SECONDS);
        Link served = ups.next();
        // Each side names the other from its own trust store, with the role it gave it there.
        assertThat(link.peer()).isEqualTo(new PeerIdentity("alpha", ALPHA.fingerprint(), Role.ADMIN, 0));
        assertThat(served.peer()).isEqualTo(new PeerIdentity("beta", BETA.fingerprint(), Role.MEMBER, 0));
        // Both negotiated TLS 1.3 with P-256 certificates, on the providers asked for.
        assertThat(logs.await(WAIT, "link alpha<->", "TLS up (TLSv1.3, TLS_", server.name() + "): peer beta (member, "))
            .isNotNull();
        assertThat(logs.await(WAIT, "link beta<->127.0.0.1:" + port + ": TLS up (TLSv1.3, TLS_",
            client.name() + "): peer alpha (admin, ")).isNotNull();

        assertThat(echo(link, "hello")).isEqualTo("hello");
        assertThat(echo(served, "and back")).isEqualTo("and back");
        // The largest aux, through the zero-copy send path and TLS records.
        byte[] big = new byte[Dmsg.AUX_MAX];
        new Random(7).nextBytes(big);
        CompletableFuture<byte[]> answer = new CompletableFuture<>();
        link.open(ECHO | Dmsg.DELETE, null, Unpooled.wrappedBuffer(big), (t, m) -> {
            if (m.isDelete()) {
                answer.complete(ByteBufUtil.getBytes(m.aux()));
            }
        });
        assertThat(answer.get(WAIT.toSeconds(), SECONDS)).isEqualTo(big);

        // A second link from the same endpoint (a resumed TLS session, where the provider
        // resumes) names its peer as well.
        Link second = b.connect("127.0.0.1", port).get(WAIT.toSeconds(), SECONDS);
        assertThat(second.peer().name()).isEqualTo("alpha");
        assertThat(ups.next().peer().name()).isEqualTo("beta");
        assertThat(echo(second, "again")).isEqualTo("again");
        assertThat(a.tlsStats().completed()).isEqualTo(2);
        assertThat(b.tlsStats().completed()).isEqualTo(2);
        assertThat(a.tlsStats().failed() + b.tlsStats().failed()).isZero();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("providers")
    void anUnknownClientKeyIsRefusedByTheServer(Provider p) throws Exception {
        LinkEndpoint a = alpha(p);
        int port = listen(a);
        LinkEndpoint m = endpoint("mallory", tls(MALLORY, TrustPolicy.of(List.of(id(ALPHA, Role.ADMIN))), p),
            LinkListener.NONE);

        Throwable why = connectFailure(m, port);
        assertThat(why).isInstanceOf(SSLHandshakeException.class)
            .hasMessageStartingWith("TLS handshake with 127.0.0.1:" + port + " failed: the peer refused our certificate")
            .hasMessageEndingWith("it must trust our key " + MALLORY.fingerprint() + " as 'mallory', the name in our"
                + " certificate ('dmsg trust add mallory " + MALLORY.fingerprint() + "' on that node)");
        String refused = logs.await(WAIT, "link alpha<->", "TLS handshake failed: refused: unknown key");
        assertThat(refused).endsWith("refused: unknown key " + MALLORY.fingerprint() + " presented by 127.0.0.1:"
            + clientPort(refused) + " (CN 'mallory'); trust it with 'dmsg trust add NAME " + MALLORY.fingerprint() + "'");
        logs.await(WAIT, "link mallory<->127.0.0.1:" + port + ": TLS handshake failed: the peer refused our certificate");
        assertThat(a.tlsStats().refused()).isEqualTo(1);
        assertThat(a.links()).isEmpty();
        assertServesAnHonestClient(port);
    }

    /** The port in "link alpha<->127.0.0.1:PORT: ...". */
    private static String clientPort(String line) {
        String s = line.substring(line.indexOf("<->127.0.0.1:") + "<->127.0.0.1:".length());
        return s.substring(0, s.indexOf(':'));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("providers")
    void anUnknownServerKeyIsRefusedByTheClient(Provider p) throws Exception {
        LinkEndpoint m = endpoint("mallory", tls(MALLORY, TrustPolicy.of(List.of(id(BETA, Role.MEMBER))), p),
            LinkListener.NONE);
        int port = listen(m);
        LinkEndpoint b = endpoint("beta", tls(BETA, BETA_TRUSTS, p), LinkListener.NONE);

        Throwable why = connectFailure(b, port);
        String refusal = "refused: unknown key " + MALLORY.fingerprint() + " presented by 127.0.0.1:" + port
            + " (CN 'mallory'); trust it with 'dmsg trust add NAME " + MALLORY.fingerprint() + "'";
        assertThat(why).isInstanceOf(SSLHandshakeException.class)
            .hasMessage("TLS handshake with 127.0.0.1:" + port + " failed: " + refusal);
        logs.await(WAIT, "link beta<->127.0.0.1:" + port + ": TLS handshake failed: " + refusal);
        logs.await(WAIT, "link mallory<->", "TLS handshake failed: the peer refused our certificate",
            "it must trust our key " + MALLORY.fingerprint());
        assertThat(b.tlsStats().refused()).isEqualTo(1);
        assertThat(m.links()).isEmpty();

        // beta carries on: an honest server is accepted.
        LinkEndpoint a = alpha(p);
        Link ok = b.connect("127.0.0.1", listen(a)).get(WAIT.toSeconds(), SECONDS);
        assertThat(ok.peer().name()).isEqualTo("alpha");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("providers")
    void aKnownNamePresentingAnotherKeyIsRefused(Provider p) throws Exception {
        LinkEndpoint a = alpha(p);
        int port = listen(a);
        NodeKeys otherBeta = NodeKeys.generate("beta"); // a new key calling itself beta
        LinkEndpoint fake = endpoint("beta", tls(otherBeta, BETA_TRUSTS, p), LinkListener.NONE);

        assertThat(connectFailure(fake, port)).isInstanceOf(SSLHandshakeException.class)
            .hasMessageContaining("failed: the peer refused our certificate");
        String line = logs.await(WAIT, "link alpha<->", "TLS handshake failed: refused: 'beta'");
        assertThat(line).contains("refused: 'beta' presented key " + otherBeta.fingerprint() + ", but 'beta' is trusted with "
            + BETA.fingerprint() + " (presented by 127.0.0.1:");
        assertThat(a.tlsStats().refused()).isEqualTo(1);
        assertServesAnHonestClient(port);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("providers")
    void aTrustedKeyCarryingAnotherNodesNameIsRefused(Provider p) throws Exception {
        LinkEndpoint a = alpha(p);
        int port = listen(a);
        // beta's own key, in a certificate that names gamma.
        NodeKeys betaAsGamma = new NodeKeys(BETA.privateKey(),
            NodeKeys.selfSigned(new KeyPair(BETA.publicKey(), BETA.privateKey()), "gamma"));
        LinkEndpoint b = endpoint("beta", tls(betaAsGamma, BETA_TRUSTS, p), LinkListener.NONE);

        assertThat(connectFailure(b, port)).isInstanceOf(SSLHandshakeException.class)
            .hasMessageContaining("failed: the peer refused our certificate");
        String line = logs.await(WAIT, "link alpha<->", "TLS handshake failed: refused: key " + BETA.fingerprint());
        assertThat(line).contains("refused: key " + BETA.fingerprint() + " is trusted as 'beta', but the certificate"
            + " presented by 127.0.0.1:").contains(" names 'gamma' (CN)");
        assertThat(a.tlsStats().refused()).isEqualTo(1);
        assertServesAnHonestClient(port);
    }

    /**
     * The garbage certificate that matters with pinning: a trusted peer's certificate presented by
     * someone without its private key. Certificates are public (node.crt is world-readable), so
     * copying one is the first thing an impostor tries; the pin matches, and TLS's CertificateVerify
     * (a signature with the certificate's key over the handshake) is what stops it. Random bytes or
     * a certificate with a broken self-signature would be refused earlier and by less interesting
     * code (the TLS stack's parser; we never look at the self-signature). The impostor runs the JDK
     * provider: BoringSSL refuses to even load a key that does not match its certificate.
     */
    @ParameterizedTest(name = "server {0}")
    @MethodSource("providers")
    void aCopiedCertificateWithoutItsPrivateKeyFailsCertificateVerify(Provider p) throws Exception {
        LinkEndpoint a = alpha(p);
        int port = listen(a);
        NodeKeys stolen = new NodeKeys(MALLORY.privateKey(), BETA.certificate());
        LinkEndpoint m = endpoint("beta", tls(stolen, BETA_TRUSTS, Provider.JDK), LinkListener.NONE);

        // The impostor hears only that its handshake failed (JDK server: handshake_failure alert;
        // BoringSSL: decrypt_error); alpha says what happened.
        Throwable why = connectFailure(m, port);
        assertThat(why).isInstanceOf(SSLHandshakeException.class).hasMessageStartingWith("TLS handshake with 127.0.0.1:"
            + port + " failed: Received fatal alert: ");
        logs.await(WAIT, "link alpha<->", "TLS handshake failed: the peer does not hold the private key of the"
            + " certificate it presented (");
        assertThat(a.tlsStats().failed()).isEqualTo(1);
        assertThat(a.tlsStats().refused()).isZero(); // the pin matched; the signature did not
        assertThat(a.links()).isEmpty();
        assertServesAnHonestClient(port);
    }

    /**
     * Backpressure holds through TLS: the SslHandler's queue counts towards the channel's
     * writability, so a producer facing a peer that stops reading is blocked, not buffered
     * without limit (docs/PROTOCOL.md, BackpressureTest for plaintext).
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("providers")
    void aProducerFacingAPeerThatStopsReadingIsBlockedThroughTls(Provider p) throws Exception {
        Ups ups = new Ups();
        LinkEndpoint a = endpoint("alpha", tls(ALPHA, ALPHA_TRUSTS, p), ups);
        LinkEndpoint b = endpoint("beta", tls(BETA, BETA_TRUSTS, p), LinkListener.NONE);
        Link link = b.connect("127.0.0.1", listen(a)).get(WAIT.toSeconds(), SECONDS);
        Link served = ups.next();
        CompletableFuture<Void> paused = new CompletableFuture<>();
        served.execute(() -> {
            served.circuits().pauseReading();
            paused.complete(null);
        });
        paused.get(WAIT.toSeconds(), SECONDS);

        int frames = 400; // x 64 KiB = 26 MB, far more than every buffer on the way
        AtomicInteger handedOver = new AtomicInteger();
        Thread producer = new Thread(() -> {
            for (int i = 0; i < frames; i++) {
                link.sendOneWay(0x0010fd01, null, Unpooled.wrappedBuffer(new byte[Dmsg.AUX_MAX]));
                handedOver.incrementAndGet();
            }
        }, "producer");
        producer.start();
        long deadline = System.nanoTime() + WAIT.toNanos();
        boolean blocked;
        while (!(blocked = BackpressureTest.blockedInLink(producer)) && System.nanoTime() < deadline) {
            LockSupport.parkNanos(200_000); // polling a condition, not timing
        }
        // judged once, when seen: a second look can catch the producer in its 10 ms wake-up
        assertThat(blocked).as("producer blocked after %d frames", handedOver.get()).isTrue();
        System.out.printf("TLS %s: producer blocked after %d frames (%d KiB) handed over%n", p, handedOver.get(),
            handedOver.get() * (64L + Dmsg.AUX_MAX) / 1024);
        LinkConfig cfg = LinkConfig.builder().build();
        long bound = cfg.maxQueuedBytes() + cfg.writeBufferHighBytes() + 2L * (64 + Dmsg.AUX_MAX) + 16L * 1024 * 1024;
        assertThat((long) handedOver.get() * (64 + Dmsg.AUX_MAX)).as("bytes handed over, kernel buffers included")
            .isLessThan(bound);

        served.execute(served.circuits()::resumeReading);
        producer.join(WAIT.toMillis() * 3);
        assertThat(producer.isAlive()).isFalse();
        assertThat(handedOver.get()).isEqualTo(frames);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("providers")
    void aPlaintextClientToATlsListenerFailsFast(Provider p) throws Exception {
        LinkEndpoint a = alpha(p);
        int port = listen(a);
        LinkEndpoint plain = endpoint("plain", null, LinkListener.NONE);

        Link link = plain.connect("127.0.0.1", port).get(WAIT.toSeconds(), SECONDS); // TCP is up: plaintext rules
        String reason = link.closeFuture().get(WAIT.toSeconds(), SECONDS);
        assertThat(reason).isIn("EOF from peer", "socket error: Connection reset by peer");
        // 127.0.0.1 is no configured legacy peer (docs/SECURITY.md §6, LegacyPeerTest): refused at its first bytes.
        assertThat(logs.await(WAIT, "refused: plaintext DMSG from 127.0.0.1:")).matches(
            "WARN refused: plaintext DMSG from 127\\.0\\.0\\.1:\\d+: not a configured legacy peer \\(docs/SECURITY\\.md §6\\)");
        assertThat(a.tlsStats().failed()).isEqualTo(1);
        assertThat(a.tlsStats().plaintextRefused()).isEqualTo(1);
        assertServesAnHonestClient(port);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("providers")
    void aTlsClientToAPlaintextListenerFails(Provider p) throws Exception {
        LinkEndpoint plain = endpoint("plain", null, LinkListener.NONE);
        int port = listen(plain);
        LinkEndpoint b = endpoint("beta", tls(BETA, BETA_TRUSTS, p), LinkListener.NONE);

        assertThat(connectFailure(b, port)).isInstanceOf(SSLHandshakeException.class)
            .hasMessage("TLS handshake with 127.0.0.1:" + port + " failed: the peer sent plaintext DMSG (magic 0x4832),"
                + " not TLS: it runs without TLS (a legacy peer?) and this end requires TLS");
        logs.await(WAIT, "link plain<->", "CLOSED: framing error: magic read=0x0316",
            "(a TLS handshake record: the peer uses TLS, this end does not)");
        // The plaintext listener still serves plaintext clients.
        Link ok = endpoint("other", null, LinkListener.NONE).connect("127.0.0.1", port).get(WAIT.toSeconds(), SECONDS);
        assertThat(echo(ok, "plain")).isEqualTo("plain");
    }

    /**
     * A man in the middle that terminates TLS with its own key and re-originates it: it shows beta
     * a certificate named alpha and alpha one named beta, both with mallory's key. Each end refuses
     * it, because the key is not the one pinned for that name.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("providers")
    void aManInTheMiddleIsRefusedByBothEnds(Provider p) throws Exception {
        LinkEndpoint a = alpha(p);
        int port = listen(a);
        KeyPair mallory = new KeyPair(MALLORY.publicKey(), MALLORY.privateKey());
        TlsRelay mitm = new TlsRelay(new NodeKeys(MALLORY.privateKey(), NodeKeys.selfSigned(mallory, "alpha")),
            new NodeKeys(MALLORY.privateKey(), NodeKeys.selfSigned(mallory, "beta")), port);
        toClose.push(mitm);
        LinkEndpoint b = endpoint("beta", tls(BETA, BETA_TRUSTS, p), LinkListener.NONE);

        Throwable why = connectFailure(b, mitm.port);
        assertThat(why).isInstanceOf(SSLHandshakeException.class).hasMessage("TLS handshake with 127.0.0.1:" + mitm.port
            + " failed: refused: 'alpha' presented key " + MALLORY.fingerprint() + ", but 'alpha' is trusted with "
            + ALPHA.fingerprint() + " (presented by 127.0.0.1:" + mitm.port + ")");
        String atAlpha = logs.await(WAIT, "link alpha<->", "TLS handshake failed: refused: 'beta' presented key");
        assertThat(atAlpha).contains("refused: 'beta' presented key " + MALLORY.fingerprint() + ", but 'beta' is trusted with "
            + BETA.fingerprint());
        assertThat(a.tlsStats().refused()).isEqualTo(1);
        assertThat(b.tlsStats().refused()).isEqualTo(1);
        assertThat(a.links()).isEmpty();
        assertServesAnHonestClient(port);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("providers")
    void aClientThatNeverHandshakesIsClosedAfterTheTimeout(Provider p) throws Exception {
        LinkEndpoint a = endpoint("alpha", tls(ALPHA, ALPHA_TRUSTS, p).withHandshakeTimeout(Duration.ofMillis(500)),
            LinkListener.NONE);
        int port = listen(a);
        try (Socket s = new Socket(InetAddress.getLoopbackAddress(), port)) {
            s.setSoTimeout((int) WAIT.toMillis());
            assertThat(readsToTheEnd(s.getInputStream())).as("closed by the listener").isTrue();
        }
        logs.await(WAIT, "link alpha<->", "TLS handshake failed: handshake timeout after 500 ms (TLS not finished)");
        assertThat(a.tlsStats().timedOut()).isEqualTo(1);
        assertThat(a.tlsStats().failed()).isEqualTo(1);
        assertServesAnHonestClient(port);
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

    @ParameterizedTest(name = "{0}")
    @MethodSource("providers")
    void aConnectToAServerThatNeverAnswersFailsAfterTheTimeout(Provider p) throws Exception {
        try (ServerSocket silent = new ServerSocket(0, 8, InetAddress.getLoopbackAddress())) {
            LinkEndpoint b = endpoint("beta", tls(BETA, BETA_TRUSTS, p).withHandshakeTimeout(Duration.ofMillis(500)),
                LinkListener.NONE);
            assertThat(connectFailure(b, silent.getLocalPort())).isInstanceOf(SSLHandshakeException.class)
                .hasMessage("TLS handshake with 127.0.0.1:" + silent.getLocalPort()
                    + " failed: handshake timeout after 500 ms (TLS not finished)");
            assertThat(b.tlsStats().timedOut()).isEqualTo(1);
        }
    }

    /** A TLS server with alpha's real keys that never speaks DMSG: TLS succeeds, the first frame never comes. */
    @Test
    void aConnectToATlsServerThatSendsNoFrameFailsAfterTheTimeout() throws Exception {
        TlsRelay mute = new TlsRelay(ALPHA, null, 0);
        toClose.push(mute);
        LinkEndpoint b = endpoint("beta", tls(BETA, BETA_TRUSTS, Provider.JDK).withHandshakeTimeout(Duration.ofMillis(500)),
            LinkListener.NONE);
        assertThat(connectFailure(b, mute.port)).isInstanceOf(SSLHandshakeException.class)
            .hasMessage("TLS handshake with 127.0.0.1:" + mute.port
                + " failed: handshake timeout after 500 ms (TLS done, but no frame from the peer)");
        assertThat(b.tlsStats().timedOut()).isEqualTo(1);
        assertThat(b.links()).isEmpty();
    }

    /**
     * TLS in the middle of a connection: terminates the client's TLS with {@code towardsClient}
     * (trusting any client certificate) and, unless {@code towardsServer} is null, re-originates it
     * to 127.0.0.1:{@code targetPort} with {@code towardsServer}, relaying what it decrypts. Both
     * legs handshake independently, so each end's verdict is its own.
     */
    static final class TlsRelay implements AutoCloseable {
        private final EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        final int port;

        TlsRelay(NodeKeys towardsClient, NodeKeys towardsServer, int targetPort) throws Exception {
            SslContext in = SslContextBuilder.forServer(towardsClient.privateKey(), towardsClient.certificate())
                .protocols("TLSv1.3").clientAuth(ClientAuth.REQUIRE)
                .trustManager(InsecureTrustManagerFactory.INSTANCE).build();
            SslContext out = towardsServer == null ? null : SslContextBuilder.forClient().protocols("TLSv1.3")
                .keyManager(towardsServer.privateKey(), towardsServer.certificate())
                .trustManager(InsecureTrustManagerFactory.INSTANCE).endpointIdentificationAlgorithm(null).build();
            Channel server = new ServerBootstrap().group(group).channel(NioServerSocketChannel.class)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel inbound) {
                        Relay toServer = new Relay();
                        inbound.pipeline().addLast(in.newHandler(inbound.alloc()), toServer);
                        if (out != null) {
                            Relay toClient = new Relay();
                            toClient.other = inbound;
                            toServer.other = new Bootstrap().group(inbound.eventLoop()).channel(NioSocketChannel.class)
                                .handler(new ChannelInitializer<SocketChannel>() {
                                    @Override
                                    protected void initChannel(SocketChannel o) {
                                        o.pipeline().addLast(out.newHandler(o.alloc(), "127.0.0.1", targetPort), toClient);
                                    }
                                })
                                .connect("127.0.0.1", targetPort).channel();
                        }
                    }
                })
                .bind("127.0.0.1", 0).sync().channel();
            port = ((InetSocketAddress) server.localAddress()).getPort();
        }

        static final class Relay extends ChannelInboundHandlerAdapter {
            volatile Channel other;

            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                Channel o = other;
                if (o != null && o.isActive()) {
                    o.writeAndFlush(msg);
                } else {
                    ReferenceCountUtil.release(msg);
                }
            }

            @Override
            public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                ctx.close();
            }
        }

        @Override
        public void close() {
            group.shutdownGracefully(0, 1, SECONDS).syncUninterruptibly();
        }
    }
}
