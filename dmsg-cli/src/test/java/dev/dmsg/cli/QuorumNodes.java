package dev.dmsg.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dmsg.link.tls.TlsConfig;
import dev.dmsg.services.node.GuestNode;
import dev.dmsg.services.shell.ShellClient;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code dmsg node} processes n0 … n(N-1) that are members of one quorum group (docs/QUORUM.md
 * §8), fully meshed over TLS: node i listens on a port chosen before any starts and dials every
 * lower-numbered node, so all start at once and a restarted node (same port, same data
 * directory, same command line) is dialled back by the slots of the nodes it dialled and dials the
 * others itself.
 */
final class QuorumNodes implements AutoCloseable {
    static final ObjectMapper JSON = new ObjectMapper();
    static final Duration START = Duration.ofSeconds(90);

    final String group;
    final int n;
    final int[] ports;
    final NodeProcess[] procs;
    /** Outputs of killed processes: name, text. */
    private final List<String[]> killed = new ArrayList<>();
    private final Path root;
    private final List<String> quorumOptions;
    private final String members;
    /** Where node i listens and is dialled, and what its command line is run by (see {@link #placing}). */
    private final String[] hosts;
    private final List<List<String>> prefixes = new ArrayList<>();
    private List<String> jvmOptions = NodeProcess.QUICK_START;

