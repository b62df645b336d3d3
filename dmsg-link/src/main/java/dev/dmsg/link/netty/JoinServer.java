package dev.dmsg.link.netty;

import dev.dmsg.link.tls.JoinMessages;
import dev.dmsg.link.tls.JoinResponder;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.FrameEncoder;
import dev.dmsg.wire.FrameLog;
import dev.dmsg.wire.Message;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.ssl.SslHandler;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.ScheduledFuture;
import java.security.cert.X509Certificate;
import java.util.concurrent.TimeUnit;

/**
 * The listening side of one join exchange (docs/IDENTITY.md §2.6), on a connection whose peer
 * presented a join-request certificate and that will never be a link: {@link LinkChannelHandler}
 * hands it every decoded frame. Exactly one {@code LNK_JOIN} within the responder's timeout;
 * the answer goes back as {@code LNK_JOIN|REPLY}, then close_notify and close. Anything else,
 * or nothing, closes the connection and is reported to the responder (counted, rate-limited
 * logs). Event loop only.
 */
final class JoinServer {
    private final ChannelHandlerContext ctx;
    private final JoinResponder responder;
    private final X509Certificate joiner;
    private final String remote;
    private final ScheduledFuture<?> timer;
    private boolean requested;
    private boolean abandoned;
    private boolean closed;

    JoinServer(ChannelHandlerContext ctx, JoinResponder responder, X509Certificate joiner, String remote) {
        this.ctx = ctx;
        this.responder = responder;
        this.joiner = joiner;
        this.remote = remote;
        this.timer = ctx.executor().schedule(this::timedOut, responder.requestTimeout().toNanos(), TimeUnit.NANOSECONDS);
    }

    /** A decoded frame (owned). */
    void read(Object msg) {
        if (requested || closed) {
            ReferenceCountUtil.release(msg); // after the request: nothing more is read, we are answering
            return;
        }
        if (!(msg instanceof Message m) || m.cmd() != JoinMessages.LNK_JOIN || m.circuit() != 0) {
            String what = msg instanceof Message m ? FrameLog.line(FrameLog.RECEIVED, m) : String.valueOf(msg);
            ReferenceCountUtil.release(msg);
            abandon("sent " + what + " instead of LNK_JOIN");
            return;
        }
        requested = true;
        timer.cancel(false);
        byte[] request = m.aux() == null ? new byte[0] : ByteBufUtil.getBytes(m.aux());
        m.release();
        ctx.channel().config().setAutoRead(false);
        responder.answer(request, joiner, remote).whenComplete((answer, e) -> ctx.executor().execute(() -> reply(answer)));
    }

    private void reply(byte[] answer) {
        if (closed || answer == null) {
            ctx.close();
            return;
        }
        ByteBuf out = ctx.alloc().buffer(Dmsg.HDR_SIZE + answer.length + Dmsg.ALIGN);
        new FrameEncoder().encode(Message.of(JoinMessages.LNK_JOIN | Dmsg.REPLY, 0, 0, 0, null,
            Unpooled.wrappedBuffer(answer)), out);
        ctx.writeAndFlush(out).addListener(f -> {
            SslHandler ssl = ctx.pipeline().get(SslHandler.class);
            if (f.isSuccess() && ssl != null) {
                ssl.closeOutbound().addListener(g -> ctx.close()); // close_notify after the answer, then FIN
            } else {
                ctx.close();
            }
        });
    }

    private void timedOut() {
        if (!requested && !closed) {
            abandon("no LNK_JOIN within " + responder.requestTimeout().toMillis() + " ms");
        }
    }

    /** The pipeline failed (a framing or TLS error) before the request. */
    void failed(String why) {
        if (!requested && !closed) {
            abandon(why);
        } else {
            ctx.close();
        }
    }

    private void abandon(String why) {
        if (!abandoned) {
            abandoned = true;
            responder.abandoned(remote, why);
        }
        ctx.close();
    }

    /** The connection is gone. */
    void closed() {
        if (!closed) {
            if (!requested && !abandoned) {
                abandoned = true;
                responder.abandoned(remote, "closed the connection before its LNK_JOIN");
            }
            closed = true;
            timer.cancel(false);
        }
    }
}
