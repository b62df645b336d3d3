package dev.dmsg.link.tls;

import java.io.IOException;
import java.io.Reader;
import java.io.StringWriter;
import java.math.BigInteger;
import java.nio.charset.MalformedInputException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.SecureRandom;
import java.security.Signature;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.Date;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import org.bouncycastle.asn1.DERUTF8String;
import org.bouncycastle.asn1.x500.RDN;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x500.style.BCStyle;
import org.bouncycastle.asn1.x500.style.IETFUtils;
import org.bouncycastle.asn1.x509.SubjectPublicKeyInfo;
import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.openssl.PEMKeyPair;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.openssl.jcajce.JcaPKCS8Generator;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/**
 * A node's identity (docs/SECURITY.md §1): an EC P-256 key pair and a certificate whose CN is the
 * node's label, kept as {@code node.key} (PKCS#8 PEM, owner-only) and {@code node.crt} (PEM) in
 * the data directory. Certificates are made with BouncyCastle. The certificate is self-signed,
 * or one a cluster CA signed (docs/IDENTITY.md §2): {@code node.crt} then holds the chain, the
 * node's certificate first, then its issuers up to the root, and {@link #chain()} presents all of it.
 *
 * @param issuers the certificates above {@code certificate}, nearest first; empty for a self-signed one
 */
public record NodeKeys(PrivateKey privateKey, X509Certificate certificate, List<X509Certificate> issuers) {
    public NodeKeys {
        Objects.requireNonNull(privateKey, "privateKey");
        Objects.requireNonNull(certificate, "certificate");
        issuers = List.copyOf(issuers);
    }

    /** A self-signed certificate (no issuers). */
    public NodeKeys(PrivateKey privateKey, X509Certificate certificate) {
        this(privateKey, certificate, List.of());
    }

    /**
     * The same key with another certificate and chain (one a CA signed for it).
     *
     * @throws IllegalArgumentException if {@code cert} is for another key
     */
    public NodeKeys withChain(X509Certificate cert, List<X509Certificate> chainAbove) {
        if (!cert.getPublicKey().equals(publicKey())) {
            throw new IllegalArgumentException("the certificate is for key " + Fingerprints.of(cert.getPublicKey())
                + ", not this node's " + fingerprint());
        }
        return new NodeKeys(privateKey, cert, chainAbove);
    }

    /** Whether a CA signed the certificate (it has issuers), rather than the key itself. */
    public boolean caSigned() {
        return !issuers.isEmpty();
    }
    public static final String KEY_FILE = "node.key";
    public static final String CERT_FILE = "node.crt";
    /** Pinned keys make validity dates meaningless; a long one keeps TLS stacks from objecting. */
    static final long VALIDITY_DAYS = 100L * 365;

    public PublicKey publicKey() {
        return certificate.getPublicKey();
    }

    public String fingerprint() {
        return Fingerprints.of(publicKey());
    }

    /** The CN of the certificate: the label the node had when its keys were made. */
    public String label() {
        return commonName(certificate);
    }

    /** A new key pair and certificate for {@code label}. */
    public static NodeKeys generate(String label) {
        try {
            KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
            g.initialize(new ECGenParameterSpec("secp256r1"), new SecureRandom());
            KeyPair kp = g.generateKeyPair();
            return new NodeKeys(kp.getPrivate(), selfSigned(kp, label));
        } catch (GeneralSecurityException | OperatorCreationException e) {
            throw new IllegalStateException("cannot make a P-256 key pair and certificate: " + e, e);
        }
    }

    /** A self-signed certificate for {@code kp} with CN {@code label} (also used by tests for impostors). */
    public static X509Certificate selfSigned(KeyPair kp, String label) throws GeneralSecurityException,
            OperatorCreationException {
        X500Name name = new X500Name(new RDN[] {
            new RDN(BCStyle.CN, new DERUTF8String(label))});
        Instant now = Instant.now();
        JcaX509v3CertificateBuilder b = new JcaX509v3CertificateBuilder(name,
            new BigInteger(64, new SecureRandom()).abs().add(BigInteger.ONE),
            Date.from(now.minus(1, ChronoUnit.DAYS)), Date.from(now.plus(VALIDITY_DAYS, ChronoUnit.DAYS)),
            name, kp.getPublic());
        X509CertificateHolder h = b.build(new JcaContentSignerBuilder("SHA256withECDSA").build(kp.getPrivate()));
        return new JcaX509CertificateConverter().getCertificate(h);
    }

