package dev.dmsg.bench.driver;

import static dev.dmsg.bench.driver.Report.fmt;

import dev.dmsg.bench.driver.Report.Row;
import dev.dmsg.bench.driver.Report.Verdict;
import dev.dmsg.bench.driver.Side.OneWay;
import dev.dmsg.bench.driver.Side.Producer;
import dev.dmsg.link.Link;
import dev.dmsg.link.LinkConfig;
import dev.dmsg.link.LinkListener;
import dev.dmsg.link.LinkState;
import dev.dmsg.link.Services;
import dev.dmsg.link.netty.LinkEndpoint;
import io.netty.channel.EventLoopGroup;
import java.io.IOException;
import java.io.PrintStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.HdrHistogram.Histogram;

/**
 * Runs the scenarios against a bench server: each over a fresh DMSG link and a fresh raw-Netty
 * connection, repetitions interleaved (DMSG, raw, DMSG, raw, …) so that drift on the shared cores
 * hits both alike, each repetition preceded by its own warm-up. Reports medians.
 */
final class BenchClient implements AutoCloseable {
    /** The scenarios, in the order they run, with their targets from the issue. */
    enum Scenario {
        ONEWAY64("oneway64", ">= 2.0 M msgs/s"),
        BULK64K("bulk64k", ">= 2800 MB/s"),
        PIPELINE128("pipeline128", ">= 800 k txn/s"),
        RTT("rtt", "p50 <= 35 us"),
        SLOWCONSUMER("slowconsumer", "bounded");

        final String id;
        final String target;

        Scenario(String id, String target) {
            this.id = id;
            this.target = target;
        }

        static Scenario of(String id) {
            for (Scenario s : values()) {
                if (s.id.equalsIgnoreCase(id)) {
                    return s;
                }
            }
            throw new IllegalArgumentException("unknown scenario '" + id + "'; known: oneway64, bulk64k, pipeline128, rtt, slowconsumer");
        }
    }

    static final double ONEWAY_TARGET = 2.0e6;
    static final double BULK_TARGET_MB = 2800;
    static final double PIPELINE_TARGET = 800e3;
    static final double RTT_P50_TARGET_US = 35;
    static final int BULK_AUX = 65536;
    static final int PIPELINE_INFLIGHT = 128;
    /** The slow consumer's work per message: this many times the producer's own cost. */
    static final int SLOWDOWN = 10;
    /** Growth allowed between the two halves of the slow-consumer run before it counts as unbounded. */
    static final long GROWTH_SLACK_BYTES = 16L << 20;

    private final BenchOptions o;
    private final String host;
    private final int dmsgPort;
    private final int rawPort;
    private final PrintStream out;
    private final MemorySampler memory = new MemorySampler();
    private final LinkEndpoint endpoint;
    private final EventLoopGroup rawGroup = RawNetty.group(1);
    final List<Row> rows = new ArrayList<>();
    int failures;
    private boolean securityShown;
    int misses;

    BenchClient(BenchOptions o, String host, int dmsgPort, int rawPort, PrintStream out) {
        this.o = o;
        this.host = host;
        this.dmsgPort = dmsgPort;
        this.rawPort = rawPort;
        this.out = out;
        LinkConfig config;
        try {
            config = LinkConfig.builder().label(BenchTls.CLIENT)
                .tls(o.tls == BenchTls.Mode.OFF ? null : BenchTls.config(o.tlsDir, BenchTls.CLIENT, o.tls)).build();
        } catch (IOException e) {
            throw new IllegalStateException("bench TLS keys in " + o.tlsDir + ": " + e.getMessage(), e);
        }
        this.endpoint = new LinkEndpoint(config, new Services(), LinkListener.NONE, 1);
    }

    String transportName() {
        return endpoint.transportName();
    }

    /** Runs the selected scenarios and prints the table. */
    void run() {
        for (String id : o.scenarios) {
            Scenario s = Scenario.of(id);
            out.printf("-- %s%n", s.id);
            out.flush();
            try (DmsgSide dmsg = connectDmsg(); RawSide raw = connectRaw()) {
                switch (s) {
                    case ONEWAY64 -> oneWay(s, 0, dmsg, raw);
                    case BULK64K -> oneWay(s, BULK_AUX, dmsg, raw);
                    case PIPELINE128 -> pipelined(dmsg, raw);
                    case RTT -> roundTrips(dmsg, raw);
                    case SLOWCONSUMER -> slowConsumer(dmsg, raw);
                }
            } catch (Exception | AssertionError e) {
                rows.add(Row.failed(s.id, s.target, e));
                failures++;
                out.printf("   %s failed: %s%n", s.id, e);
            }
        }
        for (Row r : rows) {
            if (r.verdict() == Verdict.MISS) {
                misses++;
            }
        }
        out.println();
        Report.print(rows, out);
    }

