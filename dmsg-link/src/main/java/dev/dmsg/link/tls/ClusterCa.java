package dev.dmsg.link.tls;

import java.io.IOException;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.SecureRandom;
import java.security.cert.CRLException;
import java.security.cert.X509CRL;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Date;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.bouncycastle.asn1.DEROctetString;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.CRLNumber;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.Extensions;
import org.bouncycastle.cert.X509CRLHolder;
import org.bouncycastle.cert.X509v2CRLBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CRLConverter;
import org.bouncycastle.cert.jcajce.JcaX509ExtensionUtils;
import org.bouncycastle.openssl.jcajce.JcaPKCS8Generator;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/**
 * A cluster CA's root (docs/IDENTITY.md §2.1): its directory {@code CA_DIR} holds {@code ca.key}
 * (0600), {@code ca.crt}, the revocation list {@code crl.pem} and the log of what it signed
 * ({@code issued}). It is meant to stay offline: it signs issuers ({@link #installIssuer}), nodes
 * ({@link #signNode}) and revocation lists ({@link #revoke}), and each of those also installs
 * what a node needs into the node's data directory: {@code DATA/ca/ca.crt} (the anchor) and
 * {@code DATA/ca/crl.pem}.
 *
 * <p>Not thread-safe; one command uses it at a time (the files are written under locks and
 * replaced whole, so two commands cannot corrupt them).
 */
public final class ClusterCa {
    public static final String KEY_FILE = "ca.key";
    public static final String CERT_FILE = "ca.crt";
    public static final String CRL_FILE = Revocations.FILE;
    /** A node's CA files live in {@code DATA/ca/}. */
    public static final String NODE_DIR = "ca";
    public static final String ISSUER_KEY_FILE = "issuer.key";
    public static final String ISSUER_CERT_FILE = "issuer.crt";

    private final Path dir;
    private final PrivateKey key;
    private final X509Certificate cert;
    private final Clock clock;

    private ClusterCa(Path dir, PrivateKey key, X509Certificate cert, Clock clock) {
        this.dir = dir;
        this.key = key;
        this.cert = cert;
        this.clock = clock;
    }

    /**
     * Makes a new CA in {@code dir}: its key, its self-signed certificate (CN = {@code name}) and
     * an empty revocation list (number 1).
     *
     * @throws IOException if {@code dir} already holds a CA key, or cannot be written
     */
    public static ClusterCa init(Path dir, String name, Duration validity, Clock clock) throws IOException {
        if (!TrustStore.isName(name)) {
            throw new IllegalArgumentException("bad cluster name '" + name + "' (1.." + TrustStore.MAX_NAME_CHARS
                + " characters of A-Z a-z 0-9 . _ : -)");
        }
        if (Files.exists(dir.resolve(KEY_FILE)) || Files.exists(dir.resolve(CERT_FILE))) {
            throw new IOException(dir + " already holds a CA (" + KEY_FILE + "); not replaced: every node of the "
                + "cluster trusts it");
        }
        KeyPair kp = newKeyPair();
        X509Certificate c = CertProfile.root(kp.getPublic(), kp.getPrivate(), name, clock.instant(), validity);
        CaFiles.ownerOnlyDir(dir);
        CaFiles.replace(dir.resolve(KEY_FILE), CaFiles.pem(new JcaPKCS8Generator(
            kp.getPrivate(), null)), "rw-------");
        CaFiles.replace(dir.resolve(CERT_FILE), CaFiles.pem(c), "rw-r--r--");
        ClusterCa ca = new ClusterCa(dir, kp.getPrivate(), c, clock);
        ca.writeCrl(1, List.of());
        return ca;
    }

