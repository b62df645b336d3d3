package dev.dmsg.services.nbd;

import dev.dmsg.link.tls.Fingerprints;
import dev.dmsg.link.tls.Role;
import dev.dmsg.link.tls.TrustStore;
import java.io.IOException;
import java.io.StringWriter;
import java.math.BigInteger;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Date;
import java.util.List;
import org.bouncycastle.asn1.sec.ECPrivateKey;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x500.X500NameBuilder;
import org.bouncycastle.asn1.x500.style.BCStyle;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.asn1.x509.SubjectPublicKeyInfo;
import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509ExtensionUtils;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.openssl.PEMKeyPair;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.util.io.pem.PemObject;
import org.bouncycastle.util.io.pem.PemWriter;

/**
 * Makes a TLS directory for {@code dmsg nbd --tls require} and the client directories that go
 * with it (docs/BLK.md "TLS"), in the layout qemu's {@code tls-creds-x509} and libnbd's
 * {@code tls-certificates} read: a small CA ({@code ca-cert.pem}, {@code ca-key.pem}), the
 * server's certificate for the host names clients dial ({@code server-cert.pem},
 * {@code server-key.pem}), and per client {@code clients/NAME/} with {@code ca-cert.pem},
 * {@code client-cert.pem} and {@code client-key.pem}, whose key is pinned in the directory's
 * {@code trusted} file.
 *
 * <p>The CA exists because the clients verify the server through one (gnutls checks the chain and
 * the host name) and qemu checks that its own client certificate chains to the CA it is given.
 * The server does not trust the CA for clients: a client is admitted by its pinned key alone, so
 * removing its line from {@code trusted} revokes it (within a second).
 *
 * <p>All keys EC P-256, written as SEC1 {@code EC PRIVATE KEY} with their public key (gnutls,
 * which qemu and libnbd use, refuses the JDK's PKCS#8 encoding, which leaves it out), 0600;
 * directories 0700.
 */
public final class NbdCertificates {
    private NbdCertificates() {}

    static final String CA_KEY = "ca-key.pem";
    static final String CLIENTS = "clients";
    private static final long CA_DAYS = 3650;
    private static final long LEAF_DAYS = 825;

    /**
     * Makes the CA and the server certificate in {@code dir} (created 0700 if missing), valid for
     * {@code hosts}: IP addresses and DNS names clients will dial (a Unix socket needs none, but
     * qemu checks the name it is given: use {@code localhost}).
     *
     * @throws FileAlreadyExistsException if {@code dir} already holds a CA or a server certificate
     */
    public static void init(Path dir, List<String> hosts) throws IOException {
        if (hosts.isEmpty()) {
            throw new IllegalArgumentException("at least one host name or address for the server certificate");
        }
        for (String f : new String[] {NbdTls.CA_CERT, CA_KEY, NbdTls.SERVER_CERT, NbdTls.SERVER_KEY}) {
            if (Files.exists(dir.resolve(f))) {
                throw new FileAlreadyExistsException(dir.resolve(f).toString(), null,
                    "already exists; not replaced (clients trust the old CA)");
            }
        }
        privateDirectory(dir);
        try {
            KeyPair ca = newKeyPair();
            X500Name caName = name("dmsg nbd CA " + hosts.get(0));
            Instant now = Instant.now();
            JcaX509v3CertificateBuilder cb = new JcaX509v3CertificateBuilder(caName, serial(),
                Date.from(now.minus(1, ChronoUnit.HOURS)), Date.from(now.plus(CA_DAYS, ChronoUnit.DAYS)), caName,
                ca.getPublic());
            JcaX509ExtensionUtils ext = new JcaX509ExtensionUtils();
            cb.addExtension(Extension.basicConstraints, true, new BasicConstraints(true));
            cb.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign));
            cb.addExtension(Extension.subjectKeyIdentifier, false, ext.createSubjectKeyIdentifier(ca.getPublic()));
            X509Certificate caCert = convert(cb.build(new JcaContentSignerBuilder("SHA256withECDSA")
                .build(ca.getPrivate())));

