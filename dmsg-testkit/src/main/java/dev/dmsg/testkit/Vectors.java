package dev.dmsg.testkit;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;

/**
 * The golden wire bytes captured from DragonFly's C implementation, carried in this module's
 * resources ({@code dev/dmsg/testkit/vectors/}, with their README). Read from the classpath; a
 * missing file fails the test: a test that silently skips its ground truth proves nothing.
 */
public final class Vectors {
    private static final String DIR = "vectors/";

    private Vectors() {}

    /** The bytes of vector file {@code name}. */
    public static byte[] read(String name) {
        try (InputStream in = Vectors.class.getResourceAsStream(DIR + name)) {
            if (in == null) {
                throw new IllegalStateException("vector " + name + " is not on the classpath (dev/dmsg/testkit/"
                    + DIR + name + " in dmsg-testkit)");
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Vector file {@code name} as a file, for tools that take a path: the resource itself when the
     * classpath holds it as a file, else a copy in a temporary directory removed at exit.
     */
    public static synchronized Path path(String name) {
        URL url = Vectors.class.getResource(DIR + name);
        if (url == null) {
            read(name); // throws, naming what is missing
        }
        try {
            if ("file".equals(url.getProtocol())) {
                return Paths.get(url.toURI());
            }
            Path copy = Files.createTempDirectory("dmsg-vectors").resolve(name);
            Files.write(copy, read(name));
            copy.toFile().deleteOnExit();
            copy.getParent().toFile().deleteOnExit();
            return copy;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
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
