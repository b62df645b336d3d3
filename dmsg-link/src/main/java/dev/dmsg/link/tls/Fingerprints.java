package dev.dmsg.link.tls;

import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.PublicKey;
import java.util.Base64;
import java.util.regex.Pattern;

/**
 * Key fingerprints: {@code SHA256:} + base64 without padding of SHA-256 over the DER
 * SubjectPublicKeyInfo — the OpenSSH form. They name the key, so a certificate re-issued for the
 * same key keeps its fingerprint.
 */
public final class Fingerprints {
    private Fingerprints() {}

    private static final Pattern FORM = Pattern.compile("SHA256:[A-Za-z0-9+/]{43}");

    /** SHA-256 of the key's SubjectPublicKeyInfo (what LNK_AUTH carries). */
    public static byte[] sha256(PublicKey key) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(key.getEncoded());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 missing from this JDK", e);
        }
    }

    public static String of(PublicKey key) {
        return of(sha256(key));
    }

    public static String of(byte[] sha256) {
        if (sha256.length != 32) {
            throw new IllegalArgumentException("a SHA-256 has 32 bytes, not " + sha256.length);
        }
        return "SHA256:" + Base64.getEncoder().withoutPadding().encodeToString(sha256);
    }

    /** Whether {@code s} has the form of a fingerprint. */
    public static boolean isFingerprint(String s) {
        return s != null && FORM.matcher(s).matches();
    }

    /** The 32 hash bytes of a fingerprint. */
    public static byte[] bytes(String fingerprint) {
        if (!isFingerprint(fingerprint)) {
            throw new IllegalArgumentException("not a fingerprint (SHA256: and 43 base64 characters): '" + fingerprint + "'");
        }
        return Base64.getDecoder().decode(fingerprint.substring("SHA256:".length()));
    }
}