    /**
     * The certificates this node presents, leaf first: what a TLS handshake, a span proof and a
     * circuit hello carry (docs/IDENTITY.md): the certificate, then its issuers up to the root.
     */
    public X509Certificate[] chain() {
        X509Certificate[] c = new X509Certificate[1 + issuers.size()];
        c[0] = certificate;
        for (int i = 0; i < issuers.size(); i++) {
            c[i + 1] = issuers.get(i);
        }
        return c;
    }

    /** The CN of {@code c}, or "" if it has none or it cannot be read (a peer's certificate). */
    public static String commonNameOrEmpty(X509Certificate c) {
        try {
            return commonName(c);
        } catch (RuntimeException e) {
            return "";
        }
    }

    static String commonName(X509Certificate c) {
        X500Name n = X500Name.getInstance(c.getSubjectX500Principal().getEncoded());
        var rdns = n.getRDNs(BCStyle.CN);
        return rdns.length == 0 ? "" : IETFUtils.valueToString(rdns[0].getFirst().getValue());
    }

    // ------------------------------------------------------------------------------------------
    // Files

    /** Whether {@code dir} holds a key and a certificate. */
    public static boolean exists(Path dir) {
        return Files.exists(dir.resolve(KEY_FILE)) && Files.exists(dir.resolve(CERT_FILE));
    }

    /**
     * The node's keys from {@code dir}, made (and written) first if neither file is there.
     *
     * @throws IOException naming the file and what is wrong: one of the two missing, unreadable,
     *     not PEM, a key that does not match the certificate, a key file others can read or
     *     another user owns, or a directory others can write or move ({@link StrictModes})
     */
    public static NodeKeys loadOrCreate(Path dir, String label) throws IOException {
        checkDirectory(dir);
        boolean key = Files.exists(dir.resolve(KEY_FILE));
        boolean cert = Files.exists(dir.resolve(CERT_FILE));
        if (!key && !cert) {
            NodeKeys k = generate(label);
            k.write(dir, false);
            return k;
        }
        return load(dir);
    }

    /** Reads {@code node.key} and {@code node.crt} from {@code dir}. */
    public static NodeKeys load(Path dir) throws IOException {
        Path keyFile = dir.resolve(KEY_FILE);
        Path certFile = dir.resolve(CERT_FILE);
        for (Path p : new Path[] {keyFile, certFile}) {
            if (!Files.exists(p)) {
                throw new IOException(p + " is missing (both " + KEY_FILE + " and " + CERT_FILE
                    + " are needed; 'dmsg keygen' makes a new pair, which peers must trust again)");
            }
        }
        checkDirectory(dir);
        StrictModes.checkFile(keyFile, "read or replace the node's private key", "600");
        checkOwnerOnly(keyFile);
        PrivateKey pk = readPrivateKey(keyFile);
        List<X509Certificate> chain = readCertificates(certFile);
        X509Certificate c = chain.get(0);
        if (!matches(pk, c.getPublicKey())) {
            throw new IOException(keyFile + " does not belong to " + certFile + " (the certificate's key is "
                + Fingerprints.of(c.getPublicKey()) + ")");
        }
        return new NodeKeys(pk, c, chain.subList(1, chain.size()));
    }

    /**
     * Writes both files into {@code dir} (made owner-only if it is new): the key with mode 0600
     * from the start, each file through a temporary file and a rename.
     *
     * @throws IOException if either exists and {@code overwrite} is false
     */
    public void write(Path dir, boolean overwrite) throws IOException {
        if (!Files.exists(dir)) {
            Files.createDirectories(dir);
            setPosix(dir, "rwx------");
        }
        checkDirectory(dir);
        Path keyFile = dir.resolve(KEY_FILE);
        Path certFile = dir.resolve(CERT_FILE);
        if (!overwrite && (Files.exists(keyFile) || Files.exists(certFile))) {
            throw new IOException(dir + " already holds a node key; not replaced (peers trust the old one)");
        }
        writeAtomically(keyFile, pem(new JcaPKCS8Generator(privateKey, null)),
            "rw-------");
        writeAtomically(certFile, CaFiles.pem((Object[]) chain()), "rw-r--r--");
    }

    private static String pem(Object o) throws IOException {
        StringWriter s = new StringWriter();
        try (JcaPEMWriter w = new JcaPEMWriter(s)) {
            w.writeObject(o);
        }
        return s.toString();
    }

