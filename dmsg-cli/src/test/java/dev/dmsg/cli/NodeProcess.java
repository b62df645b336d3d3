package dev.dmsg.cli;

import dev.dmsg.link.tls.NodeKeys;
import dev.dmsg.link.tls.Role;
import dev.dmsg.link.tls.TrustStore;
import dev.dmsg.services.shell.ShellClient;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A real {@code dmsg} process (the CLI's main class on this test's classpath, in a fresh JVM),
 * with its output collected line by line so that a test can wait for what it logs.
 */
final class NodeProcess implements AutoCloseable {
    private final Process process;
    private final List<String> lines = new ArrayList<>();
    private final String name;

    private NodeProcess(String name, Process process) {
        this.name = name;
        this.process = process;
        Thread reader = new Thread(this::pump, "out-" + name);
        reader.setDaemon(true);
        reader.start();
    }

    static NodeProcess start(String name, String... args) throws IOException {
        return start(name, List.of(), args);
    }

    /**
     * JVM options for a node that should start fast rather than run fast: C1 only and the serial
     * collector start a node in about a third of the CPU time (1 s rather than 3 s here), which
     * matters when several start at once on a small machine. Not for anything that measures speed.
     */
    static final List<String> QUICK_START = List.of("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC");

    /** Like {@link #start(String, String...)}, with extra JVM options. */
    static NodeProcess start(String name, List<String> jvmOptions, String... args) throws IOException {
        return start(name, List.of(), jvmOptions, args);
    }

    /**
     * Like {@link #start(String, List, String...)}, the java command line run by {@code prefix}
     * (e.g. {@code ip netns exec NS}: the node inside a network namespace, see NetnsMesh).
     */
    static NodeProcess start(String name, List<String> prefix, List<String> jvmOptions, String... args)
        throws IOException {
        return startMain(name, prefix, jvmOptions, Main.class, args);
    }

    /** Like {@link #start(String, List, List, String...)}, running {@code main} (a test's own program) instead of the CLI. */
    static NodeProcess startMain(String name, List<String> prefix, List<String> jvmOptions, Class<?> main,
                                 String... args) throws IOException {
        List<String> cmd = new ArrayList<>(prefix);
        cmd.add(Paths.get(System.getProperty("java.home"), "bin", "java").toString());
        cmd.add("-Xmx256m");
        cmd.addAll(jvmOptions);
        cmd.add("-Dio.netty.allocator.type=pooled");
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(main.getName());
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        return new NodeProcess(name, pb.start());
    }

    /** Any command (e.g. the release archive's {@code bin/dmsg}), its output collected like a node's. */
    static NodeProcess command(String name, ProcessBuilder pb) throws IOException {
        return new NodeProcess(name, pb.redirectErrorStream(true).start());
    }

    /** The port in a node's {@code listening on 127.0.0.1:PORT} line, once it has said it. */
    int awaitListening(Duration timeout) throws InterruptedException {
        String listening = await("listening on", timeout);
        Matcher m = Pattern.compile("listening on 127\\.0\\.0\\.1:(\\d+)").matcher(listening);
        if (!m.find()) {
            throw new AssertionError(name + ": no port in '" + listening + "'");
        }
        port = Integer.parseInt(m.group(1));
        return port;
    }

    /**
     * Starts {@code dmsg node --label LABEL --data-dir DIR --listen 127.0.0.1:PORT [--connect
     * 127.0.0.1:CONNECT]} (port 0: any) and waits until it listens; {@link #port()} is where.
     */
    static NodeProcess startNode(String label, Path dataDir, int port, Integer connectPort,
                                 Duration timeout) throws IOException, InterruptedException {
        return startNode(label, dataDir, port, connectPort == null ? List.of() : List.of(connectPort), timeout, List.of());
    }

    /** {@link #startNode(String, Path, int, Integer, Duration)} with more node options ({@code --export …}). */
    static NodeProcess startNode(String label, Path dataDir, int port, Integer connectPort,
                                 Duration timeout, String... more) throws IOException, InterruptedException {
        return startNode(label, dataDir, port, connectPort == null ? List.of() : List.of(connectPort), timeout, List.of(),
            more);
    }

    /**
     * Like the above, dialling every port in {@code connectPorts}, in a JVM with {@code jvmOptions},
     * with {@code extra} arguments (e.g. {@code --export}).
     */
    static NodeProcess startNode(String label, Path dataDir, int port, List<Integer> connectPorts,
                                 Duration timeout, List<String> jvmOptions, String... extra)
        throws IOException, InterruptedException {
        List<String> args = new ArrayList<>(List.of("node", "--listen", "127.0.0.1:" + port, "--label", label,
            "--data-dir", dataDir.toString()));
        for (int c : connectPorts) {
            args.add("--connect");
            args.add("127.0.0.1:" + c);
        }
        args.addAll(List.of(extra));
        NodeProcess p = start(label, jvmOptions, args.toArray(String[]::new));
        String listening = p.await("listening on", timeout);
        Matcher m = Pattern.compile("listening on 127\\.0\\.0\\.1:(\\d+)").matcher(listening);
        if (!m.find()) {
            p.close();
            throw new AssertionError(label + ": no port in '" + listening + "'");
        }
        p.port = Integer.parseInt(m.group(1));
        return p;
    }

