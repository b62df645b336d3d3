package dev.dmsg.services.node;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.dmsg.link.Link;
import dev.dmsg.link.tls.CertProfile;
import dev.dmsg.link.tls.ClusterCa;
import dev.dmsg.link.tls.NodeKeys;
import dev.dmsg.link.tls.PeerIdentity;
import dev.dmsg.link.tls.Role;
import dev.dmsg.link.tls.TlsConfig;
import dev.dmsg.link.tls.TrustPolicy;
import dev.dmsg.services.shell.ShellClient;
import dev.dmsg.services.testing.TestCluster;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Nodes with a cluster CA, in one process (docs/IDENTITY.md §2): nodes the CA signed link up
 * with the roles in their certificates and no pins; a revocation installed on one node closes
 * the revoked node's links there, and reaches a third node over its link (LNK_CRL), which closes
 * its own; and a pin removed from a trust store closes that key's links as well.
 */
@Timeout(60)
class CaNodeTest {
    static final Duration T = Duration.ofSeconds(10);

    @TempDir
    Path tmp;

    @RegisterExtension
    final TestCluster cluster = new TestCluster(() -> tmp);

    Node start(String label) throws Exception {
        return cluster.start(label);
    }

    static void linkTo(Node from, Node to) throws Exception {
        try (ShellClient c = ShellClient.connect("127.0.0.1", from.address().getPort(), from.clientTls(), T)) {
            c.call("span 127.0.0.1:" + to.address().getPort(), T);
        }
    }

    static Link linkWith(Node n, String peer) {
        return n.endpoint().links().stream().filter(l -> l.peer() != null && l.peer().name().equals(peer)).findFirst()
            .orElse(null);
    }

    @Test
    void aRevocationClosesLinksHereAndTravelsToTheNextNode() throws Exception {
        ClusterCa ca = ClusterCa.init(tmp.resolve("ca"), "prod", CertProfile.ROOT_VALIDITY, Clock.systemUTC());
        for (String n : List.of("alpha", "beta", "gamma")) {
            ca.signNode(tmp.resolve(n), n, Role.MEMBER, 0, CertProfile.NODE_VALIDITY);
        }
        Node alpha = start("alpha");
        Node beta = start("beta");
        Node gamma = start("gamma");
        linkTo(beta, alpha);
        linkTo(gamma, alpha);
        linkTo(beta, gamma);
        cluster.await(() -> linkWith(alpha, "beta") != null && linkWith(alpha, "gamma") != null && linkWith(gamma, "beta") != null,
            "alpha-beta, alpha-gamma, gamma-beta up");
        assertThat(linkWith(alpha, "beta").peer()).isEqualTo(
            new PeerIdentity("beta", beta.keys().fingerprint(), Role.MEMBER, 0)); // no pin anywhere
        JsonNode s = alpha.status();
        assertThat(s.get("ca").get("name").asText()).isEqualTo("prod");
        assertThat(s.get("ca").get("crl_number").asLong()).isEqualTo(1);
        assertThat(s.get("ca").get("certificate").asText()).startsWith("member until");

        // revoke beta; only alpha's file gets the list
        byte[] list = ca.revoke(ca.resolve("beta", List.of()));
        long t0 = System.nanoTime();
        assertThat(ca.installCrl(tmp.resolve("alpha"), list)).isTrue();
        cluster.await(() -> linkWith(alpha, "beta") == null, "alpha closes beta's link");
        long alphaMs = (System.nanoTime() - t0) / 1_000_000;
        cluster.await(() -> linkWith(gamma, "beta") == null, "gamma, told by alpha, closes beta's link");
        long gammaMs = (System.nanoTime() - t0) / 1_000_000;
        System.out.println("revocation: alpha closed beta's link " + alphaMs + " ms after its list changed, gamma "
            + gammaMs + " ms after");
        assertThat(alphaMs).isLessThan(1000);
        assertThat(gamma.trustPolicy().revocations().current().number()).isEqualTo(2);
        assertThat(linkWith(gamma, "alpha")).as("the rest stays").isNotNull();
        assertThat(alpha.status().get("ca").get("revoked_keys").asInt()).isEqualTo(1);
    }

    @Test
    void aPinRemovedClosesThatKeysLinks() throws Exception {
        Node alpha = start("alpha");
        NodeKeys keys = NodeKeys.generate("ops");
        alpha.trust().add("ops", keys.fingerprint(), Role.MEMBER, 0);
        TrustPolicy pinsAlpha = TrustPolicy.of(List.of(new PeerIdentity("alpha", alpha.keys().fingerprint(), Role.MEMBER, 0)));
        ShellClient c = ShellClient.connect("127.0.0.1", alpha.address().getPort(), TlsConfig.of(keys, pinsAlpha), T);
        cluster.closing(c);
        cluster.await(() -> linkWith(alpha, "ops") != null, "alpha's side of the link"); // it sends before it lists it
        long t0 = System.nanoTime();
        alpha.trust().remove("ops");
        cluster.await(() -> linkWith(alpha, "ops") == null, "alpha closes the link of a key it no longer trusts");
        System.out.println("pin removed: link closed after " + (System.nanoTime() - t0) / 1_000_000 + " ms");
    }
}
