package dev.dmsg.services.node;

import dev.dmsg.link.Link;
import dev.dmsg.link.LinkListener;
import dev.dmsg.link.LinkStats;
import dev.dmsg.link.tls.PeerIdentity;
import dev.dmsg.mesh.auth.SpanAuth;
import dev.dmsg.wire.LnkConn;
import dev.dmsg.wire.ErrorCode;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The node's view of its links: logs each one coming and going, remembers since when it is up
 * (the status document's {@code links[].age_s}), and hands each event on to the mesh and, with
 * TLS, to the trust upkeep (docs/IDENTITY.md §2). Called on the links' event loops.
 *
 * <p>One line at INFO when a link comes up (who the peer is, by key and role, and the TLS it
 * speaks: the link layer logs those steps at DEBUG) and one when it goes down. A tool's link
 * ({@link #isTool}: {@code dmsg status}, {@code kv get}, …, one per command) is logged at DEBUG:
 * a script calling the CLI every second must not fill the node's log (issue 18).
 */
final class LinkWatch implements LinkListener {
    private static final Logger log = LoggerFactory.getLogger("dmsg.node");

    private final LinkListener mesh;
    private final Map<Link, Long> upSinceNanos = new ConcurrentHashMap<>();
    private final Set<Link> tools = ConcurrentHashMap.newKeySet();
    /** Set once, before the node listens; null on a plaintext node. */
    private volatile TrustUpkeep upkeep;

    LinkWatch(LinkListener mesh) {
        this.mesh = mesh;
    }

    void upkeep(TrustUpkeep u) {
        this.upkeep = u;
    }

    /** When {@code link} came up ({@link System#nanoTime}), or null. */
    Long upSinceNanos(Link link) {
        return upSinceNanos.get(link);
    }

    @Override
    public void onUp(Link link) {
        upSinceNanos.put(link, System.nanoTime());
        boolean tool = isTool(link);
        if (tool) {
            tools.add(link);
        }
        if (tool ? log.isDebugEnabled() : log.isInfoEnabled()) {
            PeerIdentity p = link.peer();
            String security = link.security();
            String line = "link up: " + link.peerLabel() + " (" + link.remoteAddress() + ")"
                + (p != null ? ": key " + p : "") + (security != null ? ", " + security : "") + (tool ? ", a tool" : "");
            if (tool) {
                log.debug("{}", line);
            } else {
                log.info("{}", line);
            }
        }
        mesh.onUp(link);
        TrustUpkeep u = upkeep;
        if (u != null) {
            u.onUp(link);
        }
    }

    @Override
    public void onConnResult(Link link, int error) {
        if (error == 0) {
            if (tools.contains(link) || isTool(link)) {
                log.debug("link {}: peer accepted our LNK_CONN", link.peerLabel());
            } else {
                log.info("link {}: peer accepted our LNK_CONN", link.peerLabel());
            }
        } else {
            log.warn("link {}: peer refused our LNK_CONN: {}", link.peerLabel(), ErrorCode.nameOf(error));
        }
    }

    @Override
    public void onDown(Link link, String reason, int aborted) {
        upSinceNanos.remove(link);
        boolean tool = tools.remove(link);
        LinkStats s = link.stats();
        String format = "link down: {} ({}): {}; {} open transaction(s) aborted; {} msgs in, {} out, {} pings sent";
        Object[] args = {link.peerLabel(), link.remoteAddress(), reason, aborted, s.msgsIn(), s.msgsOut(), s.pingsSent()};
        if (tool) {
            log.debug(format, args);
        } else {
            log.info(format, args);
        }
        mesh.onDown(link, reason, aborted);
    }

    /**
     * Whether {@code link} is a tool's rather than a mesh member's: a peer that takes no spans
     * (peer_mask 0 in its LNK_CONN: {@code ShellClient}), or a guest node — a label below the name
     * of the key it authenticated with, as {@code alpha.kv.4242} under {@code alpha}
     * ({@link SpanAuth#owns}, {@code GuestNode}).
     */
    static boolean isTool(Link link) {
        LnkConn conn = link.peerConn();
        if (conn != null && conn.peerMask() == 0) {
            return true;
        }
        PeerIdentity p = link.peer();
        String label = link.peerLabel();
        return p != null && label != null && !label.equals(p.name()) && SpanAuth.owns(p.name(), label);
    }
}
