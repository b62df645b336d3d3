package dev.dmsg.services.node;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Every thread a node owns besides Netty's event loops, made and shut down here (each thread named
 * after its pool, daemon):
 * <ul>
 *   <li>{@code mesh}: the span engine and everything it owns (docs/MESH.md); one thread, so the
 *       engine needs no lock;
 *   <li>{@code admin}: VOLCONF changes, dialling, trust upkeep — they touch files and wait for
 *       the mesh, so never on an event loop;
 *   <li>{@code shell}: shell commands, {@value #SHELL_THREADS} at once with {@value #SHELL_QUEUE}
 *       queued (a remote one waits for its circuit); past that a command is answered busy
 *       (docs/OPERATIONS.md);
 *   <li>{@code blk-io}: the exports' disk I/O for the BLK server (docs/BLK.md),
 *       {@value #BLK_IO_THREADS} threads, positional reads and writes in parallel on one file.
 * </ul>
 * Shut down in two steps, as the node closes: {@link #drainBlkIo} once the links are closed (what
 * the devices still finish then finds its link gone and releases its buffer), then {@link #close}.
 */
public final class NodeExecutors implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger("dmsg.node");

    static final int SHELL_THREADS = 4;
    static final int SHELL_QUEUE = 64;
    static final int BLK_IO_THREADS = 8;
    /**
     * Device operations waiting for a thread. Each open has at most 64 in flight (BlkServer), so
     * this holds 64 busy opens; past it a request is answered LIMIT, never queued without bound.
     */
    static final int BLK_IO_QUEUE = 4096;

    private final ScheduledExecutorService mesh = Executors.newSingleThreadScheduledExecutor(named("mesh"));
    private final ScheduledExecutorService admin = Executors.newSingleThreadScheduledExecutor(named("admin"));
    private final ThreadPoolExecutor shell = bounded("shell", SHELL_THREADS, SHELL_QUEUE);
    private final ThreadPoolExecutor blkIo = bounded("blk-io", BLK_IO_THREADS, BLK_IO_QUEUE);
    /** Threads made for services ({@link #newThread}); guarded by {@code this}. */
    private final List<ExecutorService> more = new ArrayList<>();
    private boolean closed;

    NodeExecutors() {}

    /** The mesh thread: the span engine is touched only here. */
    public ScheduledExecutorService mesh() {
        return mesh;
    }

    /** Slow control work: files, dialling, waiting for the mesh. */
    public ScheduledExecutorService admin() {
        return admin;
    }

    /** Shell commands (bounded: a full queue refuses). */
    public ExecutorService shell() {
        return shell;
    }

    /** Block device I/O (bounded: a full queue refuses). */
    public ExecutorService blkIo() {
        return blkIo;
    }

    /**
     * A thread of its own for a service that must not share one (a quorum's log, a lock
     * service's leases), named {@code name}; shut down with the others.
     *
     * @throws IllegalStateException once the node is closing
     */
    public synchronized ScheduledExecutorService newThread(String name) {
        if (closed) {
            throw new IllegalStateException("node closed: no thread " + name);
        }
        ScheduledExecutorService e = Executors.newSingleThreadScheduledExecutor(named(name));
        more.add(e);
        return e;
    }

    /**
     * Lets the block I/O pool finish what it holds, 5 s at most, then stops it. Call after the
     * links are closed and before the devices are.
     */
    void drainBlkIo() {
        blkIo.shutdown();
        try {
            if (!blkIo.awaitTermination(5, TimeUnit.SECONDS)) {
                log.warn("export I/O still running after 5 s; closing the files under it");
                blkIo.shutdownNow();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            blkIo.shutdownNow();
        }
    }

    /** Stops every thread now. */
    @Override
    public void close() {
        synchronized (this) {
            closed = true;
            more.forEach(ExecutorService::shutdownNow);
        }
        mesh.shutdownNow();
        admin.shutdownNow();
        shell.shutdownNow();
        blkIo.shutdownNow();
    }

    private static ThreadPoolExecutor bounded(String name, int threads, int queue) {
        ThreadPoolExecutor p = new ThreadPoolExecutor(threads, threads, 30, TimeUnit.SECONDS,
            new ArrayBlockingQueue<>(queue), named(name));
        p.allowCoreThreadTimeOut(true);
        return p;
    }

    private static ThreadFactory named(String name) {
        return r -> {
            Thread t = new Thread(r, name);
            t.setDaemon(true);
            return t;
        };
    }
}
