package dev.dmsg.link.tls;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.security.KeyPair;
import java.security.cert.X509Certificate;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The pinning rule without sockets (docs/SECURITY.md §3): a certificate is accepted iff its key is
 * trusted and its CN is the name the key is trusted as; each refusal names its rule. TlsLinkTest
 * shows the same lines come out of real handshakes.
 */
@Timeout(30)
class PinnedTrustManagerTest {
    static final NodeKeys BETA = NodeKeys.generate("beta");
    static final String FROM = "10.0.0.5:41234";
    final PinnedTrustManager tm = new PinnedTrustManager(TrustPolicy.of(List.of(
        new PeerIdentity("beta", BETA.fingerprint(), Role.MEMBER, 0))));

    @Test
    void aPinnedKeyUnderItsOwnNameIsThePeer() throws Exception {
        assertThat(tm.identify(BETA.certificate(), FROM))
            .isEqualTo(new PeerIdentity("beta", BETA.fingerprint(), Role.MEMBER, 0));
        tm.checkClientTrusted(new X509Certificate[] {BETA.certificate()}, "EC"); // does not throw
        // A certificate re-issued for the same key keeps the identity: the key is pinned, not the certificate.
        X509Certificate reissued = NodeKeys.selfSigned(new KeyPair(BETA.publicKey(), BETA.privateKey()), "beta");
        assertThat(reissued.getEncoded()).isNotEqualTo(BETA.certificate().getEncoded());
        assertThat(tm.identify(reissued, FROM).name()).isEqualTo("beta");
        assertThat(tm.getAcceptedIssuers()).isEmpty();
    }

    @Test
    void eachRefusalSaysWhichRuleFailedAndWhatToDo() throws Exception {
        NodeKeys stranger = NodeKeys.generate("gamma");
        assertThatThrownBy(() -> tm.identify(stranger.certificate(), FROM))
            .isInstanceOf(Refusal.class)
            .hasMessage("refused: unknown key " + stranger.fingerprint() + " presented by " + FROM
                + " (CN 'gamma'); trust it with 'dmsg trust add NAME " + stranger.fingerprint() + "'");

        NodeKeys otherBeta = NodeKeys.generate("beta");
        assertThatThrownBy(() -> tm.identify(otherBeta.certificate(), FROM))
            .hasMessage("refused: 'beta' presented key " + otherBeta.fingerprint() + ", but 'beta' is trusted with "
                + BETA.fingerprint() + " (presented by " + FROM + ")");

        X509Certificate betaNamedGamma = NodeKeys.selfSigned(new KeyPair(BETA.publicKey(), BETA.privateKey()), "gamma");
        assertThatThrownBy(() -> tm.identify(betaNamedGamma, FROM))
            .hasMessage("refused: key " + BETA.fingerprint() + " is trusted as 'beta', but the certificate presented by "
                + FROM + " names 'gamma' (CN); a trusted key must carry the name it is trusted as");

        assertThatThrownBy(() -> tm.checkServerTrusted(new X509Certificate[0], "EC"))
            .hasMessage("refused: no certificate presented by an unknown address");
    }

    @Test
    void aCnChosenByThePeerCannotForgeLogLines() throws Exception {
        NodeKeys evil = NodeKeys.generate("x\nINFO link up: peer admin");
        assertThatThrownBy(() -> tm.identify(evil.certificate(), FROM))
            .hasMessageContaining("(CN 'x\\x0aINFO link up: peer admin')")
            .satisfies(e -> assertThat(e.getMessage()).doesNotContain("\n"));
        assertThat(PinnedTrustManager.printable("a".repeat(100))).hasSize(65).endsWith("…");
    }
}
