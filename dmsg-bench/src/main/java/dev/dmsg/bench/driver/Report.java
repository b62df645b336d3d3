package dev.dmsg.bench.driver;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutionException;
import java.util.function.DoubleFunction;

/** The results table and the number formats it uses. */
final class Report {
    private Report() {}

    enum Verdict { PASS, MISS, INFO, FAILED }

    /**
     * One line of the table. {@code ratio} is DMSG ÷ raw Netty of the headline figure (for the
     * round trip: of p50, so above 1 is slower). {@code detail} is printed under the table.
     */
    record Row(String scenario, String dmsg, String raw, String ratio, String target, Verdict verdict, String detail) {
        static Row failed(String scenario, String target, Throwable e) {
            Throwable c = e;
            while (c.getCause() != null && (c.getMessage() == null || c instanceof ExecutionException)) {
                c = c.getCause();
            }
            return new Row(scenario, "-", "-", "-", target, Verdict.FAILED, "failed to run: " + c);
        }
    }

    static void print(List<Row> rows, PrintStream out) {
        String[] head = {"scenario", "DMSG", "raw Netty", "DMSG/raw", "target", "result"};
        List<String[]> cells = new ArrayList<>();
        cells.add(head);
        for (Row r : rows) {
            cells.add(new String[] {r.scenario, r.dmsg, r.raw, r.ratio, r.target, r.verdict.name()});
        }
        int[] w = new int[head.length];
        for (String[] c : cells) {
            for (int i = 0; i < c.length; i++) {
                w[i] = Math.max(w[i], c[i].length());
            }
        }
        for (int k = 0; k < cells.size(); k++) {
            String[] c = cells.get(k);
            StringBuilder sb = new StringBuilder();
            for (int i = 0; i < c.length; i++) {
                sb.append(i == 0 ? "" : "  ").append(String.format("%-" + w[i] + "s", c[i]));
            }
            out.println(sb.toString().stripTrailing());
            if (k == 0) {
                StringBuilder rule = new StringBuilder();
                for (int i = 0; i < w.length; i++) {
                    rule.append(i == 0 ? "" : "  ").append("-".repeat(w[i]));
                }
                out.println(rule);
            }
        }
        out.println();
        for (Row r : rows) {
            if (r.detail != null && !r.detail.isEmpty()) {
                out.println(r.scenario + ": " + r.detail);
            }
        }
    }

    static double median(List<Double> xs) {
        List<Double> s = new ArrayList<>(xs);
        s.sort(null);
        int n = s.size();
        if (n == 0) {
            return Double.NaN;
        }
        return n % 2 == 1 ? s.get(n / 2) : (s.get(n / 2 - 1) + s.get(n / 2)) / 2;
    }

    static String list(List<Double> xs, DoubleFunction<String> f) {
        StringBuilder sb = new StringBuilder();
        for (double x : xs) {
            sb.append(sb.length() == 0 ? "" : " ").append(f.apply(x));
        }
        return sb.toString();
    }

    static String fmt(String f, Object... args) {
        return String.format(Locale.ROOT, f, args);
    }

    /** Messages (or transactions) per second, as "2.31 M" / "812 k". */
    static String rate(double perSecond) {
        return perSecond >= 1e6 ? fmt("%.2f M", perSecond / 1e6) : fmt("%.0f k", perSecond / 1e3);
    }

    static String mb(long bytes) {
        return fmt("%.1f", bytes / 1048576.0);
    }
}
