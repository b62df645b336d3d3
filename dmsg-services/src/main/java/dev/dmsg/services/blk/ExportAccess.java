package dev.dmsg.services.blk;

import dev.dmsg.link.tls.Role;
import dev.dmsg.services.Access;
import java.util.List;

/**
 * Who may open one export (docs/IDENTITY.md §5, docs/BLK.md "Exports"): admins always; besides
 * them the roles and node labels listed in {@code allow=} ({@code --export NAME=PATH,allow=member},
 * {@code allow=alpha+beta}). The default lists nobody else. Checked against the request's
 * principal — over a circuit, its originator — on top of what the role may do (a client also
 * needs its blk-read or blk-rw grant).
 *
 * @param allow role words ({@code admin}, {@code member}, {@code client}) and node labels
 */
public record ExportAccess(List<String> allow) {
    /** The default: admins only. */
    public static final ExportAccess ADMINS = new ExportAccess(List.of());
    /** Everyone the role rules admit (what exports were before access lists; tests of other parts). */
    public static final ExportAccess ANY_ROLE = new ExportAccess(List.of("member", "client"));

    public ExportAccess {
        allow = List.copyOf(allow);
        for (String w : allow) {
            if (w.isEmpty() || w.length() > 63 || !w.matches("[A-Za-z0-9._:@-]+")) {
                throw new IllegalArgumentException("allow: '" + w + "' is neither a role nor a node label");
            }
        }
    }

    /** Whether {@code p} is on the list. */
    public boolean admits(Access.Principal p) {
        return p.role() == Role.ADMIN || allow.contains(p.role().word()) || allow.contains(p.name());
    }

    /** {@code admin, member, alpha}: for refusals and status. */
    public String describe() {
        StringBuilder b = new StringBuilder("admin");
        for (String w : allow) {
            if (!w.equals("admin")) {
                b.append(", ").append(w);
            }
        }
        return b.toString();
    }
}
