package dev.dmsg.services.nbd;

import io.netty.channel.Channel;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.unix.PeerCredentials;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;

/**
 * Who a connection comes from: the key its caps and budget are counted under (docs/BLK.md
 * "Limits": a source address, or a local user on a Unix socket), and how logs name it.
 */
record NbdPeer(Object key, String text, String host, int port) {
    /** The key as log lines say it: an address, or "uid 1000". */
    String keyText() {
        return key instanceof InetAddress a ? a.getHostAddress() : key.toString();
    }

    static NbdPeer of(Channel ch) {
        SocketAddress remote = ch.remoteAddress();
        if (remote instanceof InetSocketAddress a) {
            String host = a.getAddress().getHostAddress();
            return new NbdPeer(a.getAddress(), host + ":" + a.getPort(), host, a.getPort());
        }
        // A Unix socket: SO_PEERCRED names the local user (epoll only); its connections share one budget.
        if (ch instanceof EpollDomainSocketChannel d) {
            try {
                PeerCredentials c = d.peerCredentials();
                return new NbdPeer("uid " + c.uid(), "unix uid " + c.uid() + " pid " + c.pid(), null, -1);
            } catch (IOException e) {
                // fall through: unknown user
            }
        }
        return new NbdPeer("unix", "unix socket client", null, -1);
    }
}
