package dev.dmsg.mesh;

import dev.dmsg.mesh.SpanRelays.Conn;
import dev.dmsg.mesh.SpanEngine.Node;
import dev.dmsg.mesh.SpanEngine.Relay;
import dev.dmsg.mesh.SpanEngine.SpanLink;
import dev.dmsg.wire.LnkSpan;
import java.util.List;

/**
 * What the two relay algorithms decide differently; {@link SpanEngine} keeps the span table and
 * does the relaying, and asks its strategy at each of these points. {@link CRelayStrategy} is the
 * 2013 C algorithm (docs/REFERENCE.md §3.4); {@link LoopFreeStrategy} is ours (docs/MESH.md,
 * docs/PROFILE.md §5). Chosen once per engine, from {@link MeshConfig#loopFree()}.
 *
 * <p>Who calls whom: the engine calls the strategy on its own thread, from its inputs and its
 * rescan; the strategy reads the table and calls back only {@link SpanEngine#mark} (rescan this
 * node), {@link SpanEngine#rescan}, the counters and the ports. Nothing here is thread-safe.
 */
interface SpanStrategy {
    /** The extension carried by a received span, kept with its link; {@code null}: none (C ignores it). */
    SpanExt extOf(LnkSpan received);

    /** The extension of a span this node starts to advertise; {@code null}: none. */
    SpanExt ownExt();

    /**
     * The links of {@code node} that may be relayed, in relay order (dist, rnss, arrival); what
     * {@link #stopsAtFiltered()} and the conn's filter then cut down to the top N per conn.
     */
    List<SpanLink> relayable(Node node);

    /** Whether a link that fails a conn's filter ends the scan of its node for that conn. */
    boolean stopsAtFiltered();

    /** Whether {@code link} may be the next hop to {@code node} (C: every link may). */
    boolean isFeasible(Node node, SpanLink link);

    /** Called once per rescan of {@code node}, before its relays are synced: ask for what it lacks. */
    void scanning(Node node);

    /** Relay {@code r} stays on {@code source}, which may have changed since: bring it up to date. */
    void refresh(Conn conn, Relay r, SpanLink source);

    /** This node now advertises {@code source} at {@code dist} (a relay opened or updated). */
    void advertised(SpanLink source, int dist);

    /** A mid-stream LNK_SPAN from the sender of {@code link}. */
    void spanUpdated(SpanLink link, LnkSpan span, byte[] proof);

    /** A mid-stream LNK_SPAN|REPLY on relay {@code r}: a seqno request. */
    void seqnoRequested(Relay r, LnkSpan request);

    /** Timers, at {@code nowNanos}. */
    void tick(long nowNanos);
}
