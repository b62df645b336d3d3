package dev.dmsg.services.nbd;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelOutboundBuffer;
import io.netty.channel.ChannelPromise;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;

/**
 * The reply side of one {@link NbdConnection}'s transmission phase (docs/BLK.md "Transmission"):
 * encodes simple replies (header, then a successful READ's data, written as it is: no copy),
 * flushes once per turn of the event loop however many replies went out in it, and watches for a
 * client that takes none of them for the stall timeout (docs/BLK.md "Limits").
 *
 * <p>Concurrency: the connection's event loop only.
 */
final class NbdReplies {
    private final NbdConnection conn;
    private final NbdConfig config;
    private final NbdTransmission transmission;

    /** Replies handed to the socket and not yet written, and since when none was. */
    private int unwrittenReplies;
    private long lastWriteNanos;
    private long lastPendingBytes;
    private boolean flushScheduled;

    NbdReplies(NbdConnection conn, NbdTransmission transmission) {
        this.conn = conn;
        this.config = conn.config;
        this.transmission = transmission;
    }

    /**
     * Writes the simple reply to {@code r}; {@link NbdTransmission#done} runs once it is on the
     * socket (or failed). Owns {@code data}.
     */
    void write(NbdTransmission.Request r, int error, ByteBuf data) {
        ChannelHandlerContext ctx = conn.ctx;
        ByteBuf header = ctx.alloc().buffer(Nbd.SIMPLE_REPLY_BYTES)
            .writeInt(Nbd.SIMPLE_REPLY_MAGIC)
            .writeInt(error)
            .writeLong(r.cookie());
        ChannelPromise written = ctx.newPromise();
        if (unwrittenReplies++ == 0) {
            lastWriteNanos = config.nanoClock.getAsLong(); // the stall clock starts with the first reply waiting
        }
        written.addListener(f -> {
            unwrittenReplies--;
            lastWriteNanos = config.nanoClock.getAsLong();
            transmission.done(r);
        });
        if (data == null) {
            ctx.write(header, written);
        } else {
            ctx.write(header);
            ctx.write(data, written);
        }
        scheduleFlush();
    }

    /** Flushes once for every reply written in this turn of the event loop. */
    private void scheduleFlush() {
        if (flushScheduled) {
            return;
        }
        flushScheduled = true;
        ChannelHandlerContext ctx = conn.ctx;
        try {
            ctx.executor().execute(() -> {
                flushScheduled = false;
                ctx.flush();
            });
        } catch (RejectedExecutionException e) {
            flushScheduled = false;
            ctx.flush();
        }
    }

    /**
     * Closes a connection whose client has taken none of its replies for the stall timeout:
     * replies wait to be written and the socket's outbound bytes have not gone down (a client
     * reading a large reply slowly is making progress). Its budget is freed when the pending
     * writes fail. Runs on the event loop, every quarter of the timeout, in transmission.
     */
    void checkStall() {
        long now = config.nanoClock.getAsLong();
        ChannelOutboundBuffer out = conn.ctx.channel().unsafe().outboundBuffer();
        long pending = out == null ? 0 : out.totalPendingWriteBytes();
        if (unwrittenReplies == 0 || pending < lastPendingBytes) {
            lastWriteNanos = now;
        }
        lastPendingBytes = pending;
        if (unwrittenReplies > 0 && now - lastWriteNanos >= config.stallTimeout.toNanos()) {
            config.stats.stalledClosed.increment();
            conn.hardDisconnect("took no reply for " + TimeUnit.NANOSECONDS.toMillis(now - lastWriteNanos) + " ms (stall "
                + "timeout " + config.stallTimeout.toMillis() + " ms): " + unwrittenReplies + " replies and "
                + transmission.flow.inFlightBytes() + " payload bytes held");
        }
    }
}
