package dev.dmsg.bench.driver;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/** CPU time of processes from {@code /proc/PID/stat} (utime + stime, in clock ticks). */
final class ProcCpu {
    /** USER_HZ: 100 on every Linux this runs on (x86 and arm64). */
    static final double TICKS_PER_SECOND = 100.0;

    private ProcCpu() {
    }

    static Map<String, Long> ticks(Map<String, Long> pids) {
        Map<String, Long> out = new LinkedHashMap<>();
        pids.forEach((name, pid) -> {
            long t = ticks(pid);
            if (t >= 0) {
                out.put(name, t);
            }
        });
        return out;
    }

    static long ticks(long pid) {
        try {
            String s = Files.readString(Path.of("/proc", Long.toString(pid), "stat"), StandardCharsets.US_ASCII);
            String[] f = s.substring(s.lastIndexOf(')') + 2).split(" ");
            return Long.parseLong(f[11]) + Long.parseLong(f[12]); // fields 14 and 15: utime, stime
        } catch (IOException | RuntimeException e) {
            return -1; // not Linux, or the process is gone
        }
    }
}
