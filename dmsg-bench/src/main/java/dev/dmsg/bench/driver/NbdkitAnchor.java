package dev.dmsg.bench.driver;

import java.io.IOException;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * The baseline of {@code bench blk}: {@code nbdkit file FILE} on a free loopback port, a process
 * of its own (docs/BENCHMARKS.md, "Block devices"), which dies with this JVM
 * ({@code --exit-with-parent}).
 */
final class NbdkitAnchor implements AutoCloseable {
    private final Process process;
    private final int port;

    private NbdkitAnchor(Process process, int port) {
        this.process = process;
        this.port = port;
    }

    /** Starts nbdkit on {@code file}, its log in {@code scratch}; returns once it listens. */
    static NbdkitAnchor start(Path file, Path scratch, PrintStream progress) throws Exception {
        int port;
        try (ServerSocket probe = new ServerSocket(0)) {
            port = probe.getLocalPort();
        }
        Path log = scratch.resolve("nbdkit.log");
        Process nbdkit = new ProcessBuilder("nbdkit", "-f", "-i", "127.0.0.1", "-p", Integer.toString(port),
            "--exit-with-parent", "file", file.toString())
            .redirectErrorStream(true).redirectOutput(log.toFile()).start();
        NbdkitAnchor anchor = new NbdkitAnchor(nbdkit, port);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (true) {
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress("127.0.0.1", port), 200);
                break;
            } catch (IOException e) {
                if (!nbdkit.isAlive() || System.nanoTime() > deadline) {
                    anchor.kill();
                    throw new IOException("nbdkit did not start on port " + port + ": "
                        + Files.readString(log, StandardCharsets.UTF_8), e);
                }
                TimeUnit.MILLISECONDS.sleep(20); // waiting for nbdkit to listen, bounded
            }
        }
        String version = "";
        try {
            Process v = new ProcessBuilder("nbdkit", "--version").redirectErrorStream(true).start();
            version = new String(v.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
            v.waitFor(5, TimeUnit.SECONDS);
        } catch (IOException e) {
            // only for the header line
        }
        progress.printf("nbdkit: %s, file plugin, default threads, port %d%n", version, port);
        return anchor;
    }

    long pid() {
        return process.pid();
    }

    /** fio's {@code --uri}; nbdkit's file plugin serves any export name. */
    String uri() {
        return "nbd://127.0.0.1:" + port + "/" + BlkBench.EXPORT;
    }

    /** From the shutdown hook. */
    void kill() {
        process.destroyForcibly();
    }

    @Override
    public void close() {
        process.destroy();
        try {
            process.waitFor(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
