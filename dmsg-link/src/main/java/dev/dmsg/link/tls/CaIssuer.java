package dev.dmsg.link.tls;

import dev.dmsg.link.LogLimiter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.PrivateKey;
import java.security.cert.CertificateExpiredException;
import java.security.cert.CertificateNotYetValidException;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Date;
import java.util.HexFormat;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A node's issuer (docs/IDENTITY.md §2.1, §2.5–2.6): the intermediate key in {@code DATA/ca/}
 * that signs joining nodes, its join tokens ({@code DATA/ca/tokens}) and the log of what it
 * signed ({@code DATA/ca/issued}). As a {@link JoinResponder} it answers join requests: checks
 * the token, the name and its own maximum role, signs, records, answers.
 *
 * <p>Threads: {@link #answer} hands each request to one thread of its own ({@code join}), with a
 * queue of {@link #QUEUE}; beyond it the answer is BUSY. A redemption holds the token file's lock
 * (across processes: {@code dmsg ca token} may add tokens meanwhile) from the read of the token
 * to the write of its {@code USED_BY}, so a token is used once even by two joiners at the same
 * instant. Refusals are counted and logged through a {@link LogLimiter}.
 */
public final class CaIssuer implements JoinResponder, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger("dmsg.join");

    /** How long a joiner has, after TLS, to send its request (docs/IDENTITY.md §2.6). */
    public static final Duration REQUEST_TIMEOUT = Duration.ofSeconds(5);
    public static final Duration MAX_TTL = Duration.ofDays(7);
    static final int QUEUE = 64;

    /** Counters for the status document ({@code ca.joins}). */
    public record Stats(long requests, long issued, long refused, long abandoned, long logLinesSuppressed) {}

    private final Path caDir;
    private final PrivateKey key;
    private final X509Certificate cert;
    private final X509Certificate root;
    private final CertProfile.Claim maximum;
    private final Clock clock;
    private final Supplier<byte[]> crl;
    private final Set<String> reserved;
    private final LogLimiter refusals;
    private final ThreadPoolExecutor executor;
    private final AtomicLong requests = new AtomicLong();
    private final AtomicLong issued = new AtomicLong();
    private final AtomicLong refused = new AtomicLong();
    private final AtomicLong abandoned = new AtomicLong();
    private volatile Duration requestTimeout = REQUEST_TIMEOUT;

    private CaIssuer(Path caDir, PrivateKey key, X509Certificate cert, X509Certificate root, Clock clock,
                     Supplier<byte[]> crl, Set<String> reserved, LogLimiter refusals) {
        this.caDir = caDir;
        this.key = key;
        this.cert = cert;
        this.root = root;
        this.clock = clock;
        this.crl = crl;
        this.reserved = Set.copyOf(reserved);
        this.refusals = refusals;
        this.maximum = CertProfile.claim(cert);
        this.executor = new ThreadPoolExecutor(1, 1, 30, TimeUnit.SECONDS, new ArrayBlockingQueue<>(QUEUE), r -> {
            Thread t = new Thread(r, "join");
            t.setDaemon(true);
            return t;
        });
        executor.allowCoreThreadTimeOut(true);
    }

    /** Whether the node whose data directory is {@code dataDir} has an issuer. */
    public static boolean exists(Path dataDir) {
        Path d = dataDir.resolve(ClusterCa.NODE_DIR);
        return Files.exists(d.resolve(ClusterCa.ISSUER_KEY_FILE)) && Files.exists(d.resolve(ClusterCa.ISSUER_CERT_FILE));
    }

    /**
     * The issuer of the node whose data directory is {@code dataDir}.
     *
     * @param crl the node's revocation list (DER) for answers, or a supplier of {@code null}
     * @param reserved names never given to a joiner (the node's own)
     * @throws IOException naming the file and what is wrong
     */
    public static CaIssuer open(Path dataDir, Clock clock, Supplier<byte[]> crl, Set<String> reserved,
                                LogLimiter refusals) throws IOException {
        Path d = dataDir.resolve(ClusterCa.NODE_DIR);
        Path keyFile = d.resolve(ClusterCa.ISSUER_KEY_FILE);
        Path certFile = d.resolve(ClusterCa.ISSUER_CERT_FILE);
        if (!exists(dataDir)) {
            throw new IOException(d + " holds no issuer (" + ClusterCa.ISSUER_KEY_FILE + ", " + ClusterCa.ISSUER_CERT_FILE
                + "; 'dmsg ca issuer' installs one)");
        }
        NodeKeys.checkOwnerOnly(keyFile);
        PrivateKey k = NodeKeys.readPrivateKey(keyFile);
        List<X509Certificate> chain = CaFiles.readCertificates(certFile);
        X509Certificate c = chain.get(0);
        if (!NodeKeys.matches(k, c.getPublicKey())) {
            throw new IOException(keyFile + " does not belong to " + certFile);
        }
        X509Certificate r = CaFiles.readCertificates(d.resolve(ClusterCa.CERT_FILE)).get(0);
        if (!CertProfile.isCa(c) || !CaTrust.signedBy(c, r)) {
            throw new IOException(certFile + " is not an issuer signed by " + d.resolve(ClusterCa.CERT_FILE));
        }
        try {
            CertProfile.claim(c);
        } catch (IllegalArgumentException e) {
            throw new IOException(certFile + ": " + e.getMessage(), e);
        }
        return new CaIssuer(d, k, c, r, clock, crl, reserved, refusals);
    }

    /** The issuer's certificate. */
    public X509Certificate certificate() {
        return cert;
    }

    /** The most it may grant. */
    public CertProfile.Claim maximum() {
        return maximum;
    }

    public String caFingerprint() {
        return Fingerprints.of(root.getPublicKey());
    }

    public Stats stats() {
        return new Stats(requests.get(), issued.get(), refused.get(), abandoned.get(), refusals.suppressedTotal());
    }

    /**
     * Makes {@code count} one-use tokens for {@code role}, valid for {@code ttl}.
     *
     * @throws IllegalArgumentException for a role above this issuer's maximum, grants for a role
     *     other than client, a TTL that is not positive or above {@link #MAX_TTL}, a count below 1
     */
    public List<JoinToken> createTokens(Role role, int grants, Duration ttl, int count) throws IOException {
        if (role == Role.NONE) {
            throw new IllegalArgumentException("role none is not a role (admin, member, client)");
        }
        if (grants != 0 && role != Role.CLIENT) {
            throw new IllegalArgumentException("grants are for role client only, not " + role.word());
        }
        String over = aboveMaximum(role, grants);
        if (over != null) {
            throw new IllegalArgumentException(over);
        }
        if (ttl.isNegative() || ttl.isZero() || ttl.compareTo(MAX_TTL) > 0) {
            throw new IllegalArgumentException("--ttl must be more than 0 and at most 7 days, not " + ttl);
        }
        if (count < 1 || count > 1000) {
            throw new IllegalArgumentException("--count must be 1..1000, not " + count);
        }
        Instant now = clock.instant();
        Instant notAfter = now.plus(ttl);
        if (notAfter.isAfter(cert.getNotAfter().toInstant())) {
            throw new IllegalArgumentException("this node's issuer expires at " + cert.getNotAfter().toInstant()
                + ", before the token would");
        }
        return TokenStore.create(caDir.resolve(TokenStore.FILE), caFingerprint(), role, grants, notAfter, count, now);
    }

    private String aboveMaximum(Role role, int grants) {
        if (maximum != null && role.code > maximum.role().code) {
            return "role " + role.word() + " is above this issuer's maximum " + maximum.role().word();
        }
        if (maximum != null && maximum.role() == Role.CLIENT && (grants & ~maximum.grants()) != 0) {
            return "grants " + Grants.format(grants) + " are beyond this issuer's " + Grants.format(maximum.grants());
        }
        return null;
    }

    // ------------------------------------------------------------------------------------------
    // JoinResponder

    @Override
    public Duration requestTimeout() {
        return requestTimeout;
    }

    /** Another request timeout than {@link #REQUEST_TIMEOUT} (tests). */
    public void setRequestTimeout(Duration d) {
        if (d.isNegative() || d.isZero()) {
            throw new IllegalArgumentException("request timeout must be positive, not " + d);
        }
        requestTimeout = d;
    }

    @Override
    public CompletableFuture<byte[]> answer(byte[] request, X509Certificate joiner, String from) {
        requests.incrementAndGet();
        CompletableFuture<byte[]> f = new CompletableFuture<>();
        try {
            executor.execute(() -> {
                JoinMessages.Answer a;
                try {
                    a = redeem(request, joiner, from);
                } catch (IOException | RuntimeException e) {
                    log.error("join from {}: cannot answer: {}", from, e.toString());
                    a = refuse(JoinMessages.Status.BUSY, "the issuer failed: " + e.getMessage() + "; try again", from);
                }
                f.complete(a.encode());
            });
        } catch (RejectedExecutionException e) {
            f.complete(refuse(JoinMessages.Status.BUSY, "busy: " + QUEUE + " join requests waiting; try again", from)
                .encode());
        }
        return f;
    }

    @Override
    public void abandoned(String from, String why) {
        abandoned.incrementAndGet();
        String more = refusals.admit();
        if (more != null) {
            log.warn("join from {}: closed: {}{}", from, why, more);
        }
    }

    /** Checks a request and, if everything holds, signs (docs/IDENTITY.md §2.6 step 5, in that order). */
    JoinMessages.Answer redeem(byte[] bytes, X509Certificate joiner, String from) throws IOException {
        JoinMessages.Request req;
        try {
            req = JoinMessages.Request.decode(bytes);
        } catch (IllegalArgumentException e) {
            return refuse(JoinMessages.Status.MALFORMED, e.getMessage(), from);
        }
        String name = NodeKeys.commonNameOrEmpty(joiner);
        String fp = Fingerprints.of(joiner.getPublicKey());
        String id = HexFormat.of().formatHex(req.tokenId());
        Path tokens = caDir.resolve(TokenStore.FILE);
        long start = System.nanoTime();
        return CaFiles.locked(tokens, () -> {
            Instant now = clock.instant();
            List<TokenStore.Token> all = new ArrayList<>(TokenStore.read(tokens));
            int at = -1;
            for (int i = 0; i < all.size(); i++) {
                if (all.get(i).id().equals(id)) {
                    at = i;
                }
            }
            byte[] hash = JoinToken.hashSecret(req.secret());
            if (at < 0 || !MessageDigest.isEqual(hash, decode(all.get(at).secretHash()))) {
                return refuse(JoinMessages.Status.INVALID_TOKEN, "invalid token (unknown ID or wrong secret)", from);
            }
            TokenStore.Token t = all.get(at);
            if (t.usedBy() != null && !t.usedBy().fingerprint().equals(fp)) {
                return refuse(JoinMessages.Status.USED, "token " + id + " was used by '" + t.usedBy().name() + "' ("
                    + t.usedBy().fingerprint() + ") at " + t.usedBy().when() + "; a token is good for one node: ask for "
                    + "a new one ('dmsg ca token')", from);
            }
            if (!now.isBefore(t.notAfter())) {
                return refuse(JoinMessages.Status.EXPIRED, "token " + id + " expired at " + t.notAfter()
                    + "; ask for a new one ('dmsg ca token')", from);
            }
            if (!TrustStore.isName(name)) {
                return refuse(JoinMessages.Status.MALFORMED, "the name asked for, '" + PinnedTrustManager.printable(name)
                    + "', is not a node name (1.." + TrustStore.MAX_NAME_CHARS + " of A-Z a-z 0-9 . _ : -)", from);
            }
            if (reserved.contains(name)) {
                return refuse(JoinMessages.Status.NAME_TAKEN, "'" + name + "' is the issuing node's own name; join with "
                    + "another --label", from);
            }
            Set<String> revoked = crl.get() == null ? Set.of() : revokedKeys();
            for (IssuedLog.Entry e : IssuedLog.read(caDir.resolve(IssuedLog.FILE))) {
                if (e.name().equals(name) && !e.fingerprint().equals(fp) && e.notAfter().isAfter(now)
                        && !revoked.contains(e.fingerprint())) {
                    return refuse(JoinMessages.Status.NAME_TAKEN, "'" + name + "' was given to key " + e.fingerprint()
                        + " at " + e.issuedAt() + "; join with another --label, or revoke that key first", from);
                }
            }
            String over = aboveMaximum(t.role(), t.grants());
            if (over != null) {
                return refuse(JoinMessages.Status.CANNOT_ISSUE, "the token's " + over, from);
            }
            try {
                cert.checkValidity(Date.from(now));
            } catch (CertificateExpiredException | CertificateNotYetValidException e) {
                return refuse(JoinMessages.Status.CANNOT_ISSUE, "this node's issuer is valid from "
                    + cert.getNotBefore().toInstant() + " to " + cert.getNotAfter().toInstant() + ", not now", from);
            }
            X509Certificate leaf = CertProfile.node(joiner.getPublicKey(), name, t.role(), t.grants(),
                now.plus(CertProfile.NODE_VALIDITY), cert, key, now);
            IssuedLog.append(caDir.resolve(IssuedLog.FILE), IssuedLog.Entry.of(leaf, "node", now));
            all.set(at, t.used(new TokenStore.Used(name, fp, now)));
            TokenStore.write(tokens, all, now);
            issued.incrementAndGet();
            log.info("join from {}: issued '{}' ({}, {}) a certificate until {} (token {}, {} ms)", from, name,
                t.role().word() + (t.grants() == 0 ? "" : " " + Grants.format(t.grants())), fp,
                leaf.getNotAfter().toInstant(), id, (System.nanoTime() - start) / 1_000_000);
            return new JoinMessages.Answer(JoinMessages.Status.OK, List.of(leaf, cert, root), "", crl.get());
        });
    }

    private Set<String> revokedKeys() {
        try {
            return Revocations.parse(crl.get(), root, "the node's revocation list").keys();
        } catch (IOException e) {
            return Set.of();
        }
    }

    private static byte[] decode(String b64) {
        try {
            return Base64.getDecoder().decode(b64);
        } catch (IllegalArgumentException e) {
            return new byte[0];
        }
    }

    private JoinMessages.Answer refuse(JoinMessages.Status s, String why, String from) {
        refused.incrementAndGet();
        String more = refusals.admit();
        if (more != null) {
            log.warn("join from {}: refused {}: {}{}", from, s, why, more);
        }
        return JoinMessages.Answer.refused(s, why);
    }

    @Override
    public void close() {
        executor.shutdownNow();
    }

    @Override
    public String toString() {
        return "issuer '" + NodeKeys.commonNameOrEmpty(cert) + "' (maximum " + (maximum == null ? "admin" : maximum.describe())
            + ", until " + cert.getNotAfter().toInstant() + ")";
    }
}
