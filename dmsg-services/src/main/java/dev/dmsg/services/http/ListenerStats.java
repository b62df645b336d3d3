package dev.dmsg.services.http;

import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.BiConsumer;

/**
 * What an {@link HttpListener} refused, by reason (the metrics listener's are
 * {@code dmsg_metrics_http_refusals_total}); any thread.
 */
public final class ListenerStats {
    public static final String OVER_CAP = "over_cap";
    public static final String EVICTED = "evicted";
    public static final String TIMEOUT = "timeout";
    public static final String TOO_LARGE = "too_large";
    public static final String BAD_REQUEST = "bad_request";
    public static final String BUSY = "busy";
    /** Over TLS: the client's key is trusted, but not to read (docs/STATUS-PAGE.md "Who can reach it"). */
    public static final String KEY_REFUSED = "key_refused";

    private final Map<String, LongAdder> counts = new ConcurrentHashMap<>();

    public ListenerStats() {
        for (String r : new String[] {OVER_CAP, EVICTED, TIMEOUT, TOO_LARGE, BAD_REQUEST, BUSY}) {
            counts.put(r, new LongAdder());
        }
    }

    public void count(String reason) {
        counts.computeIfAbsent(reason, r -> new LongAdder()).increment(); // KEY_REFUSED: only on a TLS listener
    }

    public long get(String reason) {
        LongAdder a = counts.get(reason);
        return a == null ? 0 : a.sum();
    }

    public void forEach(BiConsumer<String, Long> each) {
        new TreeMap<>(counts).forEach((r, a) -> each.accept(r, a.sum()));
    }
}
