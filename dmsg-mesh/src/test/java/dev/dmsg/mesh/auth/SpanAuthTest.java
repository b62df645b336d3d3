package dev.dmsg.mesh.auth;

import static org.assertj.core.api.Assertions.assertThat;

import dev.dmsg.link.tls.ChainTrust;
import dev.dmsg.link.tls.NodeKeys;
import dev.dmsg.link.tls.PeerIdentity;
import dev.dmsg.link.tls.Role;
import dev.dmsg.link.tls.TrustPolicy;
import dev.dmsg.testkit.FakeClock;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.LnkSpan;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Signed spans (docs/IDENTITY.md §3): who may advertise what, and what a receiver makes of each
 * proof — verified, unverified, legacy, or refused naming the rule.
 */
class SpanAuthTest {
    static final NodeKeys GAMMA = NodeKeys.generate("gamma");
    static final NodeKeys MALLORY = NodeKeys.generate("mallory");
    static final NodeKeys BETA = NodeKeys.generate("beta");
    static final NodeKeys STRANGER = NodeKeys.generate("stranger");
    static final UUID NIL = new UUID(0, 0);

    final FakeClock clock = new FakeClock();
    final List<PeerIdentity> pins = new ArrayList<>(List.of(
        new PeerIdentity("gamma", GAMMA.fingerprint(), Role.MEMBER, 0),
        new PeerIdentity("mallory", MALLORY.fingerprint(), Role.MEMBER, 0),
        new PeerIdentity("beta", BETA.fingerprint(), Role.MEMBER, 0)));

    /** What alpha (pinning gamma, mallory and beta) makes of spans. */
    SpanAuth alpha() {
        NodeKeys alpha = NodeKeys.generate("alpha");
        return new SpanAuth(alpha, new ChainTrust(TrustPolicy.of(pins), clock), () -> 1_000L);
    }

    static SpanAuth signer(NodeKeys k) {
        return new SpanAuth(k, new ChainTrust(TrustPolicy.of(List.of()), System::nanoTime), () -> 42L);
    }

    static LnkSpan node(String label) {
        return new LnkSpan(NIL, UUID.nameUUIDFromBytes(label.getBytes()), Dmsg.PFSTYPE_NONE, Dmsg.PEER_CLUSTER, 1, 0,
            0xD5L | 1L << 16 | 0x77L << 32, 0, 0, 0, 0, "", label);
    }

    static LnkSpan export(String clLabel, String serial) {
        return new LnkSpan(NIL, NIL, Dmsg.PFSTYPE_SERVER, Dmsg.PEER_BLOCK, 1, 0, 0, 0, 0, 1 << 24, 4096, clLabel, serial);
    }

    static final SpanAuth.From FROM_BETA = new SpanAuth.From("beta", false);

    @Test
    void aNodeSignsItselfAndItsExportsAndEveryoneWhoTrustsItVerifiesThem() {
        SpanAuth alpha = alpha();
        SpanAuth g = signer(GAMMA);
        LnkSpan self = node("gamma");
        LnkSpan disk = export("gamma/disk0", "serial-1");
        for (LnkSpan s : List.of(self, disk)) {
            var v = alpha.check(FROM_BETA, s.relayed(0x1234).relayed(7), g.sign(s)); // two relays later
            assertThat(v).isInstanceOfSatisfying(SpanAuth.Accepted.class, a -> {
                assertThat(a.trust().kind()).isEqualTo(SpanTrust.Kind.VERIFIED);
                assertThat(a.trust().signer()).isEqualTo("gamma");
                assertThat(a.trust().signerId()).isEqualTo(GAMMA.fingerprint());
                assertThat(a.budgetKey()).isEqualTo(GAMMA.fingerprint());
            });
        }
        assertThat(alpha.check(FROM_BETA, node("gamma.blk.4242"), g.sign(node("gamma.blk.4242"))))
            .as("a tool's guest node runs with its operator's identity").isInstanceOf(SpanAuth.Accepted.class);
    }

    @Test
    void aMemberCannotAdvertiseAnotherNodeOrItsExport() {
        SpanAuth alpha = alpha();
        SpanAuth m = signer(MALLORY);
        assertRefused(alpha.check(FROM_BETA, node("gamma"), m.sign(node("gamma"))),
            "span names 'gamma' but is signed by 'mallory'");
        assertRefused(alpha.check(FROM_BETA, export("gamma/disk0", "serial-1"), m.sign(export("gamma/disk0", "serial-1"))),
            "span names 'gamma' but is signed by 'mallory'");
        assertRefused(alpha.check(FROM_BETA, node("gammax"), m.sign(node("gammax"))), "signed by 'mallory'");
        // a key of its own whose certificate claims 'gamma': gamma is pinned here with another key
        SpanAuth fake = signer(NodeKeys.generate("gamma"));
        assertRefused(alpha.check(FROM_BETA, node("gamma"), fake.sign(node("gamma"))),
            "span for 'gamma': refused: 'gamma' presented key");
    }