            KeyPair server = newKeyPair();
            List<GeneralName> names = new ArrayList<>();
            for (String h : hosts) {
                names.add(isAddress(h) ? new GeneralName(GeneralName.iPAddress, h) : new GeneralName(GeneralName.dNSName, h));
            }
            JcaX509v3CertificateBuilder sb = leaf(caCert, name(hosts.get(0)), server, now);
            sb.addExtension(Extension.subjectAlternativeName, false, new GeneralNames(names.toArray(new GeneralName[0])));
            sb.addExtension(Extension.extendedKeyUsage, false, new ExtendedKeyUsage(KeyPurposeId.id_kp_serverAuth));
            X509Certificate serverCert = convert(sb.build(new JcaContentSignerBuilder("SHA256withECDSA")
                .build(ca.getPrivate())));

            write(dir.resolve(CA_KEY), keyPem(ca), true);
            write(dir.resolve(NbdTls.CA_CERT), pem(caCert), false);
            write(dir.resolve(NbdTls.SERVER_KEY), keyPem(server), true);
            write(dir.resolve(NbdTls.SERVER_CERT), pem(serverCert), false);
        } catch (GeneralSecurityException | OperatorCreationException e) {
            throw new IOException("cannot make the certificates: " + e.getMessage(), e);
        }
    }

    /**
     * Makes a client's key and certificate (CN {@code name}, signed by the directory's CA) in
     * {@code dir/clients/NAME/} with a copy of {@code ca-cert.pem}, and pins its key in
     * {@code dir/trusted} with {@code role} and {@code grants}. Returns the client directory: what
     * libnbd's {@code tls-certificates=} and qemu's {@code tls-creds-x509 dir=} are given.
     */
    public static Path addClient(Path dir, String name, Role role, int grants) throws IOException {
        if (!TrustStore.isName(name)) {
            throw new IllegalArgumentException("client name '" + name + "': 1.." + TrustStore.MAX_NAME_CHARS
                + " characters of [A-Za-z0-9._:-]");
        }
        Path clientDir = dir.resolve(CLIENTS).resolve(name);
        if (Files.exists(clientDir.resolve(NbdTls.CLIENT_KEY))) {
            throw new FileAlreadyExistsException(clientDir.toString(), null, "already holds a client key");
        }
        try {
            PrivateKey caKey = readKey(dir.resolve(CA_KEY));
            X509Certificate caCert = readCertificate(dir.resolve(NbdTls.CA_CERT));
            KeyPair client = newKeyPair();
            JcaX509v3CertificateBuilder b = leaf(caCert, name(name), client, Instant.now());
            b.addExtension(Extension.extendedKeyUsage, false, new ExtendedKeyUsage(KeyPurposeId.id_kp_clientAuth));
            X509Certificate cert = convert(b.build(new JcaContentSignerBuilder("SHA256withECDSA").build(caKey)));
            privateDirectory(dir.resolve(CLIENTS));
            privateDirectory(clientDir);
            write(clientDir.resolve(NbdTls.CLIENT_KEY), keyPem(client), true);
            write(clientDir.resolve(NbdTls.CLIENT_CERT), pem(cert), false);
            Files.copy(dir.resolve(NbdTls.CA_CERT), clientDir.resolve(NbdTls.CA_CERT));
            TrustStore.open(dir).add(name, Fingerprints.of(client.getPublic()), role, grants);
            return clientDir;
        } catch (GeneralSecurityException | OperatorCreationException e) {
            throw new IOException("cannot make the client certificate: " + e.getMessage(), e);
        }
    }

    private static JcaX509v3CertificateBuilder leaf(X509Certificate issuer, X500Name subject, KeyPair kp, Instant now)
            throws GeneralSecurityException, IOException {
        JcaX509v3CertificateBuilder b = new JcaX509v3CertificateBuilder(issuer, serial(),
            Date.from(now.minus(1, ChronoUnit.HOURS)), Date.from(now.plus(LEAF_DAYS, ChronoUnit.DAYS)), subject,
            kp.getPublic());
        JcaX509ExtensionUtils ext = new JcaX509ExtensionUtils();
        b.addExtension(Extension.basicConstraints, true, new BasicConstraints(false));
        b.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.digitalSignature));
        b.addExtension(Extension.subjectKeyIdentifier, false, ext.createSubjectKeyIdentifier(kp.getPublic()));
        b.addExtension(Extension.authorityKeyIdentifier, false, ext.createAuthorityKeyIdentifier(issuer));
        return b;
    }

    private static boolean isAddress(String h) {
        // an IPv4 or IPv6 literal; never resolves a name
        return h.matches("[0-9.]+") || h.contains(":");
    }

    private static X500Name name(String cn) {
        return new X500NameBuilder(BCStyle.INSTANCE).addRDN(BCStyle.CN, cn).build();
    }

    private static BigInteger serial() {
        return new BigInteger(64, new SecureRandom()).add(BigInteger.ONE);
    }

    private static KeyPair newKeyPair() throws GeneralSecurityException {
        KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
        g.initialize(new ECGenParameterSpec("secp256r1"), new SecureRandom());
        return g.generateKeyPair();
    }

    private static X509Certificate convert(X509CertificateHolder h) throws GeneralSecurityException {
        return new JcaX509CertificateConverter().getCertificate(h);
    }

    private static String pem(Object o) throws IOException {
        StringWriter s = new StringWriter();
        try (JcaPEMWriter w = new JcaPEMWriter(s)) {
            w.writeObject(o);
        }
        return s.toString();
    }

    /** SEC1 ({@code EC PRIVATE KEY}) with the curve and the public key, as openssl and certtool write it. */
    private static String keyPem(KeyPair kp) throws IOException {
        SubjectPublicKeyInfo spki =
            SubjectPublicKeyInfo.getInstance(kp.getPublic().getEncoded());
        BigInteger d = ((java.security.interfaces.ECPrivateKey) kp.getPrivate()).getS();
        ECPrivateKey sec1 = new ECPrivateKey(256, d,
            spki.getPublicKeyData(), spki.getAlgorithm().getParameters());
        StringWriter s = new StringWriter();
        try (PemWriter w = new PemWriter(s)) {
            w.writeObject(new PemObject("EC PRIVATE KEY", sec1.getEncoded()));
        }
        return s.toString();
    }

    private static void privateDirectory(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            Files.createDirectories(dir);
            Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx------"));
        }
    }

    private static void write(Path file, String text, boolean secret) throws IOException {
        Files.createFile(file, PosixFilePermissions.asFileAttribute(
            PosixFilePermissions.fromString(secret ? "rw-------" : "rw-r--r--")));
        Files.writeString(file, text, StandardCharsets.US_ASCII);
    }

    static X509Certificate readCertificate(Path f) throws IOException, GeneralSecurityException {
        try (PEMParser p = new PEMParser(Files.newBufferedReader(f, StandardCharsets.US_ASCII))) {
            Object o = p.readObject();
            if (o instanceof X509CertificateHolder h) {
                return convert(h);
            }
            throw new IOException(f + ": not a certificate in PEM");
        }
    }

    private static PrivateKey readKey(Path f) throws IOException {
        try (PEMParser p = new PEMParser(Files.newBufferedReader(f, StandardCharsets.US_ASCII))) {
            Object o = p.readObject();
            JcaPEMKeyConverter conv = new JcaPEMKeyConverter();
            if (o instanceof PrivateKeyInfo info) {
                return conv.getPrivateKey(info);
            }
            if (o instanceof PEMKeyPair pair) {
                return conv.getKeyPair(pair).getPrivate();
            }
            throw new IOException(f + ": not a private key in PEM");
        }
    }

    /** The names a server certificate carries by default: the loopback names and this host's name. */
    public static List<String> defaultHosts() {
        List<String> hosts = new ArrayList<>(List.of("localhost", "127.0.0.1", "::1"));
        try {
            String h = InetAddress.getLocalHost().getHostName();
            if (!hosts.contains(h)) {
                hosts.add(h);
            }
        } catch (IOException e) {
            // no host name: the loopback names only
        }
        return hosts;
    }
}
