package dev.dmsg.link;

import dev.dmsg.wire.Dmsg;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * What a node serves: acceptors for transactions the peer opens, by base command ({@code icmd}),
 * and handlers for one-way messages, by base command. Shared by all links of a node; safe to
 * change at any time from any thread.
 *
 * <p>LNK_CONN, LNK_PING and LNK_PAD are handled by the link itself and cannot be registered.
 */
public final class Services {
    private final Map<Integer, Acceptor> acceptors = new ConcurrentHashMap<>();
    private final Map<Integer, OneWayHandler> oneWay = new ConcurrentHashMap<>();

    /** Registers {@code acceptor} for transactions opened with {@code cmd} (flags ignored). */
    public Services accept(int cmd, Acceptor acceptor) {
        int base = checkRegistrable(cmd);
        acceptors.put(base, acceptor);
        return this;
    }

    /** Registers {@code handler} for one-way messages with {@code cmd} (REPLY is part of the key). */
    public Services oneWay(int cmd, OneWayHandler handler) {
        checkRegistrable(cmd);
        oneWay.put(cmd & Dmsg.CMDSWMASK, handler);
        return this;
    }

    public void remove(int cmd) {
        acceptors.remove(cmd & Dmsg.BASECMDMASK);
        oneWay.remove(cmd & Dmsg.CMDSWMASK);
        oneWay.remove((cmd | Dmsg.REPLY) & Dmsg.CMDSWMASK);
    }

    Acceptor acceptor(int icmd) {
        return acceptors.get(icmd & Dmsg.BASECMDMASK);
    }

    OneWayHandler oneWayHandler(int cmd) {
        return oneWay.get(cmd & Dmsg.CMDSWMASK);
    }

    private static int checkRegistrable(int cmd) {
        int base = cmd & Dmsg.BASECMDMASK;
        if (base == Dmsg.LNK_CONN || base == Dmsg.LNK_PING || base == Dmsg.LNK_PAD) {
            throw new IllegalArgumentException(dev.dmsg.wire.Command.nameOf(cmd) + " is handled by the link itself");
        }
        return base;
    }
}
