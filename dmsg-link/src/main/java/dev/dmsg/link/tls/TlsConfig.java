package dev.dmsg.link.tls;

import java.time.Duration;
import java.util.Objects;

/**
 * TLS for a node's links (docs/SECURITY.md §3): our keys, whom we trust, which TLS implementation
 * runs the handshake, and how long it may take. Carried by {@code LinkConfig.tls()}; without it a
 * link is plaintext.
 *
 * @param keys our key pair and certificate, presented to every peer
 * @param trust the pinned peer keys we accept
 * @param provider which TLS implementation to use
 * @param handshakeTimeout the TLS handshake plus the peer's first frame must arrive within this
 *     (docs/SECURITY.md §7); the connection is closed after it
 * @param legacy the peers allowed to speak plaintext instead (docs/SECURITY.md §6)
 * @param maxUnauthenticated connections a listener holds that have not finished TLS and their
 *     first frame; one more is closed at once, counted and logged (docs/SECURITY.md §7)
 * @param maxUnauthenticatedPerAddress the same from one source address, so that one address
 *     flooding cannot keep the others out
 */
public record TlsConfig(NodeKeys keys, TrustPolicy trust, Provider provider, Duration handshakeTimeout,
                        LegacyPeers legacy, int maxUnauthenticated, int maxUnauthenticatedPerAddress) {
    /** docs/SECURITY.md §7: far more than honest peers open at once, far fewer than hurt. */
    public static final int DEFAULT_MAX_UNAUTHENTICATED = 64;
    public static final int DEFAULT_MAX_UNAUTHENTICATED_PER_ADDRESS = 16;

    /** docs/SECURITY.md §7. */
    public static final Duration DEFAULT_HANDSHAKE_TIMEOUT = Duration.ofSeconds(10);

    /** The TLS implementation. */
    public enum Provider {
        /** The JDK's own (SunJSSE): always there. The default. */
        JDK,
        /** BoringSSL through netty-tcnative; refused at start if it cannot be loaded here. */
        OPENSSL,
        /** OPENSSL where it can be loaded, else JDK. */
        AUTO
    }

    public TlsConfig {
        Objects.requireNonNull(keys, "keys");
        Objects.requireNonNull(trust, "trust");
        Objects.requireNonNull(provider, "provider");
        Objects.requireNonNull(handshakeTimeout, "handshakeTimeout");
        Objects.requireNonNull(legacy, "legacy");
        if (maxUnauthenticated < 1 || maxUnauthenticatedPerAddress < 1) {
            throw new IllegalArgumentException("maxUnauthenticated and maxUnauthenticatedPerAddress must be >= 1, not "
                + maxUnauthenticated + " and " + maxUnauthenticatedPerAddress);
        }
        if (handshakeTimeout.isNegative() || handshakeTimeout.isZero()) {
            throw new IllegalArgumentException("handshake timeout must be positive, not " + handshakeTimeout);
        }
    }

    /** The JDK provider and the 10 s handshake timeout. */
    public static TlsConfig of(NodeKeys keys, TrustPolicy trust) {
        return new TlsConfig(keys, trust, Provider.JDK, DEFAULT_HANDSHAKE_TIMEOUT, LegacyPeers.NONE,
            DEFAULT_MAX_UNAUTHENTICATED, DEFAULT_MAX_UNAUTHENTICATED_PER_ADDRESS);
    }

    public TlsConfig withProvider(Provider p) {
        return new TlsConfig(keys, trust, p, handshakeTimeout, legacy, maxUnauthenticated, maxUnauthenticatedPerAddress);
    }

    public TlsConfig withHandshakeTimeout(Duration d) {
        return new TlsConfig(keys, trust, provider, d, legacy, maxUnauthenticated, maxUnauthenticatedPerAddress);
    }

    public TlsConfig withLegacy(LegacyPeers l) {
        return new TlsConfig(keys, trust, provider, handshakeTimeout, l, maxUnauthenticated, maxUnauthenticatedPerAddress);
    }

    public TlsConfig withMaxUnauthenticated(int n) {
        return new TlsConfig(keys, trust, provider, handshakeTimeout, legacy, n, maxUnauthenticatedPerAddress);
    }

    public TlsConfig withMaxUnauthenticatedPerAddress(int n) {
        return new TlsConfig(keys, trust, provider, handshakeTimeout, legacy, maxUnauthenticated, n);
    }
}
