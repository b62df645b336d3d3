package dev.dmsg.cli;

import dev.dmsg.services.blk.copy.BlockCopy;
import dev.dmsg.services.blk.copy.ByteSizes;
import java.io.PrintStream;
import java.util.Locale;
import java.util.concurrent.TimeUnit;

/**
 * Progress on stderr: a bar redrawn in place on a terminal (at most 5 times a second), else a
 * line every 5 s; nothing with {@code --quiet}. Other lines (failover) go through
 * {@link #println} so they do not land in the middle of the bar. Main thread, except println.
 */
final class CopyProgress implements BlockCopy.Progress {
    static final long BAR_NANOS = TimeUnit.MILLISECONDS.toNanos(200);
    static final long LINE_NANOS = TimeUnit.SECONDS.toNanos(5);

    private final PrintStream err;
    private final boolean quiet;
    private final boolean terminal;
    private String label = "";
    private long total;
    private long startNanos;
    private long lastNanos;
    private boolean barShown;
    volatile long done;

    CopyProgress(PrintStream err, boolean quiet, boolean terminal) {
        this.err = err;
        this.quiet = quiet;
        this.terminal = terminal;
    }

    void start(String label, long total) {
        this.label = label;
        this.total = total;
        this.startNanos = System.nanoTime();
        this.lastNanos = startNanos;
    }

    @Override
    public void advance(long bytes) {
        done += bytes;
        long now = System.nanoTime();
        if (quiet || now - lastNanos < (terminal ? BAR_NANOS : LINE_NANOS)) {
            return;
        }
        lastNanos = now;
        synchronized (this) {
            if (terminal) {
                err.print("\r" + bar(now));
                barShown = true;
            } else {
                err.println("dmsg blk cp: " + label + ": " + line(now));
            }
            err.flush();
        }
    }

    private String line(long now) {
        double secs = Math.max(1e-9, (now - startNanos) / 1e9);
        return String.format(Locale.ROOT, "%s of %s (%d%%), %.1f MiB/s", ByteSizes.human(done), ByteSizes.human(total),
            total == 0 ? 100 : done * 100 / total, done / secs / (1 << 20));
    }

    private String bar(long now) {
        int width = 30;
        int filled = total == 0 ? width : (int) (done * width / total);
        return label + " [" + "#".repeat(filled) + ".".repeat(width - filled) + "] " + line(now) + "   ";
    }

    /** A line of its own on stderr (always printed, also with --quiet). */
    synchronized void println(String line) {
        if (barShown) {
            err.println();
            barShown = false;
        }
        err.println("dmsg blk cp: " + line);
    }

    /** A line of its own on stderr, not with --quiet. */
    void note(String line) {
        if (!quiet) {
            println(line);
        }
    }

    /** Ends the bar's line (an error follows). */
    synchronized void clear() {
        if (barShown) {
            err.println();
            barShown = false;
        }
    }

    /** The copy is done (flushed): prints the summary, from {@link #start} to now. */
    void finish() {
        long elapsedNanos = System.nanoTime() - startNanos;
        if (quiet) {
            return;
        }
        synchronized (this) {
            if (terminal) {
                err.print("\r" + bar(System.nanoTime()));
                barShown = true;
            }
            clear();
            double secs = Math.max(1e-9, elapsedNanos / 1e9);
            err.println(String.format(Locale.ROOT, "dmsg blk cp: %s: %d bytes in %.2f s (%.1f MiB/s)", label, done,
                secs, done / secs / (1 << 20)));
        }
    }
}
