package dev.dmsg.link.tls;

import java.security.GeneralSecurityException;
import java.security.cert.CertificateEncodingException;
import java.security.cert.CertificateExpiredException;
import java.security.cert.CertificateNotYetValidException;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Date;
import java.util.List;
import java.util.Objects;

/**
 * Step 3 of a node's trust (docs/IDENTITY.md §1, §2.3): a certificate chain checked against the
 * cluster CA the node trusts (its anchor, {@code DATA/ca/ca.crt}) and its revocation list. The
 * answer is the name, role and grants the leaf carries — never more than any of its issuers may
 * grant. Unlike a pinned self-signed certificate, validity dates count here.
 *
 * <p>Thread-safe: immutable apart from the {@link Revocations}, which is. Time comes from the
 * injected clock.
 */
public final class CaTrust {
    /** Root, an issuer, the node: a chain longer than this is refused before anything is verified. */
    public static final int MAX_CHAIN = 4;

    private final X509Certificate anchor;
    private final String anchorFingerprint;
    private final Revocations revocations;
    private final Clock clock;

    /**
     * @param anchor the root: a self-signed CA certificate
     * @param revocations its list, or {@code null} for none (a joiner, before it has one)
     * @throws IllegalArgumentException if {@code anchor} is not a self-signed CA certificate
     */
    public CaTrust(X509Certificate anchor, Revocations revocations, Clock clock) {
        this.anchor = Objects.requireNonNull(anchor, "anchor");
        this.revocations = revocations;
        this.clock = Objects.requireNonNull(clock, "clock");
        this.anchorFingerprint = Fingerprints.of(anchor.getPublicKey());
        if (!CertProfile.isCa(anchor) || !signedBy(anchor, anchor)) {
            throw new IllegalArgumentException("'" + name() + "' (" + anchorFingerprint
                + ") is not a CA's self-signed certificate");
        }
    }

    public X509Certificate anchor() {
        return anchor;
    }

    /** The cluster's name: the root's CN. */
    public String name() {
        return NodeKeys.commonNameOrEmpty(anchor);
    }

    /** The root key's fingerprint: what a join token carries. */
    public String fingerprint() {
        return anchorFingerprint;
    }

    /** The revocation list in force, or {@code null} without one. */
    public Revocations revocations() {
        return revocations;
    }

