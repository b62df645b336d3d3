package dev.dmsg.cli;

import dev.dmsg.services.blk.BlkClient;
import dev.dmsg.services.blk.RemoteBlockDevice;
import dev.dmsg.services.node.GuestNode;
import dev.dmsg.services.quorum.QuorumClient;
import io.netty.buffer.ByteBuf;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The lock checker's cluster (docs/CAC.md §9): members n0–n2 of group {@value #GROUP} in their
 * own network namespaces ({@link NetnsMesh}), storage node {@code st} exporting a fenced disk
 * and linked to n1 only, and {@link LockWorker} processes w0… joined to member {@code i % 3};
 * with the faults the test injects, each recorded for {@link LockHistory} on the workers' clock.
 */
final class LockCluster implements AutoCloseable {
    static final String GROUP = "locks";
    static final int LEASE_MS = 2000;
    static final int THREADS = 2;
    static final int DISK_BYTES = 1 << 20;

    final NetnsMesh mesh;
    private final Path root;
    private final NodeProcess storage;
    private final NodeProcess[] workers;
    private final int[] incarnations;
    private final List<Path> histories = new ArrayList<>();
    private final List<LockHistory.Fault> faults = Collections.synchronizedList(new ArrayList<>());
    private final List<String[]> gone = new ArrayList<>(); // outputs of killed workers: name, text
    private long endNanos;
    private final long seed;

    private LockCluster(Path root, NetnsMesh mesh, NodeProcess storage, int workers, long seed) {
        this.root = root;
        this.mesh = mesh;
        this.storage = storage;
        this.workers = new NodeProcess[workers];
        this.incarnations = new int[workers];
        this.seed = seed;
    }

    /** Starts members (with {@code memberJvmOptions}) and the storage node, and waits for a leader. */
    static LockCluster start(Path root, int workers, List<String> memberJvmOptions, long seed) throws Exception {
        NetnsMesh mesh = new NetnsMesh(root, GROUP, 3, List.of());
        NodeProcess st = null;
        try {
            List<String> labels = new ArrayList<>(List.of("n0", "n1", "n2", "st"));
            for (int i = 0; i < workers; i++) {
                labels.add("w" + i);
            }
            NodeProcess.prepareMesh(root, labels.toArray(String[]::new)); // everyone trusts everyone as a member
            mesh.nodes.withJvmOptions(memberJvmOptions).startAll(0, 3);
            mesh.nodes.awaitLeader(0, new boolean[] {true, true, true}, Duration.ofSeconds(60));
            Path disk = root.resolve("disk.img");
            try (RandomAccessFile f = new RandomAccessFile(disk.toFile(), "rw")) {
                f.setLength(DISK_BYTES);
            }
            st = NodeProcess.start("st", NodeProcess.QUICK_START, "node", "--listen", "127.0.0.1:0", "--label", "st",
                "--data-dir", root.resolve("st").toString(), "--connect", mesh.nodes.address(1),
                "--export", "disk=" + disk + ",allow=member,fence=" + LockWorker.DISK);
            st.await("listening on", Duration.ofSeconds(60));
            return new LockCluster(root, mesh, st, workers, seed);
        } catch (Exception | Error e) {
            if (st != null) {
                st.close();
            }
            mesh.close();
            throw e;
        }
    }

    static String home(int worker) {
        return "n" + (worker % 3);
    }

    /** Starts every worker, to run until {@link #stopWorkers}, {@code seconds} at most. */
    void startWorkers(int seconds) throws IOException {
        endNanos = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        for (int i = 0; i < workers.length; i++) {
            startWorker(i);
        }
    }

