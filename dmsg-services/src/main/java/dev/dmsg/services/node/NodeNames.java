package dev.dmsg.services.node;

import dev.dmsg.mesh.NodeKey;
import dev.dmsg.mesh.SpanEngine;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * How people name nodes of the mesh in the shell ({@code @NODE}, {@code ping NODE}): by label
 * (the fs_label a node advertises), by {@code cl_label/fs_label}, or by the start of the pfs_fsid.
 * A name that fits no span, or several, is an error that lists what is known.
 */
final class NodeNames {
    private NodeNames() {}

    /** The shortest fsid prefix accepted: 8 hex digits (the first group of the UUID). */
    static final int MIN_FSID_PREFIX = 8;

    /** Each node of a span engine's snapshot with its trust rank (docs/IDENTITY.md §3.5), in tree order. */
    static Map<NodeKey, Integer> ranks(List<SpanEngine.NodeView> snapshot) {
        Map<NodeKey, Integer> m = new LinkedHashMap<>();
        snapshot.forEach(v -> m.put(v.key(), v.trustRank()));
        return m;
    }

    /**
     * {@link #resolve(String, List)} among the best-known nodes that fit (docs/IDENTITY.md §3.5):
     * a name held by a verified node and by unverified or legacy ones is the verified node's, so a
     * spoofed span cannot make a real name ambiguous.
     */
    static NodeKey resolve(String name, Map<NodeKey, Integer> ranks) {
        List<NodeKey> keys = new ArrayList<>(ranks.keySet());
        try {
            return resolve(name, keys);
        } catch (IllegalArgumentException ambiguous) {
            if (!ambiguous.getMessage().contains(" names ")) {
                throw ambiguous;
            }
            List<NodeKey> fit = new ArrayList<>();
            for (NodeKey k : keys) {
                if (k.fsLabel().equals(name) || (k.clLabel() + "/" + k.fsLabel()).equals(name)) {
                    fit.add(k);
                }
            }
            int best = fit.stream().mapToInt(ranks::get).min().orElse(0);
            List<NodeKey> top = fit.stream().filter(k -> ranks.get(k) == best).toList();
            if (top.size() == 1) {
                return top.get(0);
            }
            throw ambiguous;
        }
    }

    static NodeKey resolve(String name, List<NodeKey> keys) {
        if (name == null || name.isEmpty()) {
            throw new IllegalArgumentException("no node name given");
        }
        List<NodeKey> exact = new ArrayList<>();
        for (NodeKey k : keys) {
            if (k.fsLabel().equals(name) || (k.clLabel() + "/" + k.fsLabel()).equals(name)) {
                exact.add(k);
            }
        }
        if (exact.isEmpty() && name.length() >= MIN_FSID_PREFIX) {
            String prefix = name.toLowerCase(Locale.ROOT);
            for (NodeKey k : keys) {
                if (k.pfsFsid().toString().startsWith(prefix)) {
                    exact.add(k);
                }
            }
        }
        if (exact.size() == 1) {
            return exact.get(0);
        }
        if (exact.isEmpty()) {
            throw new IllegalArgumentException("no node '" + name + "' in the mesh (known: " + names(keys) + ")");
        }
        throw new IllegalArgumentException("'" + name + "' names " + exact.size() + " nodes: " + names(exact)
            + "; use CLUSTER/LABEL or a pfs_fsid prefix");
    }

    static String names(List<NodeKey> keys) {
        if (keys.isEmpty()) {
            return "none";
        }
        List<String> out = new ArrayList<>();
        for (NodeKey k : keys) {
            out.add((k.clLabel().isEmpty() ? "" : k.clLabel() + "/") + k.fsLabel() + " ("
                + k.pfsFsid().toString().substring(0, MIN_FSID_PREFIX) + ")");
        }
        return String.join(", ", out);
    }
}
