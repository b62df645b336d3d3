package dev.dmsg.cli;

import java.time.Duration;
import picocli.CommandLine;

/** Durations like {@code 500ms}, {@code 1s}, {@code 2m}, {@code 1h}, {@code 7d}, or ISO-8601 {@code PT1S}. */
final class Durations implements CommandLine.ITypeConverter<Duration> {
    @Override
    public Duration convert(String s) {
        return parse(s);
    }

    static Duration parse(String s) {
        String t = s.trim().toLowerCase();
        try {
            if (t.startsWith("pt")) return Duration.parse(s);
            if (t.endsWith("ms")) return Duration.ofMillis(Long.parseLong(t.substring(0, t.length() - 2)));
            if (t.endsWith("s")) return Duration.ofMillis((long) (Double.parseDouble(t.substring(0, t.length() - 1)) * 1000));
            if (t.endsWith("m")) return Duration.ofSeconds(Long.parseLong(t.substring(0, t.length() - 1)) * 60);
            if (t.endsWith("h")) return Duration.ofHours(Long.parseLong(t.substring(0, t.length() - 1)));
            if (t.endsWith("d")) return Duration.ofDays(Long.parseLong(t.substring(0, t.length() - 1)));
        } catch (RuntimeException e) {
            // fall through
        }
        throw new CommandLine.TypeConversionException("expected a duration like 500ms, 1s, 2m, 1h or 7d, got '" + s + "'");
    }
}