    /**
     * Who presented {@code chain} (leaf first; a copy of the anchor in it is skipped), as the
     * certificate says, if the chain leads to our anchor and passes every check of
     * docs/IDENTITY.md §2.3, in that order.
     *
     * @param presentedBy where the chain came from, for the message
     * @throws Refusal naming the certificate, its key and the rule that failed
     */
    public PeerIdentity identify(X509Certificate[] chain, String presentedBy) throws Refusal {
        if (chain == null || chain.length == 0 || chain[0] == null) {
            throw new Refusal("refused: no certificate presented by " + presentedBy);
        }
        X509Certificate leaf = chain[0];
        String cn = NodeKeys.commonNameOrEmpty(leaf);
        String fp = Fingerprints.of(leaf.getPublicKey());
        String who = "'" + PinnedTrustManager.printable(cn) + "' (key " + fp + ", presented by " + presentedBy + ")";
        // 1. form
        if (chain.length > MAX_CHAIN) {
            throw refuse(who, "a chain of " + chain.length + " certificates (at most " + MAX_CHAIN + ")");
        }
        if (CertProfile.isCa(leaf)) {
            throw refuse(who, "its certificate is a CA's, not a node's");
        }
        if (!TrustStore.isName(cn)) {
            throw refuse(who, "its CN is not a node name (1.." + TrustStore.MAX_NAME_CHARS
                + " characters of A-Z a-z 0-9 . _ : -)");
        }
        List<X509Certificate> path = new ArrayList<>();
        for (X509Certificate c : chain) {
            if (c == null || isAnchor(c)) {
                break;
            }
            path.add(c);
        }
        // 2. every certificate signed by the next, the last by the anchor; 3. issuers are CAs
        for (int i = 0; i < path.size(); i++) {
            X509Certificate c = path.get(i);
            boolean last = i == path.size() - 1;
            X509Certificate issuer = last ? anchor : path.get(i + 1);
            if (!c.getIssuerX500Principal().equals(issuer.getSubjectX500Principal()) || !signedBy(c, issuer)) {
                if (last) {
                    // another CA's node: not known here (a span it signs is unverified, docs/IDENTITY.md §3.3)
                    throw Refusal.unknown("refused: " + who + ": not from the cluster CA '" + name() + "' ("
                        + anchorFingerprint + "): " + (i == 0 ? "its certificate" : "'" + cnOf(c) + "'")
                        + " was issued by '" + PinnedTrustManager.printable(c.getIssuerX500Principal().getName()) + "'");
                }
                throw refuse(who, "'" + cnOf(c) + "' is not signed by '" + cnOf(issuer) + "', the next in its chain");
            }
            if (!last) {
                X509Certificate above = path.get(i + 1);
                if (!CertProfile.isCa(above)) {
                    throw refuse(who, "'" + cnOf(above) + "', which signed '" + cnOf(c) + "', is not a CA");
                }
                // pathLen: the CAs between 'above' and the leaf may be at most its path length
                if (i > above.getBasicConstraints()) {
                    throw refuse(who, "'" + cnOf(above) + "' may sign CAs " + above.getBasicConstraints()
                        + " deep, not " + i);
                }
            }
        }
        if (path.size() - 1 > anchor.getBasicConstraints()) {
            throw refuse(who, "the cluster CA may sign CAs " + anchor.getBasicConstraints() + " deep, not "
                + (path.size() - 1));
        }
        // 4. validity, the anchor included
        Date now = Date.from(clock.instant());
        for (X509Certificate c : concat(path, anchor)) {
            try {
                c.checkValidity(now);
            } catch (CertificateExpiredException e) {
                throw refuse(who, (c == leaf ? "its certificate" : "'" + cnOf(c) + "'") + " expired on "
                    + c.getNotAfter().toInstant());
            } catch (CertificateNotYetValidException e) {
                throw refuse(who, (c == leaf ? "its certificate" : "'" + cnOf(c) + "'") + " is not valid before "
                    + c.getNotBefore().toInstant());
            }
        }
        // 5. the leaf's claim
        CertProfile.Claim claim;
        try {
            claim = CertProfile.claim(leaf);
        } catch (IllegalArgumentException e) {
            throw refuse(who, e.getMessage());
        }
        if (claim == null) {
            throw refuse(who, "its certificate carries no dmsg-identity (no role)");
        }
        if (!Arrays.equals(claim.nodeId(), Fingerprints.sha256(leaf.getPublicKey()))) {
            throw refuse(who, "its dmsg-identity names node " + Fingerprints.of(claim.nodeId()) + ", not its own key");
        }
        if (claim.grants() != 0 && claim.role() != Role.CLIENT) {
            throw refuse(who, "grants are for role client only, not " + claim.role().word());
        }
        // 6. nobody claims more than its issuer may grant, nor outlives it
        List<X509Certificate> all = concat(path, anchor);
        for (int i = 0; i + 1 < all.size(); i++) {
            X509Certificate c = all.get(i);
            X509Certificate issuer = all.get(i + 1);
            CertProfile.Claim mine;
            CertProfile.Claim max;
            try {
                mine = i == 0 ? claim : CertProfile.claim(c);
                max = CertProfile.claim(issuer);
            } catch (IllegalArgumentException e) {
                throw refuse(who, "'" + cnOf(issuer) + "': " + e.getMessage());
            }
            if (mine != null && max != null) {
                if (mine.role().code > max.role().code) {
                    throw refuse(who, (i == 0 ? "its certificate claims role " : "'" + cnOf(c) + "' claims role ")
                        + mine.role().word() + ", above the maximum " + max.role().word() + " of its issuer '"
                        + cnOf(issuer) + "'");
                }
                if (max.role() == Role.CLIENT && (mine.grants() & ~max.grants()) != 0) {
                    throw refuse(who, (i == 0 ? "its certificate" : "'" + cnOf(c) + "'") + " claims grants "
                        + Grants.format(mine.grants()) + ", beyond " + Grants.format(max.grants()) + " of its issuer '"
                        + cnOf(issuer) + "'");
                }
            }
            if (c.getNotAfter().after(issuer.getNotAfter())) {
                throw refuse(who, (i == 0 ? "its certificate" : "'" + cnOf(c) + "'") + " is valid until "
                    + c.getNotAfter().toInstant() + ", after its issuer '" + cnOf(issuer) + "' ("
                    + issuer.getNotAfter().toInstant() + ")");
            }
        }
        // 7. revocation
        if (revocations != null) {
            Revocations.Crl crl = revocations.current();
            for (X509Certificate c : path) {
                if (crl.revokes(c)) {
                    throw refuse(who, (c == leaf ? "revoked" : "its issuer '" + cnOf(c) + "' (key "
                        + Fingerprints.of(c.getPublicKey()) + ") is revoked") + " by the cluster CA '" + name()
                        + "' (revocation list " + crl.number() + ")");
                }
            }
        }
        return new PeerIdentity(cn, fp, claim.role(), claim.grants());
    }

    /**
     * The anchor a joiner trusts (docs/IDENTITY.md §2.6 step 2): the CA certificate in
     * {@code chain} whose key has the fingerprint the join token carries, with no revocation list.
     *
     * @throws Refusal if the chain holds no such self-signed CA certificate
     */
    public static CaTrust fromChain(X509Certificate[] chain, String caFingerprint, Clock clock, String presentedBy)
            throws Refusal {
        if (chain != null) {
            for (X509Certificate c : chain) {
                if (c != null && Fingerprints.of(c.getPublicKey()).equals(caFingerprint) && CertProfile.isCa(c)
                        && signedBy(c, c)) {
                    return new CaTrust(c, null, clock);
                }
            }
        }
        X509Certificate last = chain == null || chain.length == 0 ? null : chain[chain.length - 1];
        throw new Refusal("refused: " + presentedBy + " is not a node of the cluster whose CA key is " + caFingerprint
            + (last == null ? "" : ": its chain ends in '" + cnOf(last) + "' (key " + Fingerprints.of(last.getPublicKey())
                + ")"));
    }

    private boolean isAnchor(X509Certificate c) {
        try {
            return Arrays.equals(c.getEncoded(), anchor.getEncoded());
        } catch (CertificateEncodingException e) {
            return false;
        }
    }

    static boolean signedBy(X509Certificate c, X509Certificate issuer) {
        try {
            c.verify(issuer.getPublicKey());
            return true;
        } catch (GeneralSecurityException | RuntimeException e) {
            return false;
        }
    }

    private static List<X509Certificate> concat(List<X509Certificate> path, X509Certificate anchor) {
        List<X509Certificate> all = new ArrayList<>(path);
        all.add(anchor);
        return all;
    }

    private static String cnOf(X509Certificate c) {
        return PinnedTrustManager.printable(NodeKeys.commonNameOrEmpty(c));
    }

    private static Refusal refuse(String who, String why) {
        return new Refusal("refused: " + who + ": " + why);
    }

    @Override
    public String toString() {
        return "cluster CA '" + name() + "' (" + anchorFingerprint + ")";
    }
}