    @Test
    void whatARelayMayNotChangeBreaksTheSignature() {
        SpanAuth alpha = alpha();
        byte[] proof = signer(GAMMA).sign(export("gamma/disk0", "serial-1"));
        assertRefused(alpha.check(FROM_BETA, export("gamma/disk0", "serial-2"), proof),
            "the signature of " + GAMMA.fingerprint() + " ('gamma') does not match the span");
        LnkSpan bigger = new LnkSpan(NIL, NIL, Dmsg.PFSTYPE_SERVER, Dmsg.PEER_BLOCK, 1, 0, 0, 0, 0, 1 << 30, 4096,
            "gamma/disk0", "serial-1");
        assertRefused(alpha.check(FROM_BETA, bigger, proof), "does not match the span");
        byte[] cut = Arrays.copyOf(proof, proof.length - 3);
        assertRefused(alpha.check(FROM_BETA, export("gamma/disk0", "serial-1"), cut), "span proof: sig_bytes");
    }

    @Test
    void unsignedOnlyFromALegacyPeerAndAVouchNeverNamesATrustedNode() {
        SpanAuth alpha = alpha();
        assertRefused(alpha.check(FROM_BETA, node("c-node"), null), "an unsigned span for 'c-node'");
        var legacy = alpha.check(new SpanAuth.From("legacy@10.0.0.9", true), node("c-node"), null);
        assertThat(legacy).isInstanceOfSatisfying(SpanAuth.Accepted.class, a -> {
            assertThat(a.trust().kind()).isEqualTo(SpanTrust.Kind.LEGACY);
            assertThat(a.budgetKey()).isEqualTo("legacy@legacy@10.0.0.9");
        });
        SpanAuth b = signer(BETA);
        assertThat(alpha.check(FROM_BETA, node("c-node"), b.vouch(node("c-node"))))
            .isInstanceOfSatisfying(SpanAuth.Accepted.class, a -> {
                assertThat(a.trust().kind()).isEqualTo(SpanTrust.Kind.LEGACY);
                assertThat(a.trust().signer()).isEqualTo("via beta");
                assertThat(a.budgetKey()).as("counted against the voucher").isEqualTo(BETA.fingerprint());
            });
        assertRefused(alpha.check(FROM_BETA, node("gamma"), b.vouch(node("gamma"))),
            "legacy span vouched for by 'beta' names 'gamma', a node trusted here with");
        assertRefused(alpha.check(FROM_BETA, node("c-node"), signer(STRANGER).vouch(node("c-node"))),
            "vouched for by a key not trusted here");
    }

    @Test
    void aKeyNotPinnedHereIsUnverifiedSharesItsLinksBucketAndCannotClaimAPinnedName() {
        SpanAuth alpha = alpha();
        SpanAuth s = signer(STRANGER);
        assertThat(alpha.check(FROM_BETA, node("stranger"), s.sign(node("stranger"))))
            .isInstanceOfSatisfying(SpanAuth.Accepted.class, a -> {
                assertThat(a.trust().kind()).isEqualTo(SpanTrust.Kind.UNVERIFIED);
                assertThat(a.budgetKey()).isEqualTo("unverified@beta");
            });
        SpanAuth fakeGamma = signer(NodeKeys.generate("gamma"));
        assertRefused(alpha.check(FROM_BETA, node("gamma"), fakeGamma.sign(node("gamma"))), "'gamma'");
        assertRefused(alpha.check(FROM_BETA, node("other"), signer(NodeKeys.generate("stranger")).sign(node("other"))),
            "span names 'other' but is signed by 'stranger'");
    }

    @Test
    void theSameProofOverManyPathsIsCheckedOnce() {
        SpanAuth alpha = alpha();
        byte[] proof = signer(GAMMA).sign(node("gamma"));
        for (int i = 0; i < 10; i++) {
            assertThat(alpha.check(FROM_BETA, node("gamma").relayed(i), proof)).isInstanceOf(SpanAuth.Accepted.class);
        }
        assertThat(alpha.verifications()).isEqualTo(1);
    }

    static void assertRefused(SpanAuth.Verdict v, String why) {
        assertThat(v).isInstanceOfSatisfying(SpanAuth.Refused.class, r -> {
            assertThat(r.why()).contains(why);
            assertThat(r.error()).isIn(Dmsg.ERR_PERM, Dmsg.ERR_PARAM);
        });
    }
}
