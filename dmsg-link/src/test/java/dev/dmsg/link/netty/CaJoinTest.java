package dev.dmsg.link.netty;

import static java.util.concurrent.TimeUnit.SECONDS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.dmsg.link.Link;
import dev.dmsg.link.LinkConfig;
import dev.dmsg.link.LinkListener;
import dev.dmsg.link.LogLimiter;
import dev.dmsg.link.tls.CaIssuer;
import dev.dmsg.link.tls.CaTrust;
import dev.dmsg.link.tls.CertProfile;
import dev.dmsg.link.tls.ClusterCa;
import dev.dmsg.link.tls.ClusterTrust;
import dev.dmsg.link.tls.Fingerprints;
import dev.dmsg.link.tls.JoinClient;
import dev.dmsg.link.tls.JoinMessages;
import dev.dmsg.link.tls.JoinToken;
import dev.dmsg.link.tls.NodeKeys;
import dev.dmsg.link.tls.PeerIdentity;
import dev.dmsg.link.tls.Revocations;
import dev.dmsg.link.tls.Role;
import dev.dmsg.link.tls.TlsConfig;
import dev.dmsg.link.tls.TlsConfig.Provider;
import dev.dmsg.link.tls.TrustPolicy;
import dev.dmsg.testkit.FakeClock;
import dev.dmsg.testkit.FakeWallClock;
import dev.dmsg.testkit.LeakDetector;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.Message;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The join exchange on real sockets (docs/IDENTITY.md §2.6): n1 holds an issuer of maximum
 * member and listens; joiners redeem tokens for certificates and then link up with them. The
 * attacks: a reused token, an expired one, a flood of wrong secrets (with an honest join
 * meanwhile), joiners that say nothing or something else, a listener of another cluster; and a
 * revoked node losing its link when the listener re-identifies its peers.
 */
@ExtendWith(LeakDetector.class)
@Timeout(60)
class CaJoinTest {
    static final Duration WAIT = Duration.ofSeconds(10);

    @TempDir
    Path tmp;

    final FakeWallClock clock = new FakeWallClock(); // token expiry
    private final Deque<AutoCloseable> toClose = new ArrayDeque<>();
    private LogCapture joinLog;
    ClusterCa ca;
    NodeKeys n1;
    Revocations revocations;
    CaIssuer issuer;

    @BeforeEach
    void cluster() throws Exception {
        joinLog = LogCapture.of("dmsg.join");
        ca = ClusterCa.init(tmp.resolve("ca"), "prod", CertProfile.ROOT_VALIDITY, Clock.systemUTC());
        Path dir = tmp.resolve("n1");
        ca.signNode(dir, "n1", Role.MEMBER, 0, CertProfile.NODE_VALIDITY);
        ca.installIssuer(dir, "n1", Role.MEMBER, 0, CertProfile.ISSUER_VALIDITY);
        n1 = NodeKeys.load(dir);
        revocations = Revocations.open(dir.resolve("ca/crl.pem"), ca.certificate());
        issuer = CaIssuer.open(dir, clock, () -> revocations.current().der(), Set.of("n1"),
            new LogLimiter(10, Duration.ofMinutes(1), new FakeClock())); // refusal lines: 10, then counted
        toClose.push(issuer);
    }

    @AfterEach
    void closeAll() throws Exception {
        while (!toClose.isEmpty()) {
            toClose.pop().close();
        }
        joinLog.close();
    }

    static PeerIdentity self(NodeKeys k) {
        return new PeerIdentity(k.label(), k.fingerprint(), Role.ADMIN, 0);
    }

    /** n1: its own key, the CA, and its issuer answering joins. */
    LinkEndpoint listener(Provider p, LinkListener l) {
        ClusterTrust trust = new ClusterTrust(TrustPolicy.of(List.of(self(n1))),
            new CaTrust(ca.certificate(), revocations, Clock.systemUTC()), issuer);
        LinkEndpoint e = new LinkEndpoint(LinkConfig.builder().label("n1").tls(TlsConfig.of(n1, trust).withProvider(p))
            .build(), TcpLinkTest.echoServices(), l, 1);
        toClose.push(e);
        return e;
    }

    /** A joined node: its new keys, trusting the CA it got. */
    LinkEndpoint joined(JoinClient.Result r, LinkListener l) {
        ClusterTrust trust = new ClusterTrust(TrustPolicy.of(List.of(self(r.keys()))),
            new CaTrust(r.root(), null, Clock.systemUTC()), null);
        LinkEndpoint e = new LinkEndpoint(LinkConfig.builder().label(r.keys().label()).tls(TlsConfig.of(r.keys(), trust))
            .build(), TcpLinkTest.echoServices(), l, 1);
        toClose.push(e);
        return e;
    }

