package dev.dmsg.services.nbd;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.IoEventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioServerDomainSocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.unix.DomainSocketAddress;
import java.io.IOException;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * Binds an {@link NbdServer}'s listening socket: TCP, or a Unix-domain socket (docs/BLK.md "Unix
 * socket"), on an epoll group where there is one, else NIO; makes the event-loop group when the
 * caller gave none, and shuts it down again if binding fails. {@link NbdServer.Builder#bind} and
 * {@link NbdServer.Builder#bindUnix} call it once; nothing here runs after the server started.
 */
final class NbdListener {
    private NbdListener() {}

    /** The bound listener, and the Unix socket file it published (null on TCP). */
    record Bound(Channel channel, UnixSocketFile socket) {}

    interface Binder {
        Bound bind(NbdAcceptor acceptor, IoEventLoopGroup group) throws Exception;
    }

    /** {@code host:port} (port 0: ephemeral). */
    static Binder tcp(String host, int port) {
        return (acceptor, g) -> {
            Class<? extends ServerChannel> channelClass = g.isIoType(EpollIoHandler.class)
                ? EpollServerSocketChannel.class : NioServerSocketChannel.class;
            ServerBootstrap b = bootstrap(acceptor, g, channelClass)
                .option(ChannelOption.SO_REUSEADDR, true)
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childOption(ChannelOption.SO_KEEPALIVE, true);
            return new Bound(b.bind(host, port).sync().channel(), null);
        };
    }

    /**
     * A Unix-domain socket bound in a private directory and then published at
     * {@code socket.path()} (docs/BLK.md "Unix socket"). On epoll the channel is epoll's (its
     * SO_PEERCRED names each client's user); on NIO, the JDK's.
     */
    static Binder unix(UnixSocketFile socket) {
        return (acceptor, g) -> {
            socket.clear();
            Path dir = socket.bindDirectory();
            Path bound = dir.resolve("s");
            try {
                boolean epoll = g.isIoType(EpollIoHandler.class);
                Class<? extends ServerChannel> channelClass = epoll
                    ? EpollServerDomainSocketChannel.class : NioServerDomainSocketChannel.class;
                SocketAddress address = epoll ? new DomainSocketAddress(bound.toString())
                    : UnixDomainSocketAddress.of(bound);
                Channel ch = bootstrap(acceptor, g, channelClass).bind(address).sync().channel();
                try {
                    socket.publish(bound);
                } catch (IOException | RuntimeException e) {
                    ch.close().awaitUninterruptibly();
                    throw e;
                }
                return new Bound(ch, socket);
            } finally {
                UnixSocketFile.discard(dir, bound);
            }
        };
    }

    private static ServerBootstrap bootstrap(NbdAcceptor acceptor, IoEventLoopGroup g,
                                             Class<? extends ServerChannel> channelClass) {
        return new ServerBootstrap()
            .group(g)
            .channel(channelClass)
            .option(ChannelOption.SO_BACKLOG, 128)
            .childHandler(new ChannelInitializer<Channel>() {
                @Override
                protected void initChannel(Channel ch) {
                    acceptor.accept(ch);
                }
            });
    }

    /**
     * Binds with {@code binder} on {@code group}, or on a group of {@code ioThreads} made here
     * (and owned by the server) when it is null; blocks until bound.
     */
    static NbdServer start(NbdConfig config, IoEventLoopGroup group, int ioThreads, Binder binder)
            throws InterruptedException {
        boolean owns = group == null;
        IoEventLoopGroup g = owns ? new MultiThreadIoEventLoopGroup(ioThreads,
            Epoll.isAvailable() && !"nio".equals(System.getProperty("dmsg.transport"))
                ? EpollIoHandler.newFactory() : NioIoHandler.newFactory()) : group;
        NbdAcceptor acceptor = new NbdAcceptor(config);
        try {
            Bound bound = binder.bind(acceptor, g);
            return new NbdServer(config, g, owns, bound.channel(), bound.socket(), acceptor);
        } catch (InterruptedException | RuntimeException e) {
            if (owns) {
                g.shutdownGracefully(0, 1, TimeUnit.SECONDS);
            }
            throw e;
        } catch (Exception e) {
            // bind failures (java.net.BindException, a path in the way) arrive undeclared
            if (owns) {
                g.shutdownGracefully(0, 1, TimeUnit.SECONDS);
            }
            throw sneaky(e);
        }
    }

    @SuppressWarnings("unchecked")
    private static <E extends Throwable> RuntimeException sneaky(Throwable e) throws E {
        throw (E) e;
    }
}
