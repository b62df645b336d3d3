package dev.dmsg.services.metrics;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The samples of a Prometheus text exposition, read back for the tests: {@code name{labels}} to
 * value, with the labels as the exposition wrote them. A test's own reader, so that it checks
 * what a scraper sees, not what our collector meant.
 */
record Exposition(String text, Map<String, Double> samples) {
    private static final Pattern SAMPLE = Pattern.compile("^([a-zA-Z_:][a-zA-Z0-9_:]*)(\\{.*\\})? (\\S+)$");

    static Exposition parse(String text) {
        Map<String, Double> m = new LinkedHashMap<>();
        for (String line : text.split("\n")) {
            if (line.isEmpty() || line.startsWith("#")) {
                continue;
            }
            Matcher x = SAMPLE.matcher(line);
            if (!x.matches()) {
                throw new AssertionError("not a sample line: " + line);
            }
            m.put(x.group(1) + (x.group(2) == null ? "" : x.group(2)), Double.parseDouble(x.group(3)));
        }
        return new Exposition(text, m);
    }

    /** The sum of the samples of {@code name} whose labels include every {@code label="value"} given. */
    double sum(String name, String... labels) {
        double total = 0;
        boolean any = false;
        for (Map.Entry<String, Double> e : samples.entrySet()) {
            String k = e.getKey();
            if (!(k.equals(name) || k.startsWith(name + "{"))) {
                continue;
            }
            boolean all = true;
            for (int i = 0; i < labels.length; i += 2) {
                all &= k.contains(labels[i] + "=\"" + labels[i + 1] + "\"");
            }
            if (all) {
                total += e.getValue();
                any = true;
            }
        }
        return any ? total : Double.NaN;
    }

    /** Whether a sample of {@code name} with those labels is there. */
    boolean has(String name, String... labels) {
        return !Double.isNaN(sum(name, labels));
    }

    /** The {@code # TYPE} line of family {@code name}, e.g. {@code counter}. */
    String type(String name) {
        for (String line : text.split("\n")) {
            if (line.startsWith("# TYPE " + name + " ")) {
                return line.substring(("# TYPE " + name + " ").length());
            }
        }
        return null;
    }
}
