package dev.dmsg.link.tls;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.math.BigInteger;
import java.security.KeyPair;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.Date;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.junit.jupiter.api.Test;

/**
 * The certificate profile and the chain check of docs/IDENTITY.md §2.2–2.3, with the attacks a
 * CA invites: a certificate claiming more than its issuer may grant, an expired one, one from
 * another CA, one signed by a node, one whose claim names another key. Time is a clock the test
 * moves.
 */
class CaTrustTest {
    static final String FROM = "10.0.0.5:41234";
    final CaFixture ca = new CaFixture("prod");

    @Test
    void theProfileCarriesRoleGrantsAndNodeIdAndIssuersAreBounded() {
        NodeKeys n = ca.node("n2", Role.CLIENT, Grants.SHELL_RO | Grants.BLK_READ);
        X509Certificate leaf = n.certificate();
        CertProfile.Claim c = CertProfile.claim(leaf);
        assertThat(c.role()).isEqualTo(Role.CLIENT);
        assertThat(c.grants()).isEqualTo(Grants.SHELL_RO | Grants.BLK_READ);
        assertThat(c.nodeId()).isEqualTo(Fingerprints.sha256(n.publicKey()));
        assertThat(NodeKeys.commonNameOrEmpty(leaf)).isEqualTo("n2");
        assertThat(leaf.getBasicConstraints()).isEqualTo(-1);
        assertThat(leaf.getKeyUsage()[0]).as("digitalSignature").isTrue();
        assertThat(leaf.getNotBefore().toInstant()).isEqualTo(CaFixture.T0.minus(CertProfile.NOT_BEFORE_SKEW));
        assertThat(leaf.getNotAfter().toInstant()).isEqualTo(CaFixture.T0.plus(Duration.ofDays(10)));
        assertThat(leaf.getNonCriticalExtensionOIDs()).contains(CertProfile.DMSG_IDENTITY.getId());

        assertThat(ca.issuer.getBasicConstraints()).as("pathLen 0").isZero();
        assertThat(CertProfile.claim(ca.issuer).role()).as("maximum").isEqualTo(Role.MEMBER);
        assertThat(ca.root.getBasicConstraints()).isEqualTo(Integer.MAX_VALUE);
        assertThat(CertProfile.claim(ca.root).role()).isEqualTo(Role.ADMIN);
        assertThat(n.chain()).containsExactly(leaf, ca.issuer, ca.root);

        // a certificate never outlives its issuer, whatever was asked for
        NodeKeys k = NodeKeys.generate("long");
        X509Certificate c2 = CertProfile.node(k.publicKey(), "long", Role.MEMBER, 0, CaFixture.T0.plus(Duration.ofDays(9000)),
            ca.issuer, ca.issuerKeys.getPrivate(), CaFixture.T0);
        assertThat(c2.getNotAfter()).isEqualTo(ca.issuer.getNotAfter());

        X509Certificate join = CertProfile.joinRequest(k.publicKey(), k.privateKey(), "n9", CaFixture.T0);
        assertThat(CertProfile.isJoinRequest(join)).isTrue();
        assertThat(CertProfile.claim(join)).isNull();
        assertThat(CertProfile.isJoinRequest(leaf)).isFalse();
    }

    @Test
    void aNodeOfTheClusterIsWhoItsCertificateSays() throws Refusal {
        CaTrust t = ca.trust(null);
        NodeKeys n = ca.node("n2", Role.MEMBER, 0);
        assertThat(t.identify(n.chain(), FROM)).isEqualTo(new PeerIdentity("n2", n.fingerprint(), Role.MEMBER, 0));
        // without the root in the chain, and signed by the root directly
        assertThat(t.identify(new X509Certificate[] {n.certificate(), ca.issuer}, FROM).role()).isEqualTo(Role.MEMBER);
        NodeKeys admin = ca.rootSigned("ops", Role.ADMIN);
        assertThat(t.identify(admin.chain(), FROM).role()).isEqualTo(Role.ADMIN);
        assertThat(t.name()).isEqualTo("prod");
        assertThat(t.fingerprint()).isEqualTo(Fingerprints.of(ca.rootKeys.getPublic()));
    }

