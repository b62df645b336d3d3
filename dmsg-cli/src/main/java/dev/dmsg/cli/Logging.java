package dev.dmsg.cli;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.encoder.JsonEncoder;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.ConsoleAppender;
import ch.qos.logback.core.Appender;
import java.util.Locale;
import org.slf4j.LoggerFactory;

/**
 * Log levels and format at run time (the CLI ships logback; its logback.xml writes text lines
 * with ISO-8601 dates to stderr). {@code DMSG_LOG_LEVEL} and {@code DMSG_LOG_FORMAT} apply to
 * every command; {@code dmsg node --log-level/--log-format} (or their config-file keys) win over them.
 */
final class Logging {
    private Logging() {}

    /** {@code --log-level}: the root logger's level (netty and Ratis stay at WARN, logback.xml). */
    enum LogLevel { TRACE, DEBUG, INFO, WARN, ERROR }

    /** {@code --log-format}: logback.xml's text lines, or one JSON object per line (logback's JsonEncoder). */
    enum LogFormat { TEXT, JSON }

    static final String LEVEL_ENV = "DMSG_LOG_LEVEL";
    static final String FORMAT_ENV = "DMSG_LOG_FORMAT";

    static void setLevel(String logger, String level) {
        ((Logger) LoggerFactory.getLogger(logger)).setLevel(Level.toLevel(level));
    }

    /**
     * Applies {@code DMSG_LOG_LEVEL} and {@code DMSG_LOG_FORMAT} if set; an unknown value is
     * named on stderr and ignored (a typo in the environment must not stop a node).
     */
    static void fromEnvironment() {
        String level = System.getenv(LEVEL_ENV);
        String format = System.getenv(FORMAT_ENV);
        if (level != null && !level.isBlank()) {
            try {
                level(LogLevel.valueOf(level.trim().toUpperCase(Locale.ROOT)));
            } catch (IllegalArgumentException e) {
                System.err.println("dmsg: " + LEVEL_ENV + "=" + level + " ignored: one of trace, debug, info, warn, error");
            }
        }
        if (format != null && !format.isBlank()) {
            try {
                format(LogFormat.valueOf(format.trim().toUpperCase(Locale.ROOT)));
            } catch (IllegalArgumentException e) {
                System.err.println("dmsg: " + FORMAT_ENV + "=" + format + " ignored: text or json");
            }
        }
    }

    static void level(LogLevel level) {
        root().setLevel(Level.toLevel(level.name()));
    }

    /**
     * Switches the console appender's encoder. JSON lines carry {@code timestamp} (epoch ms),
     * {@code level}, {@code threadName}, {@code loggerName}, {@code formattedMessage} and, for an
     * exception, {@code throwable}.
     */
    static synchronized void format(LogFormat format) {
        Logger root = root();
        Appender<ILoggingEvent> a = root.getAppender("STDERR");
        if (!(a instanceof ConsoleAppender<ILoggingEvent> console)) {
            return; // a logback.xml of the operator's own (-Dlogback.configurationFile): leave it alone
        }
        boolean json = console.getEncoder() instanceof JsonEncoder;
        if (json == (format == LogFormat.JSON)) {
            return;
        }
        if (format == LogFormat.TEXT) {
            // back to logback.xml's pattern: re-read the configuration
            LoggerContext ctx = root.getLoggerContext();
            ctx.reset();
            try {
                new ch.qos.logback.classic.util.ContextInitializer(ctx).autoConfig();
            } catch (ch.qos.logback.core.joran.spi.JoranException e) {
                throw new IllegalStateException("logback.xml: " + e.getMessage(), e);
            }
            return;
        }
        JsonEncoder enc = new JsonEncoder();
        enc.setContext(root.getLoggerContext());
        enc.setWithSequenceNumber(false);
        enc.setWithNanoseconds(false);
        enc.setWithContext(false);
        enc.setWithMDC(false);
        enc.setWithKVPList(false);
        enc.setWithMarkers(false);
        enc.setWithMessage(false);
        enc.setWithArguments(false);
        enc.setWithFormattedMessage(true);
        enc.start();
        console.stop();
        console.setEncoder(enc);
        console.start();
    }

    private static Logger root() {
        return (Logger) LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
    }
}
