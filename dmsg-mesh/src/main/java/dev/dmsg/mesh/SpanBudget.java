package dev.dmsg.mesh;

import java.util.HashMap;
import java.util.Map;

/**
 * Distinct spans per originator in this node's table (docs/IDENTITY.md §6): one member flooding
 * spans fills its own share, not the table. Counted by node key, not by path, so a span heard
 * over many paths counts once. Mesh thread only.
 */
final class SpanBudget {
    private final int maxPerOrigin;
    /** origin -> node key -> paths held. */
    private final Map<String, Map<NodeKey, Integer>> held = new HashMap<>();

    SpanBudget(int maxPerOrigin) {
        this.maxPerOrigin = maxPerOrigin;
    }

    /** Takes a path to {@code key} for {@code origin}; false if that would be one span too many. */
    boolean admit(String origin, NodeKey key) {
        Map<NodeKey, Integer> keys = held.computeIfAbsent(origin, o -> new HashMap<>());
        Integer paths = keys.get(key);
        if (paths == null && keys.size() >= maxPerOrigin) {
            if (keys.isEmpty()) {
                held.remove(origin);
            }
            return false;
        }
        keys.put(key, paths == null ? 1 : paths + 1);
        return true;
    }

    /** Gives back a path {@link #admit} took. */
    void release(String origin, NodeKey key) {
        Map<NodeKey, Integer> keys = held.get(origin);
        if (keys == null) {
            return;
        }
        keys.computeIfPresent(key, (k, n) -> n <= 1 ? null : n - 1);
        if (keys.isEmpty()) {
            held.remove(origin);
        }
    }

    /** Distinct spans {@code origin} holds now. */
    int spans(String origin) {
        Map<NodeKey, Integer> keys = held.get(origin);
        return keys == null ? 0 : keys.size();
    }

    int max() {
        return maxPerOrigin;
    }
}
