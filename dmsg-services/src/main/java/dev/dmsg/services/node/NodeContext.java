package dev.dmsg.services.node;

import dev.dmsg.link.Services;
import dev.dmsg.link.tls.NodeKeys;
import dev.dmsg.mesh.MeshNode;
import dev.dmsg.mesh.SpanEngine;
import dev.dmsg.services.Access;
import dev.dmsg.wire.LnkSpan;
import java.nio.file.Path;
import java.util.function.Consumer;

/**
 * What a {@link NodeService} gets from the node it runs in: the node's identity and trust, its
 * data directory, its part in the mesh (spans, circuits), the transactions it answers, its
 * threads. A quorum service (Raft over mesh circuits, docs/CIRCUITS.md) finds here all it needs:
 * circuits through {@link #mesh()}, its command codes registered on {@link #services()}, its log
 * under {@link #dataDir()}, its peers' identities through {@link #trust()}.
 */
public final class NodeContext {
    private final Node node;

    NodeContext(Node node) {
        this.node = node;
    }

    /** The node itself: its status, its VOLCONF table, its shell. */
    public Node node() {
        return node;
    }

    public Node.Settings settings() {
        return node.settings();
    }

    public Node.Identity identity() {
        return node.identity();
    }

    /** Where the node keeps its state (docs/SECURITY.md §2: nobody else may write it). */
    public Path dataDir() {
        return node.settings().dataDir();
    }

    /** This node's key (docs/SECURITY.md §1), or {@code null} without TLS. */
    public NodeKeys keys() {
        return node.keys();
    }

    /** This node's whole trust (docs/IDENTITY.md §1–2), or {@code null} without TLS. */
    public NodeTrust trust() {
        return node.trustPolicy();
    }

    /** Who may do what, by the role of a link or circuit's principal (docs/SECURITY.md §5). */
    public Access access() {
        return node.access();
    }

    /** Spans and circuits (docs/MESH.md, docs/CIRCUITS.md). */
    public MeshNode mesh() {
        return node.mesh();
    }

    /** What the node answers on circuit 0 and on every circuit ending here: register command codes here. */
    public Services services() {
        return node.services();
    }

    public NodeExecutors executors() {
        return node.executors();
    }

    /**
     * Advertises {@code span} as this node's own (dist 0); the node withdraws it as it closes,
     * before its links go. {@code advertised} gets the handle, on the mesh thread.
     */
    public void advertise(LnkSpan span, Consumer<SpanEngine.SpanLink> advertised) {
        node.advertiseOwn(span, advertised);
    }

    /**
     * Replaces {@code old}, which {@link #advertise} made, by {@code span} (same node, new
     * fields); returns the new handle, {@code null} if {@code old} is gone. Mesh thread only.
     */
    public SpanEngine.SpanLink replace(SpanEngine.SpanLink old, LnkSpan span) {
        return node.replaceOwn(old, span);
    }
}
