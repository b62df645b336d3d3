package dev.dmsg.link;

import static org.assertj.core.api.Assertions.assertThat;

import dev.dmsg.link.tls.Fingerprints;
import dev.dmsg.link.tls.Grants;
import dev.dmsg.link.tls.NodeKeys;
import dev.dmsg.link.tls.PeerIdentity;
import dev.dmsg.link.tls.Role;
import dev.dmsg.wire.AuthBody;
import dev.dmsg.wire.LnkAuth;
import org.junit.jupiter.api.Test;

/** LNK_AUTH contents and checks (docs/SECURITY.md §4). */
class AuthTest {
    final NodeKeys alpha = NodeKeys.generate("alpha");
    final NodeKeys beta = NodeKeys.generate("beta");
    /** How alpha's trust store knows beta, and beta's knows alpha. */
    final PeerIdentity betaAtAlpha = new PeerIdentity("beta", beta.fingerprint(), Role.CLIENT, Grants.SHELL_RO);
    final PeerIdentity alphaAtBeta = new PeerIdentity("alpha", alpha.fingerprint(), Role.ADMIN, 0);

    @Test
    void whatWeSendNamesOurKeyOurLabelAndWhatWeGrant() {
        AuthBody b = AuthBody.parse(Auth.ours(Fingerprints.sha256(alpha.publicKey()), "alpha", betaAtAlpha));
        assertThat(b.role()).isEqualTo(Role.CLIENT.code);
        assertThat(b.grants()).isEqualTo(Grants.SHELL_RO);
        assertThat(b.label()).isEqualTo("alpha");
        assertThat(Fingerprints.of(b.keySha256())).isEqualTo(alpha.fingerprint());
        assertThat(b.caps()).isEqualTo(AuthBody.CAP_PING | AuthBody.CAP_SPAN_EXT | AuthBody.CAP_CIRCUITS);
        // and beta accepts it from the peer its TLS handshake saw as alpha
        assertThat(Auth.refusal(Auth.ours(Fingerprints.sha256(alpha.publicKey()), "alpha", betaAtAlpha), alphaAtBeta))
            .isNull();
    }

    @Test
    void anotherKeyOrAnotherLabelIsRefusedWithBothNamed() {
        LnkAuth wrongKey = Auth.ours(Fingerprints.sha256(beta.publicKey()), "alpha", betaAtAlpha);
        assertThat(Auth.refusal(wrongKey, alphaAtBeta)).isEqualTo("LNK_AUTH names key " + beta.fingerprint()
            + ", but the TLS handshake was made with " + alpha.fingerprint());
        LnkAuth wrongLabel = Auth.ours(Fingerprints.sha256(alpha.publicKey()), "mallory", betaAtAlpha);
        assertThat(Auth.refusal(wrongLabel, alphaAtBeta))
            .isEqualTo("LNK_AUTH label 'mallory' is not the name its key is trusted as ('alpha')");
        byte[] v2 = Auth.ours(Fingerprints.sha256(alpha.publicKey()), "alpha", betaAtAlpha).body();
        v2[0] = 9;
        assertThat(Auth.refusal(new LnkAuth(v2), alphaAtBeta)).isEqualTo("LNK_AUTH version 9; we speak 1");
    }

    @Test
    void longLabelsAreCutTheSameWayOnBothSides() {
        String longName = "a-node-with-a-rather-long-name";
        PeerIdentity p = new PeerIdentity(longName, alpha.fingerprint(), Role.MEMBER, 0);
        LnkAuth a = Auth.ours(Fingerprints.sha256(alpha.publicKey()), longName, betaAtAlpha);
        assertThat(AuthBody.parse(a).label()).hasSize(23);
        assertThat(Auth.refusal(a, p)).isNull();
    }
}
