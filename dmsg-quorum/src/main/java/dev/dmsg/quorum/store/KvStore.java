package dev.dmsg.quorum.store;

import dev.dmsg.wire.qrm.Blob;
import dev.dmsg.wire.qrm.Compare;
import dev.dmsg.wire.qrm.KeyValue;
import dev.dmsg.wire.qrm.Op;
import dev.dmsg.wire.qrm.OpResult;
import dev.dmsg.wire.qrm.Results;
import dev.dmsg.wire.qrm.WatchEvent;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.TreeMap;

/**
 * The sorted map of the quorum store with etcd's versioning model (docs/QUORUM.md §2): every key
 * carries its value, {@code create_revision}, {@code mod_revision} and {@code version}; the store
 * has one revision that every batch that changes something advances by exactly one.
 *
 * <p>Pure and single-threaded: the caller ({@link KvState}) serialises access. Nothing here reads
 * a clock or a random source, so every member applying the same batches holds the same map.
 */
final class KvStore {
    /** GET limit when the op says 0 (docs/QUORUM.md §2). */
    static final int DEFAULT_LIMIT = 1000;
    /** GET limit ceiling per reply. */
    static final int MAX_LIMIT = 10_000;
    /** Encoded results stop growing at this size (docs/QUORUM.md §3.3: cut at whole kvs, {@code more} set). */
    static final int MAX_RESULTS_BYTES = 65_536;

    /** One key's state; the key is the map's. */
    record Entry(Blob value, long createRevision, long modRevision, long version) {}

    /** What a write did: the results, and the changes it made (empty if none; the revision then did not move). */
    record Applied(Results results, List<WatchEvent> events) {}

    private final TreeMap<Blob, Entry> map = new TreeMap<>();
    private long revision;

    long revision() {
        return revision;
    }

    int size() {
        return map.size();
    }

    /** The map itself, read-only, for the snapshot writer. */
    NavigableMap<Blob, Entry> entries() {
        return Collections.unmodifiableNavigableMap(map);
    }

    /** Snapshot restore: the caller feeds keys in order, then the revision. */
    void restorePut(Blob key, Entry e) {
        map.put(key, e);
    }

    void restoreRevision(long r) {
        revision = r;
    }

    /**
     * Whether every compare holds at the current state. A missing key compares as etcd's
     * (docs/QUORUM.md §3.3): value absent, version 0, revisions 0.
     */
    boolean evaluate(List<Compare> compares) {
        for (Compare c : compares) {
            if (!holds(c)) {
                return false;
            }
        }
        return true;
    }

    private boolean holds(Compare c) {
        Entry e = map.get(c.key());
        switch (c.target()) {
            case VALUE: {
                Blob actual = e == null ? null : e.value();
                Blob operand = c.value();
                if (actual == null || operand == null) {
                    // Absent is equal only to absent and orders against nothing: LESS and GREATER fail.
                    boolean same = actual == operand;
                    switch (c.result()) {
                        case EQUAL: return same;
                        case NOT_EQUAL: return !same;
                        default: return false;
                    }
                }
                return c.result().holds(actual.compareTo(operand));
            }
            case VERSION:
                return c.result().holds(Long.compareUnsigned(e == null ? 0 : e.version(), c.number()));
            case CREATE_REVISION:
                return c.result().holds(Long.compareUnsigned(e == null ? 0 : e.createRevision(), c.number()));
            case MOD_REVISION:
                return c.result().holds(Long.compareUnsigned(e == null ? 0 : e.modRevision(), c.number()));
            default:
                throw new AssertionError(c.target());
        }
    }

