package dev.dmsg.link.netty;

import dev.dmsg.link.tls.PeerIdentity;
import dev.dmsg.link.tls.PinnedTrustManager;
import dev.dmsg.link.tls.Refusal;
import dev.dmsg.link.tls.Role;
import dev.dmsg.link.tls.TlsConfig;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.FrameDecoder;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufUtil;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.ByteToMessageDecoder;
import io.netty.handler.ssl.ClientAuth;
import io.netty.handler.ssl.NotSslRecordException;
import io.netty.handler.ssl.OpenSsl;
import io.netty.handler.ssl.OpenSslCertificateException;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslProvider;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.channels.ClosedChannelException;
import java.security.cert.Certificate;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.LongSupplier;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;
import javax.net.ssl.X509ExtendedTrustManager;

/**
 * The TLS side of an endpoint (docs/SECURITY.md §3): the two {@link SslContext}s (made once per
 * endpoint; a context per connection would cost a native SSL_CTX each with BoringSSL), one
 * {@link SslHandler} per connection, and handshake failures turned into one readable reason.
 * Thread-safe after construction.
 */
final class TlsSupport {
    static final String PROTOCOL = "TLSv1.3";

    private final TlsConfig config;
    private final SslProvider provider;
    private final PinnedTrustManager trustManager;
    private final SslContext serverContext;
    private final SslContext clientContext;
    final TlsStats stats = new TlsStats();
    /** The endpoint's lines about refused peers, rate-limited (docs/SECURITY.md §7). */
    final RefusalLog refusals;
    /** Accepted connections that have not finished TLS and their first frame (docs/SECURITY.md §7). */
    final HandshakeSlots slots;
    /** Transactions each authenticated peer holds open across its links here. */
    private final ConcurrentHashMap<String, AtomicInteger> perPeer =
        new ConcurrentHashMap<>();

    /** The shared count of transactions {@code peer} holds open on this endpoint (keyed by name and key). */
    AtomicInteger peerTransactions(PeerIdentity peer) {
        return perPeer.computeIfAbsent(peer.name() + " " + peer.fingerprint(),
            k -> new AtomicInteger());
    }

    /** @param nanoClock the endpoint's clock ({@code LinkConfig.clock()}): paces the refusal log lines */
    TlsSupport(TlsConfig config, LongSupplier nanoClock) {
        this.config = config;
        this.refusals = new RefusalLog(nanoClock, stats);
        this.slots = new HandshakeSlots(config.maxUnauthenticated(), config.maxUnauthenticatedPerAddress());
        this.provider = resolve(config.provider());
        this.trustManager = new PinnedTrustManager(config.trust());
        X509ExtendedTrustManager verifier = provider == SslProvider.JDK ? trustManager : new BoringSslAlerts(trustManager);
        try {
            serverContext = SslContextBuilder.forServer(config.keys().privateKey(), config.keys().chain())
                .sslProvider(provider)
                .protocols(PROTOCOL)
                .clientAuth(ClientAuth.REQUIRE)
                .trustManager(verifier)
                .build();
            clientContext = SslContextBuilder.forClient()
                .sslProvider(provider)
                .protocols(PROTOCOL)
                .keyManager(config.keys().privateKey(), config.keys().chain())
                .trustManager(verifier)
                // Netty 4.2 checks the host name by default; a pinned key is the identity, and
                // peers are dialled by address (docs/SECURITY.md §3: no hostname check).
                .endpointIdentificationAlgorithm(null)
                .build();
        } catch (SSLException e) {
            throw new UncheckedIOException("cannot set up TLS with the " + provider + " provider: " + e.getMessage(), e);
        }
    }

    /** JDK unless OPENSSL is asked for (and then it must load) or AUTO finds it. */
    static SslProvider resolve(TlsConfig.Provider p) {
        switch (p) {
            case JDK:
                return SslProvider.JDK;
            case OPENSSL:
                if (!OpenSsl.isAvailable()) {
                    throw new IllegalStateException("TLS provider OPENSSL asked for, but netty-tcnative cannot be"
                        + " loaded here: " + OpenSsl.unavailabilityCause());
                }
                return SslProvider.OPENSSL;
            case AUTO:
                return OpenSsl.isAvailable() ? SslProvider.OPENSSL : SslProvider.JDK;
            default:
                throw new IllegalArgumentException("provider " + p);
        }
    }

    /** "JDK" or "OPENSSL": the provider this endpoint's handshakes run on. */
    String providerName() {
        return provider.name();
    }

