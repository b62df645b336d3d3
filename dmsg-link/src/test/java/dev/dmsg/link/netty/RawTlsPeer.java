package dev.dmsg.link.netty;

import dev.dmsg.link.tls.NodeKeys;
import dev.dmsg.wire.FrameEncoder;
import dev.dmsg.wire.Message;
import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.util.InsecureTrustManagerFactory;
import io.netty.util.ReferenceCountUtil;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * A peer that holds a key but not our link layer: after a TLS 1.3 handshake with {@code keys} it
 * writes {@code frames} as they are (whatever they break) and drops what comes back. For tests
 * of what a listener does with a misbehaving authenticated peer.
 */
final class RawTlsPeer {
    private RawTlsPeer() {}

    /** Connects to 127.0.0.1:{@code port}; completes when the connection closes. Takes the frames. */
    static CompletableFuture<Void> send(EventLoopGroup group, int port, NodeKeys keys, List<Message> frames)
            throws Exception {
        SslContext ctx = SslContextBuilder.forClient().keyManager(keys.privateKey(), keys.certificate())
            .trustManager(InsecureTrustManagerFactory.INSTANCE).protocols("TLSv1.3").build();
        CompletableFuture<Void> closed = new CompletableFuture<>();
        Channel ch = new Bootstrap().group(group).channel(NioSocketChannel.class)
            .handler(new ChannelInitializer<SocketChannel>() {
                @Override
                protected void initChannel(SocketChannel c) {
                    SslHandler ssl = ctx.newHandler(c.alloc(), "127.0.0.1", port);
                    c.pipeline().addLast(ssl, new ChannelInboundHandlerAdapter() {
                        @Override
                        public void channelRead(ChannelHandlerContext x, Object msg) {
                            ReferenceCountUtil.release(msg);
                        }

                        @Override
                        public void channelInactive(ChannelHandlerContext x) {
                            closed.complete(null);
                        }

                        @Override
                        public void exceptionCaught(ChannelHandlerContext x, Throwable cause) {
                            x.close();
                        }
                    });
                    ssl.handshakeFuture().addListener(f -> {
                        FrameEncoder enc = new FrameEncoder();
                        ByteBuf out = Unpooled.buffer();
                        for (Message m : frames) {
                            enc.encode(m, out);
                            m.release();
                        }
                        c.writeAndFlush(out);
                    });
                }
            }).connect("127.0.0.1", port).sync().channel();
        closed.whenComplete((v, e) -> ch.close());
        return closed;
    }
}