    /**
     * Runs {@code ops} in order as one revision: every PUT of the batch gets mod_revision = the
     * new revision, and the revision advances only if some op changed something (a PUT always
     * does; a DELETE only if a key went). A GET sees the earlier ops of the same batch.
     */
    Applied apply(List<Op> ops, boolean succeeded) {
        long next = revision + 1;
        List<WatchEvent> events = new ArrayList<>();
        List<OpResult> results = new ArrayList<>(ops.size());
        Budget budget = new Budget();
        for (Op op : ops) {
            switch (op.type()) {
                case PUT: {
                    Entry old = map.get(op.key());
                    Entry e = old == null
                        ? new Entry(op.value(), next, next, 1)
                        : new Entry(op.value(), old.createRevision(), next, old.version() + 1);
                    map.put(op.key(), e);
                    events.add(WatchEvent.put(next, kv(op.key(), e)));
                    results.add(OpResult.put(next));
                    budget.add(1 + 8);
                    break;
                }
                case DELETE: {
                    long n = 0;
                    if (op.prefix()) {
                        var it = map.tailMap(op.key(), true).entrySet().iterator();
                        while (it.hasNext()) {
                            Map.Entry<Blob, Entry> me = it.next();
                            if (!me.getKey().startsWith(op.key())) {
                                break;
                            }
                            it.remove();
                            events.add(WatchEvent.delete(next, me.getKey()));
                            n++;
                        }
                    } else if (map.remove(op.key()) != null) {
                        events.add(WatchEvent.delete(next, op.key()));
                        n = 1;
                    }
                    results.add(OpResult.deleted(n));
                    budget.add(1 + 8);
                    break;
                }
                case GET:
                    results.add(get(op, budget));
                    break;
                default:
                    throw new AssertionError(op.type());
            }
        }
        if (!events.isEmpty()) {
            revision = next;
        }
        return new Applied(new Results(succeeded, results), events);
    }

    /** A read-only batch's results at the current state. */
    Results read(List<Op> ops, boolean succeeded) {
        List<OpResult> results = new ArrayList<>(ops.size());
        Budget budget = new Budget();
        for (Op op : ops) {
            if (op.type() != Op.Type.GET) {
                throw new IllegalArgumentException("read batch op " + op.type() + ": only GET may be read");
            }
            results.add(get(op, budget));
        }
        return new Results(succeeded, results);
    }

    /**
     * One GET: the key, or every key with the prefix in key order up to the limit. {@code more}
     * when the limit or the reply budget cut it (docs/QUORUM.md §3.3: a reply is cut at whole
     * kvs). The first kv of the whole reply is always taken, so a reader paging on makes progress
     * (QrmCodec's value limit makes any one kv fit a reply).
     */
    private OpResult get(Op op, Budget budget) {
        budget.add(1 + 4 + 1);
        if (!op.prefix()) {
            Entry e = map.get(op.key());
            if (e == null) {
                return OpResult.got(List.of(), false);
            }
            if (!budget.take(kvBytes(op.key(), e))) {
                return OpResult.got(List.of(), true);
            }
            return OpResult.got(List.of(kv(op.key(), e)), false);
        }
        int limit = op.limit() == 0 ? DEFAULT_LIMIT : Math.min(op.limit(), MAX_LIMIT);
        List<KeyValue> kvs = new ArrayList<>();
        for (Map.Entry<Blob, Entry> me : map.tailMap(op.key(), true).entrySet()) {
            if (!me.getKey().startsWith(op.key())) {
                break;
            }
            if (kvs.size() == limit || !budget.take(kvBytes(me.getKey(), me.getValue()))) {
                return OpResult.got(kvs, true);
            }
            kvs.add(kv(me.getKey(), me.getValue()));
        }
        return OpResult.got(kvs, false);
    }

    private static KeyValue kv(Blob key, Entry e) {
        return new KeyValue(key, e.value(), e.createRevision(), e.modRevision(), e.version());
    }

    /** A kv's size in the results encoding (docs/QUORUM.md §3.3). */
    static int kvBytes(Blob key, Entry e) {
        return 2 + key.length() + 4 + e.value().length() + 24;
    }

    /** The running size of the encoded results: version, succeeded, n_results, then per result. */
    private static final class Budget {
        private long used = 4;
        private int kvs;

        void add(int bytes) {
            used += bytes;
        }

        /** Takes a kv of {@code bytes} if it fits, or if it is the reply's first. */
        boolean take(int bytes) {
            if (kvs > 0 && used + bytes > MAX_RESULTS_BYTES) {
                return false;
            }
            used += bytes;
            kvs++;
            return true;
        }
    }

    /** Same keys, counters and revision (tests: determinism and snapshot round trips). */
    boolean sameAs(KvStore o) {
        return revision == o.revision && map.equals(o.map);
    }
}