    private int port;

    /**
     * Gives each node its data directory {@code tmp/LABEL} with a key, and makes every node trust
     * every other as a member — what an operator does with {@code dmsg keygen} and {@code dmsg
     * trust add} before starting a mesh (docs/OPERATIONS.md, "Keys and trust").
     */
    static void prepareMesh(Path tmp, String... labels) throws IOException {
        NodeKeys[] keys = new NodeKeys[labels.length];
        for (int i = 0; i < labels.length; i++) {
            keys[i] = NodeKeys.loadOrCreate(tmp.resolve(labels[i]), labels[i]);
        }
        for (int i = 0; i < labels.length; i++) {
            TrustStore t = TrustStore.open(tmp.resolve(labels[i]));
            for (int j = 0; j < labels.length; j++) {
                if (i != j) {
                    t.add(labels[j], keys[j].fingerprint(), Role.MEMBER, 0);
                }
            }
        }
    }

    /** A shell client acting as the node whose data directory is {@code dir} (its own key: an admin of it). */
    static ShellClient client(int port, Path dir) throws Exception {
        return client("127.0.0.1", port, dir);
    }

    /** {@link #client(int, Path)} for a node listening on {@code host}. */
    static ShellClient client(String host, int port, Path dir) throws Exception {
        return ShellClient.connect(host, port, AdminCommands.clientTls(dir), Duration.ofSeconds(5));
    }

    /** The process id (under {@code ip netns exec}, the JVM's own: it execs java). */
    boolean isAlive() {
        return process.isAlive();
    }

    long pid() {
        return process.pid();
    }

    /** The port a {@link #startNode} process listens on. */
    int port() {
        return port;
    }

    private void pump() {
        try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
            String line;
            while ((line = r.readLine()) != null) {
                synchronized (lines) {
                    lines.add(line);
                    lines.notifyAll();
                }
            }
        } catch (IOException e) {
            // process gone
        }
    }

    /** Waits for a line matching {@code p}; empty if none came within {@code timeout}. */
    Optional<String> find(Predicate<String> p, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        synchronized (lines) {
            int seen = 0;
            while (true) {
                for (; seen < lines.size(); seen++) {
                    if (p.test(lines.get(seen))) {
                        return Optional.of(lines.get(seen));
                    }
                }
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    return Optional.empty();
                }
                TimeUnit.NANOSECONDS.timedWait(lines, left);
            }
        }
    }

    /** Waits for a line containing {@code text}, failing with the whole output if none comes. */
    String await(String text, Duration timeout) throws InterruptedException {
        return find(l -> l.contains(text), timeout).orElseThrow(() -> new AssertionError(
            name + ": no line containing '" + text + "' within " + timeout + "; output:\n" + output()));
    }

    /** The last {@code n} lines of output (a node under load may log a great deal). */
    String tail(int n) {
        synchronized (lines) {
            return String.join("\n", lines.subList(Math.max(0, lines.size() - n), lines.size()));
        }
    }

    String output() {
        synchronized (lines) {
            return String.join("\n", lines);
        }
    }

    void kill() throws InterruptedException {
        process.destroyForcibly(); // SIGKILL
        process.waitFor(10, TimeUnit.SECONDS);
    }

    /** Waits for the process to exit by itself; its exit status, or -1 if still running after {@code timeout}. */
    int waitFor(Duration timeout) throws InterruptedException {
        return process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS) ? process.exitValue() : -1;
    }

    /** Sends {@code signal} ({@code STOP}, {@code CONT}) to the process; fails if {@code kill} does. */
    void signal(String signal) throws InterruptedException, IOException {
        int status = new ProcessBuilder("kill", "-" + signal, Long.toString(process.pid())).inheritIO().start().waitFor();
        if (status != 0) {
            throw new IOException("kill -" + signal + " " + process.pid() + " (" + name + ") exited " + status);
        }
    }

    /** SIGTERM; returns the exit status, or -1 if it did not exit within the timeout. */
    int terminate(Duration timeout) throws InterruptedException, IOException {
        // Not Process.destroy(): it closes our ends of the child's pipes right after the signal,
        // so whatever the shutdown hook logs would be lost.
        new ProcessBuilder("kill", "-TERM", Long.toString(process.pid())).inheritIO().start().waitFor();
        return process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS) ? process.exitValue() : -1;
    }

    @Override
    public void close() throws InterruptedException {
        if (process.isAlive()) {
            kill();
        }
    }
}
