package dev.dmsg.mesh;

import dev.dmsg.mesh.SpanRelays.Conn;
import dev.dmsg.mesh.SpanEngine.Node;
import dev.dmsg.mesh.SpanEngine.Relay;
import dev.dmsg.mesh.SpanEngine.SpanLink;
import dev.dmsg.wire.LnkSpan;
import java.util.List;

/**
 * The 2013 C relay algorithm (libdmsg {@code msg_lnk.c}, docs/REFERENCE.md §3.4), as a 2013 node
 * runs it: every received span of a node is a path, the paths sorted by (dist, rnss, arrival) and
 * the first N that pass the receiving peer's filter relayed, a filter failure ending that node's
 * scan (§3.4 step 3). No sequence numbers, no feasibility, no timers: the extension of
 * docs/MESH.md is not read, and its updates and seqno requests are ignored (counted). This is
 * the algorithm whose transient loops and counting up docs/MESH.md "What goes wrong in C" shows.
 */
final class CRelayStrategy implements SpanStrategy {
    private final SpanEngine.Counters counters;

    CRelayStrategy(SpanEngine.Counters counters) {
        this.counters = counters;
    }

    @Override
    public SpanExt extOf(LnkSpan received) {
        return null;
    }

    @Override
    public SpanExt ownExt() {
        return null;
    }

    /** All of them: C relays every path, best first (docs/REFERENCE.md §3.4 step 2). */
    @Override
    public List<SpanLink> relayable(Node node) {
        return node.links;
    }

    /** C: any failure stops the scan for this node (docs/REFERENCE.md §3.4 step 3). */
    @Override
    public boolean stopsAtFiltered() {
        return true;
    }

    @Override
    public boolean isFeasible(Node node, SpanLink link) {
        return true;
    }

    @Override
    public void scanning(Node node) {}

    /** A C relay is a copy made once: nothing in a span changes while its transaction lives. */
    @Override
    public void refresh(Conn conn, Relay r, SpanLink source) {}

    @Override
    public void advertised(SpanLink source, int dist) {}

    @Override
    public void spanUpdated(SpanLink link, LnkSpan span, byte[] proof) {
        counters.updatesIgnored++;
    }

    @Override
    public void seqnoRequested(Relay r, LnkSpan request) {
        counters.requestsIgnored++;
    }

    @Override
    public void tick(long nowNanos) {}
}