    JoinClient.Result join(JoinToken t, int port, NodeKeys keys, String label) throws Exception {
        return JoinClient.join(t, "127.0.0.1", port, keys, label, WAIT, null, Clock.systemUTC());
    }

    static Stream<Provider> providers() {
        return TlsLinkTest.providers();
    }

    @ParameterizedTest(name = "listener {0}")
    @MethodSource("providers")
    void anHonestJoinGetsACertificateAndThenALinkAsAMember(Provider p) throws Exception {
        TlsLinkTest.Ups ups = new TlsLinkTest.Ups();
        int port = listener(p, ups).listen("127.0.0.1", 0).getPort();
        JoinToken token = issuer.createTokens(Role.MEMBER, 0, Duration.ofHours(1), 1).get(0);
        assertThat(token.caFingerprint()).isEqualTo(ca.fingerprint());
        assertThat(JoinToken.parse(token.format())).isEqualTo(token);
        assertThat(token.toString()).doesNotContain(token.format().split("\\.")[2]); // no secret in logs

        NodeKeys n2 = NodeKeys.generate("n2");
        JoinClient.Result r = join(token, port, n2, "n2");
        System.out.println("join exchange, listener " + p + ": " + r.tookNanos() / 1_000_000 + " ms");
        assertThat(r.keys().fingerprint()).isEqualTo(n2.fingerprint());
        assertThat(r.keys().chain()).hasSize(3);
        assertThat(r.claim().role()).isEqualTo(Role.MEMBER);
        assertThat(r.listener().name()).isEqualTo("n1");
        assertThat(Fingerprints.of(r.root().getPublicKey())).isEqualTo(ca.fingerprint());
        assertThat(r.crl()).isNotNull();
        joinLog.await(WAIT, "issued 'n2' (member, " + n2.fingerprint() + ")");

        Link link = joined(r, LinkListener.NONE).connect("127.0.0.1", port).get(WAIT.toSeconds(), SECONDS);
        assertThat(link.peer()).isEqualTo(new PeerIdentity("n1", n1.fingerprint(), Role.MEMBER, 0));
        assertThat(ups.next().peer()).isEqualTo(new PeerIdentity("n2", n2.fingerprint(), Role.MEMBER, 0));
        assertThat(TlsLinkTest.echo(link, "member")).isEqualTo("member");
        assertThat(issuer.stats().issued()).isEqualTo(1);
    }

    @Test
    void aTokenIsUsedOnceButTheSameKeyMayAskAgain() throws Exception {
        int port = listener(Provider.JDK, LinkListener.NONE).listen("127.0.0.1", 0).getPort();
        JoinToken token = issuer.createTokens(Role.MEMBER, 0, Duration.ofHours(1), 1).get(0);
        NodeKeys n2 = NodeKeys.generate("n2");
        JoinClient.Result first = join(token, port, n2, "n2");
        // the answer was lost: the same key asks again and gets a certificate again
        JoinClient.Result again = join(token, port, n2, "n2");
        assertThat(again.keys().fingerprint()).isEqualTo(first.keys().fingerprint());
        // anyone else: USED, naming who used it
        NodeKeys thief = NodeKeys.generate("n9");
        assertThatThrownBy(() -> join(token, port, thief, "n9"))
            .isInstanceOfSatisfying(JoinClient.JoinException.class,
                e -> assertThat(e.status()).isEqualTo(JoinMessages.Status.USED))
            .hasMessageContaining("was used by 'n2' (" + n2.fingerprint() + ")");
        // and a fresh token cannot take a name given to another key, nor the issuer's own
        JoinToken t2 = issuer.createTokens(Role.MEMBER, 0, Duration.ofHours(1), 1).get(0);
        assertThatThrownBy(() -> join(t2, port, thief, "n2"))
            .hasMessageContaining("NAME_TAKEN").hasMessageContaining("'n2' was given to key " + n2.fingerprint());
        // the issuer's own name is pinned there (its own key): refused in TLS already
        assertThatThrownBy(() -> join(t2, port, thief, "n1")).hasMessageContaining("it refused our join request");
        assertThat(join(t2, port, thief, "n9").claim().role()).isEqualTo(Role.MEMBER);
    }

