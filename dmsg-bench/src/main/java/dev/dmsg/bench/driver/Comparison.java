package dev.dmsg.bench.driver;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.ToDoubleFunction;

/**
 * Figures measured for several systems in one sitting, as {@code bench quorum} and {@code bench
 * lock} do (docs/BENCHMARKS.md): each system's figures first run unmeasured, then repetitions whose
 * order of systems alternates (as given in odd repetitions, reversed in even ones), then a markdown
 * table of the medians over the repetitions, with the first system's figures over the second's.
 */
final class Comparison {
    /** Runs one figure for one system: {@code tag} names it uniquely (keys are made from it). */
    interface Load<K> {
        ClosedLoop.Result run(String system, Figure<K> f, String tag, long warmupNanos, long measureNanos)
            throws Exception;
    }

    /**
     * One figure: a scenario {@code kind} with its clients, its name in the table, its short name
     * in progress lines, and each system's results over the repetitions.
     */
    record Figure<K>(K kind, int clients, String name, String shortName, Map<String, List<ClosedLoop.Result>> results) {
        Figure(K kind, int clients, String name, String shortName) {
            this(kind, clients, name, shortName, new LinkedHashMap<>());
        }

        /** A name unique among the figures, for tags. */
        String id() {
            return kind + "" + clients;
        }

        List<ClosedLoop.Result> of(String system) {
            return results.getOrDefault(system, List.of());
        }
    }

    private Comparison() {
    }

    /** "{@code what}, 1 client" or "{@code what}, N clients". */
    static String clients(String what, int n) {
        return what + ", " + n + " client" + (n == 1 ? "" : "s");
    }

    /** Every figure of {@code system}, unmeasured, {@code seconds} in all. */
    static <K> void warmUp(String system, List<Figure<K>> figures, Load<K> load, double seconds) throws Exception {
        if (seconds <= 0) {
            return;
        }
        long each = (long) (seconds * 1e9 / figures.size());
        for (Figure<K> f : figures) {
            load.run(system, f, "bench/w/" + system + "/" + f.id(), 0, each);
        }
    }

    /**
     * {@code reps} repetitions of every figure for every system, in alternating order, each figure
     * {@code warmupSeconds} unmeasured then {@code seconds} measured; a line per system and
     * repetition on {@code out}. Returns false if an operation failed.
     */
    static <K> boolean repeat(int reps, List<String> systems, List<Figure<K>> figures, Load<K> load, double warmupSeconds,
                              double seconds, PrintStream out) throws Exception {
        boolean ok = true;
        for (int rep = 1; rep <= reps; rep++) {
            List<String> order = new ArrayList<>(systems);
            if (rep % 2 == 0) {
                Collections.reverse(order);
            }
            for (String s : order) {
                StringBuilder line = new StringBuilder(String.format("   rep %d %-4s:", rep, s));
                for (Figure<K> f : figures) {
                    ClosedLoop.Result r = load.run(s, f, "bench/" + rep + "/" + f.id(), (long) (warmupSeconds * 1e9),
                        (long) (seconds * 1e9));
                    f.results.computeIfAbsent(s, x -> new ArrayList<>()).add(r);
                    line.append(String.format(" %s/%d %.0f/s p50 %.2f ms, cpu %.2f+%.2f ms/op |", f.shortName, f.clients,
                        r.opsPerSec(), r.p50Us() / 1e3, r.serverCpuMsPerOp(), r.clientCpuMsPerOp()));
                    if (r.errors() > 0) {
                        ok = false;
                        line.append(" ").append(r.errors()).append(" errors, first: ").append(r.firstError()).append(" |");
                    }
                }
                out.println(line);
                out.flush();
            }
        }
        return ok;
    }

    static double median(List<ClosedLoop.Result> rs, ToDoubleFunction<ClosedLoop.Result> f) {
        return Report.median(rs.stream().map(f::applyAsDouble).toList());
    }

    /**
     * The markdown table, after a blank line: per system ops/s, p50 / p99 and CPU per operation,
     * medians; with two systems, the first's ops/s and p50 over the second's. {@code opsUnit} names
     * what ops/s counts (e.g. "ops/s", "grants/s").
     */
    static <K> void table(List<Figure<K>> figures, List<String> names, String opsUnit, PrintStream out) {
        out.println();
        StringBuilder head = new StringBuilder("| figure |");
        StringBuilder rule = new StringBuilder("|---|");
        for (String n : names) {
            head.append(" ").append(n).append(" ").append(opsUnit).append(" | ").append(n).append(" p50 / p99 (ms) | ")
                .append(n).append(" CPU ms/op, servers + client |");
            rule.append("---|---|---|");
        }
        if (names.size() == 2) {
            head.append(" ").append(names.get(0)).append(" ÷ ").append(names.get(1)).append(": ").append(opsUnit)
                .append(", p50 |");
            rule.append("---|");
        }
        out.println(head);
        out.println(rule);
        for (Figure<K> f : figures) {
            StringBuilder row = new StringBuilder("| " + f.name + " |");
            List<double[]> meds = new ArrayList<>();
            for (String n : names) {
                List<ClosedLoop.Result> rs = f.of(n);
                double ops = median(rs, ClosedLoop.Result::opsPerSec);
                double p50 = median(rs, ClosedLoop.Result::p50Us) / 1e3;
                meds.add(new double[] {ops, p50});
                row.append(String.format(" %.0f | %.2f / %.2f | %.2f + %.2f |", ops, p50,
                    median(rs, ClosedLoop.Result::p99Us) / 1e3, median(rs, ClosedLoop.Result::serverCpuMsPerOp),
                    median(rs, ClosedLoop.Result::clientCpuMsPerOp)));
            }
            if (names.size() == 2) {
                row.append(String.format(" %.2f, %.2f |", meds.get(0)[0] / meds.get(1)[0], meds.get(0)[1] / meds.get(1)[1]));
            }
            out.println(row);
        }
    }

    /** Each figure's repetitions, in run order: ops/s and p50. */
    static <K> void repetitions(List<Figure<K>> figures, List<String> names, String opsUnit, PrintStream out) {
        for (Figure<K> f : figures) {
            for (String n : names) {
                out.printf("%s, %s: reps %s %s; p50 %s ms%n", f.name, n,
                    Report.list(f.of(n).stream().map(ClosedLoop.Result::opsPerSec).toList(), x -> String.format("%.0f", x)),
                    opsUnit, Report.list(f.of(n).stream().map(ClosedLoop.Result::p50Us).toList(),
                        x -> String.format("%.2f", x / 1e3)));
            }
        }
    }
}
