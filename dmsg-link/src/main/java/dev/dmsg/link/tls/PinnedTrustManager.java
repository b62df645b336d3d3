package dev.dmsg.link.tls;

import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketAddress;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.X509ExtendedTrustManager;

/**
 * Checks a TLS peer's certificate against the pinned keys of a {@link TrustPolicy}
 * (docs/SECURITY.md §3): accepted iff {@code Fingerprints.of(cert.getPublicKey())} is trusted and
 * the certificate's CN is the name that key is trusted as. No CA, no chain, no validity dates, no
 * hostname: the pinned key is the identity, and TLS's CertificateVerify proves the peer holds it.
 * Only the first certificate of the chain is looked at. The same checks serve both directions
 * (our server checking a client, our client checking a server).
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
        this.trust = java.util.Objects.requireNonNull(trust, "trust");
    }

    /** A certificate we refuse; the message is the one line both logs and the peer's operator need. */
    public static final class Refusal extends CertificateException {
        private static final long serialVersionUID = 1L;

        Refusal(String message) {
            super(message);
        }
    }

    /**
     * Who presented {@code cert}, from the trust policy.
     *
     * @param presentedBy the peer's address, for the message
     * @throws Refusal naming the rule that failed, the fingerprints, and the fix
     */
    public PeerIdentity identify(X509Certificate cert, String presentedBy) throws Refusal {
        if (cert == null) {
            throw new Refusal("refused: no certificate presented by " + presentedBy);
        }
        String fp = Fingerprints.of(cert.getPublicKey());
        String cn = printable(commonName(cert));
        PeerIdentity known = trust.byFingerprint(fp);
        if (known != null) {
            if (!known.name().equals(commonName(cert))) {
                throw new Refusal("refused: key " + fp + " is trusted as '" + known.name()
                    + "', but the certificate presented by " + presentedBy + " names '" + cn
                    + "' (CN); a trusted key must carry the name it is trusted as");
            }
            return known;
        }
        PeerIdentity sameName = trust.byName(commonName(cert));
        if (sameName != null) {
            throw new Refusal("refused: '" + cn + "' presented key " + fp + ", but '" + cn + "' is trusted with "
                + sameName.fingerprint() + " (presented by " + presentedBy + ")");
        }
        throw new Refusal("refused: unknown key " + fp + " presented by " + presentedBy + " (CN '" + cn
            + "'); trust it with 'dmsg trust add NAME " + fp + "'");
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine) throws CertificateException {
        identify(first(chain), address(engine));
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine) throws CertificateException {
        identify(first(chain), address(engine));
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket) throws CertificateException {
        identify(first(chain), address(socket == null ? null : socket.getRemoteSocketAddress()));
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket) throws CertificateException {
        identify(first(chain), address(socket == null ? null : socket.getRemoteSocketAddress()));
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
        identify(first(chain), "an unknown address");
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
        identify(first(chain), "an unknown address");
    }

    /** None: no CA is trusted, so the server names none in its CertificateRequest. */
    @Override
    public X509Certificate[] getAcceptedIssuers() {
        return new X509Certificate[0];
    }

    private static X509Certificate first(X509Certificate[] chain) {
        return chain == null || chain.length == 0 ? null : chain[0];
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

    private static String commonName(X509Certificate c) {
        try {
            return NodeKeys.commonName(c);
        } catch (RuntimeException e) {
            return "";
        }
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
