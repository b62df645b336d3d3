package dev.dmsg.link.tls;

import dev.dmsg.wire.Command;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.DmsgProtocolException;
import dev.dmsg.wire.FrameDecoder;
import dev.dmsg.wire.FrameEncoder;
import dev.dmsg.wire.Message;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManager;
import javax.net.ssl.X509ExtendedTrustManager;

/**
 * The joining side of the join exchange (docs/IDENTITY.md §2.6): one TLS 1.3 connection (the
 * JDK's, blocking: a one-shot before the node starts) presenting a join-request certificate,
 * checking the listener against the token's CA fingerprint, one {@code LNK_JOIN}, one answer.
 * {@link #joinAndInstall} then writes what a node of the cluster needs into its data directory.
 */
public final class JoinClient {
    private JoinClient() {}

    /** Why a join did not happen: the listener's refusal (with its {@link #status}) or a failure on the way. */
    public static final class JoinException extends IOException {
        private static final long serialVersionUID = 1L;
        private final transient JoinMessages.Status status;

        JoinException(String message, JoinMessages.Status status, Throwable cause) {
            super(message, cause);
            this.status = status;
        }

        /** The listener's answer, or {@code null} when it never answered. */
        public JoinMessages.Status status() {
            return status;
        }
    }

    /**
     * What a join brought.
     *
     * @param keys the joiner's key with its new certificate and chain (issuer, root)
     * @param listener the node that answered, as its certificate says
     * @param crl the issuer node's revocation list (DER), or {@code null}
     */
    public record Result(NodeKeys keys, X509Certificate root, byte[] crl, PeerIdentity listener, long tookNanos) {
        public CertProfile.Claim claim() {
            return CertProfile.claim(keys.certificate());
        }
    }

    /**
     * Redeems {@code token} at {@code host:port} for the key in {@code own}, asking for the name
     * {@code label}.
     *
     * @param bindLocal the local address to connect from, or {@code null}
     * @throws JoinException saying what went wrong and what to do
     */
    public static Result join(JoinToken token, String host, int port, NodeKeys own, String label, Duration timeout,
                              InetSocketAddress bindLocal, Clock clock) throws JoinException {
        long start = System.nanoTime();
        String at = host + ":" + port;
        X509Certificate request = CertProfile.joinRequest(own.publicKey(), own.privateKey(), label, clock.instant());
        ListenerCheck check = new ListenerCheck(token.caFingerprint(), clock, at);
        int millis = (int) Math.min(Integer.MAX_VALUE, timeout.toMillis());
        JoinMessages.Answer answer;
        try (SSLSocket s = socket(own, request, check)) {
            if (bindLocal != null) {
                s.bind(bindLocal);
            }
            s.connect(new InetSocketAddress(host, port), millis);
            s.setSoTimeout(millis);
            s.startHandshake();
            OutputStream out = s.getOutputStream();
            ByteBuf frame = Unpooled.buffer();
            try {
                new FrameEncoder().encode(Message.of(JoinMessages.LNK_JOIN, 0, 0, 0, null,
                    Unpooled.wrappedBuffer(JoinMessages.Request.of(token).encode())), frame);
                out.write(ByteBufUtil.getBytes(frame));
                out.flush();
            } finally {
                frame.release();
            }
            answer = readAnswer(s.getInputStream(), at);
        } catch (JoinException e) {
            throw e;
        } catch (SocketTimeoutException e) {
            throw new JoinException("join through " + at + ": no answer within " + timeout.toMillis() + " ms", null, e);
        } catch (IOException e) {
            throw new JoinException("join through " + at + ": " + describe(e, check, at), null, e);
        }
        if (answer.status() != JoinMessages.Status.OK) {
            throw new JoinException("join through " + at + " refused (" + answer.status() + "): " + answer.text(),
                answer.status(), null);
        }
        List<X509Certificate> certs = answer.certs();
        if (certs.size() < 2) {
            throw new JoinException("join through " + at + ": an answer with " + certs.size() + " certificate(s)", null, null);
        }
        X509Certificate[] chain = certs.toArray(X509Certificate[]::new);
        CaTrust ca;
        PeerIdentity me;
        try {
            ca = CaTrust.fromChain(chain, token.caFingerprint(), clock, at);
            me = ca.identify(chain, "the answer from " + at);
        } catch (Refusal r) {
            throw new JoinException("join through " + at + ": the certificate it issued does not hold: " + r.getMessage(),
                null, r);
        }
        if (!chain[0].getPublicKey().equals(own.publicKey()) || !me.name().equals(label)) {
            throw new JoinException("join through " + at + ": it issued a certificate for '" + me.name() + "' ("
                + me.fingerprint() + "), not for '" + label + "' (" + own.fingerprint() + ")", null, null);
        }
        byte[] crl = answer.crl();
        if (crl != null) {
            try {
                Revocations.parse(crl, ca.anchor(), "the revocation list from " + at);
            } catch (IOException e) {
                crl = null; // it comes again by LNK_CRL once linked
            }
        }
        List<X509Certificate> above = certs.subList(1, certs.size());
        return new Result(own.withChain(chain[0], above), ca.anchor(), crl, check.listener, System.nanoTime() - start);
    }

