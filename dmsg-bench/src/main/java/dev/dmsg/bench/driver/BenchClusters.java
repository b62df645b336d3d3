package dev.dmsg.bench.driver;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dmsg.link.Link;
import dev.dmsg.services.node.Node;
import dev.dmsg.services.quorum.QuorumClient;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.FileStore;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;

/**
 * The two clusters that {@code bench quorum} and {@code bench lock} compare (docs/BENCHMARKS.md),
 * started together and stopped together, their data under one new directory on the disk given.
 *
 * <p>Ours: three member nodes of group {@value #GROUP}, each a process of its own ({@code bench
 * circuit-node --quorum}), TLS, fully meshed, each trusting the others as members; the client is
 * a node in this JVM linked to every member, and sends to the leader ({@link Ours#toLeader}).
 * etcd: three {@code etcd} processes ({@link EtcdAnchor}), the load sent to its leader. A shutdown
 * hook kills every process if the JVM exits before {@link #close}.
 */
final class BenchClusters implements AutoCloseable {
    static final String GROUP = "bench";
    static final List<String> MEMBERS = List.of("m1", "m2", "m3");
    private static final ObjectMapper JSON = new ObjectMapper();

    /** Ours, started: this JVM's client node (linked to every member), and the group's leader at the start. */
    record Ours(Node client, String leader) {
        /** The client's links to the leader only: requests go there, as etcd's load goes to its leader. */
        List<Link> toLeader() {
            return client.endpoint().links().stream().filter(l -> leader.equals(l.peerLabel())).toList();
        }
    }

    private final String command;
    private final Path work;
    private final PrintStream out;
    private final List<Process> members = Collections.synchronizedList(new ArrayList<>());
    private final List<AutoCloseable> closing = Collections.synchronizedList(new ArrayList<>());
    private final Thread killer;
    private volatile Ours ours;
    private volatile EtcdAnchor etcd;

    /**
     * A new directory under {@code base} ({@code null}: java.io.tmpdir) for both systems' data;
     * {@code command} names the bench in messages on stderr.
     */
    BenchClusters(String command, Path base, PrintStream out) throws IOException {
        this.command = command;
        this.out = out;
        Path b = base != null ? base : Path.of(System.getProperty("java.io.tmpdir"));
        Files.createDirectories(b);
        this.work = Files.createTempDirectory(b, "dmsg-" + command.replace(' ', '-'));
        this.killer = new Thread(() -> {
            members.forEach(Process::destroyForcibly);
            EtcdAnchor e = etcd;
            if (e != null) {
                e.kill();
            }
        }, command.replace(' ', '-') + "-killer");
        Runtime.getRuntime().addShutdownHook(killer);
    }

    Path work() {
        return work;
    }

    /** The file system of the data directory: its type and device, to show it is a disk and not tmpfs. */
    String disk() {
        try {
            FileStore s = Files.getFileStore(work);
            return s.type() + " on " + s.name();
        } catch (IOException e) {
            return "file system unknown";
        }
    }

    /**
     * Starts {@code systems} ("ours", "etcd") at once — JVM and cluster start-up is most of a short
     * run — and waits for each (at most 180 s). Returns false, with why on stderr, if one did not
     * start. {@code memberJvmOpts}: extra JVM options of our members, {@code {label}} replaced.
     */
    boolean start(List<String> systems, String etcdBinary, List<String> memberJvmOpts) throws InterruptedException {
        Map<String, CompletableFuture<Void>> starting = new LinkedHashMap<>();
        for (String s : systems) {
            starting.put(s, CompletableFuture.runAsync(() -> {
                try {
                    long s0 = System.nanoTime();
                    if (s.equals("ours")) {
                        ours = startOurs(memberJvmOpts);
                    } else {
                        Path d = work.resolve("etcd");
                        Files.createDirectories(d);
                        etcd = closing(EtcdAnchor.start(etcdBinary, d, out));
                    }
                    System.err.printf("%s: %s started in %.1f s%n", command, s, (System.nanoTime() - s0) / 1e9);
                } catch (Exception e) {
                    throw new CompletionException(e);
                }
            }));
        }
        for (var e : starting.entrySet()) {
            try {
                e.getValue().get(180, TimeUnit.SECONDS);
            } catch (InterruptedException x) {
                throw x;
            } catch (Exception x) {
                Throwable c = x.getCause() instanceof CompletionException ce && ce.getCause() != null ? ce.getCause()
                    : x.getCause() != null ? x.getCause() : x;
                System.err.println(command + ": " + e.getKey() + " did not start: " + c.getMessage());
                return false;
            }
        }
        return true;
    }

