package dev.dmsg.bench.driver;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What the bench client and server say to each other, over DMSG and over the raw-Netty baseline.
 *
 * <p><b>DMSG.</b> Two project-private DBG commands next to DBG_ECHO (0x0010fe01), header-only:
 * {@link #BENCH_SINK} one-way messages are counted (and optionally cost the server a busy-wait)
 * and dropped; a {@link #BENCH_CTRL} transaction ({@code CREATE|DELETE}, aux = a text command)
 * gets one {@code CREATE|DELETE|REPLY} with a text answer. A control transaction sent after a
 * stream of sink messages on the same link is answered only after all of them were counted (the
 * link is ordered), so it doubles as the fence that ends a throughput measurement.
 *
 * <p><b>Raw Netty.</b> Frames are {@code [u32 big-endian body length][body]}, the body's first
 * byte its kind: {@link #RAW_DATA} (counted, dropped), {@link #RAW_ECHO} (sent back as is),
 * {@link #RAW_CTRL} (the rest is a text command; answered with a RAW_CTRL frame).
 *
 * <p>Control commands: {@code reset spin=NANOS} (zero the sink counters, set the per-message
 * busy-wait, restart the memory maxima), {@code stats} (answer {@code key=value} pairs).
 */
final class BenchProtocol {
    private BenchProtocol() {}

    /** One-way, counted and dropped by the server. */
    static final int BENCH_SINK = 0x0010fd01;
    /** A control request/answer transaction. */
    static final int BENCH_CTRL = 0x0010fc01;

    static final byte RAW_DATA = 0;
    static final byte RAW_ECHO = 1;
    static final byte RAW_CTRL = 2;
    /** Raw frames may be as large as a DMSG frame with the largest aux, and then some. */
    static final int RAW_MAX_FRAME = 1 << 20;

    /** A text as aux: UTF-8 with the terminating NUL DMSG receivers expect (docs/REFERENCE.md §1.6). */
    static ByteBuf text(String s) {
        return Unpooled.copiedBuffer(s + "\0", StandardCharsets.UTF_8);
    }

    /** {@code "a=1 b=x"} to a map, in order; words without '=' map to "". */
    static Map<String, String> parse(String s) {
        Map<String, String> m = new LinkedHashMap<>();
        for (String w : s.trim().split("\\s+")) {
            if (w.isEmpty()) {
                continue;
            }
            int eq = w.indexOf('=');
            if (eq < 0) {
                m.put(w, "");
            } else {
                m.put(w.substring(0, eq), w.substring(eq + 1));
            }
        }
        return m;
    }

    static long getLong(Map<String, String> m, String key) {
        String v = m.get(key);
        if (v == null) {
            throw new IllegalStateException("server answer has no " + key + ": " + m);
        }
        return Long.parseLong(v);
    }
}
