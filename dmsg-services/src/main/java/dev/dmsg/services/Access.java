package dev.dmsg.services;

import dev.dmsg.link.Link;
import dev.dmsg.link.tls.Grants;
import dev.dmsg.link.tls.PeerIdentity;
import dev.dmsg.link.tls.Role;
import dev.dmsg.services.shell.Delegation;
import java.util.function.Function;

/**
 * Who may do what on this node (docs/SECURITY.md §5, docs/IDENTITY.md §5). Every request has a
 * {@link Principal}: on circuit 0 its link's peer, from our trust store; over an authenticated
 * circuit its originator, from our trust store; over an unauthenticated circuit (forged by a
 * configured legacy peer) that neighbour, at most {@link Role#MEMBER}; passed on by a shell for a
 * caller ({@link Delegation}), the lesser of the two. Plaintext links have no verified peer: their
 * role comes from the node's configuration (legacy peers).
 */
public final class Access {
    /** What a request needs. */
    public enum Level {
        /** Reads state: status, tree, links, ping … */
        READ,
        /** Changes the node: VOLCONF, adding links … */
        CHANGE
    }

    /**
     * Who a request is from, as this node sees it, and what it may do.
     *
     * @param how how it reached us, for messages: "" on its own link, ", over a circuit", ", for
     *     'ops' via beta"
     */
    public record Principal(String name, String fingerprint, Role role, int grants, String how) {
        /** {@code 'ops-cli' (client, over a circuit)}: for refusals and logs. */
        public String describe() {
            return "'" + name + "' (" + role.word() + how + ")";
        }
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

    /**
     * The principal of a request on {@code circuit} of {@code link}: on an authenticated circuit its
     * originator, with the role and grants this node gives its key (docs/IDENTITY.md §5); on
     * circuit 0 the link's peer; on an unauthenticated circuit (a legacy neighbour's) that
     * neighbour, at most member.
     */
    public Principal principal(Link link, long circuit) {
        PeerIdentity origin = circuit == 0 ? null : link.circuitPeer(circuit);
        if (origin != null) {
            PeerIdentity via = link.peer();
            return new Principal(origin.name(), origin.fingerprint(), origin.role(), origin.grants(),
                ", over a circuit" + (via == null || via.fingerprint().equals(origin.fingerprint()) ? ""
                    : " via " + via.name()));
        }
        PeerIdentity p = link.peer();
        Role r = p != null ? p.role() : plaintextRole.apply(link);
        String name = p != null ? p.name() : link.peerLabel() + "@" + link.remoteAddress();
        String how = p != null ? "" : ", plaintext";
        if (circuit != 0) {
            if (r.code > Role.MEMBER.code) {
                r = Role.MEMBER;
            }
            how += ", over a circuit";
        }
        return new Principal(name, p != null ? p.fingerprint() : "none", r, p != null ? p.grants() : 0, how);
    }

    /**
     * The principal of a request passed on for a caller: the lesser of the rights this node gives
     * the link (or circuit) it came by and the rights {@code d} names; grants intersect.
     */
    public Principal principal(Link link, long circuit, Delegation d) {
        Principal via = principal(link, circuit);
        if (d == null) {
            return via;
        }
        Role r = d.role().code < via.role().code ? d.role() : via.role();
        int grants = d.grants() & (via.role() == Role.CLIENT ? via.grants() : ~0);
        if (d.fingerprint().equals(via.fingerprint()) && !"none".equals(via.fingerprint())) {
            return new Principal(via.name(), via.fingerprint(), r, grants, via.how()); // passed on to itself: @self
        }
        return new Principal(d.name(), d.fingerprint(), r, grants, ", for '" + d.name() + "' via " + via.name()
            + via.how());
    }

    public Role roleOf(Link link, long circuit) {
        return principal(link, circuit).role();
    }

    /** Whether {@code p} may make a request of {@code level}. */
    public static boolean allows(Principal p, Level level) {
        if (level == Level.CHANGE) {
            return p.role() == Role.ADMIN;
        }
        return p.role() == Role.ADMIN || p.role() == Role.MEMBER
            || (p.role() == Role.CLIENT && (p.grants() & Grants.SHELL_RO) != 0);
    }

    /** Whether a request of {@code level} on {@code link} (circuit {@code circuit}) is allowed. */
    public boolean allows(Link link, long circuit, Level level) {
        return allows(principal(link, circuit), level);
    }

    /**
     * Whether a BLK open (docs/BLK.md, docs/SECURITY.md §5) is allowed. An admin or a member may
     * read and write (an export made read-only with {@code ,ro} refuses writes on its own): a
     * member is a node of the cluster, and a remote block device is what the cluster is for, as
     * with DragonFly's xdisk. Over a circuit the request's role is its neighbour's, at most member
     * ({@link #principal}): the neighbour vouches for the node at the far end, the same transitive
     * trust the shell's READ level uses. A client may read if granted {@code blk-read} or
     * {@code blk-rw}, and write only with {@code blk-rw}; its grants count only on its own link
     * (circuit 0), since clients may not forge circuits.
     */
    public boolean allowsBlk(Link link, long circuit, boolean write) {
        Principal p = principal(link, circuit);
        if (p.role() == Role.ADMIN || p.role() == Role.MEMBER) {
            return true;
        }
        boolean authenticated = circuit == 0 ? link.peer() != null : link.circuitPeer(circuit) != null;
        if (p.role() != Role.CLIENT || !authenticated) {
            return false;
        }
        return (p.grants() & (write ? Grants.BLK_RW : Grants.BLK_READ | Grants.BLK_RW)) != 0;
    }

    /** Who the peer is, for refusal messages: {@code 'ops-cli' (client)}. */
    public String who(Link link, long circuit) {
        return principal(link, circuit).describe();
    }
}