    private DmsgSide connectDmsg() throws Exception {
        Link link = endpoint.connect(host, dmsgPort).get(5, TimeUnit.SECONDS);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (link.state() != LinkState.UP) {
            if (System.nanoTime() > deadline || !link.state().isAlive()) {
                link.close();
                throw new IllegalStateException("DMSG link to " + host + ":" + dmsgPort + " not UP: " + link.state());
            }
            Thread.sleep(1);
        }
        if (link.security() != null && !securityShown) {
            securityShown = true;
            out.printf("   DMSG link: %s%n", link.security());
        }
        return new DmsgSide(link, memory);
    }

    private RawSide connectRaw() throws Exception {
        return new RawSide(RawNetty.Client.connect(rawGroup, host, rawPort), memory);
    }

    private long nanos(double seconds) {
        return (long) (seconds * 1e9);
    }

    // ---- oneway64, bulk64k ----

    private void oneWay(Scenario s, int auxBytes, DmsgSide dmsg, RawSide raw) throws Exception {
        boolean bulk = auxBytes > 0;
        Map<Producer, List<Double>> d = new EnumMap<>(Producer.class);
        List<Double> r = new ArrayList<>();
        List<Producer> producers = o.producers();
        for (Producer p : producers) {
            d.put(p, new ArrayList<>());
        }
        for (int rep = 1; rep <= o.reps; rep++) {
            StringBuilder line = new StringBuilder(fmt("   rep %d:", rep));
            for (Producer p : producers) {
                dmsg.oneWay(auxBytes, p, o.batch, o.warmupNanos(rep), 0);
                OneWay m = dmsg.oneWay(auxBytes, p, o.batch, nanos(o.seconds), 0);
                double v = bulk ? m.megabytesPerSecond() : m.msgsPerSecond();
                d.get(p).add(v);
                line.append(fmt(" dmsg/%s %s", p.name().toLowerCase(), show(bulk, v)));
            }
            raw.oneWay(auxBytes, Producer.LOOP, o.batch, o.warmupNanos(rep), 0);
            OneWay m = raw.oneWay(auxBytes, Producer.LOOP, o.batch, nanos(o.seconds), 0);
            double v = bulk ? m.megabytesPerSecond() : m.msgsPerSecond();
            r.add(v);
            line.append(fmt(" | raw %s", show(bulk, v)));
            out.println(line);
            out.flush();
        }
        double rawMedian = Report.median(r);
        for (Producer p : producers) {
            double med = Report.median(d.get(p));
            boolean pass = bulk ? med >= BULK_TARGET_MB : med >= ONEWAY_TARGET;
            String label = s.id + (p == Producer.LOOP ? " (event loop)" : " (own thread)");
            String detail = fmt("%s producer, batch %d; reps DMSG [%s] raw [%s]%s",
                p == Producer.LOOP ? "event-loop" : "foreign-thread (blocking)", o.batch,
                Report.list(d.get(p), x -> show(bulk, x)), Report.list(r, x -> show(bulk, x)),
                bulk ? "; MB = 10^6 bytes of aux payload" : "");
            rows.add(new Row(label, show(bulk, med) + (bulk ? " MB/s" : " msgs/s"),
                show(bulk, rawMedian) + (bulk ? " MB/s" : " msgs/s"), fmt("%.2f", med / rawMedian),
                s.target, pass ? Verdict.PASS : Verdict.MISS, detail));
        }
    }

    private static String show(boolean bulk, double v) {
        return bulk ? fmt("%.0f", v) : Report.rate(v);
    }

    // ---- pipeline128 ----

