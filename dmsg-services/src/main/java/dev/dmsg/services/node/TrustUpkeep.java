package dev.dmsg.services.node;

import dev.dmsg.link.Link;
import dev.dmsg.link.LogLimiter;
import dev.dmsg.link.Services;
import dev.dmsg.link.netty.LinkEndpoint;
import dev.dmsg.link.tls.Revocations;
import dev.dmsg.mesh.SpanExt;
import dev.dmsg.wire.Message;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import java.util.concurrent.Executor;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps a node's links in step with its trust (docs/IDENTITY.md §2.4): every
 * {@link Revocations#DEFAULT_CHECK_INTERVAL} it {@linkplain NodeTrust#poll polls} the trust store
 * and the revocation list, and when either changed the endpoint re-identifies its links' peers
 * (closing those now refused); and it spreads the revocation list with {@code LNK_CRL} — to a
 * link's peer as the link comes up, to every link when the node adopts a newer list (from its
 * file or from a peer), never back to where it came from, only to nodes of ours (their LNK_CONN
 * carries our mark, docs/MESH.md) and never on a plaintext (legacy) link.
 *
 * <p>Threads: LNK_CRL arrives on event loops and is handed to {@code io} (it writes a file);
 * polling runs on the scheduler given to {@link #start}.
 */
final class TrustUpkeep {
    private static final Logger log = LoggerFactory.getLogger("dmsg.node");

    private final NodeTrust trust;
    private final LinkEndpoint endpoint;
    private final Executor io;
    private final LogLimiter invalidLists = LogLimiter.perMinute();
    private final AtomicLong listsInvalid = new AtomicLong();

    TrustUpkeep(NodeTrust trust, LinkEndpoint endpoint, Executor io) {
        this.trust = trust;
        this.endpoint = endpoint;
        this.io = io;
    }

    void register(Services services) {
        services.oneWay(Revocations.LNK_CRL, this::onList);
    }

    void start(ScheduledExecutorService scheduler) {
        long ms = Revocations.DEFAULT_CHECK_INTERVAL.toMillis();
        scheduler.scheduleWithFixedDelay(this::poll, ms, ms, TimeUnit.MILLISECONDS);
    }

    private void poll() {
        try {
            NodeTrust.Change c = trust.poll();
            if (c.any()) {
                revalidate(c.revocations() ? "the revocation list changed" : "the trust store changed");
            }
            if (c.revocations()) {
                spread(null);
            }
        } catch (RuntimeException e) {
            log.warn("checking trust for changes: {}", e.toString());
        }
    }

    private void revalidate(String why) {
        endpoint.revalidate().thenAccept(n -> {
            if (n > 0) {
                log.info("{}: closed {} link(s) whose peer is no longer trusted", why, n);
            }
        });
    }

    /** A link is up: its peer gets our list (it drops it if it has this one or a newer). */
    void onUp(Link link) {
        if (trust.revocations() != null && eligible(link)) {
            io.execute(() -> send(link, trust.revocations().current().der()));
        }
    }

    private void onList(Link link, Message m) {
        if (!eligible(link) || trust.revocations() == null) {
            return; // a node without a CA, or a plaintext peer: not ours to judge
        }
        byte[] der = m.aux() == null ? new byte[0] : ByteBufUtil.getBytes(m.aux());
        io.execute(() -> {
            Revocations.Outcome o = trust.revocations().offer(der);
            switch (o) {
                case ADOPTED -> {
                    log.info("revocation list {} from {} adopted", trust.revocations().current().number(),
                        link.peerLabel());
                    revalidate("the revocation list changed");
                    spread(link);
                }
                case NOT_NEWER -> { }
                case INVALID -> {
                    listsInvalid.incrementAndGet();
                    String more = invalidLists.admit();
                    if (more != null) {
                        log.warn("LNK_CRL from {}: not a list our cluster CA signed; dropped{}", link.peerLabel(), more);
                    }
                }
                default -> throw new IllegalStateException(String.valueOf(o));
            }
        });
    }

    /** Sends the list in force to every eligible link but {@code except}. */
    private void spread(Link except) {
        byte[] der = trust.revocations().current().der();
        for (Link l : endpoint.links()) {
            if (l != except) {
                send(l, der);
            }
        }
    }

    private void send(Link l, byte[] der) {
        if (der != null && eligible(l) && l.peerConn() != null && SpanExt.understoodBy(l.peerConn())) {
            // a node of ours (it marks its LNK_CONN): a shell client would only count an unknown message
            try {
                l.sendOneWay(Revocations.LNK_CRL, null, Unpooled.wrappedBuffer(der));
            } catch (RuntimeException e) {
                log.debug("LNK_CRL to {}: {}", l.peerLabel(), e.toString());
            }
        }
    }

    /** TLS links with an identified peer: never a legacy (plaintext) peer, never a 2013 C node. */
    private static boolean eligible(Link l) {
        return l.security() != null && l.peer() != null;
    }

    long listsInvalid() {
        return listsInvalid.get();
    }
}
