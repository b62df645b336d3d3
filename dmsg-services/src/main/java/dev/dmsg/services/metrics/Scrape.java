package dev.dmsg.services.metrics;

import dev.dmsg.services.blk.LatencyHistogram;
import io.prometheus.metrics.model.snapshots.ClassicHistogramBuckets;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot;
import io.prometheus.metrics.model.snapshots.HistogramSnapshot;
import io.prometheus.metrics.model.snapshots.InfoSnapshot;
import io.prometheus.metrics.model.snapshots.Labels;
import io.prometheus.metrics.model.snapshots.MetricSnapshot;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import io.prometheus.metrics.model.snapshots.Unit;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One scrape's metric families as they are read, turned into the Prometheus client's snapshots
 * ({@link #build}). Values added twice under the same labels are summed: two links of one peer
 * from one address are one series, as Prometheus requires. Names are given without the
 * {@code _total} of counters and the {@code _info} of info metrics: the client's text format adds
 * them.
 */
final class Scrape {
    private enum Type { COUNTER, GAUGE, INFO, HISTOGRAM }

    private static final class Family {
        final Type type;
        final String help;
        final Unit unit;
        final Map<Labels, Double> values = new LinkedHashMap<>();
        final Map<Labels, LatencyHistogram.Snapshot> histograms = new LinkedHashMap<>();

        Family(Type type, String help, Unit unit) {
            this.type = type;
            this.help = help;
            this.unit = unit;
        }
    }

    private final Map<String, Family> families = new LinkedHashMap<>();

    /** Declares a family, so that it is listed (with its help) even when it has no series now. */
    Scrape counter(String name, String help, Unit unit) {
        families.computeIfAbsent(name, n -> new Family(Type.COUNTER, help, unit));
        return this;
    }

    Scrape gauge(String name, String help, Unit unit) {
        families.computeIfAbsent(name, n -> new Family(Type.GAUGE, help, unit));
        return this;
    }

    Scrape info(String name, String help) {
        families.computeIfAbsent(name, n -> new Family(Type.INFO, help, null));
        return this;
    }

    Scrape histogram(String name, String help, Unit unit) {
        families.computeIfAbsent(name, n -> new Family(Type.HISTOGRAM, help, unit));
        return this;
    }

    /** Adds {@code value} to the series {@code name{labels}} of a declared counter, gauge or info family. */
    void add(String name, double value, String... labels) {
        Family f = family(name);
        f.values.merge(Labels.of(labels), value, Double::sum);
    }

    /** Adds {@code h} to the series {@code name{labels}} of a declared histogram family. */
    void add(String name, LatencyHistogram.Snapshot h, String... labels) {
        Family f = family(name);
        f.histograms.merge(Labels.of(labels), h, Scrape::merged);
    }

    private Family family(String name) {
        Family f = families.get(name);
        if (f == null) {
            throw new IllegalStateException("metric family " + name + " not declared");
        }
        return f;
    }

    private static LatencyHistogram.Snapshot merged(LatencyHistogram.Snapshot a, LatencyHistogram.Snapshot b) {
        long[] c = a.counts().clone();
        for (int i = 0; i < c.length; i++) {
            c[i] += b.counts()[i];
        }
        return new LatencyHistogram.Snapshot(c, a.sumNanos() + b.sumNanos());
    }

    MetricSnapshots build() {
        List<MetricSnapshot> out = new ArrayList<>();
        double[] bounds = LatencyHistogram.boundsSeconds();
        double[] withInf = new double[bounds.length + 1];
        System.arraycopy(bounds, 0, withInf, 0, bounds.length);
        withInf[bounds.length] = Double.POSITIVE_INFINITY;
        families.forEach((name, f) -> {
            switch (f.type) {
                case COUNTER -> {
                    CounterSnapshot.Builder b = CounterSnapshot.builder().name(name).help(f.help);
                    if (f.unit != null) {
                        b.unit(f.unit);
                    }
                    f.values.forEach((l, v) -> b.dataPoint(
                        CounterSnapshot.CounterDataPointSnapshot.builder().labels(l).value(v).build()));
                    out.add(b.build());
                }
                case GAUGE -> {
                    GaugeSnapshot.Builder b = GaugeSnapshot.builder().name(name).help(f.help);
                    if (f.unit != null) {
                        b.unit(f.unit);
                    }
                    f.values.forEach((l, v) -> b.dataPoint(
                        GaugeSnapshot.GaugeDataPointSnapshot.builder().labels(l).value(v).build()));
                    out.add(b.build());
                }
                case INFO -> {
                    InfoSnapshot.Builder b = InfoSnapshot.builder().name(name).help(f.help);
                    f.values.forEach((l, v) -> b.dataPoint(InfoSnapshot.InfoDataPointSnapshot.builder().labels(l).build()));
                    out.add(b.build());
                }
                case HISTOGRAM -> {
                    HistogramSnapshot.Builder b = HistogramSnapshot.builder().name(name).help(f.help);
                    if (f.unit != null) {
                        b.unit(f.unit);
                    }
                    f.histograms.forEach((l, h) -> b.dataPoint(HistogramSnapshot.HistogramDataPointSnapshot.builder()
                        .labels(l).sum(h.sumNanos() / 1e9)
                        .classicHistogramBuckets(ClassicHistogramBuckets.of(withInf, h.counts())).build()));
                    out.add(b.build());
                }
                default -> throw new IllegalStateException("type " + f.type);
            }
        });
        return new MetricSnapshots(out);
    }
}
