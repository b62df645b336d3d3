package dev.dmsg.link.tls;

import java.io.IOException;
import java.io.Reader;
import java.io.StringReader;
import java.io.StringWriter;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.security.cert.X509CRL;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.bouncycastle.cert.X509CRLHolder;
import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cert.jcajce.JcaX509CRLConverter;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;

/**
 * The file habits of the CA's files (docs/IDENTITY.md §2), as {@link TrustStore} has them for
 * {@code trusted}: a file is replaced whole (a temporary file forced to disk, renamed over it),
 * writers of one file hold an exclusive lock on a sibling {@code .lock} file (across processes)
 * and a monitor (across threads of one JVM), and a change is noticed by its {@link Stamp}.
 */
final class CaFiles {
    private CaFiles() {}

    /** {@link FileLock} is per process and throws if two channels of one JVM overlap: one writer per JVM. */
    private static final Object JVM_WRITERS = new Object();

    /** What tells one version of a file from another: mtime, size, and file key (inode: every rename makes a new one). */
    record Stamp(Object modified, long size, Object fileKey) {
        static final Stamp ABSENT = new Stamp(null, -1, null);

        static Stamp of(Path f) throws IOException {
            try {
                BasicFileAttributes a = Files.readAttributes(f, BasicFileAttributes.class);
                return new Stamp(a.lastModifiedTime(), a.size(), a.fileKey());
            } catch (NoSuchFileException e) {
                return ABSENT;
            }
        }
    }

    interface Locked<T> {
        T run() throws IOException;
    }

    /** Runs {@code body} holding the lock of {@code file} ({@code file.lock}, owner-only), in this JVM and across processes. */
    static <T> T locked(Path file, Locked<T> body) throws IOException {
        Path dir = file.toAbsolutePath().getParent();
        ownerOnlyDir(dir);
        synchronized (JVM_WRITERS) {
            try (FileChannel c = FileChannel.open(file.resolveSibling(file.getFileName() + ".lock"),
                    Set.of(StandardOpenOption.CREATE, StandardOpenOption.WRITE), ownerOnly(dir));
                 FileLock ignored = c.lock()) {
                return body.run();
            }
        }
    }

    /** Makes {@code dir} (and its parents) if needed; a directory made here is owner-only (0700). */
    static void ownerOnlyDir(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            Files.createDirectories(dir);
            if (posix(dir)) {
                Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx------"));
            }
        }
    }

    /**
     * Replaces {@code file} with {@code bytes}: a temporary file with mode {@code perms} from the
     * start (a key is never readable by others, not even for a moment), forced to disk, renamed.
     */
    static void replace(Path file, byte[] bytes, String perms) throws IOException {
        Path dir = file.toAbsolutePath().getParent();
        ownerOnlyDir(dir);
        Path tmp = posix(dir)
            ? Files.createTempFile(dir, "." + file.getFileName() + ".", ".tmp",
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString(perms)))
            : Files.createTempFile(dir, "." + file.getFileName() + ".", ".tmp");
        try {
            try (FileChannel c = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
                ByteBuffer b = ByteBuffer.wrap(bytes);
                while (b.hasRemaining()) {
                    c.write(b);
                }
                c.force(true);
            }
            if (posix(dir)) { // createTempFile's mode is masked by the umask; say it again
                Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString(perms));
            }
            try {
                Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
            }
        } finally {
            Files.deleteIfExists(tmp);
        }
        try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
            d.force(true); // the rename itself survives a crash
        } catch (IOException | UnsupportedOperationException e) {
            // not every platform can open a directory; the data is on disk either way
        }
    }

    static void replace(Path file, String text, String perms) throws IOException {
        replace(file, text.getBytes(StandardCharsets.UTF_8), perms);
    }

    /** The text of {@code f}, or "" if it does not exist. */
    static String readIfExists(Path f) throws IOException {
        try {
            return Files.readString(f, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            return "";
        }
    }

    static boolean posix(Path p) {
        return p != null && Files.getFileAttributeView(p, PosixFileAttributeView.class) != null;
    }

    static FileAttribute<?>[] ownerOnly(Path dir) {
        return posix(dir)
            ? new FileAttribute<?>[] {PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------"))}
            : new FileAttribute<?>[0];
    }

    // ------------------------------------------------------------------------------------------
    // PEM

    /** PEM of each object (certificates, CRLs, PKCS#8 generators), one after the other. */
    static String pem(Object... objects) throws IOException {
        StringWriter s = new StringWriter();
        try (JcaPEMWriter w = new JcaPEMWriter(s)) {
            for (Object o : objects) {
                w.writeObject(o);
            }
        }
        return s.toString();
    }

    /** Every certificate in the PEM file {@code f}, in order; anything else in it is an error. */
    static List<X509Certificate> readCertificates(Path f) throws IOException {
        List<X509Certificate> out = new ArrayList<>();
        for (Object o : readPemObjects(f, Files.readString(f, StandardCharsets.US_ASCII))) {
            if (!(o instanceof X509CertificateHolder h)) {
                throw new IOException(f + ": not an X.509 certificate in PEM (found " + o.getClass().getSimpleName() + ")");
            }
            try {
                out.add(new JcaX509CertificateConverter().getCertificate(h));
            } catch (GeneralSecurityException e) {
                throw new IOException(f + ": a certificate Java cannot read: " + e.getMessage(), e);
            }
        }
        if (out.isEmpty()) {
            throw new IOException(f + ": no certificate in it");
        }
        return out;
    }

    /** The one CRL in the PEM text {@code text} (from {@code f}, for messages). */
    static X509CRL readCrl(Path f, String text) throws IOException {
        List<Object> objects = readPemObjects(f, text);
        if (objects.size() != 1 || !(objects.get(0) instanceof X509CRLHolder h)) {
            throw new IOException(f + ": not one X.509 CRL in PEM");
        }
        try {
            return new JcaX509CRLConverter().getCRL(h);
        } catch (GeneralSecurityException e) {
            throw new IOException(f + ": a CRL Java cannot read: " + e.getMessage(), e);
        }
    }

    private static List<Object> readPemObjects(Path f, String text) throws IOException {
        List<Object> out = new ArrayList<>();
        try (Reader r = new StringReader(text); PEMParser p = new PEMParser(r)) {
            Object o;
            while ((o = p.readObject()) != null) {
                out.add(o);
            }
        } catch (IOException | RuntimeException e) {
            throw new IOException(f + ": broken PEM: " + e.getMessage(), e);
        }
        return out;
    }
}