    private static void writeAtomically(Path file, String text, String perms) throws IOException {
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        Files.deleteIfExists(tmp);
        if (posix(file.getParent())) {
            Files.createFile(tmp, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString(perms)));
        } else {
            Files.createFile(tmp);
        }
        Files.writeString(tmp, text, StandardCharsets.US_ASCII);
        try {
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    private static boolean posix(Path p) {
        return p != null && Files.getFileAttributeView(p, PosixFileAttributeView.class) != null;
    }

    private static void setPosix(Path p, String perms) throws IOException {
        if (posix(p)) {
            Files.setPosixFilePermissions(p, PosixFilePermissions.fromString(perms));
        }
    }

    /**
     * The directory of a private key (usually the data directory, which holds the trust store
     * too): only this node's user or root may write it, or move it (docs/SECURITY.md §2).
     */
    static void checkDirectory(Path dir) throws IOException {
        StrictModes.checkDirectory(dir, "key directory", "the node's key (" + KEY_FILE + ") and the trust store");
    }

    /** A private key readable by group or others is refused, as OpenSSH does. */
    static void checkOwnerOnly(Path keyFile) throws IOException {
        if (!posix(keyFile)) {
            return;
        }
        Set<PosixFilePermission> p = Files.getPosixFilePermissions(keyFile, LinkOption.NOFOLLOW_LINKS);
        for (PosixFilePermission x : p) {
            if (x.name().startsWith("GROUP") || x.name().startsWith("OTHERS")) {
                throw new IOException(keyFile + " is readable by others (mode " + PosixFilePermissions.toString(p)
                    + "); make it owner-only: chmod 600 " + keyFile);
            }
        }
    }

    static PrivateKey readPrivateKey(Path f) throws IOException {
        Object o = readPem(f);
        JcaPEMKeyConverter conv = new JcaPEMKeyConverter();
        if (o instanceof PrivateKeyInfo info) {
            return conv.getPrivateKey(info);
        }
        if (o instanceof PEMKeyPair pair) {
            return conv.getKeyPair(pair).getPrivate();
        }
        throw new IOException(f + ": not a private key in PEM (found " + describe(o) + ")");
    }

    /** Every certificate in {@code f}: a node's certificate, then its issuers. */
    static List<X509Certificate> readCertificates(Path f) throws IOException {
        readPem(f); // the same messages as before for a missing, binary or empty file
        return CaFiles.readCertificates(f);
    }

    static X509Certificate readCertificate(Path f) throws IOException {
        Object o = readPem(f);
        if (o instanceof X509CertificateHolder h) {
            try {
                return new JcaX509CertificateConverter().getCertificate(h);
            } catch (GeneralSecurityException e) {
                throw new IOException(f + ": a certificate Java cannot read: " + e.getMessage(), e);
            }
        }
        throw new IOException(f + ": not an X.509 certificate in PEM (found " + describe(o) + ")");
    }

    /**
     * A peer's public key from a file someone gave us ({@code dmsg trust add NAME KEYFILE}): its
     * {@code node.crt}, or a PEM public key.
     */
    public static PublicKey readPublicKey(Path f) throws IOException {
        Object o = readPem(f);
        try {
            if (o instanceof X509CertificateHolder h) {
                return new JcaX509CertificateConverter().getCertificate(h).getPublicKey();
            }
            if (o instanceof SubjectPublicKeyInfo spki) {
                return new JcaPEMKeyConverter().getPublicKey(spki);
            }
        } catch (GeneralSecurityException e) {
            throw new IOException(f + ": a key Java cannot read: " + e.getMessage(), e);
        }
        throw new IOException(f + ": neither a certificate nor a public key in PEM (found " + describe(o) + ")");
    }

    private static Object readPem(Path f) throws IOException {
        Object o;
        try (Reader r = Files.newBufferedReader(f, StandardCharsets.US_ASCII); PEMParser p = new PEMParser(r)) {
            o = p.readObject();
        } catch (MalformedInputException e) {
            throw new IOException(f + ": not a PEM file (binary content)", e);
        } catch (IOException e) {
            throw new IOException(f + ": cannot read: " + e.getMessage(), e);
        } catch (RuntimeException e) {
            throw new IOException(f + ": broken PEM: " + e.getMessage(), e);
        }
        if (o == null) {
            throw new IOException(f + ": no PEM object in it");
        }
        return o;
    }

    private static String describe(Object o) {
        return o == null ? "nothing" : o.getClass().getSimpleName();
    }

    /** Whether {@code pk} is the private half of {@code pub}: sign and verify a probe. */
    static boolean matches(PrivateKey pk, PublicKey pub) {
        try {
            byte[] probe = "dmsg-key-check".getBytes(StandardCharsets.US_ASCII);
            Signature s = Signature.getInstance("SHA256withECDSA");
            s.initSign(pk);
            s.update(probe);
            byte[] sig = s.sign();
            s.initVerify(pub);
            s.update(probe);
            return s.verify(sig);
        } catch (GeneralSecurityException e) {
            return false;
        }
    }
}