    /**
     * The CA in {@code dir}.
     *
     * @throws IOException naming the file and what is wrong: missing, readable by others, not the
     *     key of the certificate, not a CA certificate
     */
    public static ClusterCa load(Path dir, Clock clock) throws IOException {
        Path keyFile = dir.resolve(KEY_FILE);
        Path certFile = dir.resolve(CERT_FILE);
        if (!Files.exists(keyFile) || !Files.exists(certFile)) {
            throw new IOException(dir + " holds no CA (" + KEY_FILE + " and " + CERT_FILE + "; 'dmsg ca init' makes one)");
        }
        NodeKeys.checkOwnerOnly(keyFile);
        PrivateKey k = NodeKeys.readPrivateKey(keyFile);
        X509Certificate c = CaFiles.readCertificates(certFile).get(0);
        if (!NodeKeys.matches(k, c.getPublicKey())) {
            throw new IOException(keyFile + " does not belong to " + certFile);
        }
        if (!CertProfile.isCa(c)) {
            throw new IOException(certFile + " is not a CA certificate");
        }
        return new ClusterCa(dir, k, c, clock);
    }

    public Path dir() {
        return dir;
    }

    public X509Certificate certificate() {
        return cert;
    }

    public String name() {
        return NodeKeys.commonNameOrEmpty(cert);
    }

    public String fingerprint() {
        return Fingerprints.of(cert.getPublicKey());
    }

    // ------------------------------------------------------------------------------------------
    // Signing

    /** A node certificate for {@code key} (docs/IDENTITY.md §2.2), signed by the root; logged in {@code issued}. */
    public X509Certificate sign(PublicKey subject, String label, Role role, int grants, Duration validity)
            throws IOException {
        checkClaim(label, role, grants);
        Instant now = clock.instant();
        X509Certificate c = CertProfile.node(subject, label, role, grants, now.plus(validity), cert, key, now);
        IssuedLog.append(dir.resolve(IssuedLog.FILE), IssuedLog.Entry.of(c, "node", now));
        return c;
    }

    /**
     * Signs the key of the node whose data directory is {@code nodeDir} (made first if it has
     * none, with CN {@code labelIfNew}) and installs the result: {@code node.crt} becomes the
     * chain (the new certificate, then the root), and the anchor and list go into {@code DATA/ca/}.
     * The CN is the one in the node's existing certificate. A running node presents the new
     * certificate from its next start.
     */
    public NodeKeys signNode(Path nodeDir, String labelIfNew, Role role, int grants, Duration validity)
            throws IOException {
        NodeKeys k = NodeKeys.loadOrCreate(nodeDir, labelIfNew);
        X509Certificate c = sign(k.publicKey(), k.label(), role, grants, validity);
        NodeKeys signed = k.withChain(c, List.of(cert));
        signed.write(nodeDir, true);
        installAnchor(nodeDir);
        return signed;
    }

    /**
     * Makes an issuer (docs/IDENTITY.md §2.1) for the node whose data directory is
     * {@code nodeDir}: a new key in {@code DATA/ca/issuer.key} (0600) and its certificate, which
     * the root signs with a maximum role; installs the anchor and list there. The node redeems
     * join tokens from its next start.
     *
     * @throws IOException if the node has an issuer already
     */
    public X509Certificate installIssuer(Path nodeDir, String nodeLabel, Role maxRole, int maxGrants, Duration validity)
            throws IOException {
        checkClaim(nodeLabel, maxRole, maxGrants);
        Path caDir = nodeDir.resolve(NODE_DIR);
        if (Files.exists(caDir.resolve(ISSUER_KEY_FILE))) {
            throw new IOException(caDir.resolve(ISSUER_KEY_FILE) + " exists: this node has an issuer already");
        }
        KeyPair kp = newKeyPair();
        Instant now = clock.instant();
        X509Certificate c = CertProfile.issuer(kp.getPublic(), name() + " issuer for " + nodeLabel, maxRole, maxGrants,
            now.plus(validity), cert, key, now);
        CaFiles.ownerOnlyDir(nodeDir);
        CaFiles.replace(caDir.resolve(ISSUER_KEY_FILE), CaFiles.pem(new JcaPKCS8Generator(
            kp.getPrivate(), null)), "rw-------");
        CaFiles.replace(caDir.resolve(ISSUER_CERT_FILE), CaFiles.pem(c, cert), "rw-r--r--");
        IssuedLog.append(dir.resolve(IssuedLog.FILE), IssuedLog.Entry.of(c, "issuer", now));
        installAnchor(nodeDir);
        return c;
    }

