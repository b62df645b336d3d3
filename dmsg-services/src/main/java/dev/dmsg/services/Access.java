package dev.dmsg.services;

import dev.dmsg.link.Link;
import dev.dmsg.link.tls.Grants;
import dev.dmsg.link.tls.PeerIdentity;
import dev.dmsg.link.tls.Role;
import java.util.function.Function;

/**
 * Who may do what on this node (docs/SECURITY.md §5): the role of a request is its link's peer's
 * role from our trust store; over a circuit, at most {@link Role#MEMBER} (the neighbour vouches
 * for a node we may hold no key for, and a remote request never gets admin). Plaintext links
 * have no verified peer: their role comes from the node's configuration (legacy peers).
 */
public final class Access {
    /** What a request needs. */
    public enum Level {
        /** Reads state: status, tree, links, ping … */
        READ,
        /** Changes the node: VOLCONF, adding links … */
        CHANGE
    }

    private final Function<Link, Role> plaintextRole;

    /** @param plaintextRole the role of a link without TLS (its legacy configuration) */
    public Access(Function<Link, Role> plaintextRole) {
        this.plaintextRole = plaintextRole;
    }

    /**
     * Every plaintext link is an admin: how nodes ran before TLS, and what tests of other layers
     * use. Not for production configurations once TLS is on (docs/SECURITY.md §6).
     */
    public static Access plaintextAdmin() {
        return new Access(l -> Role.ADMIN);
    }

    public Role roleOf(Link link, long circuit) {
        PeerIdentity p = link.peer();
        Role r = p != null ? p.role() : plaintextRole.apply(link);
        if (circuit != 0 && r.code > Role.MEMBER.code) {
            r = Role.MEMBER;
        }
        return r;
    }

    /** Whether a request of {@code level} on {@code link} (circuit {@code circuit}) is allowed. */
    public boolean allows(Link link, long circuit, Level level) {
        Role r = roleOf(link, circuit);
        if (level == Level.CHANGE) {
            return r == Role.ADMIN;
        }
        if (r == Role.ADMIN || r == Role.MEMBER) {
            return true;
        }
        PeerIdentity p = link.peer();
        return r == Role.CLIENT && circuit == 0 && p != null && (p.grants() & Grants.SHELL_RO) != 0;
    }

    /**
     * Whether a BLK open (docs/BLK.md, docs/SECURITY.md §5) is allowed. An admin or a member may
     * read and write (an export made read-only with {@code ,ro} refuses writes on its own): a
     * member is a node of the cluster, and a remote block device is what the cluster is for, as
     * with DragonFly's xdisk. Over a circuit the request's role is its neighbour's, at most member
     * ({@link #roleOf}): the neighbour vouches for the node at the far end, the same transitive
     * trust the shell's READ level uses. A client may read if granted {@code blk-read} or
     * {@code blk-rw}, and write only with {@code blk-rw}; its grants count only on its own link
     * (circuit 0), since clients may not forge circuits.
     */
    public boolean allowsBlk(Link link, long circuit, boolean write) {
        Role r = roleOf(link, circuit);
        if (r == Role.ADMIN || r == Role.MEMBER) {
            return true;
        }
        PeerIdentity p = link.peer();
        if (r != Role.CLIENT || circuit != 0 || p == null) {
            return false;
        }
        return (p.grants() & (write ? Grants.BLK_RW : Grants.BLK_READ | Grants.BLK_RW)) != 0;
    }

    /** Who the peer is, for refusal messages: {@code 'ops-cli' (client)}. */
    public String who(Link link, long circuit) {
        PeerIdentity p = link.peer();
        String name = p != null ? "'" + p.name() + "'" : link.peerLabel() + "@" + link.remoteAddress() + " (plaintext)";
        return name + " (" + roleOf(link, circuit).word() + (circuit != 0 ? ", over a circuit" : "") + ")";
    }
}
