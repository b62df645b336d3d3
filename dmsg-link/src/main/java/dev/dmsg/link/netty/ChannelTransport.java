package dev.dmsg.link.netty;

import dev.dmsg.link.LinkDriver;
import dev.dmsg.link.LinkState;
import dev.dmsg.link.Transport;
import dev.dmsg.link.tls.PeerIdentity;
import dev.dmsg.wire.Message;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelOutboundBuffer;
import io.netty.channel.socket.DuplexChannel;
import io.netty.handler.ssl.SslHandler;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A link's channel as its engine sees it ({@link Transport}): writes through the
 * {@link FrameBatcher}, the orderly close, reading paused and resumed. {@link LinkChannelHandler}
 * creates it when the channel becomes active and tells it who the peer turned out to be. Event
 * loop only, but for {@link #peer()} and {@link #security()}.
 */
final class ChannelTransport implements Transport {
    static final long CLOSE_GRACE_MILLIS = 2000;

    private final ChannelHandlerContext ctx;
    private final String remote;
    /** {@code null} for plaintext. */
    private final TlsSupport tls;
    private final FrameBatcher out = new FrameBatcher();
    /** The engine, once started: the orderly close looks at its state. */
    LinkDriver driver;
    /** Set on the event loop before the engine exists; read by {@code Link.peer()} from any thread. */
    volatile PeerIdentity peer;
    /** "TLSv1.3 TLS_AES_128_GCM_SHA256 JDK" once TLS is up; null before and on plaintext. */
    volatile String security;
    private boolean writable = true;
    private boolean readPaused;
    private boolean failed;

    ChannelTransport(ChannelHandlerContext ctx, String remote, TlsSupport tls) {
        this.ctx = ctx;
        this.remote = remote;
        this.tls = tls;
        out.bind(ctx);
    }

    /** Encoded as it joins the byte stream, batched ({@link FrameBatcher}). */
    @Override
    public void write(Message m) {
        out.write(m);
    }

    @Override
    public void flush() {
        out.handOver();
        ctx.flush();
    }

    /** The channel is gone: what was not handed to Netty is dropped. */
    void release() {
        out.release();
    }

    /**
     * Orderly close: flush what is queued, then half-close (FIN) so the peer reads our DELETEs and
     * then a clean EOF; the channel closes fully when the peer closes its side, or after
     * {@link #CLOSE_GRACE_MILLIS}. After a failure (the link is already CLOSED) close at once.
     */
    @Override
    public void close() {
        out.handOver();
        Channel ch = ctx.channel();
        if (!ch.isActive() || driver.link().state() == LinkState.CLOSED || !(ch instanceof DuplexChannel duplex)) {
            ctx.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
            return;
        }
        // Armed now, not when the flush completes: a peer that has stopped reading would
        // otherwise keep the flush, and the connection, pending forever.
        ctx.executor().schedule(() -> {
            ctx.close();
        }, CLOSE_GRACE_MILLIS, TimeUnit.MILLISECONDS);
        ctx.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(f -> {
            if (!f.isSuccess()) {
                return;
            }
            SslHandler ssl = ctx.pipeline().get(SslHandler.class);
            if (ssl == null) {
                duplex.shutdownOutput();
            } else {
                // close_notify after our last frames (already encrypted and written), then FIN: the
                // peer sees a clean TLS end, not a truncation.
                ssl.closeOutbound().addListener(g -> duplex.shutdownOutput());
            }
        });
    }

    /**
     * The channel's writability changed. Stop reading while our outbound side is full, so that
     * replies to the peer's requests cannot pile up: the peer is slowed by TCP instead.
     */
    void writabilityChanged(boolean writable) {
        this.writable = writable;
        updateAutoRead();
    }

    @Override
    public void setReadPaused(boolean paused) {
        readPaused = paused;
        updateAutoRead();
    }

    /** Reads only while our outbound side has room and no circuit relay has paused us. */
    private void updateAutoRead() {
        if (!failed) {
            ctx.channel().config().setAutoRead(writable && !readPaused);
        }
    }

    /** The link failed: nothing more is read, whatever writability says. */
    void stopReading() {
        failed = true;
        ctx.channel().config().setAutoRead(false);
    }

    boolean failed() {
        return failed;
    }

    @Override
    public boolean isWritable() {
        return ctx.channel().isWritable();
    }

    @Override
    public long outboundBacklogBytes() {
        ChannelOutboundBuffer b = ctx.channel().unsafe().outboundBuffer();
        return b == null ? 0 : b.totalPendingWriteBytes();
    }

    @Override
    public boolean inEventLoop() {
        return ctx.executor().inEventLoop();
    }

    @Override
    public void execute(Runnable task) {
        ctx.executor().execute(task);
    }

    @Override
    public String remoteAddress() {
        return remote;
    }

    @Override
    public PeerIdentity peer() {
        return peer;
    }

    @Override
    public String security() {
        return security;
    }

    @Override
    public AtomicInteger peerTransactions() {
        return tls == null || peer == null ? null : tls.peerTransactions(peer);
    }
}
