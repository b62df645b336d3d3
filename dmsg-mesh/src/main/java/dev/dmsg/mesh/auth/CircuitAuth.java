package dev.dmsg.mesh.auth;

import dev.dmsg.link.CircuitSeal;
import dev.dmsg.link.tls.ChainTrust;
import dev.dmsg.link.tls.Crypto;
import dev.dmsg.link.tls.Fingerprints;
import dev.dmsg.link.tls.NodeKeys;
import dev.dmsg.link.tls.PeerIdentity;
import dev.dmsg.wire.CircHello;
import dev.dmsg.wire.Dmsg;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.cert.CertificateException;
import java.util.Arrays;
import java.util.List;

/**
 * The two ends of a circuit authenticate each other in the messages that forge it
 * (docs/IDENTITY.md §4): the originator's signed hello in LNK_CIRC, the endpoint's in its
 * acknowledgement, an X25519 agreement between their ephemeral keys, and the seal keys from it.
 * Thread-safe: no state but the node's keys and trust.
 */
public final class CircuitAuth {
    private static final byte[] INFO = "dmsg-circ-v1".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] ZEROS = new byte[32];

    private final NodeKeys keys;
    private final List<byte[]> ourChain;
    private final byte[] ourId;
    private final ChainTrust trust;

    public CircuitAuth(NodeKeys keys, ChainTrust trust) {
        this.keys = keys;
        this.ourChain = Crypto.der(keys.chain());
        this.ourId = Fingerprints.sha256(keys.publicKey());
        this.trust = trust;
    }

    /** The originator's half, kept until the endpoint answers. */
    public static final class Offer {
        final byte[] ephemeralPrivate;
        final CircHello hello;
        final byte[] expectedId;

        Offer(byte[] ephemeralPrivate, CircHello hello, byte[] expectedId) {
            this.ephemeralPrivate = ephemeralPrivate;
            this.hello = hello;
            this.expectedId = expectedId;
        }

        /** What LNK_CIRC|CREATE carries. */
        public CircHello hello() {
            return hello;
        }
    }

    /** An authenticated circuit: the far end, the mode, and the seal for this end. */
    public record Established(PeerIdentity peer, int mode, CircuitSeal seal) {}

    /** The endpoint's answer: established with this hello to send back, or refused. */
    public sealed interface Answer permits Accept, Refuse {}

    public record Accept(Established circuit, CircHello hello) implements Answer {}

    public record Refuse(int error, String why) implements Answer {}

    /**
     * The originator's hello for a circuit to the node whose key has fingerprint
     * {@code expectedFingerprint} (the signer of the target span; null if unknown).
     */
    public Offer offer(String expectedFingerprint) {
        byte[] expected = expectedFingerprint == null || !Fingerprints.isFingerprint(expectedFingerprint) ? null
            : Fingerprints.bytes(expectedFingerprint);
        byte[] eph = Crypto.x25519PrivateKey();
        CircHello unsigned = new CircHello(CircHello.ORIGINATOR, 0, Crypto.random(32), Crypto.x25519PublicKey(eph),
            expected == null ? ZEROS : expected, ourChain, new byte[0]);
        CircHello hello = unsigned.signed(Crypto.sign(keys.privateKey(), unsigned.signedBytes(null)));
        return new Offer(eph, hello, expected);
    }

    /**
     * The endpoint's answer to {@code o}: always {@link CircHello#SEALED}. An originator forges a
     * circuit to its own neighbour without a hello (docs/IDENTITY.md §4.3), so a hello means a
     * circuit to seal — even when it arrives from a neighbour holding the originator's key (a
     * tool's guest node and the node it joins through may share one identity), which is why the
     * key alone never makes a circuit DIRECT.
     */
    public Answer answer(CircHello o) {
        if (o.side() != CircHello.ORIGINATOR) {
            return new Refuse(Dmsg.ERR_PARAM, "the hello in LNK_CIRC is an endpoint's");
        }
        ChainTrust.Answer who;
        try {
            who = trust.identify(o.chain(), "a circuit hello");
        } catch (CertificateException e) {
            return new Refuse(Dmsg.ERR_PERM, "originator's certificate: " + e.getMessage());
        }
        if (!who.trusted()) {
            return new Refuse(Dmsg.ERR_PERM, "originator '" + who.claimedName() + "' (" + who.fingerprint()
                + ") is not trusted here: " + who.refusal().getMessage());
        }
        if (!Crypto.verify(who.chain()[0].getPublicKey(), o.signedBytes(null), o.sig())) {
            return new Refuse(Dmsg.ERR_PERM, "originator '" + who.identity().name() + "': its hello's signature "
                + "does not match its key " + who.fingerprint());
        }
        if (!Arrays.equals(o.peerId(), ZEROS) && !Arrays.equals(o.peerId(), ourId)) {
            return new Refuse(Dmsg.ERR_PERM, "originator '" + who.identity().name() + "' meant the circuit for "
                + Fingerprints.of(o.peerId()) + ", not this node (" + Fingerprints.of(ourId) + ")");
        }
        int mode = CircHello.SEALED;
        byte[] eph = Crypto.x25519PrivateKey();
        CircHello unsigned = new CircHello(CircHello.ENDPOINT, mode, Crypto.random(32), Crypto.x25519PublicKey(eph),
            Fingerprints.sha256(who.chain()[0].getPublicKey()), ourChain, new byte[0]);
        CircHello e = unsigned.signed(Crypto.sign(keys.privateKey(), unsigned.signedBytes(o)));
        CircuitSeal seal;
        try {
            seal = mode == CircHello.DIRECT ? null : seal(eph, o, e, false);
        } catch (GeneralSecurityException ex) {
            return new Refuse(Dmsg.ERR_PERM, "originator '" + who.identity().name() + "': " + ex.getMessage());
        }
        return new Accept(new Established(who.identity(), mode, seal), e);
    }

    /**
     * The originator's check of the endpoint's answer {@code e}, received over a first hop whose TLS
     * peer has {@code firstHopFingerprint}.
     *
     * @throws GeneralSecurityException naming what does not hold: the circuit must be closed
     */
    public Established finish(Offer offer, CircHello e, String firstHopFingerprint) throws GeneralSecurityException {
        if (e.side() != CircHello.ENDPOINT) {
            throw new GeneralSecurityException("the far end answered with an originator's hello");
        }
        ChainTrust.Answer who;
        try {
            who = trust.identify(e.chain(), "a circuit hello");
        } catch (CertificateException ex) {
            throw new GeneralSecurityException("the far end's certificate: " + ex.getMessage());
        }
        byte[] theirId = Fingerprints.sha256(who.chain()[0].getPublicKey());
        if (offer.expectedId != null && !Arrays.equals(theirId, offer.expectedId)) {
            throw new GeneralSecurityException("the far end presented key " + who.fingerprint() + " ('"
                + who.claimedName() + "'), not the key that signed its span (" + Fingerprints.of(offer.expectedId) + ")");
        }
        if (!who.trusted()) {
            throw new GeneralSecurityException("the far end '" + who.claimedName() + "' (" + who.fingerprint()
                + ") is not trusted here: " + who.refusal().getMessage());
        }
        if (!Crypto.verify(who.chain()[0].getPublicKey(), e.signedBytes(offer.hello), e.sig())) {
            throw new GeneralSecurityException("the far end's hello is not signed by its key " + who.fingerprint()
                + " over ours");
        }
        if (!Arrays.equals(e.peerId(), ourId)) {
            throw new GeneralSecurityException("the far end answered a hello from " + Fingerprints.of(e.peerId()));
        }
        if (e.mode() == CircHello.DIRECT && !who.fingerprint().equals(firstHopFingerprint)) {
            throw new GeneralSecurityException("the far end '" + who.identity().name() + "' claims to be our neighbour, "
                + "but our first hop is " + firstHopFingerprint);
        }
        CircuitSeal seal = e.mode() == CircHello.DIRECT ? null : seal(offer.ephemeralPrivate, offer.hello, e, true);
        return new Established(who.identity(), e.mode(), seal);
    }

    /** Keys from the agreement and both hellos (§4.2); the originator sends with k_OE. */
    private static CircuitSeal seal(byte[] ourEphemeral, CircHello o, CircHello e, boolean originator)
            throws GeneralSecurityException {
        byte[] theirs = originator ? e.ephemeral() : o.ephemeral();
        byte[] secret = Crypto.x25519(ourEphemeral, theirs);
        byte[] salt = concat(o.nonce(), e.nonce());
        byte[] info = concat(INFO, Crypto.sha256(o.toBytes(), e.toBytes()));
        byte[] k = Crypto.hkdf(secret, salt, info, 32);
        byte[] oe = Arrays.copyOfRange(k, 0, 16);
        byte[] eo = Arrays.copyOfRange(k, 16, 32);
        return originator ? new CircuitSeal(oe, eo) : new CircuitSeal(eo, oe);
    }

    /**
     * Who an originator's hello is from, for a relay's budget (docs/IDENTITY.md §6): its key's
     * fingerprint if this node trusts it and its signature holds, else {@code null} (the relay
     * counts it in the shared bucket of the link it came from).
     */
    public String originator(CircHello o) {
        try {
            ChainTrust.Answer who = trust.identify(o.chain(), "a circuit hello");
            if (who.trusted() && Crypto.verify(who.chain()[0].getPublicKey(), o.signedBytes(null), o.sig())) {
                return who.fingerprint();
            }
        } catch (CertificateException e) {
            // not identifiable: the shared bucket
        }
        return null;
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
