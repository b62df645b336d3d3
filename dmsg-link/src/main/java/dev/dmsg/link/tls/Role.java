package dev.dmsg.link.tls;

import java.util.Locale;

/**
 * What a peer may do on our node (docs/SECURITY.md §5), set per trusted key. The code is the
 * {@code role} byte of LNK_AUTH.
 */
public enum Role {
    /** Not trusted: nothing beyond the handshake. */
    NONE(0),
    /** Only the services it is granted ({@link Grants}). */
    CLIENT(1),
    /** Mesh traffic (SPAN, CIRC relaying), read-only shell, BLK read. */
    MEMBER(2),
    /** Everything. */
    ADMIN(3);

    public final int code;

    Role(int code) {
        this.code = code;
    }

    /** The role with {@code code}, or NONE for a code we do not know. */
    public static Role ofCode(int code) {
        for (Role r : values()) {
            if (r.code == code) {
                return r;
            }
        }
        return NONE;
    }

    /** {@code admin}, {@code member}, {@code client} (any case). */
    public static Role parse(String s) {
        try {
            Role r = valueOf(s.trim().toUpperCase(Locale.ROOT));
            if (r != NONE) {
                return r;
            }
        } catch (IllegalArgumentException e) {
            // fall through
        }
        throw new IllegalArgumentException("role must be admin, member or client, not '" + s + "'");
    }

    public String word() {
        return name().toLowerCase(Locale.ROOT);
    }
}