    private void pipelined(DmsgSide dmsg, RawSide raw) throws Exception {
        List<Double> d = new ArrayList<>();
        List<Double> r = new ArrayList<>();
        for (int rep = 1; rep <= o.reps; rep++) {
            d.add(dmsg.pipelined(PIPELINE_INFLIGHT, o.warmupNanos(rep), nanos(o.seconds)));
            r.add(raw.pipelined(PIPELINE_INFLIGHT, o.warmupNanos(rep), nanos(o.seconds)));
            out.printf("   rep %d: dmsg %s txn/s | raw %s echo/s%n", rep, Report.rate(d.get(rep - 1)), Report.rate(r.get(rep - 1)));
            out.flush();
        }
        double dm = Report.median(d);
        double rm = Report.median(r);
        rows.add(new Row("pipeline128", Report.rate(dm) + " txn/s", Report.rate(rm) + " echo/s",
            fmt("%.2f", dm / rm), Scenario.PIPELINE128.target, dm >= PIPELINE_TARGET ? Verdict.PASS : Verdict.MISS,
            fmt("DBG_ECHO CREATE|DELETE, %d in flight, next opened from the answer's handler; reps DMSG [%s] raw [%s]",
                PIPELINE_INFLIGHT, Report.list(d, Report::rate), Report.list(r, Report::rate))));
    }

    // ---- rtt ----

    private void roundTrips(DmsgSide dmsg, RawSide raw) throws Exception {
        List<Double> d50 = new ArrayList<>();
        List<Double> d99 = new ArrayList<>();
        List<Double> r50 = new ArrayList<>();
        List<Double> r99 = new ArrayList<>();
        long dCount = 0;
        for (int rep = 1; rep <= o.reps; rep++) {
            Histogram hd = dmsg.roundTrips(o.warmupNanos(rep), nanos(o.seconds));
            Histogram hr = raw.roundTrips(o.warmupNanos(rep), nanos(o.seconds));
            dCount += hd.getTotalCount();
            d50.add(hd.getValueAtPercentile(50) / 1e3);
            d99.add(hd.getValueAtPercentile(99) / 1e3);
            r50.add(hr.getValueAtPercentile(50) / 1e3);
            r99.add(hr.getValueAtPercentile(99) / 1e3);
            out.printf("   rep %d: dmsg p50 %.1f p99 %.1f p99.9 %.1f us (%d txns) | raw p50 %.1f p99 %.1f us%n", rep,
                d50.get(rep - 1), d99.get(rep - 1), hd.getValueAtPercentile(99.9) / 1e3, hd.getTotalCount(),
                r50.get(rep - 1), r99.get(rep - 1));
            out.flush();
        }
        double p50 = Report.median(d50);
        rows.add(new Row("rtt", fmt("p50 %.1f / p99 %.1f us", p50, Report.median(d99)),
            fmt("p50 %.1f / p99 %.1f us", Report.median(r50), Report.median(r99)),
            fmt("%.2f", p50 / Report.median(r50)), Scenario.RTT.target,
            p50 <= RTT_P50_TARGET_US ? Verdict.PASS : Verdict.MISS,
            fmt("one DBG_ECHO CREATE|DELETE at a time, opened on the event loop, timed open->DELETE (HdrHistogram); "
                + "%d txns; p50 reps DMSG [%s] raw [%s] us", dCount,
                Report.list(d50, x -> fmt("%.1f", x)), Report.list(r50, x -> fmt("%.1f", x)))));
    }

    // ---- slowconsumer ----

