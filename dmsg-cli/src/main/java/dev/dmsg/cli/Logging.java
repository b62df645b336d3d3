package dev.dmsg.cli;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import org.slf4j.LoggerFactory;

/** Log levels at run time (the CLI ships logback). */
final class Logging {
    private Logging() {}

    static void setLevel(String logger, String level) {
        ((Logger) LoggerFactory.getLogger(logger)).setLevel(Level.toLevel(level));
    }
}
