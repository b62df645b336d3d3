package dev.dmsg.mesh.auth;

import java.util.Locale;

/**
 * What a node knows about who made a span (docs/IDENTITY.md §3.3), as the span table shows it.
 *
 * @param signer the name of the key that signed it (its origin, or for {@link Kind#LEGACY} the
 *     node that vouched for it), or the legacy peer's name; "" for {@link Kind#OPEN}
 * @param signerId the signer's node id (key fingerprint), or "" when there is no key
 */
public record SpanTrust(Kind kind, String signer, String signerId) {
    public enum Kind {
        /** Signed by its owner, whose key this node trusts. */
        VERIFIED,
        /** Signed by the node legacy spans entered the mesh through, or received unsigned from a configured legacy peer. */
        LEGACY,
        /** Validly signed by a key this node does not know (pinned mode, not pinned here): routing only. */
        UNVERIFIED,
        /** This node runs without TLS (tests of other layers): nothing is signed or checked. */
        OPEN;

        /** Rank for name lookups: a lower rank wins (docs/IDENTITY.md §3.5). */
        public int rank() {
            return switch (this) {
                case VERIFIED, OPEN -> 0;
                case LEGACY -> 1;
                case UNVERIFIED -> 2;
            };
        }

        public String word() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    public static final SpanTrust OPEN = new SpanTrust(Kind.OPEN, "", "");
    /** Our own spans. */
    public static SpanTrust self(String name, String id) {
        return new SpanTrust(Kind.VERIFIED, name, id);
    }

    /** For the span table: {@code verified by gamma}, {@code legacy via beta}, {@code unverified (mallory)}. */
    public String describe() {
        return switch (kind) {
            case VERIFIED -> "verified (" + signer + ")";
            case LEGACY -> "legacy (" + signer + ")";
            case UNVERIFIED -> "unverified (claims " + signer + ")";
            case OPEN -> "open";
        };
    }
}