    long handshakeTimeoutNanos() {
        return config.handshakeTimeout().toNanos();
    }

    /** "10 s", "500 ms": the timeout as the log line says it. */
    String handshakeTimeoutText() {
        Duration d = config.handshakeTimeout();
        return d.toMillis() % 1000 == 0 ? d.toSeconds() + " s" : d.toMillis() + " ms";
    }

    /**
     * A new handler for one connection. {@code peerHost}/{@code peerPort} name the peer in
     * refusals (the trust manager reads them from the engine); on a client they are what we dial.
     * Netty's own handshake timeout is off: {@link LinkChannelHandler} runs one that also covers
     * the peer's first frame.
     */
    SslHandler newHandler(ByteBufAllocator alloc, boolean client, String peerHost, int peerPort) {
        SslHandler h = (client ? clientContext : serverContext).newHandler(alloc, peerHost, peerPort);
        h.setHandshakeTimeoutMillis(0);
        return h;
    }

    /**
     * The peer of a completed handshake, checked again from the session: a resumed session
     * skips the trust manager, and the trust store may have changed since the session began.
     */
    PeerIdentity identify(SSLSession session, String remote) throws Refusal {
        Certificate[] certs;
        try {
            certs = session.getPeerCertificates();
        } catch (SSLPeerUnverifiedException e) {
            certs = null;
        }
        X509Certificate[] chain = null;
        if (certs != null && certs.length > 0) {
            chain = new X509Certificate[certs.length];
            for (int i = 0; i < certs.length; i++) {
                if (!(certs[i] instanceof X509Certificate x)) {
                    chain = null;
                    break;
                }
                chain[i] = x;
            }
        }
        return trustManager.identify(chain, remote);
    }

    /**
     * BoringSSL answers a verification exception it cannot classify with an internal_error alert,
     * which tells the refused peer nothing; a refusal becomes X509_V_ERR_CERT_UNTRUSTED (27 in
     * x509.h; tcnative's own constant is not on our compile class path), which BoringSSL sends as
     * bad_certificate. The JDK sends certificate_unknown by itself.
     */
    static final class BoringSslAlerts extends X509ExtendedTrustManager {
        static final int X509_V_ERR_CERT_UNTRUSTED = 27;
        private final PinnedTrustManager delegate;

        BoringSslAlerts(PinnedTrustManager delegate) {
            this.delegate = delegate;
        }

        private interface Check {
            void run() throws CertificateException;
        }

        private static void check(Check c) throws CertificateException {
            try {
                c.run();
            } catch (Refusal r) {
                throw new OpenSslCertificateException(r.getMessage(), r, X509_V_ERR_CERT_UNTRUSTED);
            }
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
                throws CertificateException {
            check(() -> delegate.checkClientTrusted(chain, authType, engine));
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
                throws CertificateException {
            check(() -> delegate.checkServerTrusted(chain, authType, engine));
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket)
                throws CertificateException {
            check(() -> delegate.checkClientTrusted(chain, authType, socket));
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket)
                throws CertificateException {
            check(() -> delegate.checkServerTrusted(chain, authType, socket));
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
            check(() -> delegate.checkClientTrusted(chain, authType));
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
            check(() -> delegate.checkServerTrusted(chain, authType));
        }

        @Override
        public X509Certificate[] getAcceptedIssuers() {
            return delegate.getAcceptedIssuers();
        }
    }

    /** The role of a plaintext peer at {@code address} if it is a configured legacy peer, else {@code null}. */
    Role legacyRole(InetSocketAddress address, boolean inbound) {
        return inbound ? config.legacy().inbound(address) : config.legacy().outbound(address);
    }

    /**
     * The first bytes the peer sends, one stage per connection in front of the SslHandler; event
     * loop only. Keeps them for the message when they are not TLS (BoringSSL's "not an SSL/TLS
     * record" does not include them). On a listener it also decides what the connection is
     * (docs/SECURITY.md §6): the DMSG magic in either byte order ({@code 32 48}, {@code 48 32}, as
     * {@link FrameDecoder} accepts them) is a plaintext peer, which
     * {@link LinkChannelHandler#plaintextDmsg} runs as a configured legacy peer (the SslHandler
     * leaves the pipeline) or refuses; anything else (a TLS record starts {@code 16 03}) goes to
     * the SslHandler as it came. Then this stage leaves the pipeline, handing on the bytes it
     * held. The handshake timeout covers the wait for them.
     */
    static final class FirstBytes extends ByteToMessageDecoder {
        private final boolean listener;
        private String hex = "";
        private boolean refused;

        /** @param listener whether to look for plaintext DMSG (an accepted connection) or only keep the bytes */
        FirstBytes(boolean listener) {
            this.listener = listener;
        }

        @Override
        protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
            if (refused) {
                in.skipBytes(in.readableBytes()); // closing: whatever else it sent is dropped
                return;
            }
            if (!in.isReadable()) {
                return;
            }
            int at = in.readerIndex();
            hex = ByteBufUtil.hexDump(in, at, Math.min(8, in.readableBytes()));
            if (listener && isMagicByte(in.getUnsignedByte(at))) {
                if (in.readableBytes() < 2) {
                    return; // half a magic: wait for the other byte
                }
                int magic = in.getUnsignedShort(at);
                if ((magic == Dmsg.HDR_MAGIC || magic == Dmsg.HDR_MAGIC_REV)
                        && !ctx.pipeline().get(LinkChannelHandler.class).plaintextDmsg()) {
                    refused = true;
                    in.skipBytes(in.readableBytes());
                    return;
                }
            }
            ctx.pipeline().remove(this);
        }

        private static boolean isMagicByte(int b) {
            return b == (Dmsg.HDR_MAGIC >>> 8) || b == (Dmsg.HDR_MAGIC & 0xff);
        }
    }