    /**
     * The producer's own cost per message is measured first (an unthrottled DMSG flood of the same
     * messages); the server then busy-waits {@link #SLOWDOWN} times that per message, for both
     * DMSG and raw, while the producer tries to go flat out for {@code --slow-seconds}. Memory is
     * sampled every 10 ms on both sides.
     */
    private void slowConsumer(DmsgSide dmsg, RawSide raw) throws Exception {
        Producer p = o.slowProducer;
        dmsg.oneWay(o.slowAux, p, o.batch, o.warmupNanos(1), 0);
        OneWay cal = dmsg.oneWay(o.slowAux, p, o.batch, nanos(Math.max(1, o.seconds)), 0);
        long spin = (long) (SLOWDOWN * 1e9 / cal.msgsPerSecond());
        out.printf("   producer alone: %s msgs/s of %d-byte aux -> consumer busy-waits %d ns per message%n",
            Report.rate(cal.msgsPerSecond()), o.slowAux, spin);
        OneWay d = dmsg.oneWay(o.slowAux, p, o.batch, nanos(o.slowSeconds), spin);
        out.printf("   dmsg: %s%n", describe(d));
        OneWay r = raw.oneWay(o.slowAux, Producer.LOOP, o.batch, nanos(o.slowSeconds), spin);
        out.printf("   raw:  %s%n", describe(r));
        if (o.verbose) {
            String f = "   %s %s per second (heap:live:direct:pinned KiB): %s%n";
            out.printf(f, "dmsg", "client", MemorySampler.encode(d.clientMemory()));
            out.printf(f, "dmsg", "server", MemorySampler.encode(d.serverMemory()));
            out.printf(f, "raw", "client", MemorySampler.encode(r.clientMemory()));
            out.printf(f, "raw", "server", MemorySampler.encode(r.serverMemory()));
        }
        boolean drained = d.drainNanos() < TimeUnit.SECONDS.toNanos(2);
        String how = fmt("%d-byte aux, %s producer, consumer busy-waits %d ns/msg (%dx the producer's own %.0f ns)",
            o.slowAux, p == Producer.LOOP ? "event-loop" : "foreign-thread (blocking)", spin, SLOWDOWN, 1e9 / cal.msgsPerSecond());
        rows.add(new Row("slowconsumer producer", ceiling(d.clientMemory()), ceiling(r.clientMemory()), "-",
            "bounded, stated", bounded(d.clientMemory()) && drained ? Verdict.PASS : Verdict.MISS,
            how + fmt("; DMSG consumer %s msgs/s, producer handed over %s msgs/s, backlog drained %.0f ms after the "
                + "producer stopped (raw %.0f ms); raw consumer %s msgs/s", Report.rate(d.msgsPerSecond()),
                Report.rate(d.handedPerSecond()), d.drainNanos() / 1e6, r.drainNanos() / 1e6, Report.rate(r.msgsPerSecond()))));
        rows.add(new Row("slowconsumer consumer", ceiling(d.serverMemory()), ceiling(r.serverMemory()), "-",
            "bounded, stated", bounded(d.serverMemory()) ? Verdict.PASS : Verdict.MISS,
            fmt("max over %.0f s, sampled every %d ms: heap used (garbage included) / live heap after GC / direct "
                + "in use by pooled buffers, MiB. Bounded = live + in-use direct in the 2nd half <= 1st half + 16 MiB "
                + "(and, producer side, the backlog drains in < 2 s)", o.slowSeconds, MemorySampler.PERIOD_MILLIS)));
    }

    private static String describe(OneWay w) {
        MemorySampler.Peak c = MemorySampler.max(w.clientMemory(), 0, Integer.MAX_VALUE);
        MemorySampler.Peak s = MemorySampler.max(w.serverMemory(), 0, Integer.MAX_VALUE);
        return fmt("consumer %s msgs/s, producer handed over %s msgs/s, drain %.0f ms; max MiB heap/live/direct reserved/"
                + "direct in use: producer %s/%s/%s/%s, consumer %s/%s/%s/%s",
            Report.rate(w.msgsPerSecond()), Report.rate(w.handedPerSecond()), w.drainNanos() / 1e6,
            Report.mb(c.heap()), Report.mb(c.live()), Report.mb(c.direct()), Report.mb(c.pinned()),
            Report.mb(s.heap()), Report.mb(s.live()), Report.mb(s.direct()), Report.mb(s.pinned()));
    }

    /** heap used / live heap / direct in use, MiB. */
    private static String ceiling(List<MemorySampler.Peak> series) {
        MemorySampler.Peak m = MemorySampler.max(series, 0, Integer.MAX_VALUE);
        return fmt("%s / %s / %s MiB", Report.mb(m.heap()), Report.mb(m.live()), Report.mb(m.pinned()));
    }

    /** Live heap plus direct in use in the second half of the run within the first half's plus slack. */
    static boolean bounded(List<MemorySampler.Peak> perSecond) {
        int n = perSecond.size();
        if (n < 2) {
            return true;
        }
        MemorySampler.Peak first = MemorySampler.max(perSecond, 0, n / 2);
        MemorySampler.Peak second = MemorySampler.max(perSecond, n / 2, n);
        return second.live() + second.pinned() <= first.live() + first.pinned() + GROWTH_SLACK_BYTES;
    }

    @Override
    public void close() {
        endpoint.close(Duration.ofSeconds(3));
        rawGroup.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }
}
