package dev.dmsg.link.netty;

import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.FrameEncoder;
import dev.dmsg.wire.Message;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;

/**
 * The write path of a link's channel: encodes each message as it joins the socket's byte
 * stream, so the salt sequence can have no gap (docs/REFERENCE.md §1.8). Small frames go back to
 * back into one batch buffer that is handed to Netty on flush or when it fills: one buffer and one
 * outbound entry per batch, not per message. Aux of {@link #ZERO_COPY_AUX_BYTES} or more is not
 * copied: the header goes into the batch, then the aux itself and its zero padding follow as
 * their own buffers. Event loop only.
 */
final class FrameBatcher {
    static final int BATCH_BYTES = 16 * 1024;
    static final int ZERO_COPY_AUX_BYTES = 1024;
    private static final ByteBuf ZERO_PAD =
        Unpooled.unreleasableBuffer(Unpooled.directBuffer(Dmsg.ALIGN).writeZero(Dmsg.ALIGN)).asReadOnly();

    private final FrameEncoder encoder = new FrameEncoder();
    private ChannelHandlerContext ctx;
    private ByteBuf batch;

    /** The channel is active: writes go to {@code ctx}. */
    void bind(ChannelHandlerContext ctx) {
        this.ctx = ctx;
    }

    /** Encodes {@code m} (released here) into the batch, or hands it on zero-copy. */
    void write(Message m) {
        try {
            if (m.auxBytes() >= ZERO_COPY_AUX_BYTES) {
                int hdrBytes = Dmsg.hdrBytes(m.cmd());
                if (batch == null || batch.writableBytes() < hdrBytes) {
                    // Not a whole batch buffer for one header: the aux follows at once anyway.
                    handOver();
                    batch = ctx.alloc().ioBuffer(hdrBytes);
                }
                encoder.encodeHeader(m, batch);
                handOver();
                ctx.write(m.retainedAux(), ctx.voidPromise());
                int pad = FrameEncoder.padBytes(m);
                if (pad > 0) {
                    ctx.write(ZERO_PAD.retainedSlice(0, pad), ctx.voidPromise());
                }
            } else {
                ensure(FrameEncoder.frameBytes(m));
                encoder.encode(m, batch);
                if (batch.readableBytes() >= BATCH_BYTES) {
                    handOver();
                }
            }
        } finally {
            m.release();
        }
    }

    /** Makes sure the batch buffer has room for {@code bytes} more. */
    private void ensure(int bytes) {
        if (batch != null && batch.writableBytes() < bytes) {
            handOver();
        }
        if (batch == null) {
            batch = ctx.alloc().ioBuffer(Math.max(BATCH_BYTES + 2048, bytes));
        }
    }

    /** Hands the batch so far to Netty (not flushed). */
    void handOver() {
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

    /** The channel is gone: what was not handed over is dropped. */
    void release() {
        if (batch != null) {
            batch.release();
            batch = null;
        }
    }
}
