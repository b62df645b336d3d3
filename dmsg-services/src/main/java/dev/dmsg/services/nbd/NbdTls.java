package dev.dmsg.services.nbd;

import dev.dmsg.link.tls.Grants;
import dev.dmsg.link.tls.PeerIdentity;
import dev.dmsg.link.tls.PinnedTrustManager;
import dev.dmsg.link.tls.Refusal;
import dev.dmsg.link.tls.TrustPolicy;
import dev.dmsg.link.tls.TrustStore;
import io.netty.buffer.ByteBufAllocator;
import io.netty.handler.ssl.ClientAuth;
import io.netty.handler.ssl.NotSslRecordException;
import io.netty.handler.ssl.OpenSsl;
import io.netty.handler.ssl.OpenSslCertificateException;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslProvider;
import java.io.IOException;
import java.net.Socket;
import java.nio.channels.ClosedChannelException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.Certificate;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.util.Locale;
import java.util.Objects;
import java.util.regex.Matcher;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;
import javax.net.ssl.X509ExtendedTrustManager;

/**
 * TLS for NBD clients (docs/BLK.md "TLS"), entered with {@code NBD_OPT_STARTTLS} during option
 * haggling as proto.md "TLS support" prescribes. The server presents a certificate from a
 * directory laid out as qemu-nbd's and nbdkit's ({@code server-cert.pem}, {@code server-key.pem},
 * and {@code ca-cert.pem} for the clients); every client must present a certificate whose key is
 * pinned in that directory's {@code trusted} file (the trust-store format of docs/SECURITY.md §2,
 * managed with {@code dmsg trust add NAME CERT --data-dir DIR}; re-read within a second of a
 * change). A client the file does not trust fails the handshake; its role decides what it may do:
 * admin and member read and write, a client needs {@code blk-rw} to write and {@code blk-read} to
 * read.
 *
 * <p>No TLS-PSK: the JDK's JSSE has no PSK key exchange; netty-tcnative 2.0.84 binds no PSK
 * callback ({@code SSL_CTX_set_psk_server_callback} is not reachable from Java) and Netty 4.2.18
 * has no PSK option; BoringSSL has no TLS 1.3 external PSK at all. Certificates it is.
 *
 * <p>Thread-safe after construction: one context for the server, one handler per connection.
 */
public final class NbdTls {
    /** The files of a TLS directory (qemu-nbd's and nbdkit's names). */
    public static final String CA_CERT = "ca-cert.pem";
    public static final String SERVER_CERT = "server-cert.pem";
    public static final String SERVER_KEY = "server-key.pem";
    public static final String CLIENT_CERT = "client-cert.pem";
    public static final String CLIENT_KEY = "client-key.pem";

    /** The TLS implementation (as for links, docs/SECURITY.md §3). */
    public enum Provider { JDK, OPENSSL, AUTO }

    private final Path dir;
    private final TrustPolicy trust;
    private final PinnedTrustManager trustManager;
    private final SslContext context;
    private final SslProvider provider;

    private NbdTls(Path dir, TrustPolicy trust, SslContext context, SslProvider provider) {
        this.dir = dir;
        this.trust = trust;
        this.trustManager = new PinnedTrustManager(trust);
        this.context = context;
        this.provider = provider;
    }

    /**
     * The server's TLS from {@code dir}: {@code server-cert.pem} (its chain, leaf first),
     * {@code server-key.pem} (PKCS#8, or SEC1/PKCS#1 as certtool writes them), and the clients
     * pinned in {@code dir/trusted}.
     *
     * @throws IOException naming the file that is missing or unreadable
     */
    public static NbdTls fromDirectory(Path dir, Provider provider) throws IOException {
        Path cert = dir.resolve(SERVER_CERT);
        Path key = dir.resolve(SERVER_KEY);
        for (Path p : new Path[] {cert, key}) {
            if (!Files.isReadable(p)) {
                throw new IOException("TLS directory " + dir + ": no readable " + p.getFileName()
                    + " (make one with 'dmsg nbd tls-init " + dir + "', docs/BLK.md \"TLS\")");
            }
        }
        TrustStore trust = TrustStore.open(dir);
        return of(dir, trust, cert, key, provider);
    }

    /** As {@link #fromDirectory}, with the trusted clients given (tests). */
    static NbdTls of(Path dir, TrustPolicy trust, Path cert, Path key, Provider provider) throws IOException {
        SslProvider p = resolve(provider);
        PinnedTrustManager pinned = new PinnedTrustManager(trust);
        X509ExtendedTrustManager verifier = p == SslProvider.JDK ? pinned : new BoringSslAlerts(pinned);
        try {
            SslContext ctx = SslContextBuilder.forServer(cert.toFile(), key.toFile())
                .sslProvider(p)
                .protocols("TLSv1.3", "TLSv1.2")
                .clientAuth(ClientAuth.REQUIRE)
                .trustManager(verifier)
                .build();
            return new NbdTls(dir, trust, ctx, p);
        } catch (SSLException | IllegalArgumentException e) {
            throw new IOException("TLS directory " + dir + ": cannot use " + cert.getFileName() + " and "
                + key.getFileName() + ": " + e.getMessage(), e);
        }
    }

    static SslProvider resolve(Provider p) {
        return switch (Objects.requireNonNull(p, "provider")) {
            case JDK -> SslProvider.JDK;
            case OPENSSL -> {
                if (!OpenSsl.isAvailable()) {
                    throw new IllegalStateException("TLS provider OPENSSL asked for, but netty-tcnative cannot be"
                        + " loaded here: " + OpenSsl.unavailabilityCause());
                }
                yield SslProvider.OPENSSL;
            }
            case AUTO -> OpenSsl.isAvailable() ? SslProvider.OPENSSL : SslProvider.JDK;
        };
    }

