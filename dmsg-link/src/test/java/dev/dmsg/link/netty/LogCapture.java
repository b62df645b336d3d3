package dev.dmsg.link.netty;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.AppenderBase;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Predicate;
import org.slf4j.LoggerFactory;

/**
 * Collects the formatted log lines of a logger and its children (Logback), and lets a test wait
 * for a line: the way to assert what an operator would read, without sleeping.
 */
final class LogCapture extends AppenderBase<ILoggingEvent> implements AutoCloseable {
    private final Logger logger;
    private boolean debug;
    private Level savedLevel;
    private final List<String> lines = new ArrayList<>();

    private LogCapture(String loggerName) {
        this.logger = (Logger) LoggerFactory.getLogger(loggerName);
    }

    /**
     * Like {@link #of}, with the logger at DEBUG while captured: the link's steps (TLS up,
     * authenticated) are DEBUG lines, a node saying them once in its "link up" line.
     */
    static LogCapture debug(String loggerName) {
        LogCapture c = of(loggerName);
        c.debug = true;
        c.savedLevel = c.logger.getLevel();
        c.logger.setLevel(Level.DEBUG);
        return c;
    }

    static LogCapture of(String loggerName) {
        LogCapture c = new LogCapture(loggerName);
        c.setContext(c.logger.getLoggerContext());
        c.start();
        c.logger.addAppender(c);
        return c;
    }

    @Override
    protected synchronized void append(ILoggingEvent e) {
        lines.add(e.getLevel() + " " + e.getFormattedMessage());
        notifyAll();
    }

    synchronized List<String> lines() {
        return new ArrayList<>(lines);
    }

    /** Lines containing every one of {@code parts}. */
    synchronized List<String> matching(String... parts) {
        return lines.stream().filter(all(parts)).toList();
    }

    /**
     * Waits for a line containing every one of {@code parts} and returns it.
     *
     * @throws AssertionError with every line seen, if none comes within {@code timeout}
     */
    synchronized String await(Duration timeout, String... parts) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        Predicate<String> p = all(parts);
        while (true) {
            for (String l : lines) {
                if (p.test(l)) {
                    return l;
                }
            }
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                throw new AssertionError("no log line with " + List.of(parts) + " within " + timeout + "; lines:\n  "
                    + String.join("\n  ", lines));
            }
            wait(Math.max(1, left / 1_000_000));
        }
    }

    private static Predicate<String> all(String... parts) {
        return l -> {
            for (String x : parts) {
                if (!l.contains(x)) {
                    return false;
                }
            }
            return true;
        };
    }

    @Override
    public void close() {
        logger.detachAppender(this);
        if (debug) {
            logger.setLevel(savedLevel);
        }
        stop();
    }
}
