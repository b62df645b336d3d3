package dev.dmsg.link.tls;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.dmsg.testkit.FakeClock;
import dev.dmsg.testkit.FakeWallClock;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.Date;
import java.util.List;
import org.bouncycastle.asn1.DEROctetString;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.CRLNumber;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.Extensions;
import org.bouncycastle.cert.X509v2CRLBuilder;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The CA on disk (docs/IDENTITY.md §2.1, §2.4): {@code dmsg ca init/sign/issuer/revoke} as
 * {@link ClusterCa} does them, and a node's revocation list re-read live on a fake clock: a new
 * list is seen at the next check, an older or foreign one never.
 */
class CaRevocationTest {
    @TempDir
    Path tmp;

    final FakeWallClock wall = new FakeWallClock(CaFixture.T0);

    @Test
    void initSignAndIssuerWriteWhatANodeNeeds() throws Exception {
        Path caDir = tmp.resolve("ca");
        ClusterCa ca = ClusterCa.init(caDir, "prod", CertProfile.ROOT_VALIDITY, wall);
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(caDir.resolve("ca.key")))).isEqualTo("rw-------");
        assertThat(ca.crlNumber()).isEqualTo(1);
        assertThatThrownBy(() -> ClusterCa.init(caDir, "prod", CertProfile.ROOT_VALIDITY, wall))
            .hasMessageContaining("already holds a CA");
        ClusterCa again = ClusterCa.load(caDir, wall);
        assertThat(again.fingerprint()).isEqualTo(ca.fingerprint());

        Path n1 = tmp.resolve("n1");
        NodeKeys signed = ca.signNode(n1, "n1", Role.MEMBER, 0, CertProfile.NODE_VALIDITY);
        NodeKeys loaded = NodeKeys.load(n1);
        assertThat(loaded.caSigned()).isTrue();
        assertThat(loaded.chain()).hasSize(2);
        assertThat(loaded.fingerprint()).isEqualTo(signed.fingerprint());
        assertThat(NodeKeys.readPublicKey(n1.resolve(NodeKeys.CERT_FILE))).isEqualTo(signed.publicKey()); // pins keep working
        assertThat(Files.exists(n1.resolve("ca/ca.crt"))).isTrue();
        assertThat(Files.exists(n1.resolve("ca/crl.pem"))).isTrue();
        CaTrust t = new CaTrust(CaFiles.readCertificates(n1.resolve("ca/ca.crt")).get(0),
            Revocations.open(n1.resolve("ca/crl.pem"), ca.certificate()), wall);
        assertThat(t.identify(loaded.chain(), "test").role()).isEqualTo(Role.MEMBER);

        X509Certificate issuer = ca.installIssuer(n1, "n1", Role.MEMBER, 0, CertProfile.ISSUER_VALIDITY);
        assertThat(CaIssuer.exists(n1)).isTrue();
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(n1.resolve("ca/issuer.key"))))
            .isEqualTo("rw-------");
        assertThat(CertProfile.claim(issuer).role()).isEqualTo(Role.MEMBER);
        assertThatThrownBy(() -> ca.installIssuer(n1, "n1", Role.MEMBER, 0, CertProfile.ISSUER_VALIDITY))
            .hasMessageContaining("has an issuer already");
        // another CA's anchor is never overwritten
        ClusterCa other = ClusterCa.init(tmp.resolve("other"), "other", CertProfile.ROOT_VALIDITY, wall);
        assertThatThrownBy(() -> other.signNode(n1, "n1", Role.MEMBER, 0, CertProfile.NODE_VALIDITY))
            .hasMessageContaining("a node trusts one cluster CA");
    }

    @Test
    void aRevocationIsSeenAtTheNextCheckAndNeverUndoneByAnOlderList() throws Exception {
        ClusterCa ca = ClusterCa.init(tmp.resolve("ca"), "prod", CertProfile.ROOT_VALIDITY, wall);
        Path n1 = tmp.resolve("n1");
        Path n3 = tmp.resolve("n3");
        ca.signNode(n1, "n1", Role.MEMBER, 0, CertProfile.NODE_VALIDITY);
        NodeKeys victim = ca.signNode(n3, "n3", Role.MEMBER, 0, CertProfile.NODE_VALIDITY);
        FakeClock clock = new FakeClock();
        Revocations live = Revocations.open(n1.resolve("ca/crl.pem"), ca.certificate(), clock, Duration.ofSeconds(1));
        CaTrust t = new CaTrust(ca.certificate(), live, wall);
        assertThat(t.identify(victim.chain(), "n3's link").name()).isEqualTo("n3");
        byte[] list1 = ca.crl();

        // revoke n3 by name (the CA's log knows its key and serial) and install on n1
        List<ClusterCa.Revoked> who = ca.resolve("n3", List.of());
        assertThat(who).singleElement().satisfies(r -> {
            assertThat(r.fingerprint()).isEqualTo(victim.fingerprint());
            assertThat(r.serials()).containsExactly(victim.certificate().getSerialNumber());
        });
        byte[] list2 = ca.revoke(who);
        assertThat(ca.crlNumber()).isEqualTo(2);
        assertThat(ca.revoke(who)).as("revoked already: no new list").isNull();
        assertThat(ca.installCrl(n1, list2)).isTrue();

        // within the check interval the old list holds; at the next check the new one
        clock.advanceMillis(999);
        assertThat(t.identify(victim.chain(), "n3's link").name()).isEqualTo("n3");
        clock.advanceMillis(1);
        assertThatThrownBy(() -> t.identify(victim.chain(), "n3's link"))
            .hasMessageContaining("revoked by the cluster CA 'prod' (revocation list 2)");
        assertThat(live.current().keys()).containsExactly(victim.fingerprint());

        // an older list put back: ignored, and so are a foreign list and garbage
        Files.writeString(n1.resolve("ca/crl.pem"), Revocations.pem(list1));
        clock.advanceMillis(1000);
        assertThat(live.current().number()).isEqualTo(2);
        assertThat(live.refresh()).isFalse();
        ClusterCa other = ClusterCa.init(tmp.resolve("other"), "prod", CertProfile.ROOT_VALIDITY, wall);
        Files.writeString(n1.resolve("ca/crl.pem"), Revocations.pem(other.crl()));
        assertThat(live.refresh()).isFalse();
        Files.writeString(n1.resolve("ca/crl.pem"), "garbage\n");
        assertThat(live.refresh()).isFalse();
        assertThatThrownBy(() -> t.identify(victim.chain(), "n3's link")).hasMessageContaining("revoked");

        // offers (LNK_CRL): newer adopted and written, the same or older dropped, foreign invalid
        assertThat(live.offer(list2)).isEqualTo(Revocations.Outcome.NOT_NEWER);
        assertThat(live.offer(other.crl())).isEqualTo(Revocations.Outcome.INVALID);
        assertThat(live.offer(new byte[] {1, 2, 3})).isEqualTo(Revocations.Outcome.INVALID);
        byte[] list3 = ca.revoke(ca.resolve("n1", List.of()));
        assertThat(live.offer(list3)).isEqualTo(Revocations.Outcome.ADOPTED);
        assertThat(live.current().number()).isEqualTo(3);
        assertThat(Revocations.open(n1.resolve("ca/crl.pem"), ca.certificate()).current().number()).isEqualTo(3);
    }

    @Test
    void revokingAnIssuerRevokesWhatItSigned() throws Exception {
        CaFixture f = new CaFixture("prod");
        NodeKeys n2 = f.node("n2", Role.MEMBER, 0);
        FakeClock clock = new FakeClock();
        // a list by the fixture's root, made the way ClusterCa makes them
        Path file = tmp.resolve("crl.pem");
        Revocations r = Revocations.open(file, f.root, clock, Duration.ZERO);
        CaTrust t = f.trust(r);
        assertThat(t.identify(n2.chain(), "n2").name()).isEqualTo("n2");
        Files.writeString(file, Revocations.pem(CrlFor.revoking(f, Fingerprints.of(f.issuerKeys.getPublic()))));
        assertThatThrownBy(() -> t.identify(n2.chain(), "n2"))
            .hasMessageContaining("its issuer 'prod issuer for n1' (key " + Fingerprints.of(f.issuerKeys.getPublic())
                + ") is revoked");
    }

    /** A list signed by a {@link CaFixture}'s root. */
    static final class CrlFor {
        static byte[] revoking(CaFixture f, String fingerprint) throws Exception {
            X509v2CRLBuilder b = new X509v2CRLBuilder(
                X500Name.getInstance(f.root.getSubjectX500Principal().getEncoded()),
                Date.from(CaFixture.T0));
            b.addCRLEntry(BigInteger.TEN, Date.from(CaFixture.T0),
                new Extensions(new Extension(CertProfile.REVOKED_KEY,
                    false, new DEROctetString(Fingerprints.bytes(fingerprint)).getEncoded())));
            b.addExtension(Extension.cRLNumber, false,
                new CRLNumber(BigInteger.valueOf(5)));
            return b.build(new JcaContentSignerBuilder("SHA256withECDSA")
                .build(f.rootKeys.getPrivate())).getEncoded();
        }
    }
}
