package dev.dmsg.bench.driver;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The report of a {@code bench blk} run: the Markdown table docs/BENCHMARKS.md quotes ("Block
 * devices"), or the same figures as JSON ({@code --json}); both say whether the bridge with 0
 * relays missed a target.
 */
final class BlkReport {
    private final BlkBench o;
    private final PrintStream out;
    private final ObjectMapper mapper = new ObjectMapper();

    BlkReport(BlkBench o, PrintStream out) {
        this.o = o;
        this.out = out;
    }

    static String headline(BlkJob j, double v) {
        if (Double.isNaN(v)) {
            return "failed";
        }
        return j.throughput() ? Report.fmt("%.0f MB/s", v) : Report.fmt("%.1f k IOPS", v / 1e3);
    }

    private static String value(BlkJob j, double v) {
        if (Double.isNaN(v)) {
            return "-";
        }
        return j.throughput() ? Report.fmt("%.0f", v) : Report.fmt("%.1f k", v / 1e3);
    }

    private static List<Double> headlines(BlkJob j, List<BlkSample> ss) {
        return ss.stream().map(s -> s.headline(j)).filter(v -> !Double.isNaN(v)).toList();
    }

    private static double median(List<Double> xs) {
        return xs.isEmpty() ? Double.NaN : Report.median(xs);
    }

    /** Median per process of the CPU figures (cores busy) of {@code ss}. */
    private static Map<String, Double> medianCores(List<BlkSample> ss) {
        Map<String, List<Double>> all = new LinkedHashMap<>();
        for (BlkSample s : ss) {
            s.cores().forEach((k, v) -> all.computeIfAbsent(k, x -> new ArrayList<>()).add(v));
        }
        Map<String, Double> out = new LinkedHashMap<>();
        all.forEach((k, v) -> out.put(k, Report.median(v)));
        return out;
    }

    boolean printTable(BlkTopology s, List<BlkJob> jobList, List<String> pathList,
                               Map<String, Map<String, List<BlkSample>>> results, double seconds) {
        out.println();
        out.printf("fio %s, nbd engine; %d x (%.1f s ramp + %.1f s measured) per figure, medians; %s file on %s; "
            + "mesh links: %s%n", FioRunner.version(), o.reps, o.ramp, o.runtime, human(s.sizeBytes), o.dir,
            s.linkSecurity.isEmpty() ? "-" : s.linkSecurity);
        StringBuilder head = new StringBuilder("| job | unit |");
        StringBuilder rule = new StringBuilder("|---|---|");
        for (String p : pathList) {
            head.append(' ').append(BlkPaths.pathTitle(p)).append(" |");
            rule.append("---|");
        }
        out.println(head);
        out.println(rule);
        boolean hasBase = pathList.contains("nbdkit");
        for (BlkJob j : jobList) {
            Map<String, List<BlkSample>> m = results.get(j.id());
            double base = hasBase ? median(headlines(j, m.get("nbdkit"))) : Double.NaN;
            StringBuilder row = new StringBuilder("| " + j.title() + " | " + j.unit() + " |");
            for (String p : pathList) {
                double v = median(headlines(j, m.get(p)));
                row.append(' ').append(value(j, v));
                if (hasBase && !p.equals("nbdkit") && !Double.isNaN(v)) {
                    row.append(Report.fmt(" (%.2f)", v / base));
                }
                row.append(" |");
            }
            out.println(row);
        }
        if (hasBase) {
            out.println("(in brackets: ÷ nbdkit)");
        }
        boolean missed = false;
        if (hasBase && pathList.contains("bridge0")) {
            out.println();
            out.println("targets, bridge with 0 relays ÷ nbdkit:");
            for (BlkJob j : jobList) {
                if (Double.isNaN(BlkJob.target(j.id()))) {
                    continue;
                }
                Map<String, List<BlkSample>> m = results.get(j.id());
                double ratio = median(headlines(j, m.get("bridge0"))) / median(headlines(j, m.get("nbdkit")));
                boolean ok = ratio >= BlkJob.target(j.id());
                missed |= !ok;
                out.printf("  %-34s %.2f  (target >= %.2f)  %s%n", j.title(), ratio, BlkJob.target(j.id()), ok ? "PASS" : "MISS");
            }
        }
        out.println();
        out.println("latency p50 / p99 (µs), medians:");
        for (BlkJob j : jobList) {
            StringBuilder line = new StringBuilder(Report.fmt("  %-34s", j.title()));
            for (String p : pathList) {
                List<BlkSample> ss = results.get(j.id()).get(p);
                line.append(Report.fmt(" | %s %.0f / %.0f", p,
                    median(ss.stream().map(BlkSample::p50Micros).filter(v -> !Double.isNaN(v)).toList()),
                    median(ss.stream().map(BlkSample::p99Micros).filter(v -> !Double.isNaN(v)).toList())));
            }
            out.println(line);
        }
        out.println();
        out.println("CPU, cores busy during the job (medians; 'bench JVM' is the bridge or the Java client), and CPU µs per "
            + "operation over all processes:");
        for (BlkJob j : jobList) {
            for (String p : pathList) {
                List<BlkSample> ss = results.get(j.id()).get(p);
                Map<String, Double> c = medianCores(ss);
                double total = c.values().stream().mapToDouble(Double::doubleValue).sum();
                double iops = median(ss.stream().map(BlkSample::iops).filter(v -> !Double.isNaN(v)).toList());
                StringBuilder line = new StringBuilder(Report.fmt("  %-12s %-22s total %.2f", j.id(), BlkPaths.pathTitle(p), total));
                c.forEach((k, v) -> line.append(Report.fmt(", %s %.2f", k, v)));
                line.append(Report.fmt("; %.1f µs/op", total * 1e6 / iops));
                out.println(line);
            }
        }
        out.println();
        for (BlkJob j : jobList) {
            for (String p : pathList) {
                out.printf("%s %s reps: %s%n", j.id(), p, Report.list(headlines(j, results.get(j.id()).get(p)),
                    v -> value(j, v)));
            }
        }
        out.printf("%nbench blk took %.0f s%n", seconds);
        return missed;
    }

    boolean printJson(BlkTopology s, List<BlkJob> jobList, List<String> pathList,
                              Map<String, Map<String, List<BlkSample>>> results, double seconds) throws IOException {
        ObjectNode root = mapper.createObjectNode();
        root.put("cores", Runtime.getRuntime().availableProcessors());
        root.put("java", Runtime.version().toString());
        root.put("fio", FioRunner.version());
        root.put("sizeBytes", s.sizeBytes);
        root.put("dir", o.dir.toString());
        root.put("reps", o.reps);
        root.put("rampSeconds", o.ramp);
        root.put("runtimeSeconds", o.runtime);
        root.put("tls", o.tls.toUpperCase(Locale.ROOT));
        root.put("meshLinks", s.linkSecurity);
        ObjectNode dist = root.putObject("exportDist");
        s.exportDist.forEach((k, v) -> dist.put(Integer.toString(k), v));
        root.put("seconds", seconds);
        boolean hasBase = pathList.contains("nbdkit");
        boolean missed = false;
        ArrayNode js = root.putArray("jobs");
        ArrayNode targets = root.putArray("targets");
        for (BlkJob j : jobList) {
            ObjectNode jn = js.addObject();
            jn.put("id", j.id());
            jn.put("title", j.title());
            jn.put("rw", j.fioRw());
            jn.put("blockBytes", j.blockBytes());
            jn.put("queueDepth", j.queueDepth());
            jn.put("unit", j.unit());
            Map<String, List<BlkSample>> m = results.get(j.id());
            double base = hasBase ? median(headlines(j, m.get("nbdkit"))) : Double.NaN;
            ObjectNode pn = jn.putObject("paths");
            for (String p : pathList) {
                List<BlkSample> ss = m.get(p);
                ObjectNode x = pn.putObject(p);
                x.put("title", BlkPaths.pathTitle(p));
                double med = median(headlines(j, ss));
                x.put("median", med);
                ArrayNode r = x.putArray("reps");
                ss.forEach(v -> r.add(v.headline(j)));
                x.put("iops", median(ss.stream().map(BlkSample::iops).filter(v -> !Double.isNaN(v)).toList()));
                x.put("megabytesPerSecond", median(ss.stream().map(BlkSample::megabytesPerSecond)
                    .filter(v -> !Double.isNaN(v)).toList()));
                x.put("p50Micros", median(ss.stream().map(BlkSample::p50Micros).filter(v -> !Double.isNaN(v)).toList()));
                x.put("p99Micros", median(ss.stream().map(BlkSample::p99Micros).filter(v -> !Double.isNaN(v)).toList()));
                if (hasBase && !p.equals("nbdkit")) {
                    x.put("ratioToNbdkit", med / base);
                }
                ObjectNode c = x.putObject("cpuCores");
                medianCores(ss).forEach(c::put);
            }
            if (hasBase && pathList.contains("bridge0") && !Double.isNaN(BlkJob.target(j.id()))) {
                double ratio = median(headlines(j, m.get("bridge0"))) / base;
                ObjectNode t = targets.addObject();
                t.put("job", j.id());
                t.put("path", "bridge0");
                t.put("ratio", ratio);
                t.put("target", BlkJob.target(j.id()));
                t.put("met", ratio >= BlkJob.target(j.id()));
                missed |= !(ratio >= BlkJob.target(j.id()));
            }
        }
        out.println(mapper.writerWithDefaultPrettyPrinter().writeValueAsString(root));
        return missed;
    }

    static String human(long bytes) {
        if (bytes % (1L << 30) == 0) {
            return (bytes >> 30) + " GiB";
        }
        if (bytes % (1L << 20) == 0) {
            return (bytes >> 20) + " MiB";
        }
        return bytes + " bytes";
    }
}
