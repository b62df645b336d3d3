package dev.dmsg.link.tls;

import java.security.cert.X509Certificate;
import java.util.Objects;

/**
 * A node's trust in the order of docs/IDENTITY.md §1: pinned keys (the node's own among them, as
 * {@code NodeTrust} gives them), then the cluster CA, then — on a node that issues — join-request
 * certificates, let through for the join exchange only. A pin wins: a name pinned to one key
 * refuses a CA certificate for that name with another. Thread-safe if its parts are.
 */
public final class ClusterTrust implements TrustPolicy {
    private final TrustPolicy pins;
    private final CaTrust ca;
    private final JoinResponder joins;

    /**
     * @param pins pinned keys (byFingerprint, byName)
     * @param ca the cluster CA, or {@code null}: pins only
     * @param joins who answers join requests, or {@code null}: join-request certificates are refused
     */
    public ClusterTrust(TrustPolicy pins, CaTrust ca, JoinResponder joins) {
        this.pins = Objects.requireNonNull(pins, "pins");
        this.ca = ca;
        this.joins = joins;
    }

    public CaTrust ca() {
        return ca;
    }

    @Override
    public JoinResponder joinResponder() {
        return joins;
    }

    @Override
    public PeerIdentity byFingerprint(String fingerprint) {
        return pins.byFingerprint(fingerprint);
    }

    @Override
    public PeerIdentity byName(String name) {
        return pins.byName(name);
    }

    @Override
    public PeerIdentity identify(X509Certificate[] chain, String presentedBy) throws Refusal {
        X509Certificate leaf = chain == null || chain.length == 0 ? null : chain[0];
        if (leaf == null) {
            throw new Refusal("refused: no certificate presented by " + presentedBy);
        }
        String fp = Fingerprints.of(leaf.getPublicKey());
        String name = NodeKeys.commonNameOrEmpty(leaf);
        String cn = PinnedTrustManager.printable(name);
        // 1, 2: own key and pins, as the pinned rules have them
        PeerIdentity known = pins.byFingerprint(fp);
        if (known != null) {
            return pins.identify(chain, presentedBy);
        }
        PeerIdentity sameName = pins.byName(name);
        if (sameName != null) {
            throw new Refusal("refused: '" + cn + "' presented key " + fp + ", but '" + cn + "' is trusted with "
                + sameName.fingerprint() + " (presented by " + presentedBy + ")"
                + (ca != null && !CertProfile.isJoinRequest(leaf) ? "; a pin conflicts with the CA, and wins" : ""));
        }
        boolean joinRequest = CertProfile.isJoinRequest(leaf) && chain.length == 1;
        // 3: the cluster CA, for anything that is not a lone self-signed certificate
        boolean pinnedStyle = chain.length == 1 && isSelfSigned(leaf)
            && leaf.getExtensionValue(CertProfile.DMSG_IDENTITY.getId()) == null;
        if (ca != null && !joinRequest && !pinnedStyle) {
            return ca.identify(chain, presentedBy);
        }
        // a joiner: through TLS for the join exchange only, never a link
        if (joinRequest) {
            if (joins != null && isSelfSigned(leaf)) {
                return new PeerIdentity(name.isEmpty() ? "?" : name, fp, Role.NONE, 0);
            }
            throw new Refusal("refused: join request from '" + cn + "' (key " + fp + ", presented by " + presentedBy
                + "), but this node does not issue certificates: join through a node with an issuer ('dmsg ca issuer')");
        }
        throw Refusal.unknown("refused: unknown key " + fp + " presented by " + presentedBy + " (CN '" + cn
            + "'); trust it with 'dmsg trust add NAME " + fp + "'"
            + (ca == null ? "" : ", or have the cluster CA '" + ca.name() + "' sign it ('dmsg ca sign')"));
    }

    private static boolean isSelfSigned(X509Certificate c) {
        return c.getIssuerX500Principal().equals(c.getSubjectX500Principal()) && CaTrust.signedBy(c, c);
    }
}
