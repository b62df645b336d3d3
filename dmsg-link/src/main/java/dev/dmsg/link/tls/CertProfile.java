package dev.dmsg.link.tls;

import java.io.IOException;
import java.math.BigInteger;
import java.security.GeneralSecurityException;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.Date;
import java.util.Objects;
import org.bouncycastle.asn1.ASN1EncodableVector;
import org.bouncycastle.asn1.ASN1Integer;
import org.bouncycastle.asn1.ASN1ObjectIdentifier;
import org.bouncycastle.asn1.ASN1OctetString;
import org.bouncycastle.asn1.ASN1Primitive;
import org.bouncycastle.asn1.ASN1Sequence;
import org.bouncycastle.asn1.DEROctetString;
import org.bouncycastle.asn1.DERSequence;
import org.bouncycastle.asn1.DERUTF8String;
import org.bouncycastle.asn1.x500.RDN;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x500.style.BCStyle;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509ExtensionUtils;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/**
 * The certificates of a cluster CA (docs/IDENTITY.md §2.2): the root, issuers, nodes and
 * join-request certificates, and our extensions on them. Pure functions: the time is a
 * parameter.
 *
 * <pre>
 * dmsg-identity   ARC.1  SEQUENCE { version INTEGER (1), role INTEGER, grants INTEGER, nodeId OCTET STRING (32) }
 * dmsg-join-request ARC.2  SEQUENCE { version INTEGER (1) }
 * dmsg-revoked-key  ARC.3  OCTET STRING (32)          (a CRL entry extension)
 * </pre>
 */
public final class CertProfile {
    private CertProfile() {}

    /** Our OID arc: a UUID arc (ITU-T X.667), made once for this project. */
    public static final String ARC = "2.25.63016305278218417665992676212506876876";
    public static final ASN1ObjectIdentifier DMSG_IDENTITY = new ASN1ObjectIdentifier(ARC + ".1");
    public static final ASN1ObjectIdentifier JOIN_REQUEST = new ASN1ObjectIdentifier(ARC + ".2");
    public static final ASN1ObjectIdentifier REVOKED_KEY = new ASN1ObjectIdentifier(ARC + ".3");
    public static final int VERSION = 1;

    /** Clock skew between machines: a certificate is valid from an hour before it was made. */
    public static final Duration NOT_BEFORE_SKEW = Duration.ofHours(1);
    public static final Duration ROOT_VALIDITY = Duration.ofDays(3650);
    public static final Duration ISSUER_VALIDITY = Duration.ofDays(365);
    public static final Duration NODE_VALIDITY = Duration.ofDays(365);
    public static final Duration JOIN_REQUEST_VALIDITY = Duration.ofHours(1);

    private static final SecureRandom RANDOM = new SecureRandom();

    /**
     * What a {@code dmsg-identity} extension says. On a node's certificate: its role and grants; on
     * an issuer's or the root's: the most it may grant.
     *
     * @param nodeId SHA-256 of the subject's SubjectPublicKeyInfo
     */
    public record Claim(Role role, int grants, byte[] nodeId) {
        public Claim {
            Objects.requireNonNull(role, "role");
            if (nodeId.length != 32) {
                throw new IllegalArgumentException("nodeId has 32 bytes, not " + nodeId.length);
            }
            nodeId = nodeId.clone();
        }

        @Override
        public byte[] nodeId() {
            return nodeId.clone();
        }

        /** "member", "client shell-ro,blk-read". */
        public String describe() {
            return role.word() + (grants == 0 ? "" : " " + Grants.format(grants));
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Claim c && c.role == role && c.grants == grants && Arrays.equals(c.nodeId, nodeId);
        }

        @Override
        public int hashCode() {
            return Objects.hash(role, grants, Arrays.hashCode(nodeId));
        }
    }

