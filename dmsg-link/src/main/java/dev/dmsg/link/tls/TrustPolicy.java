package dev.dmsg.link.tls;

import java.security.cert.X509Certificate;
import java.util.Collection;
import java.util.HashMap;
import java.util.Map;

/**
 * Which peers we trust, by pinned public key (docs/SECURITY.md §2). Implementations must be safe
 * to call from any thread (the TLS handshake runs on event loops).
 */
public interface TrustPolicy {
    /** The peer trusted with the key of this fingerprint, or {@code null}. */
    PeerIdentity byFingerprint(String fingerprint);

    /** The peer trusted under this name, or {@code null}. */
    PeerIdentity byName(String name);

    /**
     * Who presented {@code chain} (leaf first), and what they may do here (docs/IDENTITY.md §1).
     * This default knows pinned keys only: the leaf's key must be trusted and its CN be the name
     * that key is trusted as. A node's policy adds its own key and a cluster CA.
     *
     * @param presentedBy where the chain came from, for the message: an address, or "the span
     *     proof from beta"
     * @throws Refusal naming the rule that failed, the fingerprints, and the fix
     */
    default PeerIdentity identify(X509Certificate[] chain, String presentedBy) throws Refusal {
        X509Certificate cert = chain == null || chain.length == 0 ? null : chain[0];
        if (cert == null) {
            throw new Refusal("refused: no certificate presented by " + presentedBy);
        }
        String fp = Fingerprints.of(cert.getPublicKey());
        String name = NodeKeys.commonNameOrEmpty(cert);
        String cn = PinnedTrustManager.printable(name);
        PeerIdentity known = byFingerprint(fp);
        if (known != null) {
            if (!known.name().equals(name)) {
                throw new Refusal("refused: key " + fp + " is trusted as '" + known.name()
                    + "', but the certificate presented by " + presentedBy + " names '" + cn
                    + "' (CN); a trusted key must carry the name it is trusted as");
            }
            return known;
        }
        PeerIdentity sameName = byName(name);
        if (sameName != null) {
            throw new Refusal("refused: '" + cn + "' presented key " + fp + ", but '" + cn + "' is trusted with "
                + sameName.fingerprint() + " (presented by " + presentedBy + ")");
        }
        throw Refusal.unknown("refused: unknown key " + fp + " presented by " + presentedBy + " (CN '" + cn
            + "'); trust it with 'dmsg trust add NAME " + fp + "'");
    }

    /**
     * Who answers join requests here (docs/IDENTITY.md §2.6), or {@code null} (the default): a
     * node without an issuer. {@link #identify} lets a join-request certificate through TLS only
     * where this is not {@code null}, as a peer of {@link Role#NONE}, which never gets a link.
     */
    default JoinResponder joinResponder() {
        return null;
    }

    /** A fixed set of peers (tests, and a node's in-memory view of its trust store). */
    static TrustPolicy of(Collection<PeerIdentity> peers) {
        Map<String, PeerIdentity> byFp = new HashMap<>();
        Map<String, PeerIdentity> byName = new HashMap<>();
        for (PeerIdentity p : peers) {
            if (byFp.put(p.fingerprint(), p) != null || byName.put(p.name(), p) != null) {
                throw new IllegalArgumentException("a key or a name is trusted twice: " + p);
            }
        }
        return new TrustPolicy() {
            @Override
            public PeerIdentity byFingerprint(String fingerprint) {
                return byFp.get(fingerprint);
            }

            @Override
            public PeerIdentity byName(String name) {
                return byName.get(name);
            }
        };
    }
}
