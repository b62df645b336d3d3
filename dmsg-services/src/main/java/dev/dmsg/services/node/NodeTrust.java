package dev.dmsg.services.node;

import dev.dmsg.link.tls.NodeKeys;
import dev.dmsg.link.tls.PeerIdentity;
import dev.dmsg.link.tls.Role;
import dev.dmsg.link.tls.TrustPolicy;
import dev.dmsg.link.tls.TrustStore;

/**
 * A node's trust: its trust store, plus its own key as an admin — whoever holds the node's
 * private key (owner-only, in its data directory) is the node, so {@code dmsg shell --identity
 * DATA_DIR} run by the node's owner needs no trust entry (docs/SECURITY.md §2). Thread-safe, as
 * the store is.
 */
public final class NodeTrust implements TrustPolicy {
    private final PeerIdentity self;
    private final TrustStore store;

    public NodeTrust(NodeKeys keys, TrustStore store) {
        this.self = new PeerIdentity(keys.label(), keys.fingerprint(), Role.ADMIN, 0);
        this.store = store;
    }

    @Override
    public PeerIdentity byFingerprint(String fingerprint) {
        return self.fingerprint().equals(fingerprint) ? self : store.byFingerprint(fingerprint);
    }

    @Override
    public PeerIdentity byName(String name) {
        PeerIdentity p = store.byName(name);
        return p != null ? p : self.name().equals(name) ? self : null;
    }
}