    /**
     * Whether the node in {@code dataDir} has joined the cluster of {@code token} already: its
     * anchor is that CA and its certificate was signed under it. A restart with the same
     * {@code --join} then runs without using the token again.
     *
     * @throws IOException if the directory trusts another cluster's CA
     */
    public static boolean joined(Path dataDir, JoinToken token) throws IOException {
        Path anchor = dataDir.resolve(ClusterCa.NODE_DIR).resolve(ClusterCa.CERT_FILE);
        if (!Files.exists(anchor) || !NodeKeys.exists(dataDir)) {
            return false;
        }
        X509Certificate root = CaFiles.readCertificates(anchor).get(0);
        String fp = Fingerprints.of(root.getPublicKey());
        if (!fp.equals(token.caFingerprint())) {
            throw new IOException(dataDir + " belongs to the cluster '" + NodeKeys.commonNameOrEmpty(root) + "' (" + fp
                + "), not to the token's (" + token.caFingerprint() + "); use another --data-dir");
        }
        return NodeKeys.load(dataDir).caSigned();
    }

    /**
     * Joins and installs: the node's key in {@code dataDir} (made, with CN {@code label}, if there
     * is none), redeemed with {@code token} at {@code host:port}; then {@code node.crt} (the
     * chain), {@code ca/ca.crt} and {@code ca/crl.pem} written.
     */
    public static Result joinAndInstall(Path dataDir, String label, JoinToken token, String host, int port,
                                        Duration timeout) throws IOException {
        NodeKeys own = NodeKeys.exists(dataDir) ? NodeKeys.load(dataDir) : NodeKeys.generate(label);
        Result r = join(token, host, port, own, label, timeout, null, Clock.systemUTC());
        Path caDir = dataDir.resolve(ClusterCa.NODE_DIR);
        CaFiles.ownerOnlyDir(dataDir);
        CaFiles.replace(caDir.resolve(ClusterCa.CERT_FILE), CaFiles.pem(r.root()), "rw-r--r--");
        if (r.crl() != null) {
            CaFiles.replace(caDir.resolve(Revocations.FILE), Revocations.pem(r.crl()), "rw-r--r--");
        }
        r.keys().write(dataDir, true);
        return r;
    }

    private static JoinMessages.Answer readAnswer(InputStream in, String at) throws IOException {
        FrameDecoder decoder = new FrameDecoder();
        ByteBuf buf = Unpooled.buffer();
        byte[] chunk = new byte[16384];
        try {
            while (true) {
                Message m;
                try {
                    m = decoder.decode(buf);
                } catch (DmsgProtocolException e) {
                    throw new JoinException("join through " + at + ": a broken answer: " + e.getMessage(), null, e);
                }
                if (m != null) {
                    try {
                        if (m.cmd() != (JoinMessages.LNK_JOIN | Dmsg.REPLY)) {
                            throw new JoinException("join through " + at + ": it answered " + Command.nameOf(
                                m.cmd()) + ", not LNK_JOIN|REPLY: it treats us as a peer (is our key pinned there?)",
                                null, null);
                        }
                        byte[] aux = m.aux() == null ? new byte[0] : ByteBufUtil.getBytes(m.aux());
                        try {
                            return JoinMessages.Answer.decode(aux);
                        } catch (IllegalArgumentException e) {
                            throw new JoinException("join through " + at + ": " + e.getMessage(), null, e);
                        }
                    } finally {
                        m.release();
                    }
                }
                if (buf.readableBytes() > 70_000) {
                    throw new JoinException("join through " + at + ": an answer larger than any join answer", null, null);
                }
                int n = in.read(chunk);
                if (n < 0) {
                    throw new JoinException("join through " + at + ": it closed the connection without answering (a "
                        + "node without an issuer refuses the request in TLS; its log says why)", null, null);
                }
                buf.writeBytes(chunk, 0, n);
            }
        } finally {
            buf.release();
        }
    }

