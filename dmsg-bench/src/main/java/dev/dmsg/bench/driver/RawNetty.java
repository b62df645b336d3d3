package dev.dmsg.bench.driver;

import static dev.dmsg.bench.driver.BenchProtocol.RAW_CTRL;
import static dev.dmsg.bench.driver.BenchProtocol.RAW_DATA;
import static dev.dmsg.bench.driver.BenchProtocol.RAW_ECHO;
import static dev.dmsg.bench.driver.BenchProtocol.RAW_MAX_FRAME;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.LengthFieldBasedFrameDecoder;
import io.netty.util.concurrent.DefaultThreadFactory;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CompletableFuture;
import java.util.function.Function;

/**
 * The baseline: the smallest honest Netty application doing what a DMSG link does for each
 * scenario, with the same transport (epoll unless {@code -Ddmsg.transport=nio}, as
 * {@code LinkEndpoint}), TCP_NODELAY, one I/O thread a side and the same water marks as a link
 * (512 KiB / 1 MiB). Frames are {@code [u32 length][body]} cut by Netty's
 * {@link LengthFieldBasedFrameDecoder}; the body's first byte is its kind ({@link BenchProtocol}).
 * Echo sends the received frame back without copying; one-way data is counted and dropped.
 */
final class RawNetty {
    private RawNetty() {}

    static final int LOW_WATER = 512 * 1024;
    static final int HIGH_WATER = 1 << 20;

    static boolean epoll() {
        return Epoll.isAvailable() && !"nio".equals(System.getProperty("dmsg.transport"));
    }

    /** I/O threads named {@code raw-netty-…}, so that profiles tell them from the DMSG link's. */
    static EventLoopGroup group(int threads) {
        IoHandlerFactory f = epoll() ? EpollIoHandler.newFactory() : NioIoHandler.newFactory();
        return new MultiThreadIoEventLoopGroup(threads, new DefaultThreadFactory("raw-netty"), f);
    }

    /** A frame of {@code bodyBytes} (kind byte included), the rest zero. */
    static ByteBuf frame(ByteBufAllocator alloc, byte kind, int bodyBytes) {
        ByteBuf b = alloc.ioBuffer(4 + bodyBytes);
        b.writeInt(bodyBytes).writeByte(kind).writeZero(bodyBytes - 1);
        return b;
    }

    static ByteBuf ctrlFrame(ByteBufAllocator alloc, String text) {
        byte[] t = text.getBytes(StandardCharsets.UTF_8);
        ByteBuf b = alloc.ioBuffer(5 + t.length);
        b.writeInt(1 + t.length).writeByte(RAW_CTRL).writeBytes(t);
        return b;
    }

    /** Frames keep their length prefix, so an echo is the received buffer written back. */
    static LengthFieldBasedFrameDecoder framer() {
        return new LengthFieldBasedFrameDecoder(RAW_MAX_FRAME, 0, 4, 0, 0);
    }

    static byte kind(ByteBuf frame) {
        return frame.getByte(frame.readerIndex() + 4);
    }

    // ---- server ----

    /** Binds the raw server; {@code control} answers RAW_CTRL text commands (on the I/O thread). */
    static Channel listen(EventLoopGroup group, String host, int port, BenchServer.Sink sink,
                          Function<String, String> control) throws InterruptedException {
        ServerBootstrap b = new ServerBootstrap()
            .group(group)
            .channel(epoll() ? EpollServerSocketChannel.class : NioServerSocketChannel.class)
            .option(ChannelOption.SO_REUSEADDR, true)
            .childOption(ChannelOption.TCP_NODELAY, true)
            .childOption(ChannelOption.WRITE_BUFFER_WATER_MARK, new WriteBufferWaterMark(LOW_WATER, HIGH_WATER))
            .childHandler(new ChannelInitializer<SocketChannel>() {
                @Override
                protected void initChannel(SocketChannel ch) {
                    ch.pipeline().addLast(framer(), new ServerHandler(sink, control));
                }
            });
        return b.bind(host, port).sync().channel();
    }

