package dev.dmsg.services.node;

import dev.dmsg.link.tls.LegacyPeers;
import dev.dmsg.link.tls.NodeKeys;
import dev.dmsg.link.tls.Role;
import dev.dmsg.link.tls.TlsConfig;
import dev.dmsg.link.tls.TrustPolicy;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Objects;

/**
 * How a node secures its links (docs/SECURITY.md): TLS 1.3 with its key and trust store, which
 * provider runs it, the handshake timeout, and the legacy peers allowed to speak plaintext.
 *
 * @param tls TLS on every link (the default); {@code false} only for tests of other layers
 * @param legacy plaintext peers (2013 C nodes), each with its role
 * @param keyDir where the node's key, certificate and trust store live when not in its data
 *     directory: a guest node ({@code dmsg nbd}, {@code dmsg blk}) runs with a scratch data
 *     directory and the operator's identity ({@code ~/.dmsg}); {@code null}: the data directory
 */
public record Security(boolean tls, TlsConfig.Provider provider, Duration handshakeTimeout, List<LegacyPeer> legacy,
                       Path keyDir) {
    public Security {
        Objects.requireNonNull(provider, "provider");
        Objects.requireNonNull(handshakeTimeout, "handshakeTimeout");
        legacy = List.copyOf(legacy);
    }

    public Security(boolean tls, TlsConfig.Provider provider, Duration handshakeTimeout, List<LegacyPeer> legacy) {
        this(tls, provider, handshakeTimeout, legacy, null);
    }

    /** Keys and trust from {@code dir} rather than the data directory. */
    public Security withKeyDir(Path dir) {
        return new Security(tls, provider, handshakeTimeout, legacy, dir);
    }

    /**
     * TLS with BoringSSL where it loads, else the JDK's (BoringSSL measured faster in every
     * scenario, docs/BENCHMARKS.md "TLS"), a 10 s handshake timeout, no legacy peer.
     */
    public static Security defaults() {
        return new Security(true, TlsConfig.Provider.AUTO, TlsConfig.DEFAULT_HANDSHAKE_TIMEOUT, List.of());
    }

    /** No TLS at all: every link plaintext and every peer an admin, as before the security issue. Tests only. */
    public static Security plaintextForTests() {
        return new Security(false, TlsConfig.Provider.JDK, TlsConfig.DEFAULT_HANDSHAKE_TIMEOUT, List.of());
    }

    public Security withLegacy(List<LegacyPeer> peers) {
        return new Security(tls, provider, handshakeTimeout, peers, keyDir);
    }

    /**
     * One plaintext peer: {@code HOST=ROLE} accepts plaintext from HOST (any source port);
     * {@code HOST:PORT=ROLE} also dials HOST:PORT in plaintext. A host-only entry never makes this
     * node dial plaintext: its other peers on that host (TLS nodes) are unaffected.
     */
    public record LegacyPeer(InetAddress address, int port, Role role) {
        /**
         * Parses {@code 10.0.0.9=member} or {@code 10.0.0.9:987=member}.
         *
         * @throws IllegalArgumentException for a wildcard address (plaintext from anyone is
         *     refused, docs/SECURITY.md §6), an unknown host or role, a bad port
         */
        public static LegacyPeer parse(String s) {
            int eq = s.lastIndexOf('=');
            if (eq < 0) {
                throw new IllegalArgumentException("legacy peer '" + s + "': expected HOST[:PORT]=ROLE");
            }
            Role role = Role.parse(s.substring(eq + 1));
            String hp = s.substring(0, eq).trim();
            String host = hp;
            int port = 0;
            int colon = hp.lastIndexOf(':');
            if (colon > 0 && hp.indexOf(':') == colon) { // one colon: HOST:PORT (IPv6 addresses take no port here)
                host = hp.substring(0, colon);
                try {
                    port = Integer.parseInt(hp.substring(colon + 1));
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException("legacy peer '" + s + "': bad port '" + hp.substring(colon + 1) + "'");
                }
                if (port < 1 || port > 65535) {
                    throw new IllegalArgumentException("legacy peer '" + s + "': port " + port + " is not 1..65535");
                }
            }
            if (host.isEmpty() || host.equals("*")) {
                throw new IllegalArgumentException("legacy peer '" + s + "': plaintext from any address is refused; "
                    + "name each legacy peer (docs/SECURITY.md §6)");
            }
            InetAddress a;
            try {
                a = InetAddress.getByName(host);
            } catch (UnknownHostException e) {
                throw new IllegalArgumentException("legacy peer '" + s + "': unknown host '" + host + "'");
            }
            if (a.isAnyLocalAddress()) {
                throw new IllegalArgumentException("legacy peer '" + s + "': " + host + " means any address; plaintext "
                    + "from anyone is refused (docs/SECURITY.md §6)");
            }
            return new LegacyPeer(a, port, role);
        }

        boolean matchesInbound(InetSocketAddress from) {
            return from.getAddress() != null && from.getAddress().equals(address);
        }

        boolean matchesOutbound(InetSocketAddress to) {
            return port != 0 && to.getAddress() != null && to.getAddress().equals(address) && to.getPort() == port;
        }

        @Override
        public String toString() {
            return address.getHostAddress() + (port == 0 ? "" : ":" + port) + "=" + role.word();
        }
    }

    /** The link layer's TLS settings for a node with {@code keys} and {@code trust}; {@code null} without keys. */
    TlsConfig tlsConfig(NodeKeys keys, TrustPolicy trust) {
        return keys == null ? null : new TlsConfig(keys, trust, provider, handshakeTimeout, legacyPeers(),
            TlsConfig.DEFAULT_MAX_UNAUTHENTICATED, TlsConfig.DEFAULT_MAX_UNAUTHENTICATED_PER_ADDRESS);
    }

    /** The legacy peers as the link layer asks for them. */
    LegacyPeers legacyPeers() {
        if (legacy.isEmpty()) {
            return LegacyPeers.NONE;
        }
        return new LegacyPeers() {
            @Override
            public Role plaintextRole(InetSocketAddress address) {
                Role r = inbound(address);
                return r != null ? r : outbound(address);
            }

            @Override
            public Role inbound(InetSocketAddress from) {
                for (LegacyPeer p : legacy) {
                    if (p.matchesInbound(from)) {
                        return p.role();
                    }
                }
                return null;
            }

            @Override
            public Role outbound(InetSocketAddress to) {
                for (LegacyPeer p : legacy) {
                    if (p.matchesOutbound(to)) {
                        return p.role();
                    }
                }
                return null;
            }
        };
    }
}
