package dev.dmsg.link;

import dev.dmsg.wire.Command;
import dev.dmsg.wire.Dmsg;
import io.netty.util.collection.IntObjectHashMap;
import io.netty.util.collection.IntObjectMap;

/**
 * What a node serves: acceptors for transactions the peer opens, by base command ({@code icmd}),
 * and handlers for one-way messages, by base command plus REPLY. Shared by all links of a node;
 * safe to change at any time from any thread.
 *
 * <p>Lookups happen for every received message, registrations rarely: each registration
 * replaces an immutable map (copy-on-write), so a lookup is one unboxed hash probe, no lock.
 *
 * <p>LNK_CONN, LNK_PING and LNK_PAD are handled by the link itself and cannot be registered.
 */
public final class Services {
    private volatile IntObjectMap<Acceptor> acceptors = new IntObjectHashMap<>();
    private volatile IntObjectMap<OneWayHandler> oneWay = new IntObjectHashMap<>();

    /** Registers {@code acceptor} for transactions opened with {@code cmd} (flags ignored). */
    public synchronized Services accept(int cmd, Acceptor acceptor) {
        acceptors = with(acceptors, checkRegistrable(cmd), acceptor);
        return this;
    }

    /** Registers {@code handler} for one-way messages with {@code cmd} (REPLY is part of the key). */
    public synchronized Services oneWay(int cmd, OneWayHandler handler) {
        checkRegistrable(cmd);
        oneWay = with(oneWay, cmd & Dmsg.CMDSWMASK, handler);
        return this;
    }

    /** Removes every registration for {@code cmd}, with and without REPLY. */
    public synchronized void remove(int cmd) {
        acceptors = with(acceptors, cmd & Dmsg.BASECMDMASK, null);
        oneWay = with(with(oneWay, cmd & Dmsg.BASECMDMASK, null), (cmd | Dmsg.REPLY) & Dmsg.CMDSWMASK, null);
    }

    Acceptor acceptor(int icmd) {
        return acceptors.get(icmd & Dmsg.BASECMDMASK);
    }

    OneWayHandler oneWayHandler(int cmd) {
        return oneWay.get(cmd & Dmsg.CMDSWMASK);
    }

    private static <T> IntObjectMap<T> with(IntObjectMap<T> map, int key, T value) {
        IntObjectHashMap<T> copy = new IntObjectHashMap<>(Math.max(8, map.size() * 2));
        copy.putAll(map);
        if (value == null) {
            copy.remove(key);
        } else {
            copy.put(key, value);
        }
        return copy;
    }

    private static int checkRegistrable(int cmd) {
        int base = cmd & Dmsg.BASECMDMASK;
        if (base == Dmsg.LNK_CONN || base == Dmsg.LNK_PING || base == Dmsg.LNK_PAD) {
            throw new IllegalArgumentException(Command.nameOf(cmd) + " is handled by the link itself");
        }
        return base;
    }
}