    @Test
    void anExpiredTokenAndARoleAboveTheIssuersAreRefused() throws Exception {
        int port = listener(Provider.JDK, LinkListener.NONE).listen("127.0.0.1", 0).getPort();
        JoinToken token = issuer.createTokens(Role.MEMBER, 0, Duration.ofMinutes(10), 1).get(0);
        clock.advance(Duration.ofMinutes(10));
        assertThatThrownBy(() -> join(token, port, NodeKeys.generate("n2"), "n2"))
            .isInstanceOfSatisfying(JoinClient.JoinException.class,
                e -> assertThat(e.status()).isEqualTo(JoinMessages.Status.EXPIRED))
            .hasMessageContaining("token " + token.id() + " expired at");
        assertThatThrownBy(() -> issuer.createTokens(Role.ADMIN, 0, Duration.ofHours(1), 1))
            .hasMessageContaining("role admin is above this issuer's maximum member");
        assertThatThrownBy(() -> issuer.createTokens(Role.MEMBER, 0, Duration.ofDays(8), 1))
            .hasMessageContaining("at most 7 days");
        // a token for another cluster's CA never reaches the point of sending its secret
        ClusterCa other = ClusterCa.init(tmp.resolve("other"), "prod", CertProfile.ROOT_VALIDITY, Clock.systemUTC());
        JoinToken foreign = new JoinToken(token.idBytes(), token.secret(), other.fingerprint());
        assertThatThrownBy(() -> join(foreign, port, NodeKeys.generate("n3"), "n3"))
            .hasMessageContaining("is not a node of the cluster whose CA key is " + other.fingerprint());
        assertThat(issuer.stats().requests()).isEqualTo(1);
    }

    @Test
    void aWrongSecretFloodDoesNotStopAnHonestJoin() throws Exception {
        int port = listener(Provider.JDK, LinkListener.NONE).listen("127.0.0.1", 0).getPort();
        JoinToken honest = issuer.createTokens(Role.MEMBER, 0, Duration.ofHours(1), 1).get(0);
        byte[] wrong = honest.secret();
        wrong[0] ^= 1;
        JoinToken guess = new JoinToken(honest.idBytes(), wrong, honest.caFingerprint()); // the honest token's ID
        NodeKeys flooder = NodeKeys.generate("flood");
        int threads = 4;
        int each = 25;
        AtomicInteger refusedInvalid = new AtomicInteger();
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        List<Future<?>> flood = new ArrayList<>();
        for (int i = 0; i < threads; i++) {
            flood.add(pool.submit(() -> {
                for (int j = 0; j < each; j++) {
                    try {
                        join(guess, port, flooder, "flood");
                    } catch (JoinClient.JoinException e) {
                        if (e.status() == JoinMessages.Status.INVALID_TOKEN) {
                            refusedInvalid.incrementAndGet();
                        }
                    } catch (Exception e) {
                        throw new AssertionError(e);
                    }
                }
                return null;
            }));
        }
        // meanwhile, from another address, the honest joiner with the right secret
        long t0 = System.nanoTime();
        JoinClient.Result r = JoinClient.join(honest, "127.0.0.1", port, NodeKeys.generate("n2"), "n2", WAIT,
            new InetSocketAddress("127.0.0.2", 0), Clock.systemUTC());
        long honestMillis = (System.nanoTime() - t0) / 1_000_000;
        assertThat(r.claim().role()).isEqualTo(Role.MEMBER);
        for (Future<?> f : flood) {
            f.get(60, SECONDS);
        }
        pool.shutdown();
        assertThat(refusedInvalid.get()).isEqualTo(threads * each); // no lockout, no other answer
        CaIssuer.Stats s = issuer.stats();
        assertThat(s.refused()).isEqualTo(threads * each);
        assertThat(s.issued()).isEqualTo(1);
        // the log says it, 10 lines (the limiter's clock stands still) and then how many it kept quiet about
        List<String> lines = joinLog.matching("refused INVALID_TOKEN");
        assertThat(lines.size()).isLessThanOrEqualTo(10);
        assertThat(s.logLinesSuppressed()).isGreaterThanOrEqualTo(threads * each - 10);
        System.out.println("honest join during a flood of " + threads * each + " wrong secrets: " + honestMillis + " ms");
    }

