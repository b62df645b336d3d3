package dev.dmsg.link.tls;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.cert.CRLException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509CRL;
import java.security.cert.X509CRLEntry;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.Base64;
import java.util.HashSet;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.LongSupplier;
import org.bouncycastle.asn1.ASN1Integer;
import org.bouncycastle.asn1.ASN1OctetString;
import org.bouncycastle.asn1.ASN1Primitive;
import org.bouncycastle.asn1.x509.Extension;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A cluster CA's revocation list as a node holds it (docs/IDENTITY.md §2.4): {@code DATA/ca/crl.pem},
 * an X.509 v2 CRL signed by the node's anchor, whose entries name revoked keys (the
 * {@code dmsg-revoked-key} entry extension) and serials.
 *
 * <p>Concurrency, as {@link TrustStore}: lookups ({@link #isRevoked}, {@link #current}) run on any
 * thread without locking, reading an immutable {@link Crl} through a volatile field; at most once
 * per check interval one of them also stats the file and re-reads it if it changed. Changes
 * ({@link #refresh}, {@link #offer}) are serialised by a lock. A list is adopted only if the
 * anchor signed it and its number is not below the one held: an old copy put back cannot
 * un-revoke anyone. A file that cannot be used keeps the list held, with one warning per version.
 */
public final class Revocations {
    private static final Logger log = LoggerFactory.getLogger(Revocations.class);

    public static final String FILE = "crl.pem";
    /**
     * {@code LNK_CRL}: LNK protocol, cmd 0x0A2, header only, one-way on circuit 0; its aux is a
     * list's DER (docs/IDENTITY.md §2.4). Only ever sent on TLS links between our nodes.
     */
    public static final int LNK_CRL = 0x0000A201;
    /** How often a node looks at its list: well inside the second a revocation must take (docs/IDENTITY.md §2.4). */
    public static final Duration DEFAULT_CHECK_INTERVAL = Duration.ofMillis(250);

    /**
     * One verified list.
     *
     * @param number its cRLNumber (0: no list)
     * @param keys revoked keys, as fingerprints
     * @param serials revoked certificate serials
     * @param der the list as signed, to pass on ({@code null}: no list)
     */
    public record Crl(long number, Instant issued, Set<String> keys, Set<BigInteger> serials, byte[] der) {
        public static final Crl NONE = new Crl(0, Instant.EPOCH, Set.of(), Set.of(), null);

        public Crl {
            keys = Set.copyOf(keys);
            serials = Set.copyOf(serials);
        }

        public boolean revokes(X509Certificate c) {
            return serials.contains(c.getSerialNumber()) || keys.contains(Fingerprints.of(c.getPublicKey()));
        }

        @Override
        public String toString() {
            return number == 0 ? "no revocation list" : "revocation list " + number + " (" + keys.size() + " key(s))";
        }
    }

    /** What {@link #offer} did with a list. */
    public enum Outcome {
        /** Newer than ours: written to our file, and now in force. */
        ADOPTED,
        /** Signed by our anchor, but not newer than ours: dropped. */
        NOT_NEWER,
        /** Not a list our anchor signed: dropped. */
        INVALID
    }

    private final Path file;
    private final X509Certificate anchor;
    private final LongSupplier nanoClock;
    private final long checkIntervalNanos;
    private final AtomicLong nextCheckNanos;
    private final ReentrantLock mutate = new ReentrantLock();
    private volatile Crl crl = Crl.NONE;
    /** The file's stamp when {@link #crl} was taken from it, and the last one we could not use; under {@link #mutate}. */
    private CaFiles.Stamp stamp = CaFiles.Stamp.ABSENT;
    private CaFiles.Stamp lastBad;

    private Revocations(Path file, X509Certificate anchor, LongSupplier nanoClock, Duration checkInterval) {
        this.file = file;
        this.anchor = anchor;
        this.nanoClock = nanoClock;
        this.checkIntervalNanos = checkInterval.toNanos();
        this.nextCheckNanos = new AtomicLong(nanoClock.getAsLong() + checkIntervalNanos);
    }

    /**
     * The list in {@code file} (missing: none), checked against {@code anchor}.
     *
     * @throws IOException if the file is there but is not a list the anchor signed
     */
    public static Revocations open(Path file, X509Certificate anchor, LongSupplier nanoClock, Duration checkInterval)
            throws IOException {
        Objects.requireNonNull(anchor, "anchor");
        Revocations r = new Revocations(file, anchor, nanoClock, checkInterval);
        CaFiles.Stamp s = CaFiles.Stamp.of(file);
        if (s != CaFiles.Stamp.ABSENT) {
            r.crl = r.read();
        }
        r.stamp = s;
        return r;
    }

    /** {@link #open} on the system clock, looked at every {@link #DEFAULT_CHECK_INTERVAL}. */
    public static Revocations open(Path file, X509Certificate anchor) throws IOException {
        return open(file, anchor, System::nanoTime, DEFAULT_CHECK_INTERVAL);
    }

    public Path file() {
        return file;
    }

    /** The list in force, after looking at the file if the check interval has passed. */
    public Crl current() {
        long now = nanoClock.getAsLong();
        long next = nextCheckNanos.get();
        if (now - next >= 0 && nextCheckNanos.compareAndSet(next, now + checkIntervalNanos)) {
            refresh();
        }
        return crl;
    }

    /** Whether the list in force revokes {@code c}'s key or serial. */
    public boolean isRevoked(X509Certificate c) {
        return current().revokes(c);
    }

    /**
     * Re-reads the file now if it changed. Never throws: a file that cannot be used (malformed,
     * another CA's, older than ours) keeps the list in force, with one warning per version.
     *
     * @return whether the list in force changed
     */
    public boolean refresh() {
        CaFiles.Stamp now;
        try {
            now = CaFiles.Stamp.of(file);
        } catch (IOException e) {
            log.warn("revocation list {}: cannot check for changes ({}); keeping {}", file, e.getMessage(), crl);
            return false;
        }
        if (now.equals(stamp) || now == CaFiles.Stamp.ABSENT || !mutate.tryLock()) {
            return false; // a missing file revokes nothing new; a writer installs its list itself
        }
        try {
            if (now.equals(lastBad)) {
                return false;
            }
            Crl old = crl;
            Crl read;
            try {
                read = read();
            } catch (IOException e) {
                lastBad = now;
                log.warn("revocation list {} changed but cannot be used: {}; keeping {}", file, e.getMessage(), old);
                return false;
            }
            stamp = now;
            if (read.number() < old.number()) {
                log.warn("revocation list {} is number {}, older than the {} in force; keeping it", file, read.number(),
                    old.number());
                return false;
            }
            if (read.number() == old.number() && Arrays.equals(read.der(), old.der())) {
                return false;
            }
            crl = read;
            log.info("revocation list {} changed: {} (was {})", file, read, old);
            return true;
        } finally {
            mutate.unlock();
        }
    }

    /**
     * A list a peer sent (docs/IDENTITY.md §2.4, LNK_CRL): adopted — written to our file and put
     * in force — if our anchor signed it and its number is above ours.
     */
    public Outcome offer(byte[] der) {
        Crl c;
        try {
            c = parse(der, anchor, file);
        } catch (IOException e) {
            return Outcome.INVALID;
        }
        mutate.lock();
        try {
            if (c.number() <= crl.number()) {
                return Outcome.NOT_NEWER;
            }
            try {
                CaFiles.replace(file, pem(der), "rw-r--r--");
                stamp = CaFiles.Stamp.of(file);
            } catch (IOException e) {
                log.warn("revocation list {}: cannot write the newer list {}: {}; in force in memory only", file,
                    c.number(), e.getMessage());
            }
            Crl old = crl;
            crl = c;
            log.info("revocation list {}: adopted {} (was {})", file, c, old);
            return Outcome.ADOPTED;
        } finally {
            mutate.unlock();
        }
    }

    private Crl read() throws IOException {
        String text = CaFiles.readIfExists(file);
        X509CRL x = CaFiles.readCrl(file, text);
        try {
            return parse(x.getEncoded(), anchor, file);
        } catch (CRLException e) {
            throw new IOException(file + ": " + e.getMessage(), e);
        }
    }

    static String pem(byte[] der) {
        String b64 = Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII)).encodeToString(der);
        return "-----BEGIN X509 CRL-----\n" + b64 + "\n-----END X509 CRL-----\n";
    }

    /**
     * A list from its DER, if {@code anchor} signed it.
     *
     * @param where for messages
     * @throws IOException saying what is wrong: not a CRL, another issuer, a bad signature, a bad entry
     */
    public static Crl parse(byte[] der, X509Certificate anchor, Object where) throws IOException {
        X509CRL x;
        try {
            x = (X509CRL) CertificateFactory.getInstance("X.509")
                .generateCRL(new ByteArrayInputStream(der));
        } catch (GeneralSecurityException | RuntimeException e) {
            throw new IOException(where + ": not an X.509 CRL: " + e.getMessage(), e);
        }
        if (!x.getIssuerX500Principal().equals(anchor.getSubjectX500Principal())) {
            throw new IOException(where + ": a list issued by '" + x.getIssuerX500Principal().getName()
                + "', not by our cluster CA '" + anchor.getSubjectX500Principal().getName() + "'");
        }
        try {
            x.verify(anchor.getPublicKey());
        } catch (GeneralSecurityException e) {
            throw new IOException(where + ": not signed by our cluster CA (" + Fingerprints.of(anchor.getPublicKey())
                + "): " + e.getMessage(), e);
        }
        long number;
        byte[] n = x.getExtensionValue(Extension.cRLNumber.getId());
        if (n == null) {
            throw new IOException(where + ": the list has no cRLNumber");
        }
        try {
            number = ASN1Integer.getInstance(ASN1Primitive.fromByteArray(ASN1OctetString.getInstance(n).getOctets()))
                .longValueExact();
        } catch (IOException | RuntimeException e) {
            throw new IOException(where + ": bad cRLNumber: " + e.getMessage(), e);
        }
        Set<String> keys = new HashSet<>();
        Set<BigInteger> serials = new HashSet<>();
        Set<? extends X509CRLEntry> entries = x.getRevokedCertificates();
        if (entries != null) {
            for (X509CRLEntry e : entries) {
                serials.add(e.getSerialNumber());
                byte[] k = e.getExtensionValue(CertProfile.REVOKED_KEY.getId());
                if (k != null) {
                    try {
                        byte[] hash = ASN1OctetString.getInstance(
                            ASN1Primitive.fromByteArray(ASN1OctetString.getInstance(k).getOctets())).getOctets();
                        keys.add(Fingerprints.of(hash));
                    } catch (IOException | RuntimeException ex) {
                        throw new IOException(where + ": entry " + e.getSerialNumber() + ": bad dmsg-revoked-key: "
                            + ex.getMessage(), ex);
                    }
                }
            }
        }
        return new Crl(number, x.getThisUpdate().toInstant(), keys, serials, der.clone());
    }
}
