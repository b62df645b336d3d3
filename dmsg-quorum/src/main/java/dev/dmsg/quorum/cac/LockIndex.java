package dev.dmsg.quorum.cac;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Consumer;

/**
 * The table's locks by key, for finding every lock whose coverage meets a given one (docs/CAC.md
 * §1) without looking at the others: the key itself, its ancestors (TREE; DIRENT on the parent),
 * and — for TREE and DIRENT — its descendants or children, found as a range of the sorted paths.
 */
final class LockIndex {
    private final TreeMap<String, List<LockRecord>> byKey = new TreeMap<>();

    void add(LockRecord r) {
        byKey.computeIfAbsent(r.key.path(), k -> new ArrayList<>(2)).add(r);
    }

    void remove(LockRecord r) {
        List<LockRecord> l = byKey.get(r.key.path());
        if (l != null && l.remove(r) && l.isEmpty()) {
            byKey.remove(r.key.path());
        }
    }

    /** Every lock other than {@code r} whose coverage meets {@code r}'s, each once. */
    void overlapping(LockRecord r, Consumer<LockRecord> out) {
        onKey(r.key.path(), o -> {
            if (o != r && r.overlaps(o)) {
                out.accept(o);
            }
        });
        CacKey parent = r.key.parent();
        for (CacKey a = parent; a != null; a = a.parent()) {
            boolean isParent = a == parent;
            onKey(a.path(), o -> {
                if (o.domain == CacDomain.TREE || isParent && o.domain == CacDomain.DIRENT) {
                    out.accept(o);
                }
            });
        }
        if (r.domain == CacDomain.TREE || r.domain == CacDomain.DIRENT) {
            String prefix = r.key.subtreePrefix();
            boolean childrenOnly = r.domain == CacDomain.DIRENT;
            for (Map.Entry<String, List<LockRecord>> e : byKey.subMap(prefix, false, prefix + Character.MAX_VALUE, false)
                .entrySet()) {
                if (e.getKey().length() == prefix.length()) {
                    continue; // "/" itself under the root's prefix
                }
                if (childrenOnly && e.getKey().indexOf('/', prefix.length()) >= 0) {
                    continue;
                }
                e.getValue().forEach(out);
            }
        }
    }

    private void onKey(String path, Consumer<LockRecord> out) {
        List<LockRecord> l = byKey.get(path);
        if (l != null) {
            l.forEach(out);
        }
    }

    /** Every lock whose key starts with {@code prefix}, in key order. */
    List<LockRecord> withPrefix(String prefix) {
        List<LockRecord> out = new ArrayList<>();
        for (List<LockRecord> l : byKey.subMap(prefix, true, prefix + Character.MAX_VALUE, false).values()) {
            out.addAll(l);
        }
        return out;
    }
}
