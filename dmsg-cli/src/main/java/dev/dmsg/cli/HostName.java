package dev.dmsg.cli;

import java.io.IOException;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;

/** The default label of {@code dmsg node}: this machine's host name. */
final class HostName {
    private HostName() {}

    /**
     * The host name up to its first dot ({@code db1} for {@code db1.example.org}), reduced to what a
     * label may hold ({@code A-Z a-z 0-9 . _ -}, at most 63 characters); {@code node} if there is none.
     * The kernel's name first ({@code /proc/sys/kernel/hostname}: no DNS lookup that could hang a
     * start), else the JDK's.
     */
    static String label() {
        String h = null;
        try {
            h = Files.readString(Path.of("/proc/sys/kernel/hostname")).trim();
        } catch (IOException | RuntimeException e) {
            // not Linux: ask the JDK
        }
        if (h == null || h.isEmpty()) {
            try {
                h = InetAddress.getLocalHost().getHostName();
            } catch (IOException e) {
                h = "";
            }
        }
        return fromHostName(h);
    }

    static String fromHostName(String host) {
        int dot = host.indexOf('.');
        String s = (dot > 0 ? host.substring(0, dot) : host).replaceAll("[^A-Za-z0-9_-]", "_");
        if (s.length() > 63) {
            s = s.substring(0, 63);
        }
        return s.isEmpty() ? "node" : s;
    }
}
