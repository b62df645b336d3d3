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

    public Refusal(String message) {
        super(message);
    }
}