    private void startWorker(int i) throws IOException {
        Path history = root.resolve("w" + i + "-" + incarnations[i]++ + ".jsonl");
        histories.add(history);
        long left = Math.max(1, TimeUnit.NANOSECONDS.toSeconds(endNanos - System.nanoTime()));
        workers[i] = NodeProcess.startMain("w" + i, List.of(), NodeProcess.QUICK_START, LockWorker.class,
            history.toString(), root.resolve("w" + i).toString(), mesh.nodes.address(i % 3), GROUP, "st/disk",
            Integer.toString(THREADS), Long.toString(left), Integer.toString(LEASE_MS),
            Long.toString(seed * 100 + i * 10L + incarnations[i]), "w" + i, home(i));
    }

    /**
     * Waits (polling its history every 5 ms, at most {@code limit}) until worker {@code i} holds an
     * EXCLUSIVE lock on {@code key}, so that a fault strikes a holder in its critical section;
     * whether it did. Only the timing of the fault depends on this, never what is checked.
     */
    boolean awaitHolding(int i, String key, Duration limit) throws Exception {
        Path h = histories.get(histories.size() - 1);
        for (int k = histories.size() - 1; k >= 0; k--) {
            if (histories.get(k).getFileName().toString().startsWith("w" + i + "-")) {
                h = histories.get(k);
                break;
            }
        }
        long deadline = System.nanoTime() + limit.toNanos();
        while (System.nanoTime() - deadline < 0) {
            if (Files.exists(h) && holds(Files.readAllLines(h, StandardCharsets.UTF_8), key)) {
                return true;
            }
            TimeUnit.MILLISECONDS.sleep(5);
        }
        return false;
    }

    private static boolean holds(List<String> lines, String key) {
        java.util.Map<String, Boolean> holding = new java.util.HashMap<>(); // owner -> holds key exclusively
        for (String line : lines) {
            try {
                var e = QuorumNodes.JSON.readTree(line);
                String owner = e.path("owner").asText();
                switch (e.path("ev").asText()) {
                    case "grant" -> holding.put(owner, e.path("key").asText().equals(key)
                        && e.path("state").asText().equals("EXCLUSIVE"));
                    case "release" -> holding.remove(owner);
                    default -> { }
                }
            } catch (IOException cut) {
                // the line being written
            }
        }
        return holding.containsValue(true);
    }

    /** SIGSTOP of worker {@code i} for {@code pause}, then SIGCONT. */
    void pauseWorker(int i, Duration pause) throws Exception {
        long start = System.nanoTime();
        workers[i].signal("STOP");
        TimeUnit.MILLISECONDS.sleep(pause.toMillis());
        workers[i].signal("CONT");
        faults.add(new LockHistory.Fault("stop", "w" + i, start, System.nanoTime()));
    }

    /** kill -9 of worker {@code i}; a new worker takes its place (same identity, a new history) after {@code gap}. */
    void killWorker(int i, Duration gap) throws Exception {
        long start = System.nanoTime();
        workers[i].kill();
        faults.add(new LockHistory.Fault("kill", "w" + i, start, LockHistory.NEVER));
        gone.add(new String[] {"w" + i + "-killed-" + incarnations[i], workers[i].output()});
        TimeUnit.MILLISECONDS.sleep(gap.toMillis());
        startWorker(i);
    }

    /** Cuts member {@code m} off from the other members for {@code cut}, then heals. */
    void cutMember(int m, Duration cut) throws Exception {
        List<Integer> others = new ArrayList<>(List.of(0, 1, 2));
        others.remove(Integer.valueOf(m));
        long start = System.nanoTime();
        mesh.isolate(m, others);
        TimeUnit.MILLISECONDS.sleep(cut.toMillis());
        mesh.heal(m);
        faults.add(new LockHistory.Fault("cut", "n" + m, start, System.nanoTime()));
    }

    /** kill -9 of the leader; restarted after {@code down}. Returns which member it was. */
    int killLeader(Duration down) throws Exception {
        int l = mesh.nodes.awaitLeader(0, new boolean[] {true, true, true}, Duration.ofSeconds(30));
        long start = System.nanoTime();
        mesh.nodes.kill(l);
        TimeUnit.MILLISECONDS.sleep(down.toMillis());
        mesh.nodes.restart(l);
        faults.add(new LockHistory.Fault("kill", "n" + l, start, System.nanoTime()));
        return l;
    }

