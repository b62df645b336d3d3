package dev.dmsg.link.tls;

import java.util.regex.Pattern;

/**
 * What a trust-store entry may be (docs/SECURITY.md §2): the name's characters, the
 * fingerprint's form, a role that is a trust level, grants only for clients. One rule set for
 * the file's parser ({@link TrustFile}) and for {@link TrustStore#add}, so a line we write is
 * always one we read back. Stateless.
 */
final class TrustRules {
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9._:-]{1," + TrustStore.MAX_NAME_CHARS + "}");

    private TrustRules() {}

    /** 1..63 characters of {@code [A-Za-z0-9._:-]} (a colon for nodes named by their HOST:PORT). */
    static boolean isName(String name) {
        return name != null && NAME.matcher(name).matches();
    }

    /** Why {@code p} cannot be in the store, or null. */
    static String invalid(PeerIdentity p) {
        if (!isName(p.name())) {
            return badName(p.name());
        }
        if (!Fingerprints.isFingerprint(p.fingerprint())) {
            return badFingerprint(p.fingerprint());
        }
        if (p.role() == Role.NONE) {
            return "role none is not a trust level (roles: admin, member, client)";
        }
        if ((p.grants() & ~Grants.KNOWN) != 0) {
            return "unknown grant bits 0x" + Integer.toHexString(p.grants());
        }
        if (p.grants() != 0 && p.role() != Role.CLIENT) {
            return "grants " + Grants.format(p.grants()) + " are only for role client, not " + p.role().word()
                + " (admin and member may do what their role allows, docs/SECURITY.md §5)";
        }
        return null;
    }

    static String badName(String name) {
        return "bad name '" + name + "' (1.." + TrustStore.MAX_NAME_CHARS + " characters of A-Z a-z 0-9 . _ : -)";
    }

    static String badFingerprint(String fp) {
        return "bad fingerprint '" + fp + "' (SHA256: and 43 base64 characters, as 'dmsg keygen --show' prints)";
    }

    /** The role and grants as the file writes them: "client shell-ro,blk-read". */
    static String describe(PeerIdentity p) {
        return p.role().word() + (p.grants() == 0 ? "" : " " + Grants.format(p.grants()));
    }
}
