package dev.dmsg.link.netty;

import dev.dmsg.link.Link;
import dev.dmsg.link.LinkConfig;
import dev.dmsg.link.LinkDriver;
import dev.dmsg.link.LinkListener;
import dev.dmsg.link.Services;
import dev.dmsg.link.Transport;
import dev.dmsg.link.tls.JoinResponder;
import dev.dmsg.link.tls.LegacyPeers;
import dev.dmsg.link.tls.PeerIdentity;
import dev.dmsg.link.tls.Refusal;
import dev.dmsg.link.tls.Role;
import dev.dmsg.wire.Message;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.DecoderException;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslHandshakeCompletionEvent;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.ScheduledFuture;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.channels.ClosedChannelException;
import java.security.cert.X509Certificate;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLHandshakeException;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The last stage of a link's pipeline: runs the TLS handshake's end (who the peer is, when the
 * link may start), creates the link engine ({@link LinkDriver}, "the Iocom") once the connection
 * is ready for it, and feeds it decoded messages, read-batch boundaries, writability changes and
 * timer ticks. What the engine writes goes to a {@link ChannelTransport} (its {@link Transport}).
 * Everything here runs on the channel's event loop.
 *
 * <p><b>Why ~550 lines.</b> The handshake's states ({@link Handshake}) decide what every channel
 * event means (a read before the first frame, an exception during TLS, an EOF before the client's
 * link started), so the states and the channel events stay together; the write path
 * ({@link FrameBatcher}) and the engine's view of the channel ({@link ChannelTransport}) are
 * their own classes.
 *
 * <p><b>When the Iocom starts.</b> Plaintext: when the channel becomes active. TLS
 * ({@link Handshake}): the server starts it when its handshake succeeds — it has then checked
 * the client's pinned key, and the client has checked ours. The client's TLS 1.3 handshake ends
 * <em>before</em> the server has looked at the client's certificate (the client's Finished goes
 * out with it), so a client learns it was accepted only when the server's first frame arrives;
 * it starts its Iocom then, and a refusal (an alert, or a close) fails the connect instead of a
 * link that was never up. The handshake timeout covers all of it: TLS, and the peer's first
 * frame, on both sides.
 *
 * <p><b>Legacy peers</b> (docs/SECURITY.md §6) on a TLS endpoint run plaintext, with
 * {@link #forLegacyPeer the legacy config}: a listener's connection becomes one when its first
 * bytes are the DMSG magic from a configured address ({@link #plaintextDmsg}, any other address
 * is refused); a link we dial to a configured address is one from the start. The Iocom starts
 * at once then, and its peer ({@link ChannelTransport#peer()}) is {@link LegacyPeers#identity}.
 */
final class LinkChannelHandler extends ChannelDuplexHandler {
    private static final Logger log = LoggerFactory.getLogger(LinkChannelHandler.class);

    /** Where a TLS link's handshake is; one transition method each, all on the event loop. */
    private enum Handshake {
        /** No TLS: the Iocom starts with the channel. */
        PLAINTEXT,
        /**
         * No TLS on a TLS endpoint: a configured legacy peer (docs/SECURITY.md §6), known by the
         * address we dial (from the start) or by its first bytes (a listener, from TLS).
         */
        LEGACY,
        /** SslHandler is handshaking. */
        TLS,
        /** TLS done and the peer identified; the peer's first frame not yet here (client: no Iocom yet). */
        FIRST_FRAME,
        /** Authenticated both ways; the timeout is off. */
        DONE,
        /**
         * TLS done with a join-request certificate (docs/IDENTITY.md §2.6), listener only: the
         * connection carries the join exchange ({@link JoinServer}) and closes; never a link.
         */
        JOIN,
        /** Failed, logged once, connection closing. */
        FAILED
    }

    /** Replaced by {@link #forLegacyPeer} when the link turns out to be a legacy peer's, before the Iocom exists. */
    private LinkConfig config;
    private final Services services;
    private final LinkListener listener;
    private final CompletableFuture<Link> ready;
    /** {@code null} for plaintext. */
    private final TlsSupport tls;
    private final TlsSupport.FirstBytes firstBytes;
    /** A link we dial to a configured legacy peer: who it is; otherwise {@code null}. */
    private final PeerIdentity legacyPeer;
    private Handshake handshake;
    private ScheduledFuture<?> handshakeTimer;
    private ChannelHandlerContext ctx;
    /** The channel as the link engine sees it; from channelActive on. */
    private ChannelTransport io;
    /** The link engine, once started. */
    private LinkDriver iocom;
    private ScheduledFuture<?> ticker;
    private String remote = "?";
    /** The join exchange, in state JOIN only. */
    private JoinServer join;

    LinkChannelHandler(LinkConfig config, Services services, LinkListener listener, CompletableFuture<Link> ready) {
        this(config, services, listener, ready, null, null, null);
    }

    /**
     * @param tls {@code null} for plaintext; {@code firstBytes} is the stage in front of the SslHandler
     * @param legacyPeer with {@code tls}: a link we dial to this configured legacy peer, plaintext
     *     (no {@code firstBytes} then); {@code null} otherwise
     */
    LinkChannelHandler(LinkConfig config, Services services, LinkListener listener, CompletableFuture<Link> ready,
            TlsSupport tls, TlsSupport.FirstBytes firstBytes, PeerIdentity legacyPeer) {
        this.config = config;
        this.services = services;
        this.listener = listener;
        this.ready = ready;
        this.tls = tls;
        this.firstBytes = firstBytes;
        this.legacyPeer = legacyPeer;
        this.handshake = tls == null ? Handshake.PLAINTEXT : legacyPeer != null ? Handshake.LEGACY : Handshake.TLS;
    }

    /**
     * The config of a legacy peer's link (docs/SECURITY.md §6): without {@code tls}, so the Iocom
     * neither sends nor waits for LNK_AUTH ({@link LinkDriver#start}), and with
     * {@link LinkConfig#legacyPeer()}, so it sends no PING.
     */
    static LinkConfig forLegacyPeer(LinkConfig c) {
        return c.toBuilder().tls(null).legacyPeer(true).build();
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) throws Exception {
        this.ctx = ctx;
        this.remote = format(ctx.channel().remoteAddress());
        this.io = new ChannelTransport(ctx, remote, tls);
        if (handshake == Handshake.PLAINTEXT) {
            startIocom();
        } else if (handshake == Handshake.LEGACY) {
            startLegacy(legacyPeer);
        } else {
            dialled = isClient();
            if (!dialled) {
                InetAddress from = ((InetSocketAddress) ctx.channel().remoteAddress()).getAddress();
                HandshakeSlots.Admission a = tls.slots.admit(from, remote,
                    why -> ctx.executor().execute(() -> evicted(why)));
                if (a.slot() == null) {
                    refuseOverCap(a.why());
                    return;
                }
                slot = a.slot();
                if (a.victim() != null) {
                    a.victim().evict(a.why()); // it closes on its own event loop
                }
            }
            handshakeTimer = ctx.executor().schedule(this::handshakeTimedOut, tls.handshakeTimeoutNanos(),
                TimeUnit.NANOSECONDS);
        }
        super.channelActive(ctx);
    }

    /** A TLS connection we dialled (known from channelActive on), not one we accepted. */
    private boolean dialled;

    /** An accepted connection's place under the caps on unfinished handshakes; null once done, and on a client. */
    private HandshakeSlots.Slot slot;

    /** Done (authenticated, legacy, failed or closed): the slot is free again. Idempotent. */
    private void releaseSlot() {
        if (slot != null) {
            tls.slots.release(slot);
            slot = null;
        }
    }

    /**
     * docs/SECURITY.md §7: a cap on unfinished handshakes was full and this connection, the
     * oldest unfinished one of the address holding the most, gave way to a newer one. Nothing to
     * do if it has left TLS meanwhile: failed, a legacy link, or past TLS with a trusted key —
     * which never gives way (it just no longer counts against the caps).
     */
    private void evicted(String why) {
        if (handshake == Handshake.TLS) {
            handshakeFailed(why + " (docs/SECURITY.md §7)", null, Failure.EVICTED);
        }
    }

    /** docs/SECURITY.md §7: too many connections that have not finished the handshake. */
    private void refuseOverCap(String why) {
        handshake = Handshake.FAILED;
        long n = tls.stats.onOverCap();
        tls.refusals.warn(RefusalLog.Kind.OVER_CAP,
            "refused (" + n + " so far): connection from " + remote + ": " + why + " (docs/SECURITY.md §7)");
        ready.completeExceptionally(new IOException("refused: too many unauthenticated connections"));
        ctx.close();
    }

    private void startIocom() {
        iocom = LinkDriver.create(config, services, listener, io);
        io.driver = iocom;
        iocom.start();
        long period = Math.max(TimeUnit.MILLISECONDS.toNanos(10), config.pingIntervalNanos() / 4);
        ticker = ctx.executor().scheduleAtFixedRate(
            () -> iocom.tick(config.clock().getAsLong()), period, period, TimeUnit.NANOSECONDS);
        ready.complete(iocom.link());
    }

    /** Runs the link in plaintext with legacy rules, {@code who} as its peer. */
    private void startLegacy(PeerIdentity who) {
        releaseSlot();
        io.peer = who;
        config = forLegacyPeer(config);
        tls.stats.onLegacy();
        log.info("link {}: plaintext with legacy peer {}: no TLS, no LNK_AUTH, no PING (docs/SECURITY.md §6)",
            name(), who);
        startIocom();
    }

    /**
     * A listener's connection whose first bytes are plaintext DMSG ({@link TlsSupport.FirstBytes}):
     * from a configured legacy address it becomes a plaintext link — the SslHandler leaves the
     * pipeline, and the bytes follow to the frame decoder once the first-bytes stage has gone —;
     * from any other it is refused and closed. Returns whether it was accepted.
     */
    boolean plaintextDmsg() {
        if (handshake != Handshake.TLS) {
            return false; // timed out meanwhile
        }
        InetSocketAddress from = (InetSocketAddress) ctx.channel().remoteAddress();
        Role role = tls.legacyRole(from, true);
        if (role == null) {
            refusePlaintext();
            return false;
        }
        // First: the SslHandler, removed unfinished, says so with a handshake event we then ignore.
        handshake = Handshake.LEGACY;
        handshakeTimer.cancel(false);
        ctx.pipeline().remove(SslHandler.class);
        startLegacy(LegacyPeers.identity(from, role));
        return true;
    }

    /** Plaintext DMSG from an address that is not a configured legacy peer: one line, counted, closed. */
    private void refusePlaintext() {
        handshake = Handshake.FAILED;
        handshakeTimer.cancel(false);
        tls.stats.onPlaintextRefused();
        String reason = "refused: plaintext DMSG from " + remote + ": not a configured legacy peer (docs/SECURITY.md §6)";
        tls.refusals.warn(RefusalLog.Kind.PLAINTEXT_REFUSED, reason);
        abandon(new SSLHandshakeException(reason), reason);
    }

    private String name() {
        return config.label() + "<->" + remote;
    }

    private boolean isClient() {
        SslHandler h = ctx.pipeline().get(SslHandler.class);
        return h != null && h.engine().getUseClientMode();
    }

    // ---- TLS handshake ----

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
        if (evt instanceof SslHandshakeCompletionEvent done && handshake == Handshake.TLS) {
            if (done.isSuccess()) {
                tlsDone();
            } else {
                handshakeFailed(tls.describe(done.cause(), firstBytes), done.cause(), Failure.ERROR);
            }
        }
        super.userEventTriggered(ctx, evt);
    }

    /** TLS succeeded: identify the peer again from the session; the server starts its Iocom now. */
    private void tlsDone() {
        SSLSession session = ctx.pipeline().get(SslHandler.class).engine().getSession();
        try {
            io.peer = tls.identify(session, remote);
        } catch (Refusal r) {
            handshakeFailed(r.getMessage(), r, Failure.ERROR);
            return;
        }
        handshake = Handshake.FIRST_FRAME;
        if (io.peer.role() == Role.NONE) { // a join-request certificate, let through by the trust policy
            startJoin(session); // keeps its unauthenticated slot (it may still give way) until it closes
            return;
        }
        if (slot != null) {
            tls.slots.pastTls(slot); // a trusted key: it no longer gives way to newcomers
        }
        if (!isClient()) {
            logUp(session);
            startIocom();
        }
    }

    /**
     * A peer that presented a join-request certificate: on a listener with a join responder,
     * the join exchange and nothing else (the slot on unauthenticated connections is held until
     * it closes); anywhere else, refused.
     */
    private void startJoin(SSLSession session) {
        JoinResponder r = config.tls() == null ? null : config.tls().trust().joinResponder();
        X509Certificate cert = null;
        try {
            cert = (X509Certificate) session.getPeerCertificates()[0];
        } catch (SSLPeerUnverifiedException | RuntimeException e) {
            // refused below
        }
        if (isClient() || r == null || cert == null) {
            handshakeFailed("refused: " + io.peer + " presented a join-request certificate, which opens no link", null, Failure.ERROR);
            return;
        }
        handshake = Handshake.JOIN;
        handshakeTimer.cancel(false);
        join = new JoinServer(ctx, r, cert, remote);
    }

    /** The peer's first frame: it has accepted us. The client starts its Iocom now. */
    private void firstFrame() {
        handshake = Handshake.DONE;
        releaseSlot();
        handshakeTimer.cancel(false);
        tls.stats.onCompleted();
        if (iocom == null) {
            logUp(ctx.pipeline().get(SslHandler.class).engine().getSession());
            startIocom();
        }
    }

    private void logUp(SSLSession s) {
        io.security = s.getProtocol() + " " + s.getCipherSuite() + " " + tls.providerName();
        // DEBUG: a node says the TLS parameters in its "link up" line (Link.security(), issue 18)
        log.debug("link {}: TLS up ({}, {}, {}): peer {}", name(), s.getProtocol(), s.getCipherSuite(),
            tls.providerName(), io.peer);
    }

    private void handshakeTimedOut() {
        if (handshake == Handshake.TLS || handshake == Handshake.FIRST_FRAME) {
            String detail = handshake == Handshake.TLS ? "TLS not finished" : "TLS done, but no frame from the peer";
            handshakeFailed("handshake timeout after " + tls.handshakeTimeoutText() + " (" + detail + ")", null,
                Failure.TIMEOUT);
        }
    }

    /** How a handshake failed, for the counters and the log's buckets. */
    private enum Failure {
        /** Refused, closed, not TLS, bad signature: what {@code cause} says. */
        ERROR,
        /** Not done within the handshake timeout. */
        TIMEOUT,
        /** Gave way to a newer connection when a cap was full (docs/SECURITY.md §7). */
        EVICTED
    }

    /**
     * The handshake failed: one log line (rate-limited, {@link RefusalLog}), the connect future
     * fails with an {@link SSLHandshakeException} that says why, and the connection closes. Once only.
     */
    private void handshakeFailed(String reason, Throwable cause, Failure how) {
        releaseSlot();
        if (handshake == Handshake.FAILED || handshake == Handshake.DONE || handshake == Handshake.PLAINTEXT
                || handshake == Handshake.LEGACY) {
            return;
        }
        handshake = Handshake.FAILED;
        if (handshakeTimer != null) {
            handshakeTimer.cancel(false);
        }
        boolean refusedHere = TlsSupport.isRefusal(cause);
        tls.stats.onFailed(refusedHere, how == Failure.TIMEOUT);
        if (how == Failure.EVICTED) {
            tls.stats.onEvicted();
        }
        RefusalLog.Kind kind = dialled ? RefusalLog.Kind.OUTBOUND
            : how == Failure.TIMEOUT ? RefusalLog.Kind.TIMEOUT
            : how == Failure.EVICTED ? RefusalLog.Kind.EVICTED
            : refusedHere ? RefusalLog.Kind.KEY_REFUSED
            : RefusalLog.Kind.HANDSHAKE_FAILED;
        tls.refusals.warn(kind, "link " + name() + ": TLS handshake failed: " + reason);
        SSLHandshakeException e = new SSLHandshakeException("TLS handshake with " + remote + " failed: " + reason);
        if (cause != null) {
            e.initCause(cause);
        }
        abandon(e, "TLS handshake failed: " + reason);
    }

    /**
     * No link after all: the connect future fails with {@code e} and the connection closes (the
     * Iocom, if it has started, goes down with {@code downReason}).
     */
    private void abandon(SSLHandshakeException e, String downReason) {
        ready.completeExceptionally(e);
        io.stopReading();
        if (iocom != null) {
            iocom.fail(downReason);
        } else {
            ctx.close();
        }
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (handshake == Handshake.JOIN) {
            join.read(msg);
            return;
        }
        if (handshake == Handshake.FIRST_FRAME && msg instanceof Message) {
            firstFrame();
        }
        if (msg instanceof Message m && iocom != null && handshake != Handshake.FAILED) {
            iocom.receive(m);
        } else {
            ReferenceCountUtil.release(msg);
        }
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        if (iocom != null) {
            iocom.readComplete();
        }
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) throws Exception {
        boolean writable = ctx.channel().isWritable();
        if (io != null) {
            io.writabilityChanged(writable);
        }
        if (iocom != null) {
            iocom.writabilityChanged(writable);
        }
        super.channelWritabilityChanged(ctx);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        if (handshake == Handshake.FAILED) {
            return; // logged and closing; SslHandler reports a failure as an event and an exception
        }
        if (handshake == Handshake.JOIN) {
            join.failed(cause instanceof FrameCodec.FramingException f ? "framing error: " + f.protocolError().getMessage()
                : String.valueOf(cause.getMessage()));
            return;
        }
        if (handshake == Handshake.TLS || (handshake == Handshake.FIRST_FRAME && iocom == null)) {
            // Before the client's Iocom: e.g. the server's alert refusing our certificate.
            handshakeFailed(tls.describe(cause, firstBytes), cause, Failure.ERROR);
            return;
        }
        String reason;
        if (cause instanceof FrameCodec.FramingException f) {
            reason = "framing error: " + f.protocolError().getMessage() + f.hint();
        } else if (cause instanceof DecoderException && cause.getCause() instanceof SSLException ssl) {
            reason = "TLS error: " + ssl.getMessage();
        } else if (cause instanceof IOException) {
            reason = "socket error: " + cause.getMessage();
        } else {
            reason = "internal error: " + cause;
        }
        if (io != null) {
            io.stopReading();
        } else {
            ctx.channel().config().setAutoRead(false); // not active yet: nothing of the link exists
        }
        if (iocom != null) {
            iocom.fail(reason);
        } else {
            ready.completeExceptionally(cause);
            ctx.close();
        }
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) throws Exception {
        releaseSlot();
        if (handshake == Handshake.TLS || (handshake == Handshake.FIRST_FRAME && iocom == null)) {
            handshakeFailed(handshake == Handshake.TLS
                ? "the peer closed the connection during the TLS handshake"
                : "the peer closed the connection right after the TLS handshake, before its first frame: it may"
                    + " not trust our key " + ourFingerprint(), new ClosedChannelException(), Failure.ERROR);
        }
        if (handshakeTimer != null) {
            handshakeTimer.cancel(false);
        }
        if (join != null) {
            join.closed();
        }
        if (ticker != null) {
            ticker.cancel(false);
        }
        if (io != null) {
            io.release();
        }
        if (iocom != null) {
            iocom.transportClosed("EOF from peer");
        }
        super.channelInactive(ctx);
    }

    /**
     * Identifies the peer again with the trust policy as it is now (docs/IDENTITY.md §2.4: a
     * revocation, a pin removed): a peer it refuses loses its link at once, with the refusal as
     * the reason; a peer whose role or grants changed has them from now on. Links without TLS,
     * legacy links and connections still in their handshake are left alone (the handshake
     * identifies with the new policy anyway). Event loop only.
     *
     * @return whether the link was closed
     */
    boolean revalidate() {
        if (tls == null || iocom == null || io.failed() || (handshake != Handshake.DONE && handshake != Handshake.FIRST_FRAME)) {
            return false;
        }
        SslHandler ssl = ctx.pipeline().get(SslHandler.class);
        if (ssl == null) {
            return false;
        }
        try {
            PeerIdentity now = tls.identify(ssl.engine().getSession(), remote);
            if (!now.equals(io.peer)) {
                log.info("link {}: trust changed: peer now {} (was {})", name(), now, io.peer);
                io.peer = now;
            }
            return false;
        } catch (Refusal r) {
            log.warn("link {}: closed: its peer is no longer trusted: {}", name(), r.getMessage());
            io.stopReading();
            iocom.fail("no longer trusted: " + r.getMessage());
            return true;
        }
    }

    private String ourFingerprint() {
        return config.tls() != null ? config.tls().keys().fingerprint() : "?";
    }

    static String format(SocketAddress a) {
        if (a instanceof InetSocketAddress i) {
            return i.getAddress().getHostAddress() + ":" + i.getPort();
        }
        return String.valueOf(a);
    }
}