    public Path directory() {
        return dir;
    }

    /** "JDK" or "OPENSSL". */
    public String providerName() {
        return provider.name();
    }

    /**
     * A server-side handler for one connection, to be put first in its pipeline after STARTTLS's
     * ACK; {@code host}/{@code port} name the client in refusals (null on a Unix socket).
     */
    SslHandler newHandler(ByteBufAllocator alloc, String host, int port) {
        SslHandler h = host == null ? context.newHandler(alloc) : context.newHandler(alloc, host, port);
        h.setHandshakeTimeoutMillis(0); // the NBD handshake timeout covers it
        return h;
    }

    /**
     * The client of a finished handshake, checked again from the session (a resumed session skips
     * the trust manager, and the trusted file may have changed).
     */
    PeerIdentity identify(SSLSession session, String client) throws Refusal {
        Certificate[] certs;
        try {
            certs = session.getPeerCertificates();
        } catch (SSLPeerUnverifiedException e) {
            throw new Refusal("refused: no client certificate presented by " + client);
        }
        X509Certificate[] chain = new X509Certificate[certs.length];
        for (int i = 0; i < certs.length; i++) {
            if (!(certs[i] instanceof X509Certificate x)) {
                throw new Refusal("refused: a non-X.509 certificate presented by " + client);
            }
            chain[i] = x;
        }
        return trustManager.identify(chain, client);
    }

    /**
     * One line saying why a client's handshake failed: our refusal of its certificate, no
     * certificate at all, not TLS, or the TLS stack's own words.
     */
    String describeFailure(Throwable cause) {
        // the trust policy's fix is written for node links; an NBD client is pinned in our directory
        return describe(cause).replaceAll("'dmsg trust add NAME (\\S+)'",
            "'dmsg trust add NAME $1 --data-dir " + Matcher.quoteReplacement(dir.toString())
                + " --role client --grant blk-rw'");
    }

    private static String describe(Throwable cause) {
        for (Throwable t = cause; t != null; t = t.getCause()) {
            if (t instanceof Refusal r) {
                return r.getMessage();
            }
        }
        String msg = String.valueOf(cause.getMessage());
        String lower = msg.toLowerCase(Locale.ROOT);
        if (lower.contains("empty client certificate") || lower.contains("certificate_required")
                || lower.contains("peer_did_not_return_a_certificate") || lower.contains("no client certificate")) {
            return "refused: the client presented no certificate (TLS here needs a client certificate whose key "
                + "is in the TLS directory's 'trusted' file, docs/BLK.md \"TLS\")";
        }
        if (cause instanceof NotSslRecordException || lower.contains("not an ssl/tls record")) {
            return "the client does not speak TLS after NBD_OPT_STARTTLS";
        }
        for (Throwable t = cause; t != null; t = t.getCause()) {
            if (t instanceof ClosedChannelException || String.valueOf(t.getMessage()).contains("closed")) {
                return "the client closed the connection during the TLS handshake (it may have refused our certificate:"
                    + " its CA file must hold the TLS directory's ca-cert.pem, and the name it dialled be in"
                    + " server-cert.pem)";
            }
        }
        return "TLS handshake failed: " + (cause.getMessage() == null ? cause.toString() : msg);
    }

    /** Whether a client with this identity may use an export at all, and whether only for reading. */
    enum Access { READ_WRITE, READ_ONLY, NONE }

    static Access access(PeerIdentity peer) {
        return switch (peer.role()) {
            case ADMIN, MEMBER -> Access.READ_WRITE;
            case NONE -> Access.NONE;
            case CLIENT -> peer.granted(Grants.BLK_RW) ? Access.READ_WRITE
                : peer.granted(Grants.BLK_READ) ? Access.READ_ONLY : Access.NONE;
        };
    }

    /**
     * BoringSSL answers a verification exception it cannot classify with internal_error; a
     * refusal becomes X509_V_ERR_CERT_UNTRUSTED (27), sent as bad_certificate (as the link's
     * {@code TlsSupport.BoringSslAlerts}).
     */
    private static final class BoringSslAlerts extends X509ExtendedTrustManager {
        private static final int X509_V_ERR_CERT_UNTRUSTED = 27;
        private final PinnedTrustManager delegate;

        BoringSslAlerts(PinnedTrustManager delegate) {
            this.delegate = delegate;
        }

        private static CertificateException alert(Refusal r) {
            return new OpenSslCertificateException(r.getMessage(), r, X509_V_ERR_CERT_UNTRUSTED);
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
                throws CertificateException {
            try {
                delegate.checkClientTrusted(chain, authType, engine);
            } catch (Refusal r) {
                throw alert(r);
            }
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
                throws CertificateException {
            throw new CertificateException("an NBD server does not check server certificates");
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket)
                throws CertificateException {
            try {
                delegate.checkClientTrusted(chain, authType, socket);
            } catch (Refusal r) {
                throw alert(r);
            }
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket)
                throws CertificateException {
            throw new CertificateException("an NBD server does not check server certificates");
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
            try {
                delegate.checkClientTrusted(chain, authType);
            } catch (Refusal r) {
                throw alert(r);
            }
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
            throw new CertificateException("an NBD server does not check server certificates");
        }

        @Override
        public X509Certificate[] getAcceptedIssuers() {
            return delegate.getAcceptedIssuers();
        }
    }
}
