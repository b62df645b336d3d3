package dev.dmsg.services.node;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonUnwrapped;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.dmsg.link.Link;
import dev.dmsg.link.LinkStats;
import dev.dmsg.link.netty.TlsStats;
import dev.dmsg.link.tls.NodeKeys;
import dev.dmsg.link.tls.PeerIdentity;
import dev.dmsg.mesh.MeshNode;
import dev.dmsg.mesh.NodeKey;
import dev.dmsg.mesh.SpanEngine;
import dev.dmsg.mesh.auth.SpanTrust;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.PeerType;
import dev.dmsg.wire.PfsType;
import dev.dmsg.wire.VolData;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * The node's own parts of the status document (docs/STATUS.md lists every field): records that
 * Jackson serialises, their components named in camel case and written in snake case
 * ({@link #JSON}), in declaration order. A field that is sometimes absent is a nullable component
 * marked {@code NON_NULL}; a group of fields present together is an {@link JsonUnwrapped} record
 * that is null when absent. Services add their own parts ({@link NodeService#status}).
 */
final class NodeStatus {
    private NodeStatus() {}

    /** Writes the document: snake_case field names, indented. */
    static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT)
        .setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE);

    /**
     * {@code node}: who this node is and where it listens. {@code fingerprint} null and {@code tls}
     * "off" without TLS; {@code started} ISO-8601 (UTC).
     */
    record NodeInfo(String label, String listen, String peerType, String pfsType, String clLabel, String pfsClid,
                    String pfsFsid, String origin, String dataDir, String fingerprint, String tls, String version,
                    String started, long uptimeS) {}

    /** {@code security} (TLS nodes, docs/SECURITY.md §7): every refusal and limit, counted. */
    record SecurityInfo(long handshakesCompleted, long handshakesFailed, long keysRefused, long handshakesTimedOut,
                        long connectionsOverCap, long handshakesEvicted, long plaintextRefused, long legacyLinks,
                        long logLinesSuppressed, SortedMap<String, Long> spansRefused) {
        static SecurityInfo of(TlsStats ts, Map<String, Long> spansRefused) {
            return new SecurityInfo(ts.completed(), ts.failed(), ts.refused(), ts.timedOut(), ts.overCap(),
                ts.evicted(), ts.plaintextRefused(), ts.legacy(), ts.logLinesSuppressed(), new TreeMap<>(spansRefused));
        }
    }

    /** One of {@code links[]}. */
    record LinkInfo(String peer, String address, String identity, String role, String state, long ageS, long msgsIn,
                    long msgsOut, long bytesIn, long bytesOut, long openTransactions, long denied,
                    long refusedOverLimit) {
        static LinkInfo of(Link l, Long upSinceNanos, long nowNanos) {
            LinkStats st = l.stats();
            PeerIdentity who = l.peer();
            return new LinkInfo(l.peerLabel(), l.remoteAddress(), who == null ? null : who.name(),
                who == null ? "admin (plaintext)" : who.role().word(), l.state().name(),
                upSinceNanos == null ? 0 : (nowNanos - upSinceNanos) / 1_000_000_000L, st.msgsIn(), st.msgsOut(),
                st.bytesIn(), st.bytesOut(), st.openTransactions(), st.denied(), st.refusedOverLimit());
        }
    }

    /** One of {@code spans[]}: a node of the span tree; {@code bytes} and {@code blksize} only for a BLOCK span. */
    record SpanInfo(String peerType, String pfsType, String clLabel, String fsLabel, String pfsClid, String pfsFsid,
                    boolean local, int dist, @JsonInclude(JsonInclude.Include.NON_NULL) Long bytes,
                    @JsonInclude(JsonInclude.Include.NON_NULL) Integer blksize, List<PathInfo> links) {
        static SpanInfo of(SpanEngine.NodeView v) {
            NodeKey k = v.key();
            boolean local = v.links().stream().anyMatch(lv -> lv.via().equals("local"));
            int best = v.links().stream().filter(SpanEngine.LinkView::feasible).mapToInt(SpanEngine.LinkView::dist)
                .min().orElse(-1);
            boolean block = k.peerType() == Dmsg.PEER_BLOCK;
            return new SpanInfo(PeerType.nameOf(k.peerType()), PfsType.nameOf(v.pfsType()), k.clLabel(), k.fsLabel(),
                k.pfsClid().toString(), k.pfsFsid().toString(), local, local ? 0 : best,
                block ? v.mediaBytes() : null, block ? v.mediaBlksize() : null,
                v.links().stream().map(PathInfo::of).toList());
        }
    }

    /** One of {@code spans[].links[]}: a path to the node. */
    record PathInfo(int dist, String via, boolean feasible, @JsonUnwrapped Signed signed,
                    @JsonInclude(JsonInclude.Include.NON_NULL) String msgid,
                    @JsonInclude(JsonInclude.Include.NON_NULL) Integer seqno, List<String> relays) {
        static PathInfo of(SpanEngine.LinkView lv) {
            SpanTrust t = lv.trust();
            return new PathInfo(lv.dist(), lv.via(), lv.feasible(),
                t != null && t.kind() != SpanTrust.Kind.OPEN ? new Signed(t.kind().word(), t.signer(), t.signerId()) : null,
                lv.msgid() != 0 ? String.format("%016x", lv.msgid()) : null, lv.seqno() >= 0 ? lv.seqno() : null,
                List.copyOf(lv.relayedTo()));
        }
    }

    /** Who signed a path's span (docs/IDENTITY.md §3.3); absent for an open (unsigned) span. */
    record Signed(String trust, String signer, String signerId) {}

    /** One of {@code circuits[]}; {@code other} only for a relay. */
    record CircuitInfo(String role, String node, String link, String id, @JsonUnwrapped OtherSide other, boolean open,
                       long ageS) {
        static CircuitInfo of(MeshNode.CircuitView v) {
            return new CircuitInfo(v.role(), v.target().fsLabel(), v.link(), Long.toHexString(v.id()),
                v.otherLink() == null ? null
                    : new OtherSide(v.otherLink(), Long.toHexString(v.otherId()), v.forwarded(), v.returned()),
                v.open(), v.ageNanos() / 1_000_000_000L);
        }
    }

    /** A relayed circuit's other side and the messages forwarded each way. */
    record OtherSide(String otherLink, String otherId, long forwarded, long returned) {}

    /** One of {@code volconf[]}: a slot in use; {@code link} the state of the link it keeps, or null. */
    record VolconfSlot(int index, int copyid, int flags, boolean enabled, String path, String label, String link) {}

    static List<VolconfSlot> volconf(List<VolData> slots, Map<Integer, Link> dialled) {
        List<VolconfSlot> out = new ArrayList<>();
        for (int i = 0; i < slots.size(); i++) {
            VolData d = slots.get(i);
            if (d.copyid() == 0 && d.path().isEmpty()) {
                continue;
            }
            Link l = dialled.get(i);
            out.add(new VolconfSlot(i, d.copyid(), d.flags(), VolconfTable.enabled(d), d.path(), d.label(),
                l == null ? null : l.state().name()));
        }
        return out;
    }

    /**
     * The whole document: the node's own sections, each service's ({@link NodeService#status}) in
     * service order, then the VOLCONF table.
     *
     * @param spans the span engine's snapshot, taken on the mesh thread
     */
    static Map<String, Object> document(Node n, int origin, List<SpanEngine.NodeView> spans, LinkWatch watch,
                                        List<NodeService> services, Map<Integer, Link> dialled) {
        Map<String, Object> doc = new LinkedHashMap<>();
        Node.Identity id = n.identity();
        InetSocketAddress bound = n.address();
        NodeKeys keys = n.keys();
        doc.put("node", new NodeInfo(id.label(), bound.getHostString() + ":" + bound.getPort(),
            PeerType.nameOf(id.peerType()), PfsType.nameOf(id.pfsType()), id.clLabel(), id.pfsClid().toString(),
            id.pfsFsid().toString(), String.format("%08x", origin), n.settings().dataDir().toString(),
            keys == null ? null : keys.fingerprint(), keys == null ? "off" : "TLSv1.3 " + n.endpoint().tlsProvider(),
            Node.version(), n.started().toString(), n.uptimeNanos() / 1_000_000_000L));
        if (keys != null) {
            doc.put("security", SecurityInfo.of(n.endpoint().tlsStats(), n.mesh().spansRefused()));
            NodeTrust.CaStatus ca = n.trustPolicy().status();
            if (ca != null) {
                doc.put("ca", ca); // docs/IDENTITY.md §2
            }
        }
        long now = System.nanoTime();
        doc.put("links", n.endpoint().links().stream().map(l -> LinkInfo.of(l, watch.upSinceNanos(l), now)).toList());
        doc.put("spans", spans.stream().map(SpanInfo::of).toList());
        doc.put("circuits", n.mesh().circuits().stream().map(CircuitInfo::of).toList());
        for (NodeService s : services) {
            s.status().forEach(section -> doc.put(section.name(), section.value()));
        }
        doc.put("volconf", volconf(n.volconf().slots(), dialled));
        return doc;
    }

    /** The document as a tree, for the text forms ({@link StatusText}) and callers that read it. */
    static JsonNode tree(Object document) {
        return JSON.valueToTree(document);
    }
}
