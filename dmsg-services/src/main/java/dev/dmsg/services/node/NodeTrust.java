package dev.dmsg.services.node;

import com.fasterxml.jackson.annotation.JsonInclude;
import dev.dmsg.link.LogLimiter;
import dev.dmsg.link.tls.CaIssuer;
import dev.dmsg.link.tls.CaTrust;
import dev.dmsg.link.tls.CertProfile;
import dev.dmsg.link.tls.ClusterCa;
import dev.dmsg.link.tls.ClusterTrust;
import dev.dmsg.link.tls.JoinResponder;
import dev.dmsg.link.tls.NodeKeys;
import dev.dmsg.link.tls.PeerIdentity;
import dev.dmsg.link.tls.Refusal;
import dev.dmsg.link.tls.Revocations;
import dev.dmsg.link.tls.Role;
import dev.dmsg.link.tls.TrustPolicy;
import dev.dmsg.link.tls.TrustStore;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.security.GeneralSecurityException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A node's trust, in the order of docs/IDENTITY.md §1: its own key as an admin — whoever holds
 * the node's private key (owner-only, in its data directory) is the node, so {@code dmsg shell
 * --identity DATA_DIR} run by the node's owner needs no trust entry (docs/SECURITY.md §2) —, then
 * its trust store, then the cluster CA of {@code DATA/ca/} if it has one ({@code ca.crt}, the
 * revocation list {@code crl.pem}); and, on a node with an issuer ({@code DATA/ca/issuer.*}), the
 * answer to join requests. Thread-safe, as its parts are.
 *
 * <p>{@link #poll} looks at the trust store and the revocation list and says whether either
 * changed, so that the node can re-identify its links' peers ({@code LinkEndpoint.revalidate}).
 * The anchor and the issuer are read at start.
 */
public final class NodeTrust implements TrustPolicy, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger("dmsg.node");
    private final NodeKeys keys;
    private final PeerIdentity self;
    private final TrustStore store;
    private final Revocations revocations;
    private final CaTrust ca;
    private final CaIssuer issuer;
    private final ClusterTrust order;
    /** The store's peers when {@link #poll} last looked: a re-read makes a new list. */
    private volatile List<PeerIdentity> lastPins;
    /**
     * The trust store file's mtime, size and inode when {@link #poll} last looked. The list alone
     * cannot tell: an empty store is always the same empty list, so a key added and removed
     * between two polls (and its link made meanwhile) would go unseen.
     */
    private volatile List<Object> lastStamp;

    /** Pinned keys only: the node's own, and its store. */
    public NodeTrust(NodeKeys keys, TrustStore store) {
        this(keys, store, null, null, null);
    }

    private NodeTrust(NodeKeys keys, TrustStore store, Revocations revocations, CaTrust ca, CaIssuer issuer) {
        this.keys = keys;
        this.self = new PeerIdentity(keys.label(), keys.fingerprint(), Role.ADMIN, 0);
        this.store = store;
        this.revocations = revocations;
        this.ca = ca;
        this.issuer = issuer;
        TrustPolicy pins = new TrustPolicy() {
            @Override
            public PeerIdentity byFingerprint(String fingerprint) {
                return NodeTrust.this.byFingerprint(fingerprint);
            }

            @Override
            public PeerIdentity byName(String name) {
                return NodeTrust.this.byName(name);
            }
        };
        this.order = new ClusterTrust(pins, ca, issuer);
        this.lastPins = store.list();
        this.lastStamp = stamp(store.file());
    }

    private static List<Object> stamp(Path f) {
        try {
            var a = Files.readAttributes(f, BasicFileAttributes.class);
            return Arrays.asList(a.lastModifiedTime(), a.size(), a.fileKey());
        } catch (IOException e) {
            return List.of(); // missing (or unreadable: the store says which)
        }
    }

    /**
     * The trust a node starts with: its key (made on first start) and trust store from the key
     * directory, or the data directory ({@link Security#keyDir()}), and what {@link #open} adds; the
     * node's issuer only in its own data directory. {@code null} without TLS.
     */
    static NodeTrust load(Security security, Path dataDir, String label) throws IOException {
        if (!security.tls()) {
            return null;
        }
        Path kd = security.keyDir() != null ? security.keyDir() : dataDir;
        NodeKeys keys = NodeKeys.loadOrCreate(kd, label);
        return open(kd, keys, TrustStore.open(kd), security.keyDir() == null);
    }

    NodeKeys keys() {
        return keys;
    }

    TrustStore store() {
        return store;
    }

    /**
     * The trust of the node whose keys and trust store live in {@code dir}: with the cluster CA
     * of {@code dir/ca/} if it has one, and, if {@code issue}, its issuer answering join requests.
     *
     * @throws IOException naming the file and what is wrong (an unreadable anchor, a revocation
     *     list the anchor did not sign, an issuer whose key does not match)
     */
    public static NodeTrust open(Path dir, NodeKeys keys, TrustStore store, boolean issue) throws IOException {
        Path caDir = dir.resolve(ClusterCa.NODE_DIR);
        Path anchorFile = caDir.resolve(ClusterCa.CERT_FILE);
        if (!Files.exists(anchorFile)) {
            return new NodeTrust(keys, store);
        }
        X509Certificate anchor;
        try {
            anchor = readCertificate(anchorFile);
        } catch (IOException e) {
            throw new IOException(anchorFile + ": " + e.getMessage(), e);
        }
        Revocations r = Revocations.open(caDir.resolve(Revocations.FILE), anchor);
        CaTrust ca;
        try {
            ca = new CaTrust(anchor, r, Clock.systemUTC());
        } catch (IllegalArgumentException e) {
            throw new IOException(anchorFile + ": " + e.getMessage(), e);
        }
        warnIfExpiring(keys, ca);
        CaIssuer is = issue && CaIssuer.exists(dir)
            ? CaIssuer.open(dir, Clock.systemUTC(), () -> r.current().der(), Set.of(keys.label()), LogLimiter.perMinute())
            : null;
        return new NodeTrust(keys, store, r, ca, is);
    }

    /** Peers that trust only the CA refuse an expired certificate: say so at start, and a month ahead. */
    private static void warnIfExpiring(NodeKeys keys, CaTrust ca) {
        if (!keys.caSigned()) {
            return;
        }
        Instant end = keys.certificate().getNotAfter().toInstant();
        Duration left = Duration.between(Instant.now(), end);
        if (left.isNegative()) {
            log.error("this node's certificate from cluster CA '{}' expired at {}: nodes that do not pin its key "
                + "refuse it; renew it with 'dmsg ca sign'", ca.name(), end);
        } else if (left.compareTo(Duration.ofDays(30)) < 0) {
            log.warn("this node's certificate from cluster CA '{}' expires at {} ({} days); renew it with 'dmsg ca sign'",
                ca.name(), end, left.toDays());
        }
    }

    private static X509Certificate readCertificate(Path f) throws IOException {
        try (var in = Files.newInputStream(f)) {
            return (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(in);
        } catch (GeneralSecurityException e) {
            throw new IOException("not a certificate: " + e.getMessage(), e);
        }
    }

    @Override
    public PeerIdentity byFingerprint(String fingerprint) {
        return self.fingerprint().equals(fingerprint) ? self : store.byFingerprint(fingerprint);
    }

    @Override
    public PeerIdentity byName(String name) {
        PeerIdentity p = store.byName(name);
        return p != null ? p : self.name().equals(name) ? self : null;
    }

    @Override
    public PeerIdentity identify(X509Certificate[] chain, String presentedBy) throws Refusal {
        return order.identify(chain, presentedBy);
    }

    @Override
    public JoinResponder joinResponder() {
        return issuer;
    }

    /** The cluster CA this node trusts, or {@code null}. */
    public CaTrust ca() {
        return ca;
    }

    /** Its revocation list, or {@code null} without a CA. */
    public Revocations revocations() {
        return revocations;
    }

    /** The node's issuer, or {@code null} if it does not answer join requests. */
    public CaIssuer issuer() {
        return issuer;
    }

    /** What {@link #poll} found. */
    public record Change(boolean pins, boolean revocations) {
        public boolean any() {
            return pins || revocations;
        }
    }

    /**
     * Looks at the trust store file and the revocation list and says which changed since the
     * last call; a changed trust store is re-read at once. Meant to run on one thread every
     * {@link Revocations#DEFAULT_CHECK_INTERVAL}.
     */
    public Change poll() {
        List<Object> fileNow = stamp(store.file());
        boolean fileChanged = !fileNow.equals(lastStamp);
        if (fileChanged) {
            lastStamp = fileNow;
            try {
                store.reload();
            } catch (IOException e) {
                // the store logged it and keeps the peers it had
            }
        }
        List<PeerIdentity> pins = store.list();
        boolean pinsChanged = fileChanged || pins != lastPins;
        lastPins = pins;
        boolean listChanged = revocations != null && revocations.refresh();
        return new Change(pinsChanged, listChanged);
    }

    /**
     * The {@code ca} part of the status document (docs/STATUS.md): the cluster, its revocation
     * list, this node's certificate; {@code issuer} and {@code joins} only on an issuer.
     */
    public record CaStatus(String name, String fingerprint, long crlNumber, int revokedKeys, String certificate,
                           @JsonInclude(JsonInclude.Include.NON_NULL) IssuerStatus issuer,
                           @JsonInclude(JsonInclude.Include.NON_NULL) CaIssuer.Stats joins) {}

    /** What the issuer may grant, and until when. */
    public record IssuerStatus(String maximum, String notAfter) {}

    /** The {@code ca} part of the status document, or {@code null} without a CA. */
    public CaStatus status() {
        if (ca == null) {
            return null;
        }
        Revocations.Crl crl = revocations.current();
        CertProfile.Claim mine = keys.caSigned() ? safeClaim(keys.certificate()) : null;
        String certificate = mine == null ? "self-signed (pinned only)" : mine.describe() + " until "
            + keys.certificate().getNotAfter().toInstant();
        if (issuer == null) {
            return new CaStatus(ca.name(), ca.fingerprint(), crl.number(), crl.keys().size(), certificate, null, null);
        }
        return new CaStatus(ca.name(), ca.fingerprint(), crl.number(), crl.keys().size(), certificate,
            new IssuerStatus(issuer.maximum() == null ? "admin" : issuer.maximum().describe(),
                issuer.certificate().getNotAfter().toInstant().toString()), issuer.stats());
    }

    private static CertProfile.Claim safeClaim(X509Certificate c) {
        try {
            return CertProfile.claim(c);
        } catch (IllegalArgumentException e) {
            return null;
        }
    }

    @Override
    public void close() {
        if (issuer != null) {
            issuer.close();
        }
    }
}
