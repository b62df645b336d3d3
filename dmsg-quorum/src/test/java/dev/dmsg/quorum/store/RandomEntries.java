package dev.dmsg.quorum.store;

import dev.dmsg.wire.qrm.Batch;
import dev.dmsg.wire.qrm.Blob;
import dev.dmsg.wire.qrm.Compare;
import dev.dmsg.wire.qrm.Op;
import java.util.ArrayList;
import java.util.List;
import org.quicktheories.core.Gen;
import org.quicktheories.core.RandomnessSource;
import org.quicktheories.impl.Constraint;

/**
 * QuickTheories generators of log entries over a small key space, so that batches overlap,
 * conflict, commit after abort, and so on, often.
 */
final class RandomEntries {
    private RandomEntries() {}

    static final String[] KEYS = {"/a", "/a/1", "/a/2", "/a/2/x", "/b", "/b/1", "/c"};
    static final String[] PREFIXES = {"", "/a", "/a/", "/a/2", "/b/", "/c", "/d"};

    static int pick(RandomnessSource r, int n) {
        return (int) r.next(Constraint.between(0, n - 1));
    }

    static Blob key(RandomnessSource r) {
        return Blob.utf8(KEYS[pick(r, KEYS.length)]);
    }

    static Op op(RandomnessSource r) {
        switch (pick(r, 5)) {
            case 0:
            case 1:
                return Op.put(key(r), Blob.utf8("v" + pick(r, 4)));
            case 2:
                return Op.delete(key(r));
            case 3:
                return Op.deletePrefix(Blob.utf8(PREFIXES[pick(r, PREFIXES.length)]));
            default:
                return pick(r, 2) == 0 ? Op.get(key(r)) : Op.getPrefix(Blob.utf8(PREFIXES[pick(r, PREFIXES.length)]), pick(r, 4));
        }
    }

    static Compare compare(RandomnessSource r) {
        Compare.Result res = Compare.Result.values()[pick(r, 4)];
        int t = pick(r, 4);
        if (t == 0) {
            return Compare.value(key(r), res, pick(r, 3) == 0 ? null : Blob.utf8("v" + pick(r, 4)));
        }
        return Compare.number(Compare.Target.values()[t], key(r), res, pick(r, 6));
    }

    static List<Op> ops(RandomnessSource r, int max) {
        List<Op> l = new ArrayList<>();
        for (int i = pick(r, max + 1); i > 0; i--) {
            l.add(op(r));
        }
        return l;
    }

    static Batch batch(RandomnessSource r) {
        List<Compare> cs = new ArrayList<>();
        for (int i = pick(r, 3); i > 0; i--) {
            cs.add(compare(r));
        }
        return new Batch(cs, ops(r, 3), ops(r, 2));
    }

    static Txid txid(RandomnessSource r) {
        return new Txid(0, pick(r, 6));
    }

    static final Gen<LogEntry> ENTRY = r -> {
        switch (pick(r, 6)) {
            case 0:
            case 1:
                return new LogEntry.Prepare(txid(r), pick(r, 3) * 1000, batch(r));
            case 2:
                return new LogEntry.Commit(txid(r));
            case 3:
                return new LogEntry.Abort(txid(r), pick(r, 2) == 0 ? LogEntry.Why.INITIATOR : LogEntry.Why.LOST_INITIATOR);
            case 4:
                return new LogEntry.Expire(txid(r));
            default:
                return new LogEntry.Write(batch(r));
        }
    };

    /** A sequence of 1..max entries. */
    static Gen<List<LogEntry>> entries(int max) {
        return r -> {
            List<LogEntry> l = new ArrayList<>();
            for (int i = 1 + pick(r, max); i > 0; i--) {
                l.add(ENTRY.generate(r));
            }
            return l;
        };
    }
}