    @Test
    void aJoinerThatSaysNothingOrSomethingElseIsClosedAndCounted() throws Exception {
        issuer.setRequestTimeout(Duration.ofMillis(300));
        LinkEndpoint e = listener(Provider.JDK, LinkListener.NONE);
        int port = e.listen("127.0.0.1", 0).getPort();
        NodeKeys k = NodeKeys.generate("n5");
        X509Certificate joinCert = CertProfile.joinRequest(k.publicKey(), k.privateKey(), "n5", Instant.now());
        NodeKeys asJoiner = new NodeKeys(k.privateKey(), joinCert);
        MultiThreadIoEventLoopGroup group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        try {
            RawTlsPeer.send(group, port, asJoiner, List.of()).get(WAIT.toSeconds(), SECONDS);
            joinLog.await(WAIT, "join from", "no LNK_JOIN within 300 ms");
            RawTlsPeer.send(group, port, asJoiner, List.of(Message.of(Dmsg.LNK_PING, 0, 0, 0)))
                .get(WAIT.toSeconds(), SECONDS);
            joinLog.await(WAIT, "join from", "instead of LNK_JOIN");
        } finally {
            group.shutdownGracefully(0, 1, SECONDS).sync();
        }
        assertThat(issuer.stats().abandoned()).isEqualTo(2);
        assertThat(e.links()).isEmpty();
        assertThat(e.tlsStats().completed()).as("never a link").isZero();
    }

    @Test
    void aNodeWithoutAnIssuerRefusesTheJoinRequestInTls() throws Exception {
        ClusterTrust noJoins = new ClusterTrust(TrustPolicy.of(List.of(self(n1))),
            new CaTrust(ca.certificate(), revocations, Clock.systemUTC()), null);
        LinkEndpoint e = new LinkEndpoint(LinkConfig.builder().label("n1").tls(TlsConfig.of(n1, noJoins)).build(),
            TcpLinkTest.echoServices(), LinkListener.NONE, 1);
        toClose.push(e);
        int port = e.listen("127.0.0.1", 0).getPort();
        JoinToken token = issuer.createTokens(Role.MEMBER, 0, Duration.ofHours(1), 1).get(0);
        assertThatThrownBy(() -> join(token, port, NodeKeys.generate("n2"), "n2"))
            .hasMessageContaining("it refused our join request")
            .hasMessageContaining("does not issue certificates");
    }

    @Test
    void aRevokedNodeLosesItsLinkWhenTheListenerRevalidates() throws Exception {
        TlsLinkTest.Ups ups = new TlsLinkTest.Ups();
        LinkEndpoint listener = listener(Provider.JDK, ups);
        int port = listener.listen("127.0.0.1", 0).getPort();
        List<JoinToken> tokens = issuer.createTokens(Role.MEMBER, 0, Duration.ofHours(1), 2);
        JoinClient.Result n2 = join(tokens.get(0), port, NodeKeys.generate("n2"), "n2");
        JoinClient.Result n3 = join(tokens.get(1), port, NodeKeys.generate("n3"), "n3");
        Link l2 = joined(n2, LinkListener.NONE).connect("127.0.0.1", port).get(WAIT.toSeconds(), SECONDS);
        LinkEndpoint e3 = joined(n3, LinkListener.NONE);
        Link l3 = e3.connect("127.0.0.1", port).get(WAIT.toSeconds(), SECONDS);
        ups.next();
        ups.next();
        assertThat(listener.revalidate().get(WAIT.toSeconds(), SECONDS)).as("nothing changed").isZero();

        // the root revokes n3 by name, found in n1's log of what its issuer signed
        byte[] list = ca.revoke(ca.resolve("n3", List.of(tmp.resolve("n1/ca/issued"))));
        assertThat(ca.installCrl(tmp.resolve("n1"), list)).isTrue();
        long t0 = System.nanoTime();
        assertThat(revocations.refresh()).isTrue();
        assertThat(listener.revalidate().get(WAIT.toSeconds(), SECONDS)).isEqualTo(1);
        String reason = l3.closeFuture().get(WAIT.toSeconds(), SECONDS);
        System.out.println("revoked link closed " + (System.nanoTime() - t0) / 1_000_000 + " ms after the list was read");
        assertThat(l2.closeReason()).isNull();
        assertThat(TlsLinkTest.echo(l2, "still here")).isEqualTo("still here");
        assertThat(reason).isNotNull();
        // and it cannot come back: n1 refuses it in the handshake
        try (LogCapture linkLog = LogCapture.of("dev.dmsg.link")) {
            assertThatThrownBy(() -> e3.connect("127.0.0.1", port).get(WAIT.toSeconds(), SECONDS))
                .hasMessageContaining("TLS handshake");
            linkLog.await(WAIT, "TLS handshake failed: refused: 'n3'", "revoked by the cluster CA 'prod' (revocation list 2)");
        }
    }
}
