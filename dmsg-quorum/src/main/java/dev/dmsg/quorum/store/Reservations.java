package dev.dmsg.quorum.store;

import dev.dmsg.wire.qrm.Blob;
import dev.dmsg.wire.qrm.Compare;
import dev.dmsg.wire.qrm.Op;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * The keys and prefixes that prepared batches hold (docs/QUORUM.md §4, phase 1), and the overlap
 * checks: a key against a key (equal), a key against a prefix (the key starts with it), a prefix
 * against a prefix (one starts with the other).
 *
 * <p>Invariant that makes every check two lookups in a sorted map: the reserved prefixes are
 * prefix-free and no reserved key lies under a reserved prefix. It holds because each batch's
 * claims are first {@linkplain #claims normalised} (its own keys and prefixes under its own
 * shorter prefixes dropped), and claims overlapping another batch's are refused. Then the only
 * reserved prefix that can be a prefix of a key {@code k} is the greatest one {@code <= k}: any
 * blob between a prefix {@code p} of {@code k} and {@code k} itself starts with {@code p}.
 */
final class Reservations {
    /** What one batch holds, normalised: no key under one of its prefixes, prefixes prefix-free. */
    record Claims(List<Blob> keys, List<Blob> prefixes) {}

    /** An overlap: {@code key} (ours) against what the prepared batch at {@code ownerIndex} holds. */
    record Overlap(Blob key, long ownerIndex) {}

    private final TreeMap<Blob, Long> keys = new TreeMap<>();
    private final TreeMap<Blob, Long> prefixes = new TreeMap<>();

    /** The keys a batch names for the branch it takes: every compared key, and the branch's ops' keys. */
    static Claims claims(List<Compare> compares, List<Op> branch) {
        TreeSet<Blob> ks = new TreeSet<>();
        TreeSet<Blob> ps = new TreeSet<>();
        for (Compare c : compares) {
            ks.add(c.key());
        }
        for (Op op : branch) {
            (op.prefix() ? ps : ks).add(op.key());
        }
        // Prefixes in order: a prefix's own prefixes sort before it, so one pass keeps the shortest.
        List<Blob> keptPrefixes = new ArrayList<>();
        for (Blob p : ps) {
            if (keptPrefixes.isEmpty() || !p.startsWith(keptPrefixes.get(keptPrefixes.size() - 1))) {
                keptPrefixes.add(p);
            }
        }
        TreeMap<Blob, Boolean> pmap = new TreeMap<>();
        keptPrefixes.forEach(p -> pmap.put(p, true));
        List<Blob> keptKeys = new ArrayList<>();
        for (Blob k : ks) {
            Blob floor = pmap.floorKey(k);
            if (floor == null || !k.startsWith(floor)) {
                keptKeys.add(k);
            }
        }
        return new Claims(List.copyOf(keptKeys), List.copyOf(keptPrefixes));
    }

    /** The first of {@code c}'s keys or prefixes that overlaps a reservation, or {@code null}. */
    Overlap overlap(Claims c) {
        for (Blob k : c.keys()) {
            Long owner = keys.get(k);
            if (owner != null) {
                return new Overlap(k, owner);
            }
            Map.Entry<Blob, Long> p = prefixes.floorEntry(k);
            if (p != null && k.startsWith(p.getKey())) {
                return new Overlap(k, p.getValue());
            }
        }
        for (Blob p : c.prefixes()) {
            Map.Entry<Blob, Long> k = keys.ceilingEntry(p);
            if (k != null && k.getKey().startsWith(p)) {
                return new Overlap(p, k.getValue());
            }
            Map.Entry<Blob, Long> under = prefixes.ceilingEntry(p);
            if (under != null && under.getKey().startsWith(p)) {
                return new Overlap(p, under.getValue());
            }
            Map.Entry<Blob, Long> over = prefixes.floorEntry(p);
            if (over != null && p.startsWith(over.getKey())) {
                return new Overlap(p, over.getValue());
            }
        }
        return null;
    }

    /** Records {@code c} for the batch prepared at {@code index}; the caller checked {@link #overlap} first. */
    void reserve(Claims c, long index) {
        c.keys().forEach(k -> keys.put(k, index));
        c.prefixes().forEach(p -> prefixes.put(p, index));
    }

    void release(Claims c) {
        c.keys().forEach(keys::remove);
        c.prefixes().forEach(prefixes::remove);
    }

    int size() {
        return keys.size() + prefixes.size();
    }
}
