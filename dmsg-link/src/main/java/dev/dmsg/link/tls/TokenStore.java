package dev.dmsg.link.tls;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;

/**
 * An issuer's join tokens, {@code DATA/ca/tokens} (docs/IDENTITY.md §2.5), mode 0600:
 * <pre>
 * # ID               SHA256(SECRET)                               ROLE    GRANTS  NOT_AFTER             USED_BY
 * 3f2a9c1b7d4e8a60   Yx0aTL1c...(43 base64)                       member  -       2026-12-07T16:00:00Z  -
 * </pre>
 * {@code USED_BY} is {@code NAME,FINGERPRINT,WHEN} once redeemed. The secret is never stored.
 * Every change re-reads the file and replaces it whole under its lock ({@link CaFiles#locked}), so
 * {@code dmsg ca token} in another process and a running node's redemptions never lose each other's.
 */
final class TokenStore {
    private TokenStore() {}

    static final String FILE = "tokens";
    private static final String HEADER = "# join tokens (docs/IDENTITY.md §2.5): one use each; the secret is not kept\n"
        + "# ID SHA256(SECRET) ROLE GRANTS NOT_AFTER USED_BY\n";

    record Used(String name, String fingerprint, Instant when) {
        @Override
        public String toString() {
            return name + "," + fingerprint + "," + when;
        }
    }

    record Token(String id, String secretHash, Role role, int grants, Instant notAfter, Used usedBy) {
        String line() {
            return String.format("%s %s %-6s %s %s %s", id, secretHash, role.word(), Grants.format(grants), notAfter,
                usedBy == null ? "-" : usedBy);
        }

        Token used(Used u) {
            return new Token(id, secretHash, role, grants, notAfter, u);
        }
    }

    static String hash(byte[] secret) {
        return Base64.getEncoder().withoutPadding().encodeToString(JoinToken.hashSecret(secret));
    }

    static List<Token> read(Path f) throws IOException {
        List<Token> out = new ArrayList<>();
        String[] lines = CaFiles.readIfExists(f).split("\n");
        for (int i = 0; i < lines.length; i++) {
            String l = lines[i].strip();
            if (l.isEmpty() || l.startsWith("#")) {
                continue;
            }
            String[] c = l.split("[ \t]+");
            try {
                if (c.length != 6) {
                    throw new IllegalArgumentException(c.length + " columns, not 6 (ID SHA256(SECRET) ROLE GRANTS NOT_AFTER USED_BY)");
                }
                Used used = null;
                if (!c[5].equals("-")) {
                    String[] u = c[5].split(",");
                    if (u.length != 3) {
                        throw new IllegalArgumentException("USED_BY '" + c[5] + "' is not NAME,FINGERPRINT,WHEN");
                    }
                    used = new Used(u[0], u[1], Instant.parse(u[2]));
                }
                out.add(new Token(c[0], c[1], Role.parse(c[2]), Grants.parse(c[3]), Instant.parse(c[4]), used));
            } catch (RuntimeException e) {
                throw new IOException(f + ":" + (i + 1) + ": " + e.getMessage(), e);
            }
        }
        return out;
    }

    /** Writes {@code tokens} (the caller holds the file's lock), dropping tokens expired more than a day ago. */
    static void write(Path f, List<Token> tokens, Instant now) throws IOException {
        StringBuilder b = new StringBuilder(HEADER);
        for (Token t : tokens) {
            if (t.notAfter().plusSeconds(86_400).isAfter(now)) {
                b.append(t.line()).append('\n');
            }
        }
        CaFiles.replace(f, b.toString(), "rw-------");
    }

    /** Adds new tokens; returns them (with their secrets: this is the only time anyone sees them). */
    static List<JoinToken> create(Path f, String caFingerprint, Role role, int grants, Instant notAfter, int count,
                                  Instant now) throws IOException {
        return CaFiles.locked(f, () -> {
            List<Token> all = new ArrayList<>(read(f));
            List<JoinToken> made = new ArrayList<>();
            for (int i = 0; i < count; i++) {
                JoinToken t = JoinToken.random(caFingerprint);
                made.add(t);
                all.add(new Token(t.id(), hash(t.secret()), role, grants, notAfter, null));
            }
            write(f, all, now);
            return made;
        });
    }
}
