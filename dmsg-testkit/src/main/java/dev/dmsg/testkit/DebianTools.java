package dev.dmsg.testkit;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Makes real command-line tools available to a test: {@code DebianTools.require("qemu-img",
 * "nbdinfo")} returns when they are installed, installing their Debian packages with
 * {@code apt-get} first if they are not (running {@code apt-get update} first if the install
 * fails on stale or missing package lists). Installing happens at most once per package per JVM;
 * a failure is remembered, and every later {@code require} of that tool fails the same way at
 * once. It needs root, which the project's machines and CI are; anywhere else the test fails
 * with a message saying what to install ({@code scripts/install-nbd-tools.sh} does the same
 * for a person).
 */
public final class DebianTools {
    private DebianTools() {}

    /** Tool → the Debian package that has it. */
    private static final Map<String, String> PACKAGES = Map.of(
        "qemu-img", "qemu-utils",
        "qemu-nbd", "qemu-utils",
        "nbdinfo", "libnbd-bin",
        "nbdcopy", "libnbd-bin",
        "nbdsh", "python3-libnbd",
        "fio", "fio",
        "nbdkit", "nbdkit",
        "etcd", "etcd-server",
        "etcdctl", "etcd-client");

    private static final List<Path> BIN_DIRS = List.of(Path.of("/usr/bin"), Path.of("/usr/sbin"), Path.of("/bin"),
        Path.of("/sbin"), Path.of("/usr/local/bin"));
    private static final Duration APT_TIMEOUT = Duration.ofMinutes(10);

    /** Package → why installing it failed (kept so that the next test fails fast). */
    private static final Map<String, String> FAILED = new HashMap<>();
    private static boolean updated;

    /**
     * Returns when every tool is installed, installing what is missing. Fails with an
     * {@link AssertionError} naming the packages and apt-get's output if that is impossible.
     *
     * @throws IllegalArgumentException for a tool this class does not know the package of
     */
    public static synchronized void require(String... tools) {
        Set<String> missing = new LinkedHashSet<>();
        for (String tool : tools) {
            String pkg = PACKAGES.get(tool);
            if (pkg == null) {
                throw new IllegalArgumentException("no Debian package known for '" + tool + "'; known: "
                    + PACKAGES.keySet());
            }
            if (find(tool) == null) {
                missing.add(pkg);
            }
        }
        if (missing.isEmpty()) {
            return;
        }
        for (String pkg : missing) {
            if (FAILED.containsKey(pkg)) {
                throw new AssertionError(FAILED.get(pkg));
            }
        }
        install(new ArrayList<>(missing));
        for (String tool : tools) {
            if (find(tool) == null) {
                String why = "package " + PACKAGES.get(tool) + " installed but '" + tool + "' is still not in "
                    + BIN_DIRS;
                FAILED.put(PACKAGES.get(tool), why);
                throw new AssertionError(why);
            }
        }
    }

    /** The tool's absolute path; {@link #require} it first. */
    public static Path path(String tool) {
        Path p = find(tool);
        if (p == null) {
            throw new IllegalStateException(tool + " is not installed: call DebianTools.require(\"" + tool + "\") first");
        }
        return p;
    }

    /**
     * Runs {@code command}, its first word a tool's name ({@link #require} it first), with
     * {@code timeout}; the caller checks the result ({@link Processes.Result#requireOk}).
     */
    public static Processes.Result run(Duration timeout, String... command) {
        List<String> cmd = new ArrayList<>(List.of(command));
        cmd.set(0, path(command[0]).toString());
        return Processes.run(timeout, cmd);
    }

    private static Path find(String tool) {
        List<Path> dirs = new ArrayList<>(BIN_DIRS);
        String pathEnv = System.getenv("PATH");
        if (pathEnv != null) {
            for (String d : pathEnv.split(":")) {
                if (!d.isEmpty()) {
                    dirs.add(Path.of(d));
                }
            }
        }
        for (Path d : dirs) {
            Path p = d.resolve(tool);
            if (Files.isRegularFile(p) && Files.isExecutable(p)) {
                return p.toAbsolutePath();
            }
        }
        return null;
    }

    private static void install(List<String> packages) {
        String hint = "install them by hand (as root: apt-get install -y " + String.join(" ", packages)
            + ", or scripts/install-nbd-tools.sh)";
        if (find("apt-get") == null) {
            fail(packages, "tests need the Debian packages " + packages + " but this machine has no apt-get; " + hint);
        }
        List<String> cmd = new ArrayList<>(List.of("apt-get", "install", "-y", "-q", "--no-install-recommends"));
        cmd.addAll(packages);
        System.err.println("[DebianTools] installing " + packages + " for the tests");
        Processes.Result r = apt(cmd);
        if (!r.ok() && !updated) {
            // package lists missing or stale on a fresh machine: update once, then try again
            updated = true;
            Processes.Result u = apt(List.of("apt-get", "update", "-q"));
            if (!u.ok()) {
                fail(packages, "apt-get update failed (" + hint + "):\n" + u.describe());
            }
            r = apt(cmd);
        }
        if (!r.ok()) {
            fail(packages, "cannot install " + packages + " (not root? no network to the Debian mirror?); " + hint
                + ":\n" + r.describe());
        }
    }

    private static Processes.Result apt(List<String> cmd) {
        // DEBIAN_FRONTEND via env(1): Processes passes the JVM's environment through
        List<String> full = new ArrayList<>(List.of("env", "DEBIAN_FRONTEND=noninteractive"));
        full.addAll(cmd);
        return Processes.run(APT_TIMEOUT, full);
    }

    private static void fail(List<String> packages, String why) {
        for (String p : packages) {
            FAILED.put(p, why);
        }
        throw new AssertionError(why);
    }
}
