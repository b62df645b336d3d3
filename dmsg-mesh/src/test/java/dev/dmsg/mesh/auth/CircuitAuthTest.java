package dev.dmsg.mesh.auth;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.dmsg.link.CircuitSeal;
import dev.dmsg.link.tls.ChainTrust;
import dev.dmsg.link.tls.Crypto;
import dev.dmsg.link.tls.NodeKeys;
import dev.dmsg.link.tls.PeerIdentity;
import dev.dmsg.link.tls.Role;
import dev.dmsg.link.tls.TrustPolicy;
import dev.dmsg.wire.CircHello;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.Message;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The circuit handshake (docs/IDENTITY.md §4.1–§4.3): alpha opens, gamma answers; each checks the
 * other, they agree on seals that open each other's messages, and every way the answer can be
 * wrong — another key, an untrusted one, a forged signature, a false claim to be a neighbour — is
 * refused with its reason.
 */
class CircuitAuthTest {
    static final NodeKeys ALPHA = NodeKeys.generate("alpha");
    static final NodeKeys GAMMA = NodeKeys.generate("gamma");
    static final NodeKeys MALLORY = NodeKeys.generate("mallory");

    static CircuitAuth at(NodeKeys self, NodeKeys... trusted) {
        List<PeerIdentity> pins = new ArrayList<>();
        for (NodeKeys k : trusted) {
            pins.add(new PeerIdentity(k.label(), k.fingerprint(), k == ALPHA ? Role.ADMIN : Role.MEMBER, 0));
        }
        return new CircuitAuth(self, new ChainTrust(TrustPolicy.of(pins), System::nanoTime));
    }

    final CircuitAuth alpha = at(ALPHA, GAMMA, MALLORY);
    final CircuitAuth gamma = at(GAMMA, ALPHA);

    @Test
    void bothEndsAuthenticateAndTheirSealsOpenEachOthersMessages() throws Exception {
        CircuitAuth.Offer offer = alpha.offer(GAMMA.fingerprint());
        CircuitAuth.Answer a = gamma.answer(CircHello.parse(offer.hello().encode()));
        assertThat(a).isInstanceOf(CircuitAuth.Accept.class);
        CircuitAuth.Accept acc = (CircuitAuth.Accept) a;
        assertThat(acc.circuit().peer().name()).isEqualTo("alpha");
        assertThat(acc.circuit().peer().role()).as("gamma's own view of alpha's key").isEqualTo(Role.ADMIN);
        assertThat(acc.circuit().mode()).isEqualTo(CircHello.SEALED);
        CircuitAuth.Established mine = alpha.finish(offer, CircHello.parse(acc.hello().encode()), "SHA256:" + "B".repeat(43));
        assertThat(mine.peer().name()).isEqualTo("gamma");
        CircuitSeal aSeal = mine.seal();
        CircuitSeal gSeal = acc.circuit().seal();
        Message m = aSeal.seal(Message.of(Dmsg.DBG_SHELL | Dmsg.CREATE | Dmsg.DELETE, 7, 1, 0, null,
            Unpooled.copiedBuffer("tree\0", StandardCharsets.UTF_8)));
        Message opened = gSeal.open(m);
        assertThat(opened.auxString()).isEqualTo("tree");
        opened.release();
        m.release();
        Message back = gSeal.seal(Message.of(Dmsg.LNK_ERROR | Dmsg.DELETE | Dmsg.REPLY, 7, 1, 0));
        assertThat(aSeal.open(back).cmd()).isEqualTo(Dmsg.LNK_ERROR | Dmsg.DELETE | Dmsg.REPLY);
    }