    /** Puts the anchor ({@code ca.crt}) and the revocation list (if newer than the node's) into {@code DATA/ca/}. */
    public void installAnchor(Path nodeDir) throws IOException {
        Path caDir = nodeDir.resolve(NODE_DIR);
        Path anchorFile = caDir.resolve(CERT_FILE);
        if (Files.exists(anchorFile)) {
            X509Certificate there = CaFiles.readCertificates(anchorFile).get(0);
            if (!there.getPublicKey().equals(cert.getPublicKey())) {
                throw new IOException(anchorFile + " is the CA '" + NodeKeys.commonNameOrEmpty(there) + "' ("
                    + Fingerprints.of(there.getPublicKey()) + "), not '" + name() + "' (" + fingerprint()
                    + "): a node trusts one cluster CA");
            }
        }
        CaFiles.ownerOnlyDir(nodeDir);
        CaFiles.replace(anchorFile, CaFiles.pem(cert), "rw-r--r--");
        installCrl(nodeDir, crl());
    }

    /**
     * Puts {@code der} into the node's {@code DATA/ca/crl.pem} if it is newer than the list there
     * (a running node takes it within a quarter of a second).
     *
     * @return whether it was newer
     */
    public boolean installCrl(Path nodeDir, byte[] der) throws IOException {
        Path file = nodeDir.resolve(NODE_DIR).resolve(CRL_FILE);
        Revocations r;
        try {
            r = Revocations.open(file, cert, System::nanoTime, Duration.ZERO);
        } catch (IOException e) { // the node's copy is unusable: replace it
            CaFiles.replace(file, Revocations.pem(der), "rw-r--r--");
            return true;
        }
        return r.offer(der) == Revocations.Outcome.ADOPTED;
    }

    private void checkClaim(String label, Role role, int grants) {
        if (!TrustStore.isName(label)) {
            throw new IllegalArgumentException("bad name '" + label + "' (1.." + TrustStore.MAX_NAME_CHARS
                + " characters of A-Z a-z 0-9 . _ : -)");
        }
        if (role == Role.NONE) {
            throw new IllegalArgumentException("role none is not a role (admin, member, client)");
        }
        if (grants != 0 && role != Role.CLIENT) {
            throw new IllegalArgumentException("grants are for role client only, not " + role.word());
        }
    }

    // ------------------------------------------------------------------------------------------
    // Revocation

    /** The CA's current revocation list (DER). */
    public byte[] crl() throws IOException {
        return currentCrl().der();
    }

    /** The number of the CA's current list. */
    public long crlNumber() throws IOException {
        return currentCrl().number();
    }

    private Revocations.Crl currentCrl() throws IOException {
        Path f = dir.resolve(CRL_FILE);
        X509CRL x = CaFiles.readCrl(f, CaFiles.readIfExists(f));
        try {
            return Revocations.parse(x.getEncoded(), cert, f);
        } catch (CRLException e) {
            throw new IOException(f + ": " + e.getMessage(), e);
        }
    }

    /** A key to revoke, with the serials of the certificates known for it (from the logs). */
    public record Revoked(String fingerprint, String name, List<BigInteger> serials) {}

