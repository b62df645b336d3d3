package dev.dmsg.link;

import dev.dmsg.link.tls.Fingerprints;
import dev.dmsg.link.tls.PeerIdentity;
import dev.dmsg.wire.AuthBody;
import dev.dmsg.wire.LnkAuth;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * LNK_AUTH (docs/SECURITY.md §4): what we send after the TLS handshake, and the checks on what
 * the peer sends. The TLS handshake already proved the peer holds a key we pin; AUTH binds that
 * key to the label the peer uses on the link and tells it what we grant it. Pure functions.
 */
final class Auth {
    private Auth() {}

    /** Capabilities every node of ours uses. */
    static final int OUR_CAPS = AuthBody.CAP_PING | AuthBody.CAP_SPAN_EXT | AuthBody.CAP_CIRCUITS;

    /** Our LNK_AUTH to {@code peer}: our key's hash and label, and the role our trust store gives it. */
    static LnkAuth ours(byte[] ourKeySha256, String ourLabel, PeerIdentity peer) {
        return new AuthBody(AuthBody.VERSION, peer.role().code, peer.grants(), OUR_CAPS, ourKeySha256,
            truncate(ourLabel)).toLnkAuth();
    }

    /**
     * Why {@code theirs} is not acceptable from {@code peer} (the identity the TLS handshake
     * established), or {@code null} when it is.
     */
    static String refusal(LnkAuth theirs, PeerIdentity peer) {
        AuthBody b;
        try {
            b = AuthBody.parse(theirs);
        } catch (IllegalArgumentException e) {
            return e.getMessage();
        }
        byte[] tlsKey = Fingerprints.bytes(peer.fingerprint());
        if (!Arrays.equals(b.keySha256(), tlsKey)) {
            return "LNK_AUTH names key " + Fingerprints.of(b.keySha256()) + ", but the TLS handshake was made with "
                + peer.fingerprint();
        }
        if (!b.label().equals(truncate(peer.name()))) {
            return "LNK_AUTH label '" + b.label() + "' is not the name its key is trusted as ('" + peer.name() + "')";
        }
        return null;
    }

    /** Labels longer than the field (23 bytes of UTF-8) are cut, the same way on both sides. */
    static String truncate(String label) {
        byte[] b = label.getBytes(StandardCharsets.UTF_8);
        if (b.length <= AuthBody.LABEL_BYTES - 1) {
            return label;
        }
        String s = label;
        while (s.getBytes(StandardCharsets.UTF_8).length > AuthBody.LABEL_BYTES - 1) {
            s = s.substring(0, s.length() - 1);
        }
        return s;
    }
}