    @Test
    void aCertificateClaimingMoreThanItsIssuerMayGrantIsRefused() {
        CaTrust t = ca.trust(null);
        // the member-issuer signs an admin (its key stolen, or a bug): the maximum still holds
        NodeKeys k = NodeKeys.generate("boss");
        X509Certificate admin = CertProfile.node(k.publicKey(), "boss", Role.ADMIN, 0, CaFixture.T0.plus(Duration.ofDays(1)),
            ca.issuer, ca.issuerKeys.getPrivate(), CaFixture.T0);
        assertThatThrownBy(() -> t.identify(new X509Certificate[] {admin, ca.issuer, ca.root}, FROM))
            .isInstanceOf(Refusal.class)
            .hasMessageContaining("'boss'").hasMessageContaining(k.fingerprint())
            .hasMessageContaining("claims role admin, above the maximum member of its issuer 'prod issuer for n1'");

        // an issuer of clients with shell-ro cannot hand out blk-rw
        KeyPair ik = ClusterCa.newKeyPair();
        X509Certificate clientIssuer = CaFixture.issuerFor(ik.getPublic(), Role.CLIENT, Grants.SHELL_RO, ca.root,
            ca.rootKeys.getPrivate());
        X509Certificate rw = CertProfile.node(k.publicKey(), "boss", Role.CLIENT, Grants.SHELL_RO | Grants.BLK_RW,
            CaFixture.T0.plus(Duration.ofDays(1)), clientIssuer, ik.getPrivate(), CaFixture.T0);
        assertThatThrownBy(() -> t.identify(new X509Certificate[] {rw, clientIssuer}, FROM))
            .hasMessageContaining("claims grants shell-ro,blk-rw, beyond shell-ro of its issuer");

        // a member makes itself an admin with its own key: not from the CA at all
        X509Certificate self = forge(k.publicKey(), "boss", Role.ADMIN, k.publicKey(), "boss", k.privateKey(), false,
            CaFixture.T0.plus(Duration.ofDays(1)));
        assertThatThrownBy(() -> t.identify(new X509Certificate[] {self, ca.root}, FROM))
            .hasMessageContaining("not from the cluster CA 'prod'");
    }

    @Test
    void aNodeCannotSignForOthersNorClaimAnotherKey() {
        CaTrust t = ca.trust(null);
        NodeKeys member = ca.node("n2", Role.MEMBER, 0);
        NodeKeys victim = NodeKeys.generate("n3");
        // n2 (not a CA) signs a certificate for another key: refused, whatever it claims
        X509Certificate byMember = forge(victim.publicKey(), "n3", Role.MEMBER, victim.publicKey(), "n2",
            member.privateKey(), false, CaFixture.T0.plus(Duration.ofDays(1)));
        assertThatThrownBy(() -> t.identify(new X509Certificate[] {byMember, member.certificate(), ca.issuer, ca.root}, FROM))
            .hasMessageContaining("'n2', which signed 'n3', is not a CA");
        // a dmsg-identity whose nodeId is another key's, signed by the real issuer
        X509Certificate wrongId = forge(victim.publicKey(), "n3", Role.MEMBER, member.publicKey(),
            "prod issuer for n1", ca.issuerKeys.getPrivate(), false, CaFixture.T0.plus(Duration.ofDays(1)));
        assertThatThrownBy(() -> t.identify(new X509Certificate[] {wrongId, ca.issuer}, FROM))
            .hasMessageContaining("its dmsg-identity names node " + member.fingerprint() + ", not its own key");
        // five certificates: refused before any signature is checked
        X509Certificate[] five = {member.certificate(), ca.issuer, ca.issuer, ca.issuer, ca.root};
        assertThatThrownBy(() -> t.identify(five, FROM)).hasMessageContaining("a chain of 5 certificates (at most 4)");
        // a CA certificate presented as a node's
        assertThatThrownBy(() -> t.identify(new X509Certificate[] {ca.issuer, ca.root}, FROM))
            .hasMessageContaining("its certificate is a CA's, not a node's");
    }

    @Test
    void aCertificateFromAnotherCaIsRefused() {
        CaFixture other = new CaFixture("prod"); // same name, other key: the name proves nothing
        NodeKeys n = other.node("n2", Role.MEMBER, 0);
        assertThatThrownBy(() -> ca.trust(null).identify(n.chain(), FROM))
            .isInstanceOf(Refusal.class)
            .hasMessageContaining("refused: 'n2' (key " + n.fingerprint() + ", presented by " + FROM + ")")
            .hasMessageContaining("not from the cluster CA 'prod' (" + Fingerprints.of(ca.rootKeys.getPublic()) + ")");
    }

    @Test
    void validityDatesCountForCaCertificates() throws Refusal {
        CaTrust t = ca.trust(null);
        NodeKeys n = ca.node("n2", Role.MEMBER, 0); // valid until T0 + 10 days
        ca.clock.advance(Duration.ofDays(10).minusSeconds(1));
        assertThat(t.identify(n.chain(), FROM).name()).isEqualTo("n2");
        ca.clock.advance(Duration.ofSeconds(2));
        assertThatThrownBy(() -> t.identify(n.chain(), FROM))
            .hasMessageContaining("its certificate expired on " + CaFixture.T0.plus(Duration.ofDays(10)));
        // the issuer expires before the node in a longer chain: the issuer's date counts
        ca.clock.advance(Duration.ofDays(30));
        NodeKeys k = NodeKeys.generate("late");
        X509Certificate lateLeaf = CertProfile.node(k.publicKey(), "late", Role.MEMBER, 0, CaFixture.T0.plus(Duration.ofDays(90)),
            ca.root, ca.rootKeys.getPrivate(), CaFixture.T0);
        assertThat(t.identify(new X509Certificate[] {lateLeaf, ca.root}, FROM).name()).isEqualTo("late");
        assertThatThrownBy(() -> t.identify(new X509Certificate[] {n.certificate(), ca.issuer}, FROM))
            .hasMessageContaining("expired");
        // not yet valid: the clock before T0 - 1 h
        CaFixture early = new CaFixture("prod");
        NodeKeys e = early.node("n4", Role.MEMBER, 0);
        early.clock.advance(Duration.ofHours(-2));
        assertThatThrownBy(() -> early.trust(null).identify(e.chain(), FROM)).hasMessageContaining("is not valid before");
    }

