package dev.dmsg.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The release archive as a user gets it (docs/INSTALL.md): unpacked into an empty directory, a
 * node started with its {@code bin/dmsg} (nothing from this build's class path), asked for its
 * status by the same launcher, stopped with SIGTERM; and its systemd unit checked by
 * {@code systemd-analyze verify} where Debian's systemd can be had.
 *
 * <p>Runs under failsafe at {@code integration-test}, after {@code package} made
 * {@code target/dmsg-VERSION.tar.gz} (the {@code dmsg.archive} property; {@code mvn verify}).
 */
@Timeout(120)
class ReleaseArchiveIT {
    private static final Duration WAIT = Duration.ofSeconds(30);

    @TempDir
    static Path tmp;
    static Path home;

    @BeforeAll
    static void unpack() throws Exception {
        Path archive = archive();
        Path into = Files.createDirectory(tmp.resolve("unpacked"));
        run(into, "tar", "xzf", archive.toAbsolutePath().toString());
        try (Stream<Path> top = Files.list(into)) {
            List<Path> dirs = top.toList();
            assertThat(dirs).as("one top directory in " + archive).hasSize(1);
            home = dirs.get(0);
        }
        assertThat(home.getFileName().toString()).matches("dmsg-\\d+\\.\\d+\\.\\d+(-SNAPSHOT)?");
        assertThat(archive.getFileName().toString()).isEqualTo(home.getFileName() + ".tar.gz");
    }

    /** The archive this build made: failsafe's {@code dmsg.archive}, else the one in target/. */
    private static Path archive() throws IOException {
        String p = System.getProperty("dmsg.archive");
        if (p != null) {
            return Path.of(p);
        }
        try (Stream<Path> s = Files.list(Path.of("target"))) {
            return s.filter(f -> f.getFileName().toString().matches("dmsg-.*\\.tar\\.gz")).findFirst()
                .orElseThrow(() -> new AssertionError("no target/dmsg-VERSION.tar.gz: run mvn package first"));
        }
    }

    @Test
    void archiveHoldsWhatInstallMdNames() {
        for (String f : List.of("bin/dmsg", "conf/dmsg.properties", "systemd/dmsg-node.service", "docs/INSTALL.md",
                "docs/OPERATIONS.md", "README.md")) {
            assertThat(home.resolve(f)).as(f).isRegularFile();
        }
        assertThat(Files.isExecutable(home.resolve("bin/dmsg"))).isTrue();
        assertThat(home.resolve("lib")).isDirectoryContaining(p -> p.getFileName().toString().startsWith("dmsg-cli-"));
    }

    @Test
    void nodeFromTheArchiveStartsAnswersAndStopsOnSigterm() throws Exception {
        Path work = Files.createDirectory(tmp.resolve("work")); // an empty working directory
        Path data = work.resolve("data");
        ProcessBuilder pb = launcher(work, "node", "--listen", "127.0.0.1:0", "--label", "rel", "--data-dir", data.toString());
        try (NodeProcess node = NodeProcess.command("rel", pb)) {
            int port = node.awaitListening(WAIT);
            Result status = run(launcher(work, "status", "--node", "127.0.0.1:" + port, "--identity", data.toString()));
            assertThat(status.exit).as(status.output).isZero();
            assertThat(status.output).contains("rel");
            assertThat(node.terminate(WAIT)).as(node.output()).isIn(0, 143);
            assertThat(node.output()).contains("stopped");
        }
        Result version = run(launcher(work, "--version"));
        assertThat(version.exit).isZero();
        assertThat(version.output).startsWith("dmsg ").contains("(commit ");
        try (Stream<Path> left = Files.list(work)) {
            assertThat(left.map(p -> p.getFileName().toString()).toList()).as("what the node wrote in its working directory")
                .containsExactly("data");
        }
    }

    @Test
    void systemdUnitPassesSystemdAnalyzeVerify() throws Exception {
        String analyze = systemdAnalyze();
        Assumptions.assumeTrue(analyze != null,
            "systemd-analyze not available and scripts/install-systemd-analyze.sh could not install it (Debian's "
                + "systemd package); the unit file is not checked");
        // verify needs ExecStart's program to exist: point it at this unpacked launcher
        String unit = Files.readString(home.resolve("systemd/dmsg-node.service"));
        assertThat(unit).contains("ExecStart=/opt/dmsg/bin/dmsg node --config /etc/dmsg/dmsg.properties --data-dir /var/lib/dmsg");
        Path dir = Files.createDirectories(tmp.resolve("unit"));
        Path copy = dir.resolve("dmsg-node.service");
        Files.writeString(copy, unit.replace("/opt/dmsg/bin/dmsg", home.resolve("bin/dmsg").toString()));
        Result verify = run(new ProcessBuilder(analyze, "verify", copy.toString()).directory(dir.toFile()));
        // verify exits 0 on unknown keys and bad values too, only saying so: any output is a finding
        assertThat(verify.exit).as(verify.output).isZero();
        assertThat(verify.output).as("systemd-analyze verify").isEmpty();
        Result security = run(new ProcessBuilder(analyze, "security", "--offline=yes", copy.toString()).directory(dir.toFile()));
        Matcher m = Pattern.compile("Overall exposure level for dmsg-node\\.service: ([0-9.]+)").matcher(security.output);
        assertThat(m.find()).as(security.output).isTrue();
        System.out.println("systemd-analyze security: exposure " + m.group(1) + " (0 best, 10 worst)");
        assertThat(Double.parseDouble(m.group(1))).as("exposure").isLessThanOrEqualTo(4.0);
    }

    /** systemd-analyze on the PATH or in /usr/bin, after trying the install script once; null if neither. */
    private static String systemdAnalyze() throws Exception {
        for (int attempt = 0; attempt < 2; attempt++) {
            for (String p : List.of("/usr/bin/systemd-analyze", "/bin/systemd-analyze")) {
                if (Files.isExecutable(Path.of(p))) {
                    return p;
                }
            }
            if (attempt == 0) {
                Path script = Path.of("..", "scripts", "install-systemd-analyze.sh");
                Result r = run(new ProcessBuilder("bash", script.toString()));
                System.out.println(r.output.strip());
            }
        }
        return null;
    }

    /** {@code bin/dmsg ARGS} run in {@code cwd}, with this JVM's java and quick-start options. */
    private static ProcessBuilder launcher(Path cwd, String... args) {
        List<String> cmd = new ArrayList<>(List.of(home.resolve("bin/dmsg").toString()));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(cwd.toFile());
        Map<String, String> env = pb.environment();
        env.put("JAVA_HOME", System.getProperty("java.home"));
        env.put("DMSG_JAVA_OPTS", String.join(" ", NodeProcess.QUICK_START) + " -Xmx256m");
        env.remove("DMSG_IDENTITY");
        env.remove("DMSG_LOG_LEVEL");
        env.remove("DMSG_LOG_FORMAT");
        return pb;
    }

    private record Result(int exit, String output) {}

    private static Result run(Path cwd, String... cmd) throws Exception {
        Result r = run(new ProcessBuilder(cmd).directory(cwd.toFile()));
        assertThat(r.exit).as(String.join(" ", cmd) + ": " + r.output).isZero();
        return r;
    }

    private static Result run(ProcessBuilder pb) throws Exception {
        Process p = pb.redirectErrorStream(true).start();
        p.getOutputStream().close();
        byte[] out = p.getInputStream().readAllBytes(); // to EOF: the process has closed its output
        assertThat(p.waitFor(WAIT.toSeconds(), TimeUnit.SECONDS)).as(String.join(" ", pb.command())).isTrue();
        return new Result(p.exitValue(), new String(out, StandardCharsets.UTF_8));
    }
}
