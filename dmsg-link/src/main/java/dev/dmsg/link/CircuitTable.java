package dev.dmsg.link;

import dev.dmsg.link.tls.PeerIdentity;
import dev.dmsg.wire.FrameEncoder;
import dev.dmsg.wire.Message;
import io.netty.util.collection.LongObjectHashMap;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The circuits of one link (docs/REFERENCE.md §3.5, docs/CIRCUITS.md): those that end here, with
 * their transaction tables and seals, and those that pass through, with their relays. It is the
 * mesh layer's view of the link. Event loop only, but for {@link #circuitPeer} and
 * {@link #forward}.
 */
final class CircuitTable implements LinkCircuits {
    private static final Logger log = LoggerFactory.getLogger(Iocom.class);
    /** Circuits detached or unrelayed here lately, remembered for late messages on them; the oldest are forgotten. */
    private static final int RECENTLY_DETACHED = 256;

    private final Iocom iocom;
    private final LinkCounters counters;
    final Circuit circuit0 = new Circuit(0);
    private final LongObjectHashMap<Circuit> ending = new LongObjectHashMap<>();
    /** Circuits that pass through: their messages go to a relay, untracked. */
    private final LongObjectHashMap<CircuitRelay> relayed = new LongObjectHashMap<>();
    private final LinkedHashMap<Long, Boolean> recentlyDetached = new LinkedHashMap<>() {
        @Override
        protected boolean removeEldestEntry(Map.Entry<Long, Boolean> eldest) {
            return size() > RECENTLY_DETACHED;
        }
    };
    /** The far ends of the authenticated circuits ending here, for readers on other threads. */
    private final ConcurrentHashMap<Long, PeerIdentity> circuitPeers = new ConcurrentHashMap<>();
    /** {@link #pauseReading()} calls not yet resumed. */
    private int readPauses;

    CircuitTable(Iocom iocom, LinkCounters counters) {
        this.iocom = iocom;
        this.counters = counters;
        ending.put(0, circuit0);
    }

    /** The circuit {@code id} ending here (0: circuit 0), or null. */
    Circuit find(long id) {
        return id == 0 ? circuit0 : ending.get(id);
    }

    /** The relay of circuit {@code id} passing through, or null. */
    CircuitRelay relayOf(long id) {
        return relayed.get(id);
    }

    boolean recentlyDetached(long id) {
        return recentlyDetached.containsKey(id);
    }

    /** Every circuit ending here, circuit 0 included: a copy, for aborting them all. */
    List<Circuit> all() {
        return new ArrayList<>(ending.values());
    }

    @Override
    public void attach(long id) {
        if (id == 0 || ending.containsKey(id) || relayed.containsKey(id)) {
            throw new IllegalStateException("circuit " + Long.toHexString(id) + " already attached");
        }
        ending.put(id, new Circuit(id));
    }

    @Override
    public int detach(long id) {
        Circuit c = id == 0 ? null : ending.remove(id);
        circuitPeers.remove(id);
        if (c != null) {
            recentlyDetached.put(id, Boolean.TRUE);
        }
        return c == null ? 0 : iocom.abortCircuit(c, new HashMap<>());
    }

    @Override
    public void secure(long id, CircuitSecurity security) {
        Circuit c = id == 0 ? null : ending.get(id);
        if (c == null || c.security != null) {
            throw new IllegalStateException("circuit " + Long.toHexString(id) + (c == null ? " is not attached"
                : " is already secured"));
        }
        c.security = security;
        circuitPeers.put(id, security.peer());
    }

    PeerIdentity circuitPeer(long id) {
        return circuitPeers.get(id);
    }

    @Override
    public void relay(long id, CircuitRelay relay) {
        if (id == 0 || ending.containsKey(id) || relayed.containsKey(id)) {
            throw new IllegalStateException("circuit " + Long.toHexString(id) + " already attached or relayed");
        }
        relayed.put(id, relay);
    }

    /**
     * The relay has closed its side: messages the peer sent before it saw our DELETE are still on
     * their way (a close crossing the far end's last answers, as at every shutdown); remembered as
     * detached, they are counted as late, not as a peer's violation.
     */
    @Override
    public void unrelay(long id) {
        if (relayed.remove(id) != null) {
            recentlyDetached.put(id, Boolean.TRUE);
        }
    }

    @Override
    public boolean forward(Message m, long circuit) {
        Message out;
        try {
            out = m.rewrite(m.cmd(), m.msgid(), circuit);
        } finally {
            m.release();
        }
        if (iocom.inEventLoop()) {
            forwardOnLoop(out);
            return iocom.isWritable();
        }
        if (!iocom.outbound.enqueue(FrameEncoder.frameBytes(out), () -> forwardOnLoop(out), false)) {
            out.release();
            counters.sendsDiscarded.increment();
            return false;
        }
        return iocom.isWritable();
    }

    private void forwardOnLoop(Message out) {
        counters.messagesForwarded++;
        counters.bytesForwarded += FrameEncoder.frameBytes(out);
        iocom.sendNow(null, out); // outside every transaction table: the ends track it, not us
    }

    @Override
    public void pauseReading() {
        if (readPauses++ == 0) {
            iocom.transport.setReadPaused(true);
        }
    }

    @Override
    public void resumeReading() {
        if (readPauses == 0) {
            throw new IllegalStateException("link " + iocom.name() + ": resumeReading without pauseReading");
        }
        if (--readPauses == 0) {
            iocom.transport.setReadPaused(false);
        }
    }

    int readPauses() {
        return readPauses;
    }

    /** {@code m} sealed if it goes on a sealed circuit ending here, in write order (the seal's sequence is the wire's). */
    Message seal(Message m) {
        Circuit c = ending.get(m.circuit());
        if (c != null && c.security != null && c.security.seal() != null) {
            return c.security.seal().seal(m);
        }
        return m;
    }

    /**
     * {@code m} opened if it arrived on a sealed circuit ending here, else {@code m} itself; null if
     * it failed to open — then the circuit is detached (its transactions aborted with LOSTLINK) and
     * the mesh told, which closes it end to end (docs/IDENTITY.md §4.2).
     */
    Message unseal(Message m) {
        Circuit c = ending.get(m.circuit());
        CircuitSecurity sec = c == null ? null : c.security;
        if (sec == null || sec.seal() == null) {
            return m;
        }
        try {
            return sec.seal().open(m);
        } catch (CircuitSeal.Broken e) {
            counters.sealFailures++;
            String why = "circuit " + Long.toHexString(c.id) + " from " + sec.peer().name() + ": " + e.getMessage()
                + " (altered, injected, reordered or dropped on the path); closed";
            log.warn("link {}: {}", iocom.name(), why);
            detach(c.id);
            try {
                sec.onBroken().accept(why);
            } catch (RuntimeException ex) {
                log.warn("link {}: circuit onBroken threw", iocom.name(), ex);
            }
            return null;
        }
    }
}