    /** Whether {@code cause} is our own trust manager refusing the peer's certificate. */
    static boolean isRefusal(Throwable cause) {
        return find(cause, Refusal.class) != null;
    }

    /**
     * One line saying why a handshake failed: our refusal as the trust manager wrote it, the
     * peer refusing ours (a certificate alert) with what its operator must do, a peer that does
     * not speak TLS, or the TLS stack's own message.
     */
    String describe(Throwable cause, FirstBytes first) {
        Refusal refusal = find(cause, Refusal.class);
        if (refusal != null) {
            return refusal.getMessage();
        }
        NotSslRecordException notTls = find(cause, NotSslRecordException.class);
        if (notTls != null) {
            return notTls(first == null ? "" : first.hex);
        }
        SSLException ssl = find(cause, SSLException.class);
        if (ssl != null) {
            String msg = String.valueOf(ssl.getMessage());
            String lower = msg.toLowerCase(Locale.ROOT);
            if (lower.contains("certificate_unknown") || lower.contains("bad_certificate")
                    || lower.contains("unsupported_certificate") || lower.contains("certificate_required")) {
                return "the peer refused our certificate (" + msg + "): it must trust our key "
                    + config.keys().fingerprint() + " as '" + config.keys().label() + "', the name in our certificate"
                    + " ('dmsg trust add " + config.keys().label() + " " + config.keys().fingerprint() + "' on that node)";
            }
            // JDK: "Invalid CertificateVerify signature"; BoringSSL: "...:BAD_SIGNATURE". The pin
            // matched (or we would have refused first), so the certificate is someone else's.
            if (lower.contains("certificateverify") || lower.contains("bad_signature")) {
                return "the peer does not hold the private key of the certificate it presented (" + msg + ")";
            }
            if (ssl.getCause() instanceof ClosedChannelException || lower.contains("connection closed")) {
                return "the peer closed the connection during the TLS handshake";
            }
            return msg;
        }
        if (find(cause, ClosedChannelException.class) != null) {
            return "the peer closed the connection during the TLS handshake";
        }
        IOException io = find(cause, IOException.class);
        if (io != null && String.valueOf(io.getMessage()).contains("reset by peer")) {
            return "the peer reset the connection during the TLS handshake";
        }
        return String.valueOf(cause);
    }

    /** Not TLS: a plaintext DMSG peer when its first bytes are the magic (either byte order). */
    private static String notTls(String hex) {
        if (hex.startsWith("3248") || hex.startsWith("4832")) {
            return "the peer sent plaintext DMSG (magic 0x4832), not TLS: it runs without TLS (a legacy peer?)"
                + " and this end requires TLS";
        }
        return "the peer does not speak TLS (its first bytes: " + hex + ")";
    }

    private static <T extends Throwable> T find(Throwable t, Class<T> type) {
        for (int depth = 0; t != null && depth < 16; t = t.getCause(), depth++) {
            if (type.isInstance(t)) {
                return type.cast(t);
            }
            for (Throwable s : t.getSuppressed()) {
                if (type.isInstance(s)) {
                    return type.cast(s);
                }
            }
        }
        return null;
    }
}
