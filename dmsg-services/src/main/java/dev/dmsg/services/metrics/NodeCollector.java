package dev.dmsg.services.metrics;

import dev.dmsg.link.Link;
import dev.dmsg.link.LinkState;
import dev.dmsg.link.LinkStats;
import dev.dmsg.link.Violation;
import dev.dmsg.link.netty.TlsStats;
import dev.dmsg.mesh.MeshNode;
import dev.dmsg.mesh.SpanEngine;
import dev.dmsg.services.blk.BlkServer;
import dev.dmsg.services.cac.CacServer;
import dev.dmsg.services.http.ListenerStats;
import dev.dmsg.services.node.Node;
import dev.dmsg.services.quorum.GroupStatus;
import dev.dmsg.services.quorum.QuorumMember;
import dev.dmsg.wire.PeerType;
import io.prometheus.metrics.model.registry.MultiCollector;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import io.prometheus.metrics.model.snapshots.Unit;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A node's metrics, read from its own counters at scrape time (docs/OPERATIONS.md "Metrics and
 * health" lists every one with its type and labels): nothing is counted twice and nothing is
 * added to the links' or the exports' paths but the BLK latency histograms, which the exports
 * keep themselves. Names follow Prometheus's conventions: {@code dmsg_} first, base units
 * (seconds, bytes) in the name, {@code _total} on counters (added by the text format).
 *
 * <p>Per-link series are labelled {@code peer} (its label) and {@code address} (its remote
 * address): they exist while the link does, as in the status document's {@code links[]}.
 *
 * <p>Threads: {@link #collect} runs on the caller's thread (the listener's scrape thread); it
 * waits at most 5 s for the mesh thread's span table, and reads the rest without waiting.
 */
public final class NodeCollector implements MultiCollector {
    private static final Logger log = LoggerFactory.getLogger(NodeCollector.class);

    private final Node node;
    private final LinkRtt rtt;
    private final ListenerStats listener;

    /**
     * @param rtt round trips timed on the links, or null for none
     * @param listener the HTTP listener's own refusals, or null
     */
    public NodeCollector(Node node, LinkRtt rtt, ListenerStats listener) {
        this.node = node;
        this.rtt = rtt;
        this.listener = listener;
    }

    @Override
    public MetricSnapshots collect() {
        Scrape s = new Scrape();
        nodeInfo(s);
        links(s);
        security(s);
        spans(s);
        circuits(s);
        blk(s);
        quorum(s);
        if (listener != null) {
            s.counter("dmsg_metrics_http_refusals", "connections and requests the metrics listener refused, by reason",
                null);
            listener.forEach((reason, n) -> s.add("dmsg_metrics_http_refusals", n, "reason", reason));
        }
        return s.build();
    }

    private void nodeInfo(Scrape s) {
        s.info("dmsg_node", "the node: its label and the version it runs");
        s.add("dmsg_node", 1, "label", node.identity().label(), "version", Node.version());
        s.gauge("dmsg_node_start_time_seconds", "when the node started, seconds since the epoch", Unit.SECONDS);
        s.add("dmsg_node_start_time_seconds", node.started().toEpochMilli() / 1e3);
        s.gauge("dmsg_node_ready", "1 when the node is ready (what /readyz answers 200 for), else 0", null);
        s.add("dmsg_node_ready", node.readiness().ready() ? 1 : 0);
    }

    private void links(Scrape s) {
        s.gauge("dmsg_links", "links by state", null);
        s.counter("dmsg_link_messages", "messages on a link, by direction (in, out)", null);
        s.counter("dmsg_link_bytes", "frame bytes on a link, by direction (in, out)", Unit.BYTES);
        s.gauge("dmsg_link_open_transactions", "transactions open on a link now", null);
        s.counter("dmsg_link_pings", "LNK_PINGs on a link, by direction (in, out)", null);
        s.counter("dmsg_link_relayed_messages",
            "messages of circuits passing through, by direction (in: received here, out: sent on)", null);
        s.counter("dmsg_link_relayed_bytes",
            "frame bytes of circuits passing through, by direction (in: received here, out: sent on)", Unit.BYTES);
        s.counter("dmsg_link_refusals",
            "requests a link's peer made that were refused, by reason (denied, over_limit, nosupp, seal_failure)", null);
        s.counter("dmsg_link_violations", "breaches of the transaction rules by a link's peer, dropped, by kind", null);
        s.gauge("dmsg_link_rtt_seconds", "the latest round trip of a DBG_ECHO on a link (measured every few seconds)",
            Unit.SECONDS);
        Map<LinkState, Integer> byState = new java.util.EnumMap<>(LinkState.class);
        for (LinkState st : LinkState.values()) {
            byState.put(st, 0);
        }
        for (Link l : node.endpoint().links()) {
            byState.merge(l.state(), 1, Integer::sum);
            String peer = l.peerLabel() == null ? "" : l.peerLabel();
            String addr = l.remoteAddress() == null ? "" : l.remoteAddress();
            LinkStats st = l.stats();
            s.add("dmsg_link_messages", st.msgsIn(), "peer", peer, "address", addr, "direction", "in");
            s.add("dmsg_link_messages", st.msgsOut(), "peer", peer, "address", addr, "direction", "out");
            s.add("dmsg_link_bytes", st.bytesIn(), "peer", peer, "address", addr, "direction", "in");
            s.add("dmsg_link_bytes", st.bytesOut(), "peer", peer, "address", addr, "direction", "out");
            s.add("dmsg_link_open_transactions", st.openTransactions(), "peer", peer, "address", addr);
            s.add("dmsg_link_pings", st.pingsReceived(), "peer", peer, "address", addr, "direction", "in");
            s.add("dmsg_link_pings", st.pingsSent(), "peer", peer, "address", addr, "direction", "out");
            s.add("dmsg_link_relayed_messages", st.msgsRelayed(), "peer", peer, "address", addr, "direction", "in");
            s.add("dmsg_link_relayed_messages", st.msgsForwarded(), "peer", peer, "address", addr, "direction", "out");
            s.add("dmsg_link_relayed_bytes", st.bytesRelayed(), "peer", peer, "address", addr, "direction", "in");
            s.add("dmsg_link_relayed_bytes", st.bytesForwarded(), "peer", peer, "address", addr, "direction", "out");
            s.add("dmsg_link_refusals", st.denied(), "peer", peer, "address", addr, "reason", "denied");
            s.add("dmsg_link_refusals", st.refusedOverLimit(), "peer", peer, "address", addr, "reason", "over_limit");
            s.add("dmsg_link_refusals", st.nosuppSent(), "peer", peer, "address", addr, "reason", "nosupp");
            s.add("dmsg_link_refusals", st.sealFailures(), "peer", peer, "address", addr, "reason", "seal_failure");
            for (Map.Entry<Violation, Long> v : st.violations().entrySet()) {
                s.add("dmsg_link_violations", v.getValue(), "peer", peer, "address", addr, "violation",
                    v.getKey().name().toLowerCase(java.util.Locale.ROOT));
            }
            Long nanos = rtt == null ? null : rtt.latestNanos(l);
            if (nanos != null) {
                s.add("dmsg_link_rtt_seconds", nanos / 1e9, "peer", peer, "address", addr);
            }
        }
        byState.forEach((st, n) -> s.add("dmsg_links", n, "state", st.name().toLowerCase(java.util.Locale.ROOT)));
    }

    private void security(Scrape s) {
        s.counter("dmsg_tls_handshakes", "TLS handshakes, by result (completed, failed)", null);
        s.counter("dmsg_refusals", "what the node refused, by layer (tls, mesh, blk, quorum, locks) and reason", null);
        if (node.keys() == null) {
            return; // a plaintext node (tests only) runs no handshake
        }
        TlsStats t = node.endpoint().tlsStats();
        s.add("dmsg_tls_handshakes", t.completed(), "result", "completed");
        s.add("dmsg_tls_handshakes", t.failed(), "result", "failed");
        s.add("dmsg_refusals", t.refused(), "layer", "tls", "reason", "key_refused");
        s.add("dmsg_refusals", t.timedOut(), "layer", "tls", "reason", "handshake_timeout");
        s.add("dmsg_refusals", t.plaintextRefused(), "layer", "tls", "reason", "plaintext_refused");
        s.add("dmsg_refusals", t.evicted(), "layer", "tls", "reason", "handshake_evicted");
        s.add("dmsg_refusals", t.overCap(), "layer", "tls", "reason", "connection_over_cap");
        long spans = 0;
        for (long n : node.mesh().spansRefused().values()) {
            spans += n;
        }
        s.add("dmsg_refusals", spans, "layer", "mesh", "reason", "span_refused");
    }

    private void spans(Scrape s) {
        s.gauge("dmsg_spans", "nodes in the span table, by peer type and whether this node advertises them", null);
        try {
            for (SpanEngine.NodeView v : node.spans()) {
                boolean local = v.links().stream().anyMatch(lv -> lv.via().equals("local"));
                s.add("dmsg_spans", 1, "peer_type", PeerType.nameOf(v.key().peerType()), "local", Boolean.toString(local));
            }
        } catch (Exception e) {
            log.warn("metrics: the span table: {}", e.toString()); // the mesh thread did not answer in time
        }
    }

    private void circuits(Scrape s) {
        s.gauge("dmsg_circuits", "circuits this node takes part in, by role (origin, endpoint, relay)", null);
        for (String role : new String[] {"origin", "endpoint", "relay"}) {
            s.add("dmsg_circuits", 0, "role", role);
        }
        for (MeshNode.CircuitView c : node.mesh().circuits()) {
            s.add("dmsg_circuits", 1, "role", c.role());
        }
    }

    private void blk(Scrape s) {
        BlkServer blk = node.blk();
        if (blk == null) {
            return;
        }
        s.gauge("dmsg_blk_opens", "opens of an export live now", null);
        s.counter("dmsg_blk_requests", "requests an export served, by op (read, write, flush, trim)", null);
        s.counter("dmsg_blk_bytes", "bytes an export served, by op (read, write)", Unit.BYTES);
        s.counter("dmsg_blk_errors", "I/O errors an export answered", null);
        s.histogram("dmsg_blk_request_duration_seconds",
            "time from a request's arrival to its answer, by export and op (errors included)", Unit.SECONDS);
        s.counter("dmsg_blk_replies_discarded", "replies dropped because their link or circuit had died", null);
        for (BlkServer.ExportStats e : blk.stats()) {
            String x = e.name();
            s.add("dmsg_blk_opens", e.opens(), "export", x);
            s.add("dmsg_blk_requests", e.reads(), "export", x, "op", "read");
            s.add("dmsg_blk_requests", e.writes(), "export", x, "op", "write");
            s.add("dmsg_blk_requests", e.flushes(), "export", x, "op", "flush");
            s.add("dmsg_blk_requests", e.trims(), "export", x, "op", "trim");
            s.add("dmsg_blk_bytes", e.bytesRead(), "export", x, "op", "read");
            s.add("dmsg_blk_bytes", e.bytesWritten(), "export", x, "op", "write");
            s.add("dmsg_blk_errors", e.errors(), "export", x);
            s.add("dmsg_refusals", e.refused(), "layer", "blk", "reason", "export:" + x);
            e.latency().forEach((op, h) -> s.add("dmsg_blk_request_duration_seconds", h, "export", x, "op", op));
        }
        // refusals before any export was known (no open, bad keyid): the server's total less the exports'
        long byExport = blk.stats().stream().mapToLong(BlkServer.ExportStats::refused).sum();
        s.add("dmsg_refusals", Math.max(0, blk.refusals() - byExport), "layer", "blk", "reason", "no_export");
        s.add("dmsg_blk_replies_discarded", blk.discardedReplies());
    }

    private void quorum(Scrape s) {
        QuorumMember q = node.quorum();
        if (q == null) {
            return;
        }
        QuorumMember.Status st = q.status();
        s.gauge("dmsg_quorum_role", "1 for this member's Raft role in a group (leader, follower, candidate, listener)",
            null);
        s.gauge("dmsg_quorum_leader_known", "1 when this member knows its group's leader", null);
        s.gauge("dmsg_quorum_term", "the group's current Raft term", null);
        s.gauge("dmsg_quorum_commit_index", "the log index known committed", null);
        s.gauge("dmsg_quorum_applied_index", "the log index applied to this member's store", null);
        s.gauge("dmsg_quorum_watches", "watches open now", null);
        for (GroupStatus g : st.groups()) {
            s.add("dmsg_quorum_role", 1, "group", g.name(), "role", g.role().toLowerCase(java.util.Locale.ROOT));
            s.add("dmsg_quorum_leader_known", g.leader() == null ? 0 : 1, "group", g.name());
            s.add("dmsg_quorum_term", g.term(), "group", g.name());
            s.add("dmsg_quorum_commit_index", g.commitIndex(), "group", g.name());
            s.add("dmsg_quorum_applied_index", g.appliedIndex(), "group", g.name());
        }
        s.add("dmsg_quorum_watches", st.watches());
        st.refused().forEach((why, n) -> s.add("dmsg_refusals", n, "layer", "quorum", "reason", why));
        s.add("dmsg_refusals", st.budgetRefusals(), "layer", "quorum", "reason", "budget");
        s.add("dmsg_refusals", st.raftRefusals(), "layer", "quorum", "reason", "raft");
        CacServer locks = node.locks();
        if (locks != null) {
            CacServer.Status ls = locks.status();
            s.gauge("dmsg_lock_sessions", "lock transactions open here (this member is their home)", null);
            s.gauge("dmsg_locks", "locks in a group's table, by state (held, waiting, leased)", null);
            s.add("dmsg_lock_sessions", ls.sessions());
            for (CacServer.GroupLocks g : ls.groups()) {
                s.add("dmsg_locks", g.held(), "group", g.name(), "state", "held");
                s.add("dmsg_locks", g.waiting(), "group", g.name(), "state", "waiting");
                s.add("dmsg_locks", g.leased(), "group", g.name(), "state", "leased");
            }
            ls.refusals().forEach((why, n) -> s.add("dmsg_refusals", n, "layer", "locks", "reason", why));
        }
    }
}
