package dev.dmsg.quorum.raft;

import dev.dmsg.link.tls.Role;
import java.util.Objects;

/**
 * Who sent a Raft request, as the transport authenticated it — the originator of the circuit it
 * came on (docs/IDENTITY.md §5), never what the request's bytes claim.
 *
 * @param label the originator's node label (its trusted name)
 * @param role what this node lets it do
 */
public record RaftOrigin(String label, Role role) {
    public RaftOrigin {
        Objects.requireNonNull(label, "label");
        Objects.requireNonNull(role, "role");
    }

    @Override
    public String toString() {
        return "'" + label + "' (" + role.word() + ")";
    }
}