    /** The DER value of a {@code dmsg-identity} extension. */
    static byte[] encodeClaim(Role role, int grants, PublicKey subject) {
        ASN1EncodableVector v = new ASN1EncodableVector();
        v.add(new ASN1Integer(VERSION));
        v.add(new ASN1Integer(role.code));
        v.add(new ASN1Integer(grants));
        v.add(new DEROctetString(Fingerprints.sha256(subject)));
        try {
            return new DERSequence(v).getEncoded();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * The {@code dmsg-identity} claim of {@code c}, or {@code null} if it carries none.
     *
     * @throws IllegalArgumentException saying what is wrong with one that is there
     */
    public static Claim claim(X509Certificate c) {
        byte[] wrapped = c.getExtensionValue(DMSG_IDENTITY.getId());
        if (wrapped == null) {
            return null;
        }
        try {
            ASN1Sequence s = ASN1Sequence.getInstance(
                ASN1Primitive.fromByteArray(ASN1OctetString.getInstance(wrapped).getOctets()));
            if (s.size() < 4) {
                throw new IllegalArgumentException("dmsg-identity has " + s.size() + " fields, not 4");
            }
            int version = ASN1Integer.getInstance(s.getObjectAt(0)).intValueExact();
            if (version != VERSION) {
                throw new IllegalArgumentException("dmsg-identity version " + version + " (we know " + VERSION + ")");
            }
            int roleCode = ASN1Integer.getInstance(s.getObjectAt(1)).intValueExact();
            Role role = Role.ofCode(roleCode);
            if (role == Role.NONE) {
                throw new IllegalArgumentException("dmsg-identity role " + roleCode + " is not client, member or admin");
            }
            int grants = ASN1Integer.getInstance(s.getObjectAt(2)).intValueExact();
            if ((grants & ~Grants.KNOWN) != 0) {
                throw new IllegalArgumentException("dmsg-identity grants 0x" + Integer.toHexString(grants) + ": unknown bits");
            }
            byte[] id = ASN1OctetString.getInstance(s.getObjectAt(3)).getOctets();
            if (id.length != 32) {
                throw new IllegalArgumentException("dmsg-identity nodeId has " + id.length + " bytes, not 32");
            }
            return new Claim(role, grants, id);
        } catch (IOException | RuntimeException e) {
            if (e instanceof IllegalArgumentException i && i.getMessage() != null && i.getMessage().startsWith("dmsg-identity")) {
                throw i;
            }
            throw new IllegalArgumentException("dmsg-identity is not DER of the expected form: " + e.getMessage(), e);
        }
    }

    /** Whether {@code c} is a join-request certificate (carries {@code dmsg-join-request}). */
    public static boolean isJoinRequest(X509Certificate c) {
        return c != null && c.getExtensionValue(JOIN_REQUEST.getId()) != null;
    }

    /** Whether {@code c} says it is a CA (basicConstraints cA). */
    public static boolean isCa(X509Certificate c) {
        return c.getBasicConstraints() >= 0;
    }

    // ------------------------------------------------------------------------------------------
    // Making certificates

    /** The self-signed root of a cluster CA: CN = {@code cluster}, cA, keyCertSign and cRLSign, maximum role admin. */
    public static X509Certificate root(PublicKey key, PrivateKey signer, String cluster, Instant now, Duration validity) {
        X500Name name = cn(cluster);
        return build(name, key, name, null, signer, now, now.plus(validity), b -> {
            b.addExtension(Extension.basicConstraints, true, new BasicConstraints(true));
            b.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign));
            b.addExtension(DMSG_IDENTITY, false, encodeClaim(Role.ADMIN, 0, key));
        });
    }