    @Test
    void aCertificateOutlivingItsIssuerIsRefused() {
        NodeKeys k = NodeKeys.generate("n5");
        X509Certificate forged = forge(k.publicKey(), "n5", Role.MEMBER, k.publicKey(), "prod issuer for n1",
            ca.issuerKeys.getPrivate(), false, CaFixture.T0.plus(Duration.ofDays(400)));
        assertThatThrownBy(() -> ca.trust(null).identify(new X509Certificate[] {forged, ca.issuer}, FROM))
            .hasMessageContaining("is valid until").hasMessageContaining("after its issuer 'prod issuer for n1'");
    }

    @Test
    void pinsComeFirstAndAPinConflictsWithTheCa() throws Refusal {
        NodeKeys self = NodeKeys.generate("n1");
        NodeKeys n2 = ca.node("n2", Role.MEMBER, 0);
        NodeKeys pinnedN3 = NodeKeys.generate("n3");
        TrustPolicy pins = TrustPolicy.of(List.of(new PeerIdentity("n1", self.fingerprint(), Role.ADMIN, 0),
            new PeerIdentity("n3", pinnedN3.fingerprint(), Role.CLIENT, Grants.SHELL_RO),
            new PeerIdentity("n2", n2.fingerprint(), Role.ADMIN, 0)));
        ClusterTrust t = new ClusterTrust(pins, ca.trust(null), null);
        // a pin wins over the CA's role
        assertThat(t.identify(n2.chain(), FROM).role()).isEqualTo(Role.ADMIN);
        // a CA certificate for a name pinned to another key
        NodeKeys fakeN3 = ca.node("n3", Role.MEMBER, 0);
        assertThatThrownBy(() -> t.identify(fakeN3.chain(), FROM))
            .hasMessageContaining("'n3' is trusted with " + pinnedN3.fingerprint())
            .hasMessageContaining("a pin conflicts with the CA, and wins");
        // our own name with another key
        NodeKeys fakeSelf = ca.node("n1", Role.MEMBER, 0);
        assertThatThrownBy(() -> t.identify(fakeSelf.chain(), FROM)).hasMessageContaining("'n1' is trusted with");
        // an unknown self-signed key: the pinned refusal, with the CA's way in too
        NodeKeys stranger = NodeKeys.generate("x");
        assertThatThrownBy(() -> t.identify(stranger.chain(), FROM))
            .hasMessageContaining("unknown key " + stranger.fingerprint())
            .hasMessageContaining("or have the cluster CA 'prod' sign it");
        // a join request where nobody issues
        X509Certificate join = CertProfile.joinRequest(stranger.publicKey(), stranger.privateKey(), "x", CaFixture.T0);
        assertThatThrownBy(() -> t.identify(new X509Certificate[] {join}, FROM))
            .hasMessageContaining("this node does not issue certificates");
        // and where one does: a peer of role none, for the join exchange only
        JoinResponder r = new JoinResponder() {
            @Override
            public Duration requestTimeout() {
                return Duration.ofSeconds(1);
            }

            @Override
            public CompletableFuture<byte[]> answer(byte[] q, X509Certificate j, String from) {
                return null;
            }

            @Override
            public void abandoned(String from, String why) {}
        };
        ClusterTrust issuing = new ClusterTrust(pins, ca.trust(null), r);
        assertThat(issuing.identify(new X509Certificate[] {join}, FROM).role()).isEqualTo(Role.NONE);
        assertThat(issuing.joinResponder()).isSameAs(r);
        // a join-request certificate behind a chain is not one
        assertThatThrownBy(() -> issuing.identify(new X509Certificate[] {join, ca.root}, FROM))
            .hasMessageContaining("not from the cluster CA");
    }

    /** A certificate made by hand: any subject key, claim key, issuer name and signer. */
    static X509Certificate forge(PublicKey subject, String cn, Role role, PublicKey claimKey, String issuerCn,
                                 PrivateKey signer, boolean ca, Instant notAfter) {
        try {
            X509v3CertificateBuilder b = new JcaX509v3CertificateBuilder(CertProfile.cn(issuerCn), BigInteger.valueOf(7),
                Date.from(CaFixture.T0.minusSeconds(3600)), Date.from(notAfter), CertProfile.cn(cn), subject);
            b.addExtension(Extension.basicConstraints, true, new BasicConstraints(ca));
            b.addExtension(CertProfile.DMSG_IDENTITY, false, CertProfile.encodeClaim(role, 0, claimKey));
            return new JcaX509CertificateConverter().getCertificate(
                b.build(new JcaContentSignerBuilder("SHA256withECDSA").build(signer)));
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }
}