    Ours ours() {
        return ours;
    }

    EtcdAnchor etcd() {
        return etcd;
    }

    /** The server processes of {@code system}, for their CPU time. */
    List<Long> pids(String system) {
        return system.equals("ours") ? members.stream().map(Process::pid).toList() : etcd.pids();
    }

    /** Closes {@code c} at {@link #close}, before the members stop (in reverse order of registration). */
    <C extends AutoCloseable> C closing(C c) {
        closing.add(c);
        return c;
    }

    private Ours startOurs(List<String> memberJvmOpts) throws Exception {
        Path d = work.resolve("dmsg");
        List<String> labels = new ArrayList<>(MEMBERS);
        labels.add("bench-client");
        CircuitBench.prepareMesh(d, labels);
        String spec = GROUP + "=" + String.join(",", MEMBERS);
        // Ports chosen first, so that the three start together, each linking to those before it
        // (a link is retried until its far end listens): JVM start-up is most of a short run.
        List<Integer> ports = EtcdAnchor.freePorts(MEMBERS.size());
        List<CompletableFuture<Integer>> started = new ArrayList<>();
        for (int i = 0; i < MEMBERS.size(); i++) {
            String m = MEMBERS.get(i);
            List<String> extra = new ArrayList<>(List.of("--quorum", spec, "--port", Integer.toString(ports.get(i))));
            for (int j = 0; j < i; j++) {
                extra.addAll(List.of("--connect", "127.0.0.1:" + ports.get(j)));
            }
            List<String> opts = memberJvmOpts.stream().map(o -> o.replace("{label}", m)).toList();
            started.add(CompletableFuture.supplyAsync(() -> {
                try {
                    return CircuitBench.start(members, d, m, null, opts, 0, extra);
                } catch (Exception e) {
                    throw new CompletionException(e);
                }
            }));
        }
        for (CompletableFuture<Integer> f : started) {
            f.get(90, TimeUnit.SECONDS);
        }
        Node client = closing(Node.start(Node.Settings.builder("127.0.0.1", 0, d.resolve("bench-client"),
            Node.Identity.of("bench-client", "bench")).build()));
        for (int p : ports) {
            client.shell().execute("span 127.0.0.1:" + p);
        }
        Ours o = new Ours(client, awaitLeader(client));
        out.printf("ours: 3 member processes (TLS, fully meshed, group %s), leader %s; the client node links to each "
            + "and sends to the leader; Raft log fsynced before every acknowledgement (Ratis defaults)%n", GROUP, o.leader);
        return o;
    }

    /** The group's leader as a member reports it, once there is one (at most 60 s). */
    private static String awaitLeader(Node client) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        Exception last = null;
        try (QuorumClient probe = new QuorumClient(client.mesh(), () -> client.endpoint().links(), GROUP,
                Duration.ofSeconds(5))) {
            while (System.nanoTime() < deadline) {
                try {
                    String leader = JSON.readTree(probe.admin("{\"op\":\"status\"}").get(10, TimeUnit.SECONDS))
                        .path("leader").asText("");
                    if (MEMBERS.contains(leader) && !new Ours(client, leader).toLeader().isEmpty()) {
                        return leader;
                    }
                } catch (Exception e) {
                    last = e;
                }
                TimeUnit.MILLISECONDS.sleep(200); // waiting for the election, bounded
            }
        }
        throw new IOException("our group elected no leader within 60 s", last);
    }

    /** Clients and etcd first, then our members (EOF on stdin, all at once); the data is removed. */
    @Override
    public void close() throws IOException {
        long s0 = System.nanoTime();
        for (int i = closing.size() - 1; i >= 0; i--) {
            try {
                closing.get(i).close();
            } catch (Exception e) {
                // best effort at the end
            }
        }
        for (Process p : members) {
            try {
                p.getOutputStream().close(); // EOF on its stdin: it stops; all at once, then wait for each
            } catch (IOException e) {
                // gone already
            }
        }
        long s1 = System.nanoTime();
        for (Process p : members) {
            CircuitBench.stop(p);
        }
        System.err.printf("%s: stopped in %.1f s (clients and etcd %.1f s, our members %.1f s)%n", command,
            (System.nanoTime() - s0) / 1e9, (s1 - s0) / 1e9, (System.nanoTime() - s1) / 1e9);
        try {
            Runtime.getRuntime().removeShutdownHook(killer);
        } catch (IllegalStateException e) {
            // shutting down
        }
        try (var files = Files.walk(work)) {
            files.sorted(Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
        }
    }
}
