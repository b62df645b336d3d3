package dev.dmsg.bench.driver;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code dmsg bench}: end-to-end benchmarks of one DMSG link between two JVMs on loopback, each
 * scenario beside a raw-Netty baseline measured in the same run ({@code docs/BENCHMARKS.md}).
 *
 * <p>{@code bench all} starts the server JVM itself (same java binary and class path,
 * {@code -Dio.netty.allocator.type=pooled}), runs every scenario against it and prints the table.
 * {@code bench server} and {@code bench client} are the two halves, for running them by hand
 * (e.g. under a profiler). Exit status: 0 when every scenario ran, 1 when one failed to run, 2 for
 * bad options or when the server could not be started, 3 with {@code --strict} when a scenario ran
 * but missed its target.
 */
@Command(name = "bench", mixinStandardHelpOptions = true,
    description = "End-to-end benchmarks: a DMSG link between two JVMs beside a raw-Netty baseline.",
    subcommands = {BenchCommand.All.class, BenchCommand.Server.class, BenchCommand.Client.class,
        CircuitBench.class, CircuitBench.NodeProcess.class, BlkBench.class, QuorumBench.class, LockBench.class})
public final class BenchCommand implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    /** Link up/down at INFO for every scenario's connection would drown the table. */
    static void quietLogs() {
        ((Logger) LoggerFactory.getLogger("dev.dmsg")).setLevel(Level.WARN);
        ((Logger) LoggerFactory.getLogger("dmsg.node")).setLevel(Level.WARN);
        ((Logger) LoggerFactory.getLogger("org.apache.ratis")).setLevel(Level.WARN); // bench quorum's members
    }

    static int exitStatus(BenchClient c, BenchOptions o) {
        if (c.failures > 0) {
            return 1;
        }
        return o.strict && c.misses > 0 ? 3 : 0;
    }

    @Command(name = "all", mixinStandardHelpOptions = true,
        description = "Starts a bench server JVM, runs every scenario against it, prints the table.")
    static final class All implements Callable<Integer> {
        @Mixin
        BenchOptions o;

        @Option(names = "--server-jvm-opt", paramLabel = "OPT",
            description = "an extra JVM option for the server JVM (repeatable), e.g. -XX:StartFlightRecording=...")
        List<String> serverJvmOpts = new ArrayList<>();

        @Override
        public Integer call() throws Exception {
            if (!o.valid(System.err)) {
                return 2;
            }
            quietLogs();
            PrintStream out = System.out;
            long t0 = System.nanoTime();
            Process server;
            Map<String, String> ready;
            if (o.tls != BenchTls.Mode.OFF && o.tlsDir == null) {
                o.tlsDir = BenchTls.prepare();
                Runtime.getRuntime().addShutdownHook(new Thread(() -> BenchTls.delete(o.tlsDir), "bench-tls-cleanup"));
            }
            try {
                server = startServer();
                ready = awaitReady(server);
            } catch (Exception e) {
                System.err.println("bench: could not start the server JVM: " + e.getMessage());
                return 2;
            }
            Thread killer = new Thread(server::destroy, "bench-server-killer");
            Runtime.getRuntime().addShutdownHook(killer);
            try (BenchClient client = new BenchClient(o, "127.0.0.1", Integer.parseInt(ready.get("dmsg")),
                    Integer.parseInt(ready.get("raw")), out)) {
                header(out, o, client.transportName(), "server JVM pid " + ready.get("pid") + " (" + ready.get("transport") + ")");
                client.run();
                out.printf("%nbench all took %.0f s%n", (System.nanoTime() - t0) / 1e9);
                return exitStatus(client, o);
            } finally {
                stopServer(server);
                try {
                    Runtime.getRuntime().removeShutdownHook(killer);
                } catch (IllegalStateException e) {
                    // already shutting down
                }
            }
        }

        private Process startServer() throws IOException {
            List<String> cmd = new ArrayList<>();
            cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
            cmd.add("-Dio.netty.allocator.type=pooled");
            cmd.addAll(sharedJvmOptions());
            cmd.addAll(serverJvmOpts);
            cmd.add("-cp");
            cmd.add(System.getProperty("java.class.path"));
            cmd.add(BenchMain.class.getName());
            cmd.addAll(List.of("server", "--host", "127.0.0.1", "--dmsg-port", "0", "--raw-port", "0", "--watch-stdin"));
            if (o.tls != BenchTls.Mode.OFF) {
                cmd.addAll(List.of("--tls", o.tls.name(), "--tls-dir", o.tlsDir.toString()));
            }
            return new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        }

        /**
         * This JVM's options that shape the measurement (heap, GC, pre-touch, direct memory, Netty
         * and DMSG properties), so that both JVMs run alike; not profiler or debugger options.
         */
        static List<String> sharedJvmOptions() {
            List<String> shared = new ArrayList<>();
            for (String a : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
                if (a.startsWith("-Xms") || a.startsWith("-Xmx") || a.startsWith("-Xmn")
                        || a.equals("-XX:+AlwaysPreTouch") || a.matches("-XX:[+-]Use\\w+GC")
                        || a.startsWith("-XX:MaxDirectMemorySize") || a.startsWith("-Dio.netty.")
                        || a.startsWith("-Ddmsg.")) {
                    shared.add(a);
                }
            }
            return shared;
        }

        /** Reads the server's READY line; then keeps copying its stdout to our stderr. */
        private static Map<String, String> awaitReady(Process p) throws Exception {
            BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
            CompletableFuture<Map<String, String>> ready = new CompletableFuture<>();
            Thread t = new Thread(() -> {
                try {
                    String line;
                    while ((line = r.readLine()) != null) {
                        if (!ready.isDone() && line.startsWith("READY ")) {
                            ready.complete(BenchProtocol.parse(line.substring(6)));
                        } else {
                            System.err.println("server: " + line);
                        }
                    }
                    ready.completeExceptionally(new IOException("server exited with status " + p.waitFor()));
                } catch (Exception e) {
                    ready.completeExceptionally(e);
                }
            }, "bench-server-stdout");
            t.setDaemon(true);
            t.start();
            try {
                return ready.get(30, TimeUnit.SECONDS);
            } catch (Exception e) {
                p.destroyForcibly();
                throw e;
            }
        }

        private static void stopServer(Process p) throws InterruptedException {
            try {
                p.getOutputStream().close(); // EOF on its stdin: the server stops
            } catch (IOException e) {
                // already gone
            }
            if (!p.waitFor(5, TimeUnit.SECONDS)) {
                p.destroy();
                if (!p.waitFor(3, TimeUnit.SECONDS)) {
                    p.destroyForcibly();
                }
            }
        }
    }

    @Command(name = "server", mixinStandardHelpOptions = true,
        description = "Runs the bench server: DMSG (DBG_ECHO, sink, control) and the raw-Netty baseline.")
    static final class Server implements Callable<Integer> {
        @Option(names = "--host", defaultValue = "127.0.0.1", description = "address to listen on (default: ${DEFAULT-VALUE})")
        String host;

        @Option(names = "--dmsg-port", defaultValue = "9890", description = "DMSG port, 0 for any (default: ${DEFAULT-VALUE})")
        int dmsgPort;

        @Option(names = "--raw-port", defaultValue = "9891", description = "raw-Netty port, 0 for any (default: ${DEFAULT-VALUE})")
        int rawPort;

        @Option(names = "--watch-stdin", description = "exit when stdin ends (used by 'bench all')")
        boolean watchStdin;

        @Option(names = "--tls", paramLabel = "OFF|JDK|OPENSSL", defaultValue = "OFF",
            description = "TLS on the DMSG listener (default: ${DEFAULT-VALUE}); needs --tls-dir")
        BenchTls.Mode tls;

        @Option(names = "--tls-dir", paramLabel = "DIR", description = "the key pairs 'bench all' made")
        Path tlsDir;

        @Override
        public Integer call() throws Exception {
            return BenchServer.run(host, dmsgPort, rawPort, watchStdin, System.out,
                tls == BenchTls.Mode.OFF ? null : BenchTls.config(tlsDir, BenchTls.SERVER, tls));
        }
    }

    @Command(name = "client", mixinStandardHelpOptions = true,
        description = "Runs the scenarios against a running 'dmsg bench server' and prints the table.")
    static final class Client implements Callable<Integer> {
        @Mixin
        BenchOptions o;

        @Option(names = "--host", defaultValue = "127.0.0.1", description = "the server's address (default: ${DEFAULT-VALUE})")
        String host;

        @Option(names = "--dmsg-port", defaultValue = "9890", description = "its DMSG port (default: ${DEFAULT-VALUE})")
        int dmsgPort;

        @Option(names = "--raw-port", defaultValue = "9891", description = "its raw-Netty port (default: ${DEFAULT-VALUE})")
        int rawPort;

        @Override
        public Integer call() {
            if (!o.valid(System.err)) {
                return 2;
            }
            quietLogs();
            try (BenchClient client = new BenchClient(o, host, dmsgPort, rawPort, System.out)) {
                header(System.out, o, client.transportName(), "server " + host);
                client.run();
                return exitStatus(client, o);
            }
        }
    }

    static void header(PrintStream out, BenchOptions o, String transport, String server) {
        if (o.tls != BenchTls.Mode.OFF) {
            out.println("DMSG link over TLS 1.3 with pinned P-256 keys, provider " + o.tls
                + " (the negotiated cipher is in each DMSG row's detail line)");
        }
        out.printf("dmsg bench: %d cores, Java %s (%s), %s; %s; pooled allocator %s%n",
            Runtime.getRuntime().availableProcessors(), Runtime.version(), System.getProperty("java.vm.name"),
            transport, server, "pooled".equals(System.getProperty("io.netty.allocator.type")) ? "on" : "off");
        List<String> jvm = All.sharedJvmOptions();
        out.println(o.describe() + "; JVM options " + (jvm.isEmpty() ? "default" : String.join(" ", jvm)));
    }
}
