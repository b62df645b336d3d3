package dev.dmsg.services.nbd;

import io.netty.channel.Channel;
import io.netty.channel.ChannelOption;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.util.concurrent.GlobalEventExecutor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Admits or refuses each accepted connection (docs/BLK.md "Limits": the caps, their counters, the
 * rate-limited refusal line) and keeps the open ones; exists before the listener is bound, so no
 * connection can arrive before it. Runs on the event loop of the connection it is given.
 */
final class NbdAcceptor {
    /** The server's logger: refusals are part of what an operator reads as the server's story. */
    private static final Logger log = LoggerFactory.getLogger(NbdServer.class);

    final NbdConfig config;
    final ChannelGroup connections = new DefaultChannelGroup("nbd", GlobalEventExecutor.INSTANCE);
    volatile boolean closing;

    NbdAcceptor(NbdConfig config) {
        this.config = config;
    }

    void accept(Channel ch) {
        NbdPeer client = NbdPeer.of(ch);
        if (closing) {
            ch.close();
            return;
        }
        ConnectionCaps.Refusal refused = config.caps.admit(client.key());
        if (refused != null) {
            String why;
            if (refused == ConnectionCaps.Refusal.TOTAL) {
                config.stats.refusedTotalCap.increment();
                why = config.caps.open() + " connections open (limit " + config.caps.maxTotal() + ")";
            } else {
                config.stats.refusedPerClientCap.increment();
                why = config.caps.openFrom(client.key()) + " connections from " + client.keyText() + " open (limit "
                    + config.caps.maxPerClient() + " per client)";
            }
            long n = config.stats.refusedTotalCap.sum() + config.stats.refusedPerClientCap.sum();
            String more = config.refusalLog.admit();
            if (more != null) {
                log.warn("nbd: refused ({} so far): connection from {}: {}{}", n, client.text(), why, more);
            }
            ch.config().setOption(ChannelOption.SO_LINGER, 0); // a reset: no TIME_WAIT left per refusal
            ch.close();
            return;
        }
        config.stats.accepted.increment();
        ch.closeFuture().addListener(f -> config.caps.release(client.key()));
        connections.add(ch);
        if (closing) { // close() may have looked at the connections before this one was added
            ch.close();
            return;
        }
        ch.pipeline().addLast(NbdConnection.NAME, new NbdConnection(config, client));
    }
}
