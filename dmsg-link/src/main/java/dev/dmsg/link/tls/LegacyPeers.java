package dev.dmsg.link.tls;

import dev.dmsg.link.Link;
import java.net.InetSocketAddress;

/**
 * Peers allowed to speak plaintext DMSG without LNK_AUTH (docs/SECURITY.md §6): 2013 C nodes,
 * configured one by one like the C code's {@code remote/<ip>.none}. On such a link no TLS, AUTH,
 * PING or PAD is used, and the peer has the configured role.
 */
@FunctionalInterface
public interface LegacyPeers {
    /**
     * The role of a plaintext peer at {@code address} — for a connection we accept, its source
     * address (any port); for one we make, the address we dial — or {@code null}: plaintext from
     * or to it is refused.
     */
    Role plaintextRole(InetSocketAddress address);

    /** For a connection we accept from {@code from} (its source port is random). */
    default Role inbound(InetSocketAddress from) {
        return plaintextRole(from);
    }

    /** For a connection we make to {@code to}. */
    default Role outbound(InetSocketAddress to) {
        return plaintextRole(to);
    }

    /** Nobody: every link runs TLS. */
    LegacyPeers NONE = a -> null;

    /** How a legacy peer appears as {@link Link#peer()}: no key, its address and role. */
    static PeerIdentity identity(InetSocketAddress address, Role role) {
        return new PeerIdentity("legacy@" + address.getAddress().getHostAddress(), "none (plaintext)", role, 0);
    }
}
