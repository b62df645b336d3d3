package dev.dmsg.link.tls;

import java.io.IOException;
import java.math.BigInteger;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/**
 * What a CA key signed (docs/IDENTITY.md §2): {@code CA_DIR/issued} for the root,
 * {@code DATA/ca/issued} for an issuer. One certificate per line, so that {@code dmsg ca revoke
 * NAME} can find the keys and serials of a name, and an issuer can refuse to give a name to a
 * second key:
 * <pre>
 * # SERIAL           NAME  FINGERPRINT        KIND    ROLE    GRANTS  NOT_AFTER             ISSUED_AT
 * 5c0e9a3f1b27d468   n3    SHA256:q7m6Jw9...  node    member  -       2027-12-07T15:10:00Z  2026-12-07T15:10:00Z
 * </pre>
 * Appended under the file's lock; never edited otherwise.
 */
final class IssuedLog {
    private IssuedLog() {}

    static final String FILE = "issued";
    private static final String HEADER =
        "# certificates signed here (docs/IDENTITY.md §2)\n# SERIAL NAME FINGERPRINT KIND ROLE GRANTS NOT_AFTER ISSUED_AT\n";

    record Entry(BigInteger serial, String name, String fingerprint, String kind, Role role, int grants,
                 Instant notAfter, Instant issuedAt) {
        static Entry of(X509Certificate c, String kind, Instant issuedAt) {
            CertProfile.Claim claim = CertProfile.claim(c);
            return new Entry(c.getSerialNumber(), NodeKeys.commonNameOrEmpty(c).replace(' ', '_'),
                Fingerprints.of(c.getPublicKey()), kind, claim == null ? Role.ADMIN : claim.role(),
                claim == null ? 0 : claim.grants(), c.getNotAfter().toInstant(), issuedAt);
        }

        String line() {
            return String.format("%-16s %s %s %s %s %s %s %s", serial.toString(16), name, fingerprint, kind, role.word(),
                Grants.format(grants), notAfter, issuedAt);
        }

        static Entry parse(Path f, int number, String line) throws IOException {
            String[] c = line.trim().split("[ \t]+");
            try {
                if (c.length != 8) {
                    throw new IllegalArgumentException(c.length + " columns, not 8");
                }
                return new Entry(new BigInteger(c[0], 16), c[1], c[2], c[3], Role.parse(c[4]), Grants.parse(c[5]),
                    Instant.parse(c[6]), Instant.parse(c[7]));
            } catch (RuntimeException e) {
                throw new IOException(f + ":" + number + ": " + e.getMessage(), e);
            }
        }
    }

    static List<Entry> read(Path f) throws IOException {
        List<Entry> out = new ArrayList<>();
        String[] lines = CaFiles.readIfExists(f).split("\n");
        for (int i = 0; i < lines.length; i++) {
            String l = lines[i].strip();
            if (!l.isEmpty() && !l.startsWith("#")) {
                out.add(Entry.parse(f, i + 1, l));
            }
        }
        return out;
    }

    static void append(Path f, Entry e) throws IOException {
        CaFiles.locked(f, () -> {
            String text = CaFiles.readIfExists(f);
            CaFiles.replace(f, (text.isEmpty() ? HEADER : text) + e.line() + "\n", "rw-------");
            return null;
        });
    }
}
