package dev.dmsg.services.blk;

import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;

/**
 * An export's counters by originator (docs/IDENTITY.md §5): who opened it, read and wrote how
 * much, and was refused. Bounded: past {@link #MAX_ORIGINATORS} distinct names the rest share
 * {@link #OTHERS}. Thread-safe.
 */
public final class ByOriginator {
    static final int MAX_ORIGINATORS = 64;
    static final String OTHERS = "(others)";

    /** One originator's counters. */
    static final class Counters {
        final LongAdder opens = new LongAdder();
        final LongAdder reads = new LongAdder();
        final LongAdder writes = new LongAdder();
        final LongAdder bytesRead = new LongAdder();
        final LongAdder bytesWritten = new LongAdder();
        final LongAdder refused = new LongAdder();
    }

    /** A snapshot of one originator's counters. */
    public record Stats(long opens, long reads, long writes, long bytesRead, long bytesWritten, long refused) {}

    private final Map<String, Counters> byName = new ConcurrentHashMap<>();

    Counters of(String name) {
        Counters c = byName.get(name);
        if (c != null) {
            return c;
        }
        return byName.size() >= MAX_ORIGINATORS ? byName.computeIfAbsent(OTHERS, k -> new Counters())
            : byName.computeIfAbsent(name, k -> new Counters());
    }

    Map<String, Stats> snapshot() {
        Map<String, Stats> out = new TreeMap<>();
        byName.forEach((k, c) -> out.put(k, new Stats(c.opens.sum(), c.reads.sum(), c.writes.sum(), c.bytesRead.sum(),
            c.bytesWritten.sum(), c.refused.sum())));
        return out;
    }
}