    /**
     * An issuer (intermediate) signed by {@code signerCert}: cA with pathLen 0, keyCertSign, and
     * the most it may grant. Its validity ends at {@code notAfter} or the signer's, whichever is first.
     */
    public static X509Certificate issuer(PublicKey key, String subjectCn, Role maxRole, int maxGrants, Instant notAfter,
                                         X509Certificate signerCert, PrivateKey signer, Instant now) {
        return build(cn(subjectCn), key, subject(signerCert), signerCert, signer, now, clamp(notAfter, signerCert), b -> {
            b.addExtension(Extension.basicConstraints, true, new BasicConstraints(0));
            b.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign));
            b.addExtension(DMSG_IDENTITY, false, encodeClaim(maxRole, maxGrants, key));
        });
    }

    /**
     * A node's certificate signed by {@code signerCert}: CN = {@code label}, not a CA,
     * digitalSignature for TLS both ways, and its role and grants. Its validity ends at
     * {@code notAfter} or the signer's, whichever is first.
     */
    public static X509Certificate node(PublicKey key, String label, Role role, int grants, Instant notAfter,
                                       X509Certificate signerCert, PrivateKey signer, Instant now) {
        return build(cn(label), key, subject(signerCert), signerCert, signer, now, clamp(notAfter, signerCert), b -> {
            b.addExtension(Extension.basicConstraints, true, new BasicConstraints(false));
            b.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.digitalSignature));
            b.addExtension(Extension.extendedKeyUsage, false,
                new ExtendedKeyUsage(new KeyPurposeId[] {KeyPurposeId.id_kp_serverAuth, KeyPurposeId.id_kp_clientAuth}));
            b.addExtension(DMSG_IDENTITY, false, encodeClaim(role, grants, key));
        });
    }

    /** A joiner's self-signed certificate for the join exchange (docs/IDENTITY.md §2.6): CN = its label, valid an hour. */
    public static X509Certificate joinRequest(PublicKey key, PrivateKey signer, String label, Instant now) {
        X500Name name = cn(label);
        return build(name, key, name, null, signer, now, now.plus(JOIN_REQUEST_VALIDITY), b -> {
            b.addExtension(Extension.basicConstraints, true, new BasicConstraints(false));
            b.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.digitalSignature));
            b.addExtension(JOIN_REQUEST, false, new DERSequence(new ASN1Integer(VERSION)));
        });
    }

    private interface Extensions {
        void add(X509v3CertificateBuilder b) throws IOException;
    }

    private static X509Certificate build(X500Name subject, PublicKey key, X500Name issuer, X509Certificate issuerCert,
                                         PrivateKey signer, Instant now, Instant notAfter, Extensions ext) {
        try {
            JcaX509ExtensionUtils u = new JcaX509ExtensionUtils();
            X509v3CertificateBuilder b = new JcaX509v3CertificateBuilder(issuer, serial(),
                Date.from(now.minus(NOT_BEFORE_SKEW)), Date.from(notAfter), subject, key);
            b.addExtension(Extension.subjectKeyIdentifier, false, u.createSubjectKeyIdentifier(key));
            b.addExtension(Extension.authorityKeyIdentifier, false, issuerCert == null
                ? u.createAuthorityKeyIdentifier(key) : u.createAuthorityKeyIdentifier(issuerCert.getPublicKey()));
            ext.add(b);
            X509CertificateHolder h = b.build(new JcaContentSignerBuilder("SHA256withECDSA").build(signer));
            return new JcaX509CertificateConverter().getCertificate(h);
        } catch (IOException | GeneralSecurityException | OperatorCreationException e) {
            throw new IllegalStateException("cannot make a certificate for " + subject + ": " + e, e);
        }
    }

    /** A random positive 63-bit serial (RFC 5280: at most 20 octets, positive). */
    static BigInteger serial() {
        return new BigInteger(63, RANDOM).add(BigInteger.ONE);
    }

    static X500Name cn(String name) {
        return new X500Name(new RDN[] {new RDN(BCStyle.CN, new DERUTF8String(name))});
    }

    private static X500Name subject(X509Certificate c) {
        return X500Name.getInstance(c.getSubjectX500Principal().getEncoded());
    }

    /** Never beyond the signer's own validity (Nebula's rule: a certificate cannot outlive its CA). */
    private static Instant clamp(Instant notAfter, X509Certificate signer) {
        Instant limit = signer.getNotAfter().toInstant();
        return notAfter.isAfter(limit) ? limit : notAfter;
    }
}
