package dev.dmsg.services.node;

import java.io.IOException;
import java.util.List;

/**
 * One service a node runs (the shell, the BLK exports; later the quorum and the locks): how it
 * plugs into the node without the node knowing it. The node builds its services from its settings
 * ({@link NodeServices}), starts them in that order once its own span is advertised and before it
 * listens, and stops them in reverse order after its links are closed.
 *
 * <p>Contract: {@link #start} is called exactly once, on the thread starting the node; a service
 * registers there the transactions it answers ({@link NodeContext#services()}), advertises its
 * spans ({@link NodeContext#advertise}: the node withdraws them as it closes) and takes its
 * threads from {@link NodeContext#executors()}. If it throws, the node stops the services started
 * before it and fails to start. {@link #stop} is called exactly once after a {@link #start} that
 * returned, when no link is left. {@link #status} may be called on any thread at any time after
 * {@link #start}.
 */
public interface NodeService {
    /**
     * A top-level part of the status document (docs/STATUS.md): its key and its value, a record
     * (or a list or map of them) that Jackson serialises with the document's naming.
     */
    record StatusSection(String name, Object value) {}

    /** A short name for logs ({@code shell}, {@code blk}). */
    String name();

    /** Wires the service into the node: registers its handlers, opens its resources, advertises its spans. */
    void start(NodeContext context) throws IOException;

    /** The parts of the status document this service adds, in order; none by default. */
    default List<StatusSection> status() {
        return List.of();
    }

    /** Releases what {@link #start} opened; the links are closed by then. */
    void stop();
}
