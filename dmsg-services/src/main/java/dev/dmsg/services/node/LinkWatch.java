package dev.dmsg.services.node;

import dev.dmsg.link.Link;
import dev.dmsg.link.LinkListener;
import dev.dmsg.link.LinkStats;
import dev.dmsg.wire.ErrorCode;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The node's view of its links: logs each one coming and going, remembers since when it is up
 * (the status document's {@code links[].age_s}), and hands each event on to the mesh and, with
 * TLS, to the trust upkeep (docs/IDENTITY.md §2). Called on the links' event loops.
 */
final class LinkWatch implements LinkListener {
    private static final Logger log = LoggerFactory.getLogger("dmsg.node");

    private final LinkListener mesh;
    private final Map<Link, Long> upSinceNanos = new ConcurrentHashMap<>();
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
        log.info("link up: {} ({})", link.peerLabel(), link.remoteAddress());
        mesh.onUp(link);
        TrustUpkeep u = upkeep;
        if (u != null) {
            u.onUp(link);
        }
    }

    @Override
    public void onConnResult(Link link, int error) {
        if (error == 0) {
            log.info("link {}: peer accepted our LNK_CONN", link.peerLabel());
        } else {
            log.warn("link {}: peer refused our LNK_CONN: {}", link.peerLabel(), ErrorCode.nameOf(error));
        }
    }

    @Override
    public void onDown(Link link, String reason, int aborted) {
        upSinceNanos.remove(link);
        LinkStats s = link.stats();
        log.info("link down: {} ({}): {}; {} open transaction(s) aborted; {} msgs in, {} out, {} pings sent",
            link.peerLabel(), link.remoteAddress(), reason, aborted, s.msgsIn(), s.msgsOut(), s.pingsSent());
        mesh.onDown(link, reason, aborted);
    }
}