    /** When the last fault ended. */
    long lastFaultEnd() {
        synchronized (faults) {
            return faults.stream().mapToLong(f -> f.end() == LockHistory.NEVER ? f.start() : f.end()).max().orElse(0);
        }
    }

    /**
     * Waits (reading the histories every second, at most {@code limit}) until the workers were
     * granted {@code n} locks: a run long enough to judge, however loaded the machine.
     */
    long awaitGrants(int n, Duration limit) throws Exception {
        long deadline = System.nanoTime() + limit.toNanos();
        long seen = 0;
        while (System.nanoTime() - deadline < 0) {
            seen = history().grants.size();
            if (seen >= n) {
                break;
            }
            TimeUnit.SECONDS.sleep(1);
        }
        return seen;
    }

    /** Tells every worker to stop after its current lock ({@link LockWorker#STOP_FILE}). */
    void stopWorkers() throws IOException {
        Files.writeString(root.resolve(LockWorker.STOP_FILE), "stop\n");
    }

    /** Waits for every worker to finish; fails naming one that does not exit 0. */
    void awaitWorkers(Duration limit) throws Exception {
        long deadline = System.nanoTime() + limit.toNanos();
        for (int i = 0; i < workers.length; i++) {
            int status = workers[i].waitFor(Duration.ofNanos(Math.max(0, deadline - System.nanoTime())));
            if (status != 0) {
                throw new AssertionError("worker w" + i + " exited " + status + ":\n" + workers[i].tail(60));
            }
        }
    }

    LockHistory history() throws IOException {
        return LockHistory.load(TimeUnit.MILLISECONDS.toNanos(LEASE_MS), histories, List.copyOf(faults));
    }

    /** The counters the disk's block 0 and the store's key hold now, read through member {@code m}. */
    long[] finalCounters(int m) throws Exception {
        try (GuestNode g = mesh.nodes.guest("check", m);
             QuorumClient kv = new QuorumClient(g.mesh(), g.node().endpoint()::links, GROUP, Duration.ofSeconds(10));
             RemoteBlockDevice dev = BlkClient.open(g.mesh(), "st/disk", false,
                 new RemoteBlockDevice.Options(Duration.ofSeconds(5), Duration.ofSeconds(20), 4, 16)).get(40, TimeUnit.SECONDS)) {
            ByteBuf b = dev.read(0, LockWorker.RECORD).get(20, TimeUnit.SECONDS);
            long disk;
            try {
                disk = b.getLong(0);
            } finally {
                b.release();
            }
            byte[] v = kv.get(LockWorker.KV).get(20, TimeUnit.SECONDS);
            return new long[] {disk, v == null ? 0 : Long.parseLong(new String(v, StandardCharsets.UTF_8).split(" ")[0])};
        }
    }

    /** Members' and storage's output and threads, workers' output and histories, into {@code dir}. Never throws. */
    void postMortem(Path dir) {
        mesh.nodes.postMortem(dir);
        try {
            Files.writeString(dir.resolve("st.log"), storage.output());
            for (String[] g : gone) {
                Files.writeString(dir.resolve(g[0] + ".log"), g[1]);
            }
            for (int i = 0; i < workers.length; i++) {
                if (workers[i] != null) {
                    Files.writeString(dir.resolve("w" + i + ".log"), workers[i].output());
                }
            }
            for (Path h : histories) {
                if (Files.exists(h)) {
                    Files.copy(h, dir.resolve(h.getFileName()), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
                }
            }
        } catch (IOException e) {
            System.out.println("lock post-mortem incomplete: " + e);
        }
    }

    @Override
    public void close() throws Exception {
        try {
            for (NodeProcess w : workers) {
                if (w != null) {
                    w.close(); // SIGKILL: a stopped process dies of it too
                }
            }
            storage.close();
        } finally {
            mesh.close();
        }
    }
}