    @Test
    void aHelloIsAlwaysSealedAndOnlyANeighbourMayAnswerDirect() throws Exception {
        // a hello always means a circuit to seal: a neighbour's own circuit is forged without one
        // (docs/IDENTITY.md §4.3), and a tool's guest node may share its key with the node it
        // joins through, so the key alone must never make a circuit DIRECT
        CircuitAuth.Offer offer = alpha.offer(GAMMA.fingerprint());
        CircuitAuth.Accept acc = (CircuitAuth.Accept) gamma.answer(offer.hello());
        assertThat(acc.circuit().mode()).isEqualTo(CircHello.SEALED);
        assertThat(acc.circuit().seal()).isNotNull();
        // gamma (or an altered answer) claiming DIRECT while it is not our first hop is refused
        CircHello e = acc.hello();
        CircHello unsigned = new CircHello(CircHello.ENDPOINT, CircHello.DIRECT, e.nonce(), e.ephemeral(), e.peerId(),
            e.chain(), new byte[0]);
        CircHello direct = unsigned.signed(Crypto.sign(GAMMA.privateKey(), unsigned.signedBytes(offer.hello())));
        assertThat(alpha.finish(offer, direct, GAMMA.fingerprint()).seal()).as("gamma is our first hop").isNull();
        assertThatThrownBy(() -> alpha.finish(offer, direct, MALLORY.fingerprint()))
            .isInstanceOf(GeneralSecurityException.class)
            .hasMessageContaining("claims to be our neighbour, but our first hop is " + MALLORY.fingerprint());
    }

    @Test
    void aFarEndWithTheWrongKeyIsRefused() throws Exception {
        // mallory, a relay on the path, answers the circuit to gamma itself
        CircuitAuth.Offer offer = alpha.offer(GAMMA.fingerprint());
        CircuitAuth mallory = at(MALLORY, ALPHA);
        CircuitAuth.Answer a = mallory.answer(offer.hello());
        assertThat(a).as("mallory refuses a hello meant for gamma").isInstanceOfSatisfying(CircuitAuth.Refuse.class,
            r -> assertThat(r.why()).contains("meant the circuit for " + GAMMA.fingerprint() + ", not this node"));
        // so it forges one as if the hello were meant for it: alpha checks the key against gamma's span
        CircuitAuth.Offer blind = alpha.offer(null);
        CircuitAuth.Accept forged = (CircuitAuth.Accept) mallory.answer(blind.hello());
        CircuitAuth.Offer meantForGamma = alpha.offer(GAMMA.fingerprint());
        assertThatThrownBy(() -> alpha.finish(meantForGamma, forged.hello(), "SHA256:" + "C".repeat(43)))
            .isInstanceOf(GeneralSecurityException.class)
            .hasMessageContaining("the far end presented key " + MALLORY.fingerprint() + " ('mallory'), not the key "
                + "that signed its span (" + GAMMA.fingerprint() + ")");
    }

    @Test
    void anUntrustedOriginatorOrAForgedSignatureIsRefused() throws Exception {
        CircuitAuth stranger = at(NodeKeys.generate("stranger"), GAMMA);
        assertThat(gamma.answer(stranger.offer(GAMMA.fingerprint()).hello()))
            .isInstanceOfSatisfying(CircuitAuth.Refuse.class, r -> {
                assertThat(r.error()).isEqualTo(Dmsg.ERR_PERM);
                assertThat(r.why()).contains("originator 'stranger'").contains("is not trusted here");
            });
        CircHello h = alpha.offer(GAMMA.fingerprint()).hello();
        byte[] sig = h.sig().clone();
        sig[sig.length - 1] ^= 1;
        assertThat(gamma.answer(h.signed(sig))).isInstanceOfSatisfying(CircuitAuth.Refuse.class,
            r -> assertThat(r.why()).contains("its hello's signature does not match its key"));
        // the endpoint's answer altered by a relay
        CircuitAuth.Offer offer = alpha.offer(GAMMA.fingerprint());
        CircuitAuth.Accept acc = (CircuitAuth.Accept) gamma.answer(offer.hello());
        CircHello e = acc.hello();
        CircHello swapped = new CircHello(e.side(), CircHello.DIRECT, e.nonce(), e.ephemeral(), e.peerId(), e.chain(), e.sig());
        assertThatThrownBy(() -> alpha.finish(offer, swapped, GAMMA.fingerprint()))
            .isInstanceOf(GeneralSecurityException.class).hasMessageContaining("is not signed by its key");
    }
}