    static final class ServerHandler extends ChannelInboundHandlerAdapter {
        private final BenchServer.Sink sink;
        private final Function<String, String> control;

        ServerHandler(BenchServer.Sink sink, Function<String, String> control) {
            this.sink = sink;
            this.control = control;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ByteBuf f = (ByteBuf) msg;
            switch (kind(f)) {
                case RAW_DATA -> {
                    sink.take(f.readableBytes() - 4);
                    f.release();
                }
                case RAW_ECHO -> ctx.write(f, ctx.voidPromise());
                case RAW_CTRL -> {
                    String text = f.toString(f.readerIndex() + 5, f.readableBytes() - 5, StandardCharsets.UTF_8);
                    f.release();
                    ctx.write(ctrlFrame(ctx.alloc(), control.apply(text)), ctx.voidPromise());
                }
                default -> {
                    f.release();
                    ctx.close();
                }
            }
        }

        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) {
            ctx.flush();
        }

        /** As a DMSG link does: stop reading while our own output is backed up. */
        @Override
        public void channelWritabilityChanged(ChannelHandlerContext ctx) {
            ctx.channel().config().setAutoRead(ctx.channel().isWritable());
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            ctx.close();
        }
    }

    // ---- client ----

    /** What a scenario does with the frames coming back and with writability. I/O thread only. */
    interface Driver {
        void onFrame(ByteBuf frame);

        default void onWritable() {}
    }

    static final class Client extends ChannelInboundHandlerAdapter {
        Channel channel;
        /** The scenario running on this connection; set on the I/O thread. */
        Driver driver;
        private CompletableFuture<String> ctrl;
        final CompletableFuture<Void> closed = new CompletableFuture<>();

        static Client connect(EventLoopGroup group, String host, int port) throws Exception {
            Client c = new Client();
            Bootstrap b = new Bootstrap()
                .group(group)
                .channel(epoll() ? EpollSocketChannel.class : NioSocketChannel.class)
                .option(ChannelOption.TCP_NODELAY, true)
                .option(ChannelOption.WRITE_BUFFER_WATER_MARK, new WriteBufferWaterMark(LOW_WATER, HIGH_WATER))
                .handler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        ch.pipeline().addLast(framer(), c);
                    }
                });
            c.channel = b.connect(new InetSocketAddress(host, port)).sync().channel();
            return c;
        }

        /**
         * Sends a control command; the answer completes the future. Frames already written on
         * this connection reach the server first. One at a time. Any thread.
         */
        CompletableFuture<String> control(String text) {
            CompletableFuture<String> f = new CompletableFuture<>();
            channel.eventLoop().execute(() -> {
                if (ctrl != null) {
                    f.completeExceptionally(new IllegalStateException("a control request is already pending"));
                    return;
                }
                ctrl = f;
                channel.writeAndFlush(ctrlFrame(channel.alloc(), text), channel.voidPromise());
            });
            return f;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ByteBuf f = (ByteBuf) msg;
            try {
                if (kind(f) == RAW_CTRL) {
                    CompletableFuture<String> c = ctrl;
                    ctrl = null;
                    if (c != null) {
                        c.complete(f.toString(f.readerIndex() + 5, f.readableBytes() - 5, StandardCharsets.UTF_8));
                    }
                } else if (driver != null) {
                    driver.onFrame(f);
                }
            } finally {
                f.release();
            }
        }

        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) {
            ctx.flush();
        }

        @Override
        public void channelWritabilityChanged(ChannelHandlerContext ctx) {
            if (ctx.channel().isWritable() && driver != null) {
                driver.onWritable();
            }
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            if (ctrl != null) {
                ctrl.completeExceptionally(new IllegalStateException("raw connection closed"));
            }
            closed.complete(null);
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            if (ctrl != null) {
                ctrl.completeExceptionally(cause);
                ctrl = null;
            }
            ctx.close();
        }

        void close() {
            channel.close().syncUninterruptibly();
        }
    }
}
