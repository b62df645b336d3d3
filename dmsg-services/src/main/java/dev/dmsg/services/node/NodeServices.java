package dev.dmsg.services.node;

import java.util.List;

/**
 * The services a node runs, built from its settings, in start order. A new service (the quorum,
 * the locks) is one more line here and its own class; no other service changes.
 */
final class NodeServices {
    private NodeServices() {}

    /**
     * @throws IllegalArgumentException if the settings do not fit a service (an export's label);
     *     nothing is opened before this
     */
    static List<NodeService> of(Node.Settings settings) {
        return List.of(new ShellNodeService(), new BlkNodeService(settings), new QuorumNodeService(settings));
    }

    /** The first service of {@code type} in {@code services}, or null. */
    static <T extends NodeService> T find(List<NodeService> services, Class<T> type) {
        return services.stream().filter(type::isInstance).map(type::cast).findFirst().orElse(null);
    }
}
