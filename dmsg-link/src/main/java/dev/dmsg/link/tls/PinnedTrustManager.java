package dev.dmsg.link.tls;

import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketAddress;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.util.Objects;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.X509ExtendedTrustManager;

/**
 * Checks a TLS peer's certificate chain with {@link TrustPolicy#identify} (docs/SECURITY.md §3,
 * docs/IDENTITY.md §1): by default the pinned keys — accepted iff the leaf's key is trusted and
 * its CN is the name that key is trusted as; no hostname check: the key is the identity, and
 * TLS's CertificateVerify proves the peer holds it. The same checks serve both directions (our
 * server checking a client, our client checking a server), and the mesh's span proofs and
 * circuit hellos.
 *
 * <p>Hand-written rather than Netty's {@code FingerprintTrustManagerFactory} because that one
 * pins hashes of the <em>whole certificate</em>, while we pin the SubjectPublicKeyInfo (a
 * certificate re-issued for the same key keeps its fingerprint, docs/SECURITY.md §1); and because
 * we need the name/role lookup and a refusal that says which rule failed and what to do, not
 * "fingerprint not found".
 *
 * <p>Thread-safe (no state beyond the policy, which must be thread-safe); called on event loops
 * during handshakes.
 */
public final class PinnedTrustManager extends X509ExtendedTrustManager {
    private final TrustPolicy trust;

    public PinnedTrustManager(TrustPolicy trust) {
        this.trust = Objects.requireNonNull(trust, "trust");
    }

    /**
     * Who presented {@code chain} (leaf first), from the trust policy ({@link TrustPolicy#identify}).
     *
     * @param presentedBy the peer's address, for the message
     * @throws Refusal naming the rule that failed, the fingerprints, and the fix
     */
    public PeerIdentity identify(X509Certificate[] chain, String presentedBy) throws Refusal {
        return trust.identify(chain, presentedBy);
    }

    /** {@link #identify(X509Certificate[], String)} of a chain of one. */
    public PeerIdentity identify(X509Certificate cert, String presentedBy) throws Refusal {
        return identify(cert == null ? null : new X509Certificate[] {cert}, presentedBy);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine) throws CertificateException {
        identify(chain, address(engine));
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine) throws CertificateException {
        identify(chain, address(engine));
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket) throws CertificateException {
        identify(chain, address(socket == null ? null : socket.getRemoteSocketAddress()));
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket) throws CertificateException {
        identify(chain, address(socket == null ? null : socket.getRemoteSocketAddress()));
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
        identify(chain, "an unknown address");
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
        identify(chain, "an unknown address");
    }

    /** None: no CA is trusted, so the server names none in its CertificateRequest. */
    @Override
    public X509Certificate[] getAcceptedIssuers() {
        return new X509Certificate[0];
    }

    private static String address(SSLEngine engine) {
        if (engine == null || engine.getPeerHost() == null) {
            return "an unknown address";
        }
        return engine.getPeerHost() + ":" + engine.getPeerPort();
    }

    private static String address(SocketAddress a) {
        if (a instanceof InetSocketAddress i) {
            return i.getAddress().getHostAddress() + ":" + i.getPort();
        }
        return a == null ? "an unknown address" : a.toString();
    }

    /** The CN as it may appear in a log line: the peer chose it, so no control characters and at most 64. */
    static String printable(String s) {
        StringBuilder b = new StringBuilder();
        s.codePoints().limit(64).forEach(cp -> {
            if (Character.isISOControl(cp)) {
                b.append(String.format("\\x%02x", cp));
            } else {
                b.appendCodePoint(cp);
            }
        });
        if (s.codePointCount(0, s.length()) > 64) {
            b.append("…");
        }
        return b.toString();
    }
}