    /**
     * @param members the group's initial members (a prefix of n0 … n(N-1)); the others are started
     *     as joiners listing the members and themselves (docs/QUORUM.md §1)
     * @param quorumOptions more node options for every node ({@code --quorum-snapshot-every 200})
     */
    QuorumNodes(Path root, String group, int n, int members, List<String> quorumOptions) throws IOException {
        this.root = root;
        this.group = group;
        this.n = n;
        this.ports = new int[n];
        this.procs = new NodeProcess[n];
        this.quorumOptions = List.copyOf(quorumOptions);
        this.hosts = new String[n];
        List<String> labels = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            labels.add(label(i));
            ports[i] = freePort();
            hosts[i] = "127.0.0.1";
            prefixes.add(List.of());
        }
        this.members = String.join(",", labels.subList(0, members));
        NodeProcess.prepareMesh(root, labels.toArray(String[]::new));
    }

    /**
     * Node i listens on {@code host} and is dialled there, its command line run by {@code prefix}
     * ({@code ip netns exec NS}: NetnsMesh puts each node in its own network namespace). Before
     * it starts.
     */
    QuorumNodes placing(int i, String host, List<String> prefix) {
        hosts[i] = host;
        prefixes.set(i, List.copyOf(prefix));
        return this;
    }

    /** More JVM options for every node started from now on (a {@code -D} switch). */
    QuorumNodes withJvmOptions(List<String> more) {
        List<String> all = new ArrayList<>(NodeProcess.QUICK_START);
        all.addAll(more);
        jvmOptions = List.copyOf(all);
        return this;
    }

    static String label(int i) {
        return "n" + i;
    }

    Path dir(int i) {
        return root.resolve(label(i));
    }

    String address(int i) {
        return hosts[i] + ":" + ports[i];
    }

    /**
     * A port free now, below Linux's ephemeral range (32768–60999): the nodes bind theirs only
     * when started, maybe a minute later, and a port from the ephemeral range may meanwhile be
     * taken as the source port of any outgoing connection (seen: "Address already in use" for a
     * restarted member). Below it only an explicit bind takes a port.
     */
    private static int freePort() throws IOException {
        java.util.concurrent.ThreadLocalRandom r = java.util.concurrent.ThreadLocalRandom.current();
        for (int tries = 0; tries < 200; tries++) {
            int p = r.nextInt(20_000, 32_000);
            try (ServerSocket s = new ServerSocket()) {
                s.setReuseAddress(false);
                s.bind(new java.net.InetSocketAddress("127.0.0.1", p));
                return p;
            } catch (IOException taken) {
                // try another
            }
        }
        throw new IOException("no free port in 20000..31999 after 200 tries");
    }

    /** Starts node i without waiting: {@link #awaitListening} waits. */
    void launch(int i) throws IOException {
        List<String> args = new ArrayList<>(List.of("node", "--listen", address(i), "--label", label(i), "--data-dir",
            dir(i).toString()));
        for (int j = 0; j < i; j++) {
            args.addAll(List.of("--connect", address(j)));
        }
        String list = members.contains(label(i)) ? members : members + "," + label(i);
        args.addAll(List.of("--quorum", group + "=" + list));
        args.addAll(quorumOptions);
        procs[i] = NodeProcess.start(label(i), prefixes.get(i), jvmOptions, args.toArray(String[]::new));
    }

    void awaitListening(int i) throws InterruptedException {
        procs[i].await("listening on " + address(i), START);
    }

    /** Starts nodes {@code from} … {@code to - 1} at once and waits until all listen. */
    void startAll(int from, int to) throws Exception {
        for (int i = from; i < to; i++) {
            launch(i);
        }
        for (int i = from; i < to; i++) {
            awaitListening(i);
        }
    }

    /** {@code kill -9} of node i; its output is kept for {@link #postMortem}. */
    void kill(int i) throws InterruptedException {
        procs[i].kill();
        killed.add(new String[] {label(i) + "-killed-" + killed.size(), procs[i].output()});
    }

    /**
     * For a failure's post-mortem: writes every member's output so far ({@code dir/nI.log}, and
     * {@code nI-killed-K.log} for each process killed before) and, for those still running, their
     * threads ({@code dir/nI.jstack}: where a stalled Raft appender waits). Never throws.
     */
    void postMortem(Path dir) {
        try {
            Files.createDirectories(dir);
            for (String[] k : killed) {
                Files.writeString(dir.resolve(k[0] + ".log"), k[1]);
            }
            for (int i = 0; i < n; i++) {
                NodeProcess p = procs[i];
                if (p == null) {
                    continue;
                }
                Files.writeString(dir.resolve(label(i) + ".log"), p.output());
                if (p.isAlive()) {
                    new ProcessBuilder(Paths.get(System.getProperty("java.home"), "bin", "jstack").toString(),
                        Long.toString(p.pid())).redirectErrorStream(true)
                        .redirectOutput(dir.resolve(label(i) + ".jstack").toFile()).start().waitFor(30, TimeUnit.SECONDS);
                }
            }
            System.out.println("members' output and threads written to " + dir.toAbsolutePath());
        } catch (Exception e) {
            System.out.println("post-mortem incomplete: " + e);
        }
    }

    /** Node i again, same port, data directory and command line; returns once it listens. */
    NodeProcess restart(int i) throws Exception {
        launch(i);
        awaitListening(i);
        return procs[i];
    }

    /** Node i's view of the group from its own status document (the {@code quorum} section). */
    JsonNode status(int i) throws Exception {
        try (ShellClient c = NodeProcess.client(hosts[i], ports[i], dir(i))) {
            JsonNode doc = JSON.readTree(c.call("status --json", Duration.ofSeconds(10)));
            for (JsonNode g : doc.path("quorum").path("groups")) {
                if (g.path("name").asText().equals(group)) {
                    return g;
                }
            }
            throw new AssertionError(label(i) + " has no quorum group " + group + " in its status: " + doc.path("quorum"));
        }
    }

    /**
     * Polls node i's status until {@code ok} holds, every 200 ms within {@code limit}; fails with
     * the last status seen. Real processes have no change notification to wait on.
     */
    JsonNode awaitStatus(int i, Predicate<JsonNode> ok, Duration limit, String what) throws Exception {
        long deadline = System.nanoTime() + limit.toNanos();
        JsonNode last = null;
        Exception lastError = null;
        while (System.nanoTime() - deadline < 0) {
            try {
                last = status(i);
                if (ok.test(last)) {
                    return last;
                }
            } catch (Exception e) {
                lastError = e;
            }
            TimeUnit.MILLISECONDS.sleep(200);
        }
        throw new AssertionError(label(i) + ": " + what + " not within " + limit + "; last status " + last
            + (lastError != null ? "; last error " + lastError : ""));
    }

    /** Waits until node i knows a leader that is one of {@code alive}; that leader's index. */
    int awaitLeader(int i, boolean[] alive, Duration limit) throws Exception {
        JsonNode s = awaitStatus(i, g -> {
            int l = index(g.path("leader").asText(""));
            return l >= 0 && alive[l];
        }, limit, "a live leader");
        return index(s.path("leader").asText());
    }

    static int index(String label) {
        Matcher m = Pattern.compile("n(\\d+)").matcher(label);
        return m.matches() ? Integer.parseInt(m.group(1)) : -1;
    }

    /** A guest in this JVM joined through node i with node i's own key (an admin there). */
    GuestNode guest(String kind, int i) throws Exception {
        return GuestNode.join(kind, hosts[i], ports[i], dir(i), false, TlsConfig.Provider.AUTO);
    }

    /** The {@code dmsg} arguments to reach the mesh through node i as node i. */
    String[] via(int i, String... args) {
        String[] all = new String[args.length + 4];
        System.arraycopy(args, 0, all, 0, args.length);
        all[args.length] = "--node";
        all[args.length + 1] = address(i);
        all[args.length + 2] = "--identity";
        all[args.length + 3] = dir(i).toString();
        return all;
    }

    @Override
    public void close() throws InterruptedException {
        for (NodeProcess p : procs) {
            if (p != null) {
                p.close();
            }
        }
    }
}
