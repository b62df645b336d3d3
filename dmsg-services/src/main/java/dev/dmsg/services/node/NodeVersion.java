package dev.dmsg.services.node;

import java.io.IOException;
import java.io.InputStream;
import java.util.Properties;

/** This build's version, from {@code version.properties} (filtered by Maven with the project's version). */
final class NodeVersion {
    private NodeVersion() {}

    static final String VERSION = read();

    private static String read() {
        try (InputStream in = NodeVersion.class.getResourceAsStream("version.properties")) {
            if (in == null) {
                return "unknown";
            }
            Properties p = new Properties();
            p.load(in);
            String v = p.getProperty("version", "unknown");
            return v.startsWith("${") ? "unknown" : v; // an unfiltered copy (an IDE's build)
        } catch (IOException e) {
            return "unknown";
        }
    }
}
