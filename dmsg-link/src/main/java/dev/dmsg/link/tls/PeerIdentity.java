package dev.dmsg.link.tls;

import java.util.Objects;

/**
 * A peer as our trust store knows it: the name its key is trusted as, the key's fingerprint,
 * and what it may do here.
 */
public record PeerIdentity(String name, String fingerprint, Role role, int grants) {
    public PeerIdentity {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(fingerprint, "fingerprint");
        Objects.requireNonNull(role, "role");
    }

    /** Whether a {@link Role#CLIENT} (or better) may use the service behind {@code grant}. */
    public boolean granted(int grant) {
        return role == Role.ADMIN || (grants & grant) == grant;
    }

    @Override
    public String toString() {
        return name + " (" + role.word() + (grants == 0 ? "" : " " + Grants.format(grants)) + ", " + fingerprint + ")";
    }
}