    /**
     * The keys {@code who} names: a fingerprint, or a name looked up in this CA's {@code issued}
     * and in {@code moreLogs} (an issuer node's {@code DATA/ca/issued}).
     *
     * @throws IOException if a name is in no log
     */
    public List<Revoked> resolve(String who, List<Path> moreLogs) throws IOException {
        List<IssuedLog.Entry> entries = new ArrayList<>(IssuedLog.read(dir.resolve(IssuedLog.FILE)));
        for (Path p : moreLogs) {
            entries.addAll(IssuedLog.read(p));
        }
        Map<String, Revoked> byKey = new LinkedHashMap<>();
        boolean fp = Fingerprints.isFingerprint(who);
        for (IssuedLog.Entry e : entries) {
            if (fp ? e.fingerprint().equals(who) : e.name().equals(who)) {
                Revoked r = byKey.computeIfAbsent(e.fingerprint(), k -> new Revoked(k, e.name(), new ArrayList<>()));
                r.serials().add(e.serial());
            }
        }
        if (byKey.isEmpty()) {
            if (fp) {
                return List.of(new Revoked(who, "?", List.of()));
            }
            throw new IOException("'" + who + "' is in no log of what was signed (" + dir.resolve(IssuedLog.FILE)
                + (moreLogs.isEmpty() ? "" : ", " + moreLogs) + "): give its key's fingerprint ('dmsg status' on any node "
                + "shows it), or the issuer node's data directory");
        }
        return List.copyOf(byKey.values());
    }

    /**
     * A new revocation list (number one above the last) with everything the last had and
     * {@code keys}; written to {@code CA_DIR/crl.pem}.
     *
     * @return the new list (DER), or {@code null} if every key was revoked already
     */
    public byte[] revoke(List<Revoked> keys) throws IOException {
        Revocations.Crl old = currentCrl();
        List<Revoked> fresh = keys.stream().filter(r -> !old.keys().contains(r.fingerprint())).toList();
        if (fresh.isEmpty()) {
            return null;
        }
        return writeCrl(old.number() + 1, fresh);
    }

    private byte[] writeCrl(long number, List<Revoked> add) throws IOException {
        Path f = dir.resolve(CRL_FILE);
        Instant now = clock.instant();
        X509v2CRLBuilder b = new X509v2CRLBuilder(X500Name.getInstance(cert.getSubjectX500Principal().getEncoded()),
            Date.from(now));
        b.setNextUpdate(cert.getNotAfter()); // never lapses by itself (docs/IDENTITY.md §2.4)
        try {
            if (number > 1) {
                X509CRL prev = CaFiles.readCrl(f, CaFiles.readIfExists(f));
                b.addCRL(new X509CRLHolder(prev.getEncoded()));
            }
            for (Revoked r : add) {
                Extensions ext = new Extensions(new Extension(CertProfile.REVOKED_KEY, false,
                    new DEROctetString(Fingerprints.bytes(r.fingerprint())).getEncoded()));
                List<BigInteger> serials = r.serials().isEmpty()
                    ? List.of(new BigInteger(1, Arrays.copyOf(Fingerprints.bytes(r.fingerprint()), 8)))
                    : r.serials();
                for (BigInteger s : serials) {
                    b.addCRLEntry(s, Date.from(now), ext);
                }
            }
            b.addExtension(Extension.cRLNumber, false, new CRLNumber(BigInteger.valueOf(number)));
            b.addExtension(Extension.authorityKeyIdentifier, false,
                new JcaX509ExtensionUtils().createAuthorityKeyIdentifier(cert.getPublicKey()));
            X509CRLHolder h = b.build(new JcaContentSignerBuilder("SHA256withECDSA").build(key));
            X509CRL x = new JcaX509CRLConverter().getCRL(h);
            byte[] der = x.getEncoded();
            CaFiles.replace(f, Revocations.pem(der), "rw-r--r--");
            return der;
        } catch (GeneralSecurityException | OperatorCreationException e) {
            throw new IOException("cannot sign the revocation list: " + e.getMessage(), e);
        }
    }

    static KeyPair newKeyPair() {
        try {
            KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
            g.initialize(new ECGenParameterSpec("secp256r1"), new SecureRandom());
            return g.generateKeyPair();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("cannot make a P-256 key pair: " + e, e);
        }
    }

    @Override
    public String toString() {
        return "cluster CA '" + name() + "' (" + fingerprint() + ") in " + dir;
    }
}
