package dev.dmsg.link.netty;

import static java.util.concurrent.TimeUnit.SECONDS;
import static org.assertj.core.api.Assertions.assertThat;

import dev.dmsg.link.Link;
import dev.dmsg.link.LinkConfig;
import dev.dmsg.link.LinkListener;
import dev.dmsg.link.tls.Fingerprints;
import dev.dmsg.link.tls.TlsConfig.Provider;
import dev.dmsg.testkit.LeakDetector;
import dev.dmsg.wire.AuthBody;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.Message;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * LNK_AUTH after the TLS handshake (docs/SECURITY.md §4, the seed: "only PAD and AUTH messages
 * are accepted until authentication is complete"): two of our endpoints authenticate each other;
 * a peer that holds a trusted key but sends anything before its AUTH, or an AUTH naming another
 * key or label, is closed with the reason; the listener keeps serving honest peers.
 */
@ExtendWith(LeakDetector.class)
@Timeout(60)
class LnkAuthTest {
    LogCapture logs;
    LinkEndpoint alpha;
    EventLoopGroup raw;

    @BeforeEach
    void start() {
        logs = LogCapture.debug("dev.dmsg.link");
        alpha = new LinkEndpoint(LinkConfig.builder().label("alpha")
            .tls(TlsLinkTest.tls(TlsLinkTest.ALPHA, TlsLinkTest.ALPHA_TRUSTS, Provider.JDK)).build(),
            TcpLinkTest.echoServices(), LinkListener.NONE, 1);
        raw = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
    }

    @AfterEach
    void stop() {
        alpha.close(Duration.ofSeconds(2));
        raw.shutdownGracefully(0, 1, TimeUnit.SECONDS);
        logs.close();
    }

    @Test
    void bothSidesAuthenticateAndSayWhatTheyWereGranted() throws Exception {
        int port = TlsLinkTest.listen(alpha);
        try (LinkEndpoint beta = new LinkEndpoint(LinkConfig.builder().label("beta")
                .tls(TlsLinkTest.tls(TlsLinkTest.BETA, TlsLinkTest.BETA_TRUSTS, Provider.JDK)).build(),
                TcpLinkTest.echoServices(), LinkListener.NONE, 1)) {
            Link link = beta.connect("127.0.0.1", port).get(10, SECONDS);
            assertThat(TlsLinkTest.echo(link, "authenticated")).isEqualTo("authenticated");
            // alpha trusts beta as a member and says so in its AUTH; beta trusts alpha as admin
            assertThat(logs.await(TlsLinkTest.WAIT, "link alpha<->", ": authenticated beta (member", "it grants us admin"))
                .isNotNull();
            assertThat(logs.await(TlsLinkTest.WAIT, "link beta<->", ": authenticated alpha (admin", "it grants us member"))
                .isNotNull();
        }
    }

    @Test
    void anythingBeforeAuthClosesTheLink() throws Exception {
        int port = TlsLinkTest.listen(alpha);
        // beta's real key, but a LNK_CONN where its AUTH should be
        CompletableFuture<Void> closed = RawTlsPeer.send(raw, port, TlsLinkTest.BETA, List.of(Message.of(Dmsg.LNK_CONN | Dmsg.CREATE, 7, 0, 0, LinkConfig.defaultConn("beta"), null)));
        closed.get(10, SECONDS);
        assertThat(logs.await(TlsLinkTest.WAIT, "traffic before AUTH: ", "LNK_CONN")).isNotNull();
        assertServesBeta(port);
    }

    @Test
    void anAuthNamingAnotherLabelOrKeyIsRefused() throws Exception {
        int port = TlsLinkTest.listen(alpha);
        byte[] betaKey = Fingerprints.sha256(TlsLinkTest.BETA.publicKey());
        CompletableFuture<Void> closed = RawTlsPeer.send(raw, port, TlsLinkTest.BETA, List.of(Message.of(Dmsg.LNK_AUTH, 0, 0, 0,
            new AuthBody(1, 3, 0, 0, betaKey, "mallory").toLnkAuth(), null)));
        closed.get(10, SECONDS);
        assertThat(logs.await(TlsLinkTest.WAIT,
            "LNK_AUTH refused: LNK_AUTH label 'mallory' is not the name its key is trusted as ('beta')")).isNotNull();

        byte[] otherKey = Fingerprints.sha256(TlsLinkTest.MALLORY.publicKey());
        closed = RawTlsPeer.send(raw, port, TlsLinkTest.BETA, List.of(Message.of(Dmsg.LNK_AUTH, 0, 0, 0,
            new AuthBody(1, 3, 0, 0, otherKey, "beta").toLnkAuth(), null)));
        closed.get(10, SECONDS);
        assertThat(logs.await(TlsLinkTest.WAIT, "LNK_AUTH refused: LNK_AUTH names key "
            + TlsLinkTest.MALLORY.fingerprint() + ", but the TLS handshake was made with " + TlsLinkTest.BETA.fingerprint()))
            .isNotNull();
        assertServesBeta(port);
    }

    void assertServesBeta(int port) throws Exception {
        try (LinkEndpoint beta = new LinkEndpoint(LinkConfig.builder().label("beta")
                .tls(TlsLinkTest.tls(TlsLinkTest.BETA, TlsLinkTest.BETA_TRUSTS, Provider.JDK)).build(),
                TcpLinkTest.echoServices(), LinkListener.NONE, 1)) {
            Link link = beta.connect("127.0.0.1", port).get(10, SECONDS);
            assertThat(TlsLinkTest.echo(link, "still serving")).isEqualTo("still serving");
        }
    }

}
