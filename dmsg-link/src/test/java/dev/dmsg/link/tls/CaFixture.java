package dev.dmsg.link.tls;

import dev.dmsg.testkit.FakeWallClock;
import java.security.KeyPair;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;

/**
 * A cluster CA in memory for tests: a root, an issuer of maximum member, nodes, and a clock
 * the test moves (validity dates are wall-clock, so the fake is a {@link Clock}).
 */
final class CaFixture {
    static final Instant T0 = Instant.parse("2026-12-07T12:00:00Z");

    final FakeWallClock clock = new FakeWallClock(T0);
    final KeyPair rootKeys = ClusterCa.newKeyPair();
    final X509Certificate root;
    final KeyPair issuerKeys = ClusterCa.newKeyPair();
    final X509Certificate issuer;

    CaFixture(String cluster) {
        root = CertProfile.root(rootKeys.getPublic(), rootKeys.getPrivate(), cluster, T0, CertProfile.ROOT_VALIDITY);
        issuer = CertProfile.issuer(issuerKeys.getPublic(), cluster + " issuer for n1", Role.MEMBER, 0,
            T0.plus(Duration.ofDays(30)), root, rootKeys.getPrivate(), T0);
    }

    /** A node's keys with a certificate from the issuer: chain node, issuer, root. */
    NodeKeys node(String label, Role role, int grants) {
        NodeKeys k = NodeKeys.generate(label);
        X509Certificate c = CertProfile.node(k.publicKey(), label, role, grants, T0.plus(Duration.ofDays(10)), issuer,
            issuerKeys.getPrivate(), T0);
        return k.withChain(c, List.of(issuer, root));
    }

    /** A node's keys with a certificate from the root itself: chain node, root. */
    NodeKeys rootSigned(String label, Role role) {
        NodeKeys k = NodeKeys.generate(label);
        X509Certificate c = CertProfile.node(k.publicKey(), label, role, 0, T0.plus(Duration.ofDays(10)), root,
            rootKeys.getPrivate(), T0);
        return k.withChain(c, List.of(root));
    }

    /** An issuer certificate for a new key with {@code maxRole}, signed by the root. */
    static X509Certificate issuerFor(PublicKey key, Role maxRole, int grants, X509Certificate root, PrivateKey rootKey) {
        return CertProfile.issuer(key, "issuer", maxRole, grants, T0.plus(Duration.ofDays(30)), root, rootKey, T0);
    }

    CaTrust trust(Revocations r) {
        return new CaTrust(root, r, clock);
    }
}
