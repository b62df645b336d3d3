package dev.dmsg.services.shell;

import java.util.concurrent.ConcurrentHashMap;

/**
 * How many shell commands each principal has in progress on this node, capped (docs/SECURITY.md
 * §7): one caller cannot fill the shell's executor and starve the others. Entries exist only
 * while a command is in progress, so the map is bounded by the commands running. Thread-safe.
 */
final class CallerLimits {
    private final int max;
    private final ConcurrentHashMap<String, Integer> inProgress = new ConcurrentHashMap<>();

    CallerLimits(int max) {
        this.max = max;
    }

    /** Takes one slot of {@code key}'s; false if it already has {@code max}. */
    boolean tryAcquire(String key) {
        boolean[] ok = {false};
        inProgress.compute(key, (k, n) -> {
            int have = n == null ? 0 : n;
            if (have >= max) {
                return n;
            }
            ok[0] = true;
            return have + 1;
        });
        return ok[0];
    }

    void release(String key) {
        inProgress.computeIfPresent(key, (k, n) -> n <= 1 ? null : n - 1);
    }

    /** Commands in progress for {@code key} (tests). */
    int inProgress(String key) {
        return inProgress.getOrDefault(key, 0);
    }
}
