package dev.dmsg.services.metrics;

import dev.dmsg.link.Link;
import dev.dmsg.link.LinkState;
import dev.dmsg.services.EchoService;
import dev.dmsg.wire.Dmsg;
import java.util.Collection;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.LongSupplier;

/**
 * Round trips on a node's links, for {@code dmsg_link_rtt_seconds}. DMSG's LNK_PING is one-way
 * (docs/PROFILE.md §4: it only keeps a link alive), so it times nothing; instead, every
 * {@link #probe} opens one {@code DBG_ECHO|CREATE|DELETE} with no aux on each link that is up and
 * times its answer (EchoService; any answer, even an error, is a round trip). At most one probe per
 * link is in flight: a link whose last probe is unanswered is skipped until it answers or dies,
 * so a stalled peer is never sent more. Legacy (2013 C) peers are not probed. Costs one 64-byte
 * transaction each way per link and probe interval (5 s by default), only on a node that serves
 * metrics.
 *
 * <p>Threads: {@link #probe} on any thread (it hands each open to the link's event loop); the
 * answers arrive on the links' loops; {@link #latestNanos} on any thread.
 */
public final class LinkRtt {
    private final LongSupplier nanoClock;
    /** The latest round trip per link, nanoseconds. */
    private final Map<Link, Long> latest = new ConcurrentHashMap<>();
    /** Links with a probe in flight: when it was sent. */
    private final Map<Link, Long> inFlight = new ConcurrentHashMap<>();

    public LinkRtt(LongSupplier nanoClock) {
        this.nanoClock = nanoClock;
    }

    /** The latest round trip on {@code link}, or null if none was timed yet. */
    public Long latestNanos(Link link) {
        return latest.get(link);
    }

    /** Probes each link of {@code links} that is up, has no probe in flight and can take a message; forgets the rest. */
    public void probe(Collection<Link> links) {
        latest.keySet().retainAll(links);
        inFlight.keySet().retainAll(links);
        for (Link l : links) {
            if (l.state() != LinkState.UP || l.legacyPeer() || !l.isWritable() || inFlight.containsKey(l)) {
                continue;
            }
            long sent = nanoClock.getAsLong();
            inFlight.put(l, sent);
            try {
                l.execute(() -> open(l, sent));
            } catch (RuntimeException e) {
                inFlight.remove(l); // its loop is gone: the link is closing
            }
        }
    }

    /** On the link's event loop: never blocks there (LinkDriver's backpressure is for other threads). */
    private void open(Link l, long sent) {
        try {
            l.open(EchoService.DBG_ECHO | Dmsg.DELETE, null, null, (t, m) -> {
                if (!m.isDelete()) {
                    return;
                }
                if (!m.isAbort()) {
                    latest.put(l, nanoClock.getAsLong() - sent);
                }
                inFlight.remove(l);
            });
        } catch (RuntimeException e) {
            inFlight.remove(l); // closed meanwhile
        }
    }
}
