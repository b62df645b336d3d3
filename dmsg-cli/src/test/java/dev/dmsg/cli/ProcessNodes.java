package dev.dmsg.cli;

import dev.dmsg.services.shell.ShellClient;
import java.nio.file.Path;
import java.time.Duration;
import java.util.function.Supplier;

/**
 * Nodes n0 … n(N-1) as {@code dmsg node} processes, node i's data directory {@code root/ni}: the
 * fixture the process tests share. The in-process counterpart is dmsg-services' TestCluster; this
 * one stays in dmsg-cli's tests because a process runs the CLI's main class.
 */
final class ProcessNodes implements AutoCloseable {
    final NodeProcess[] nodes;
    final int[] ports;
    private final Supplier<Path> root;
    private final Duration startLimit;

    /** {@code root} is read when a node starts, so a JUnit {@code @TempDir} field works. */
    ProcessNodes(Supplier<Path> root, int n, Duration startLimit) {
        this.root = root;
        this.nodes = new NodeProcess[n];
        this.ports = new int[n];
        this.startLimit = startLimit;
    }

    Path dir(int i) {
        return root.get().resolve("n" + i);
    }

    /** Starts node i on {@code port} (0: any), dialling node {@code connectTo} if not null; waits until it listens. */
    NodeProcess start(int i, int port, Integer connectTo) throws Exception {
        NodeProcess p = NodeProcess.startNode("n" + i, dir(i), port, connectTo == null ? null : ports[connectTo],
            startLimit);
        nodes[i] = p;
        ports[i] = p.port();
        return p;
    }

    /** A shell client acting as node i itself (its own key: an admin of it). */
    ShellClient client(int i) throws Exception {
        return NodeProcess.client(ports[i], dir(i));
    }

    @Override
    public void close() throws InterruptedException {
        for (NodeProcess p : nodes) {
            if (p != null) {
                p.close();
            }
        }
    }
}
