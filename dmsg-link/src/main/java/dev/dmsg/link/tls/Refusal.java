package dev.dmsg.link.tls;

import java.security.cert.CertificateException;

/**
 * A certificate chain this node does not trust, as {@link TrustPolicy#identify} refuses it: the
 * message is the one line both logs and the peer's operator need (which rule failed, the
 * fingerprints, and what to run). A {@link CertificateException} so that the TLS stack turns it
 * into a certificate alert.
 */
public final class Refusal extends CertificateException {
    private static final long serialVersionUID = 1L;
    private final boolean unknown;

    /** A chain this node rejects: a key pinned to another name, a revoked or expired certificate … */
    public Refusal(String message) {
        this(message, false);
    }

    private Refusal(String message, boolean unknown) {
        super(message);
        this.unknown = unknown;
    }

    /**
     * A chain this node has no opinion of: its key is not pinned here and no CA this node trusts
     * issued it. The mesh treats what such a key signs as unverified rather than false
     * (docs/IDENTITY.md §3.3); a link refuses it all the same.
     */
    public static Refusal unknown(String message) {
        return new Refusal(message, true);
    }

    /** Whether the chain is only unknown here (see {@link #unknown(String)}), not rejected. */
    public boolean isUnknown() {
        return unknown;
    }
}