    private static SSLSocket socket(NodeKeys own, X509Certificate request, ListenerCheck check) throws IOException {
        try {
            KeyStore ks = KeyStore.getInstance("PKCS12");
            ks.load(null, null);
            char[] pw = "join".toCharArray();
            ks.setKeyEntry("join", own.privateKey(), pw, new Certificate[] {request});
            KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
            kmf.init(ks, pw);
            SSLContext ctx = SSLContext.getInstance("TLSv1.3");
            ctx.init(kmf.getKeyManagers(), new TrustManager[] {check}, null);
            SSLSocket s = (SSLSocket) ctx.getSocketFactory().createSocket();
            s.setEnabledProtocols(new String[] {"TLSv1.3"});
            SSLParameters p = s.getSSLParameters();
            p.setEndpointIdentificationAlgorithm(null); // the CA's fingerprint is the check, not a host name
            s.setSSLParameters(p);
            return s;
        } catch (GeneralSecurityException e) {
            throw new IOException("cannot set up TLS for the join: " + e.getMessage(), e);
        }
    }

    private static String describe(IOException e, ListenerCheck check, String at) {
        if (check.refusal != null) {
            return check.refusal.getMessage();
        }
        String msg = String.valueOf(e.getMessage());
        String lower = msg.toLowerCase(Locale.ROOT);
        if (e instanceof SSLException && (lower.contains("bad_certificate") || lower.contains("certificate_unknown")
                || lower.contains("certificate_required"))) {
            return "it refused our join request (" + msg + "): it does not issue certificates (no issuer: 'dmsg ca "
                + "issuer'), or our name is pinned there to another key; its log says which";
        }
        if (lower.contains("connection refused")) {
            return "nothing listens there (" + msg + ")";
        }
        if (lower.contains("broken pipe") || lower.contains("connection reset")) {
            // TLS 1.3: our handshake is done before the listener looks at our certificate, so its
            // refusal (an alert, then a close) may meet our request on the way
            return "it closed the connection at our request (" + msg + "): it refused our join request: it does not "
                + "issue certificates (no issuer: 'dmsg ca issuer'), or our name is pinned there to another key; its log "
                + "says which";
        }
        return msg;
    }

    /** The joiner's check of the listener: its chain must lead to the token's CA (docs/IDENTITY.md §2.6 step 2). */
    private static final class ListenerCheck extends X509ExtendedTrustManager {
        private final String caFingerprint;
        private final Clock clock;
        private final String at;
        volatile PeerIdentity listener;
        volatile Refusal refusal;

        ListenerCheck(String caFingerprint, Clock clock, String at) {
            this.caFingerprint = caFingerprint;
            this.clock = clock;
            this.at = at;
        }

        private void check(X509Certificate[] chain) throws CertificateException {
            try {
                listener = CaTrust.fromChain(chain, caFingerprint, clock, at).identify(chain, at);
            } catch (Refusal r) {
                refusal = r;
                throw r;
            }
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket) throws CertificateException {
            check(chain);
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
                throws CertificateException {
            check(chain);
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
            check(chain);
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket) throws CertificateException {
            throw new CertificateException("a joiner accepts no clients");
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
                throws CertificateException {
            throw new CertificateException("a joiner accepts no clients");
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
            throw new CertificateException("a joiner accepts no clients");
        }

        @Override
        public X509Certificate[] getAcceptedIssuers() {
            return new X509Certificate[0];
        }
    }
}
