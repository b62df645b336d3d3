package dev.dmsg.testkit;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;

/**
 * The golden wire bytes captured from DragonFly's C implementation, in the read-only
 * {@code shared/vectors/} folder that sits beside the repository. Found by walking up from the
 * working directory, or from the {@code dmsg.shared} system property. A missing folder fails the
 * test: a test that silently skips its ground truth proves nothing.
 */
public final class Vectors {
    private Vectors() {}

    public static Path sharedDir() {
        String prop = System.getProperty("dmsg.shared");
        if (prop != null) {
            return Paths.get(prop);
        }
        for (Path p = Paths.get("").toAbsolutePath(); p != null; p = p.getParent()) {
            Path candidate = p.resolve("shared");
            if (Files.isDirectory(candidate.resolve("vectors"))) {
                return candidate;
            }
            Path sibling = p.resolveSibling("shared");
            if (sibling != null && Files.isDirectory(sibling.resolve("vectors"))) {
                return sibling;
            }
        }
        throw new IllegalStateException("shared/vectors not found above " + Paths.get("").toAbsolutePath()
            + "; set -Ddmsg.shared=/path/to/shared");
    }

    public static Path path(String name) {
        return sharedDir().resolve("vectors").resolve(name);
    }

    public static byte[] read(String name) {
        try {
            return Files.readAllBytes(path(name));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Connector to listener, 7 frames, 1472 bytes. */
    public static byte[] c2s() {
        return read("libdmsg-run1-c2s.bin");
    }

    /** Listener to connector, 11 frames, 1856 bytes. */
    public static byte[] s2c() {
        return read("libdmsg-run1-s2c.bin");
    }

    public static byte[] hex(String s) {
        s = s.replaceAll("[^0-9a-fA-F]", "");
        byte[] out = new byte[s.length() / 2];
        for (int i = 0; i < out.length; i++) {
            out[i] = (byte) Integer.parseInt(s.substring(2 * i, 2 * i + 2), 16);
        }
        return out;
    }
}
