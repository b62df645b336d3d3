package dev.dmsg.cli;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The demo's side of a {@link DemoWriter} process: starts it (this JVM's java and class path,
 * {@code dmsg demo writer}), sends it commands, waits for its answers, stops and resumes it with
 * real signals ({@code kill -STOP}, {@code kill -CONT}), and makes sure it does not outlive us:
 * {@link #close} resumes it, ends its stdin and kills it if it has not exited 5 s later; a shutdown
 * hook kills it if this JVM exits first (Ctrl-C). SIGKILL ends a stopped process too.
 *
 * <p>Lines come from a reader thread into a queue; {@link #await} takes them in order, keeping
 * those it was not waiting for (what the lock's home said on its own) for later waits and
 * {@link #skipped}. Used by one thread.
 */
final class WriterProcess implements AutoCloseable {
    /** JVM options for a quick start on a small machine (as the tests' NodeProcess.QUICK_START). */
    private static final List<String> JVM = List.of("-Xmx256m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
        "-Dio.netty.allocator.type=pooled");
    private static final String EOF = "\0eof";
    private static final Duration T = Duration.ofSeconds(30);
    private static final Pattern FIELD = Pattern.compile("(\\w+)=(\\S+)");

    private final Process process;
    private final Path log;
    private final BlockingQueue<String> lines = new LinkedBlockingQueue<>();
    private final List<String> skipped = new ArrayList<>();
    private final Thread hook;
    private boolean stopped;

    private WriterProcess(Process process, Path log) {
        this.process = process;
        this.log = log;
        this.hook = new Thread(process::destroyForcibly, "demo-writer-kill");
        Runtime.getRuntime().addShutdownHook(hook);
        Thread reader = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream(),
                StandardCharsets.UTF_8))) {
                for (String l; (l = r.readLine()) != null; ) {
                    lines.add(l);
                }
            } catch (IOException e) {
                // the process is gone: EOF says so below
            }
            lines.add(EOF);
        }, "demo-writer-stdout");
        reader.setDaemon(true);
        reader.start();
    }

    /** Starts {@code dmsg demo writer ARGS}, its stderr into {@code log}. */
    static WriterProcess start(Path log, String... args) throws IOException {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.addAll(JVM);
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(Main.class.getName());
        cmd.add("demo");
        cmd.add("writer");
        cmd.addAll(List.of(args));
        return new WriterProcess(new ProcessBuilder(cmd).redirectError(log.toFile()).start(), log);
    }

    long pid() {
        return process.pid();
    }

    /** Sends one command line. */
    void send(String line) throws IOException {
        OutputStream in = process.getOutputStream();
        in.write((line + "\n").getBytes(StandardCharsets.UTF_8));
        in.flush();
    }

    /** {@link #send}, then {@link #await} the answer starting with {@code word}; returns its fields. */
    Map<String, String> ask(String line, String word) throws Exception {
        send(line);
        return fields(await(word));
    }

    /**
     * The first line, kept or new, that starts with one of {@code words}; lines before it are kept.
     *
     * @throws IllegalStateException on a FAILED line, if the process ended, or after 30 s
     */
    String await(String... words) throws Exception {
        for (Iterator<String> i = skipped.iterator(); i.hasNext(); ) {
            String l = i.next();
            if (startsWith(l, words)) {
                i.remove();
                return l;
            }
        }
        long deadline = System.nanoTime() + T.toNanos();
        while (true) {
            String l = lines.poll(deadline - System.nanoTime(), TimeUnit.NANOSECONDS);
            if (l == null) {
                throw new IllegalStateException("writer a: no " + String.join(" or ", words) + " within " + T.toSeconds()
                    + " s" + stderr());
            }
            if (l.equals(EOF)) {
                throw new IllegalStateException("writer a exited with status " + process.waitFor() + " before "
                    + String.join(" or ", words) + stderr());
            }
            if (l.startsWith("FAILED")) {
                throw new IllegalStateException("writer a: " + l + stderr());
            }
            if (startsWith(l, words)) {
                return l;
            }
            skipped.add(l);
        }
    }

    /** The lines {@link #await} passed over and has not returned since. */
    List<String> skipped() {
        return List.copyOf(skipped);
    }

    /** Sends SIGSTOP or SIGCONT ({@code kill -SIG PID}); returns once {@code kill} has. */
    void signal(String sig) throws IOException, InterruptedException {
        Process kill = new ProcessBuilder("kill", "-" + sig, Long.toString(process.pid()))
            .redirectErrorStream(true).start();
        String said = new String(kill.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        if (kill.waitFor() != 0) {
            throw new IllegalStateException("kill -" + sig + " " + process.pid() + " failed: " + said);
        }
        stopped = sig.equals("STOP");
    }

    /**
     * The process's state letter from {@code /proc/PID/stat} once it says stopped ({@code T}), or
     * what it says after 2 s; "unknown" without /proc. kill(2) has returned when we ask: the stop
     * is complete once every thread of the process has left the CPU, microseconds later.
     */
    String awaitStopped() throws InterruptedException {
        Path stat = Path.of("/proc", Long.toString(process.pid()), "stat");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(2);
        String state = "unknown";
        while (Files.isReadable(stat)) {
            try {
                String s = Files.readString(stat);
                state = s.substring(s.lastIndexOf(')') + 2, s.lastIndexOf(')') + 3);
            } catch (IOException | RuntimeException e) {
                return "unknown";
            }
            if (state.equals("T") || System.nanoTime() - deadline >= 0) {
                return state.equals("T") ? "T, stopped" : state;
            }
            Thread.sleep(1); // /proc has no notification; bounded, and only for the narration
        }
        return state;
    }

    private String stderr() {
        try {
            String s = Files.readString(log).strip();
            return s.isEmpty() ? "" : "; its stderr:\n" + s;
        } catch (IOException e) {
            return "";
        }
    }

    /** Resumes it if stopped, ends its stdin (it leaves the mesh and exits), kills it if still there after 5 s. */
    @Override
    public void close() throws InterruptedException {
        try {
            if (stopped && process.isAlive()) {
                signal("CONT");
            }
            process.getOutputStream().close();
        } catch (IOException | RuntimeException e) {
            // it is killed below
        }
        try {
            if (!process.waitFor(5, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
            }
        } finally {
            process.destroyForcibly();
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException e) {
                // shutting down already: the hook kills it
            }
        }
    }

    /** The {@code name=value} fields of one of the writer's lines. */
    static Map<String, String> fields(String line) {
        Map<String, String> m = new HashMap<>();
        Matcher x = FIELD.matcher(line.contains(" why=") ? line.substring(0, line.indexOf(" why=")) : line);
        while (x.find()) {
            m.put(x.group(1), x.group(2));
        }
        return m;
    }

    /** What follows {@code why=} in one of the writer's lines. */
    static String why(String line) {
        int at = line.indexOf(" why=");
        return at < 0 ? "" : line.substring(at + " why=".length());
    }

    private static boolean startsWith(String line, String... words) {
        for (String w : words) {
            if (line.startsWith(w)) {
                return true;
            }
        }
        return false;
    }
}
