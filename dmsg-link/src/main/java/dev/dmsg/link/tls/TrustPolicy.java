package dev.dmsg.link.tls;

/**
 * Which peers we trust, by pinned public key (docs/SECURITY.md §2). Implementations must be safe
 * to call from any thread (the TLS handshake runs on event loops).
 */
public interface TrustPolicy {
    /** The peer trusted with the key of this fingerprint, or {@code null}. */
    PeerIdentity byFingerprint(String fingerprint);

    /** The peer trusted under this name, or {@code null}. */
    PeerIdentity byName(String name);

    /** A fixed set of peers (tests, and a node's in-memory view of its trust store). */
    static TrustPolicy of(java.util.Collection<PeerIdentity> peers) {
        java.util.Map<String, PeerIdentity> byFp = new java.util.HashMap<>();
        java.util.Map<String, PeerIdentity> byName = new java.util.HashMap<>();
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
