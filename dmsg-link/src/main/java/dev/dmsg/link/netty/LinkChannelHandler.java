package dev.dmsg.link.netty;

import dev.dmsg.link.Iocom;
import dev.dmsg.link.Link;
import dev.dmsg.link.LinkConfig;
import dev.dmsg.link.LinkListener;
import dev.dmsg.link.LinkState;
import dev.dmsg.link.Services;
import dev.dmsg.link.Transport;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.FrameEncoder;
import dev.dmsg.wire.Message;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelOutboundBuffer;
import io.netty.channel.socket.DuplexChannel;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.ScheduledFuture;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * The last stage of a link's pipeline: creates the {@link Iocom} when the channel becomes active,
 * feeds it decoded messages, read-batch boundaries, writability changes and timer ticks, and is
 * its {@link Transport}. Everything here runs on the channel's event loop.
 */
final class LinkChannelHandler extends ChannelDuplexHandler implements Transport {
    private final LinkConfig config;
    private final Services services;
    private final LinkListener listener;
    private final CompletableFuture<Link> ready;
    private ChannelHandlerContext ctx;
    private Iocom iocom;
    private ScheduledFuture<?> ticker;
    private String remote = "?";

    LinkChannelHandler(LinkConfig config, Services services, LinkListener listener, CompletableFuture<Link> ready) {
        this.config = config;
        this.services = services;
        this.listener = listener;
        this.ready = ready;
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) throws Exception {
        this.ctx = ctx;
        this.remote = format(ctx.channel().remoteAddress());
        iocom = new Iocom(config, services, listener, this);
        iocom.start();
        long period = Math.max(TimeUnit.MILLISECONDS.toNanos(10), config.pingIntervalNanos() / 4);
        ticker = ctx.executor().scheduleAtFixedRate(
            () -> iocom.tick(config.clock().getAsLong()), period, period, TimeUnit.NANOSECONDS);
        ready.complete(iocom);
        super.channelActive(ctx);
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (msg instanceof Message m && iocom != null) {
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
        // Stop reading while our outbound side is full, so that replies to the peer's requests
        // cannot pile up: the peer is slowed by TCP instead (STYLE: backpressure).
        this.writable = writable;
        updateAutoRead();
        if (iocom != null) {
            iocom.writabilityChanged(writable);
        }
        super.channelWritabilityChanged(ctx);
    }

    /** Reads only while our outbound side has room and no circuit relay has paused us. */
    private void updateAutoRead() {
        if (!failed) {
            ctx.channel().config().setAutoRead(writable && !readPaused);
        }
    }

    private boolean writable = true;
    private boolean readPaused;
    private boolean failed;

    @Override
    public void setReadPaused(boolean paused) {
        readPaused = paused;
        updateAutoRead();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        String reason;
        if (cause instanceof FrameCodec.FramingException f) {
            reason = "framing error: " + f.protocolError().getMessage();
        } else if (cause instanceof IOException) {
            reason = "socket error: " + cause.getMessage();
        } else {
            reason = "internal error: " + cause;
        }
        failed = true;
        ctx.channel().config().setAutoRead(false);
        if (iocom != null) {
            iocom.fail(reason);
        } else {
            ready.completeExceptionally(cause);
            ctx.close();
        }
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) throws Exception {
        if (ticker != null) {
            ticker.cancel(false);
        }
        if (batch != null) {
            batch.release();
            batch = null;
        }
        if (iocom != null) {
            iocom.transportClosed("EOF from peer");
        }
        super.channelInactive(ctx);
    }

    // ---- Transport ----

    /**
     * Encodes {@code m} now, as it joins the socket's byte stream, so the salt sequence can have
     * no gap (reference §1.8). Small frames go back to back into one batch buffer that is handed
     * to Netty on flush or when it fills: one buffer and one outbound entry per batch, not per
     * message. Aux of {@link #ZERO_COPY_AUX_BYTES} or more is not copied: the header goes into the
     * batch, then the aux itself and its zero padding follow as their own buffers.
     */
    @Override
    public void write(Message m) {
        try {
            if (m.auxBytes() >= ZERO_COPY_AUX_BYTES) {
                int hdrBytes = Dmsg.hdrBytes(m.cmd());
                if (batch == null || batch.writableBytes() < hdrBytes) {
                    // Not a whole batch buffer for one header: the aux follows at once anyway.
                    handOverBatch();
                    batch = ctx.alloc().ioBuffer(hdrBytes);
                }
                encoder.encodeHeader(m, batch);
                handOverBatch();
                ctx.write(m.retainedAux(), ctx.voidPromise());
                int pad = FrameEncoder.padBytes(m);
                if (pad > 0) {
                    ctx.write(ZERO_PAD.retainedSlice(0, pad), ctx.voidPromise());
                }
            } else {
                batch(FrameEncoder.frameBytes(m));
                encoder.encode(m, batch);
                if (batch.readableBytes() >= BATCH_BYTES) {
                    handOverBatch();
                }
            }
        } finally {
            m.release();
        }
    }

    @Override
    public void flush() {
        handOverBatch();
        ctx.flush();
    }

    static final int BATCH_BYTES = 16 * 1024;
    static final int ZERO_COPY_AUX_BYTES = 1024;
    private static final ByteBuf ZERO_PAD =
        Unpooled.unreleasableBuffer(Unpooled.directBuffer(Dmsg.ALIGN).writeZero(Dmsg.ALIGN)).asReadOnly();
    private final FrameEncoder encoder = new FrameEncoder();
    private ByteBuf batch;

    /** Makes sure the batch buffer has room for {@code bytes} more. */
    private void batch(int bytes) {
        if (batch != null && batch.writableBytes() < bytes) {
            handOverBatch();
        }
        if (batch == null) {
            batch = ctx.alloc().ioBuffer(Math.max(BATCH_BYTES + 2048, bytes));
        }
    }

    private void handOverBatch() {
        if (batch != null) {
            ByteBuf b = batch;
            batch = null;
            if (b.isReadable()) {
                ctx.write(b, ctx.voidPromise());
            } else {
                b.release();
            }
        }
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
        if (batch != null) {
            batch.release();
            batch = null;
        }
    }

    /**
     * Orderly close: flush what is queued, then half-close (FIN) so the peer reads our DELETEs and
     * then a clean EOF; the channel closes fully when the peer closes its side, or after
     * {@link #CLOSE_GRACE_MILLIS}. After a failure (the link is already CLOSED) close at once.
     */
    @Override
    public void close() {
        handOverBatch();
        Channel ch = ctx.channel();
        if (!ch.isActive() || iocom.state() == LinkState.CLOSED || !(ch instanceof DuplexChannel duplex)) {
            ctx.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
            return;
        }
        // Armed now, not when the flush completes: a peer that has stopped reading would
        // otherwise keep the flush, and the connection, pending forever.
        ctx.executor().schedule(() -> {
            ctx.close();
        }, CLOSE_GRACE_MILLIS, TimeUnit.MILLISECONDS);
        ctx.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(f -> {
            if (f.isSuccess()) {
                duplex.shutdownOutput();
            }
        });
    }

    static final long CLOSE_GRACE_MILLIS = 2000;

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

    static String format(SocketAddress a) {
        if (a instanceof InetSocketAddress i) {
            return i.getAddress().getHostAddress() + ":" + i.getPort();
        }
        return String.valueOf(a);
    }
}
