package dev.dmsg.link.tls;

import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Objects;

/**
 * A join token as the operator copies it (docs/IDENTITY.md §2.5):
 * {@code dmsgjoin1.<ID: 16 hex>.<SECRET: 32 hex>.<CA: the root key's fingerprint without "SHA256:">}.
 * The ID names the token on its issuer, the secret (128 bits) proves it, and the CA's fingerprint
 * lets the joiner check it reached the right cluster before it sends the secret. {@link #toString}
 * hides the secret: only {@link #format} prints it.
 */
public final class JoinToken {
    public static final String PREFIX = "dmsgjoin1";
    public static final int ID_BYTES = 8;
    public static final int SECRET_BYTES = 16;
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final HexFormat HEX = HexFormat.of();

    private final byte[] id;
    private final byte[] secret;
    private final String caFingerprint;

    public JoinToken(byte[] id, byte[] secret, String caFingerprint) {
        if (id.length != ID_BYTES || secret.length != SECRET_BYTES) {
            throw new IllegalArgumentException("a token has an 8-byte ID and a 16-byte secret");
        }
        if (!Fingerprints.isFingerprint(caFingerprint)) {
            throw new IllegalArgumentException("not a CA fingerprint: " + caFingerprint);
        }
        this.id = id.clone();
        this.secret = secret.clone();
        this.caFingerprint = caFingerprint;
    }

    /** A new random token for the CA whose root key has {@code caFingerprint}. */
    public static JoinToken random(String caFingerprint) {
        byte[] id = new byte[ID_BYTES];
        byte[] secret = new byte[SECRET_BYTES];
        RANDOM.nextBytes(id);
        RANDOM.nextBytes(secret);
        return new JoinToken(id, secret, caFingerprint);
    }

    /**
     * Reads a token string.
     *
     * @throws IllegalArgumentException saying which part is wrong (never echoing the secret)
     */
    public static JoinToken parse(String s) {
        String[] p = s == null ? new String[0] : s.trim().split("\\.", -1);
        if (p.length != 4 || !p[0].equals(PREFIX)) {
            throw new IllegalArgumentException("not a join token: expected " + PREFIX + ".ID.SECRET.CA (from 'dmsg ca token')");
        }
        byte[] id = hex(p[1], ID_BYTES, "ID");
        byte[] secret = hex(p[2], SECRET_BYTES, "secret");
        String ca = "SHA256:" + p[3];
        if (!Fingerprints.isFingerprint(ca)) {
            throw new IllegalArgumentException("join token: its CA part is not a key fingerprint (43 base64 characters)");
        }
        return new JoinToken(id, secret, ca);
    }

    private static byte[] hex(String s, int bytes, String what) {
        if (s.length() != 2 * bytes) {
            throw new IllegalArgumentException("join token: its " + what + " has " + s.length() + " hex digits, not " + 2 * bytes);
        }
        try {
            return HEX.parseHex(s);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("join token: its " + what + " is not hex");
        }
    }

    /** The ID in hex: how the issuer's {@code tokens} file and its logs name the token. */
    public String id() {
        return HEX.formatHex(id);
    }

    public byte[] idBytes() {
        return id.clone();
    }

    public byte[] secret() {
        return secret.clone();
    }

    public String caFingerprint() {
        return caFingerprint;
    }

    /** SHA-256 of the secret: all the issuer keeps of it. */
    public static byte[] hashSecret(byte[] secret) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(secret);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The whole token, secret included: what the operator hands to the joining machine. */
    public String format() {
        return PREFIX + "." + id() + "." + HEX.formatHex(secret) + "." + caFingerprint.substring("SHA256:".length());
    }

    /** The token without its secret, for logs. */
    @Override
    public String toString() {
        return PREFIX + "." + id() + ".<secret>";
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof JoinToken t && Arrays.equals(t.id, id) && MessageDigest.isEqual(t.secret, secret)
            && t.caFingerprint.equals(caFingerprint);
    }

    @Override
    public int hashCode() {
        return Objects.hash(Arrays.hashCode(id), caFingerprint);
    }
}
