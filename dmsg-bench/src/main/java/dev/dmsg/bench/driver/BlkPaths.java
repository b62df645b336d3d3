package dev.dmsg.bench.driver;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The paths {@code bench blk} measures ({@code nbdkit}, {@code nbd-local}, {@code bridgeK},
 * {@code bridgeK-own}, {@code javaK}, {@code java-local}; {@link BlkBench} lists what each is),
 * their titles, and the tools they need.
 */
final class BlkPaths {
    private BlkPaths() {
    }

    private static final Pattern RELAYED = Pattern.compile("(bridge|java)([0-4])|bridge([0-4])-own");

    static List<String> checkPaths(List<String> ps) {
        List<String> out = new ArrayList<>();
        for (String p : ps) {
            if (!p.equals("nbdkit") && !p.equals("nbd-local") && !p.equals("java-local") && !RELAYED.matcher(p).matches()) {
                throw new IllegalArgumentException("--paths: unknown path '" + p
                    + "' (nbdkit, nbd-local, bridgeK, bridgeK-own, javaK with K relays 0..4, java-local)");
            }
            if (!out.contains(p)) {
                out.add(p);
            }
        }
        if (out.isEmpty()) {
            throw new IllegalArgumentException("--paths: none given");
        }
        return out;
    }

    /** Relay count of a bridgeK/javaK path, or -1. */
    static int relaysOf(String path) {
        Matcher m = RELAYED.matcher(path);
        return !m.matches() ? -1 : Integer.parseInt(m.group(2) != null ? m.group(2) : m.group(3));
    }

    static String pathTitle(String p) {
        int k = relaysOf(p);
        if (p.startsWith("bridge")) {
            return "bridge, " + k + " relay" + (k == 1 ? "" : "s") + (p.endsWith("-own") ? ", own loop" : "");
        }
        if (p.startsWith("java") && k >= 0) {
            return "Java client, " + k + " relay" + (k == 1 ? "" : "s");
        }
        return switch (p) {
            case "nbdkit" -> "nbdkit file";
            case "nbd-local" -> "our NBD, local file";
            case "java-local" -> "Java, local file";
            default -> p;
        };
    }

    /** The external tools {@code paths} need. */
    static List<String> needs(List<String> paths) {
        List<String> tools = new ArrayList<>();
        if (paths.stream().anyMatch(p -> !p.startsWith("java"))) {
            tools.add("fio");
        }
        if (paths.contains("nbdkit")) {
            tools.add("nbdkit");
        }
        return tools;
    }

    static boolean onPath(String tool) {
        for (String d : System.getenv().getOrDefault("PATH", "/usr/bin:/bin").split(":")) {
            if (!d.isEmpty() && Files.isExecutable(Path.of(d, tool))) {
                return true;
            }
        }
        return Files.isExecutable(Path.of("/usr/bin", tool));
    }
}
