package dev.dmsg.services.testing;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.dmsg.link.tls.NodeKeys;
import dev.dmsg.link.tls.PeerIdentity;
import dev.dmsg.link.tls.Role;
import dev.dmsg.link.tls.TlsConfig;
import dev.dmsg.link.tls.TrustPolicy;
import dev.dmsg.quorum.GroupSpec;
import dev.dmsg.services.node.Node;
import dev.dmsg.services.node.VolconfTable;
import dev.dmsg.services.shell.ShellClient;
import dev.dmsg.services.shell.ShellService;
import dev.dmsg.testkit.Await;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.VolData;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.function.BooleanSupplier;
import java.util.function.Predicate;
import java.util.function.Supplier;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Real nodes in this JVM, over TLS on loopback: the one place tests construct a {@link Node}.
 * It starts nodes with keys and data directories under one root, makes them trust each other
 * (when asked), links them into a topology (line, star, full) through each node's shell
 * ({@code span HOST:PORT}, what {@code --connect} does), waits on their status documents, and
 * closes everything it started or was handed, newest first.
 *
 * <p>For logic that is not about sockets, use the simulator instead (dmsg-mesh's {@code SimMesh}
 * and testkit's {@code Await.stepping}); see dmsg-testkit/README.md. Nodes as processes are
 * dmsg-cli's {@code NodeProcess}: it runs the CLI's main class, which this module cannot see.
 *
 * <p>Typical use, with JUnit's {@code @TempDir Path tmp}; registered as an extension it closes
 * after each test (after the test's own {@code @AfterEach} methods):
 * <pre>{@code
 * @RegisterExtension
 * final TestCluster cluster = new TestCluster(() -> tmp).pinning(Role.MEMBER);
 * ...
 * List<Node> n = cluster.line("n0", "n1", "n2");
 * cluster.awaitSpans(n.get(0), 3);
 * }</pre>
 */
public final class TestCluster implements AutoCloseable, AfterEachCallback {
    /** How long a test waits for real sockets and threads to converge. */
    public static final Duration T = Duration.ofSeconds(10);

    private final Supplier<Path> root;
    private final List<Node> nodes = new ArrayList<>();
    private final List<AutoCloseable> closing = new ArrayList<>();
    private Role pinning;
    private Await await = Await.atMost(T);
    private final List<Cut> cut = new ArrayList<>(); // slots disabled by partition(), for heal()

    /** Nodes' data directories go under {@code root} (read when the first node starts, so a {@code @TempDir} works). */
    public TestCluster(Supplier<Path> root) {
        this.root = root;
    }

    /** Each node started from now on and every node already running pin each other's keys as {@code role}. */
    public TestCluster pinning(Role role) {
        this.pinning = role;
        return this;
    }

    /** The limit of this cluster's waits (default {@link #T}). */
    public TestCluster waitingAtMost(Duration limit) {
        this.await = Await.atMost(limit);
        return this;
    }

    public Path root() {
        return root.get();
    }

    // ------------------------------------------------------------------------------------------
    // Nodes

    /** A cluster node's identity: {@code label}, no cluster label, an fsid derived from the label. */
    public static Node.Identity identity(String label) {
        return new Node.Identity(label, Dmsg.PEER_CLUSTER, Dmsg.PFSTYPE_NONE, "", new UUID(0, 0),
            UUID.nameUUIDFromBytes(label.getBytes(StandardCharsets.UTF_8)));
    }

    /** Settings for a node on 127.0.0.1, any port, data under {@code root/label}; adjust with {@code with…}. */
    public Node.Settings settings(String label) {
        return Node.Settings.of("127.0.0.1", 0, root().resolve(label), identity(label));
    }

    /** Starts {@code label} with {@code exports} (their allow lists as given). */
    public Node start(String label, Node.Export... exports) throws Exception {
        return start(exports.length == 0 ? settings(label) : settings(label).withExports(List.of(exports)));
    }

    /** Starts a node (it is closed with the cluster) and, when {@link #pinning}, trusts it both ways. */
    public Node start(Node.Settings settings) throws IOException, InterruptedException {
        Node n = Node.start(settings);
        closing.add(n);
        if (pinning != null) {
            for (Node other : nodes) {
                Node.trustEachOther(n, other, pinning); // TLS: each pins the others' keys
            }
        }
        nodes.add(n);
        return n;
    }

    /** Starts a node that no other node of the cluster pins, now or later (a stranger to the cluster). */
    public Node startUnpinned(Node.Settings settings) throws IOException, InterruptedException {
        return closing(Node.start(settings));
    }

    /** The nodes running, in start order. */
    public List<Node> nodes() {
        return List.copyOf(nodes);
    }

    public Node node(String label) {
        return nodes.stream().filter(n -> n.identity().label().equals(label)).findFirst()
            .orElseThrow(() -> new IllegalArgumentException("no node " + label));
    }

    /** Stops {@code n} now (and not again at the end). */
    public void stop(Node n) {
        nodes.remove(n);
        closing.remove(n);
        n.close();
    }

    /**
     * Stops {@code n} as a killed process looks from outside: every link dropped at once, no
     * DELETEs, no span withdrawn first (its peers see the connections end, and transactions in
     * flight on it get LOSTLINK), then the rest of it is closed. Its data directory is left as it
     * was; {@link #restart} starts it again.
     */
    public void crash(Node n) {
        n.endpoint().abort("crashed by the test");
        stop(n);
    }

    /**
     * Starts {@code n} again after {@link #stop}: the same settings, data directory (its keys,
     * trust, VOLCONF slots and quorum storage) and port, so that the slots other nodes keep to it
     * find it again. Returns the new node.
     */
    public Node restart(Node n) throws IOException, InterruptedException {
        if (nodes.contains(n)) {
            stop(n);
        }
        return start(n.settings().toBuilder().listen(n.settings().listenHost(), n.address().getPort()).build());
    }

    /** Closes {@code c} with the cluster, before the nodes started earlier. */
    public <C extends AutoCloseable> C closing(C c) {
        closing.add(c);
        return c;
    }

    @Override
    public void afterEach(ExtensionContext context) throws Exception {
        close();
    }

    /** Closes everything, newest first; the first failure (a scripted peer's strict check, say) is thrown at the end. */
    @Override
    public void close() throws Exception {
        Exception first = null;
        for (int i = closing.size() - 1; i >= 0; i--) {
            try {
                closing.get(i).close();
            } catch (Exception | AssertionError e) {
                if (first == null) {
                    first = e instanceof Exception ex ? ex : new Exception(e.getMessage(), e);
                }
            }
        }
        closing.clear();
        nodes.clear();
        cut.clear();
        if (first != null) {
            throw first;
        }
    }

    // ------------------------------------------------------------------------------------------
    // Topology

    /** {@code from} keeps a link to {@code to} (a VOLCONF span slot, as {@code span HOST:PORT} does). */
    public static void link(Node from, Node to) {
        ShellService.Result r = from.shell().execute("span 127.0.0.1:" + to.address().getPort());
        assertThat(r.status()).as(r.output()).isZero();
    }

    /** As {@link #link(Node, Node)}, each first trusting the other as {@code role}. */
    public static void link(Node from, Node to, Role role) throws IOException {
        Node.trustEachOther(from, to, role);
        link(from, to);
    }

    /** Starts {@code labels} as a line: each node links to the one before it. */
    public List<Node> line(String... labels) throws Exception {
        List<Node> ns = startAll(labels);
        for (int i = 0; i + 1 < ns.size(); i++) {
            link(ns.get(i + 1), ns.get(i));
        }
        return ns;
    }

    /** Starts {@code labels} as a star: every other node links to the first. */
    public List<Node> star(String... labels) throws Exception {
        List<Node> ns = startAll(labels);
        for (int i = 1; i < ns.size(); i++) {
            link(ns.get(i), ns.get(0));
        }
        return ns;
    }

    /** Starts {@code labels} fully meshed: each node links to every node before it. */
    public List<Node> full(String... labels) throws Exception {
        List<Node> ns = startAll(labels);
        for (int i = 1; i < ns.size(); i++) {
            for (int j = 0; j < i; j++) {
                link(ns.get(i), ns.get(j));
            }
        }
        return ns;
    }

    /**
     * Starts {@code labels} fully meshed, each a member of quorum group {@code group} whose initial
     * members are all of them (docs/QUORUM.md §1).
     */
    public List<Node> quorum(String group, String... labels) throws Exception {
        GroupSpec spec = new GroupSpec(group, List.of(labels));
        List<Node> ns = new ArrayList<>();
        for (String l : labels) {
            ns.add(start(settings(l).toBuilder().quorums(List.of(spec)).build()));
        }
        for (int i = 1; i < ns.size(); i++) {
            for (int j = 0; j < i; j++) {
                link(ns.get(i), ns.get(j));
            }
        }
        return ns;
    }

    /**
     * Cuts the running nodes into {@code side} and the rest, at our own transport: every VOLCONF
     * span slot from one side to the other is disabled, which stops its dialler and closes the
     * link (both ends see it go), and nobody dials across again until {@link #heal}. Returns once
     * no link crosses. The partition for in-JVM tests, where network namespaces cannot be made
     * (docs/QUORUM.md §8); links made otherwise than by a slot (a shell client's) are not cut.
     */
    public void partition(Collection<Node> side) throws Exception {
        Set<String> in = new HashSet<>();
        side.forEach(n -> in.add(n.identity().label()));
        Map<String, String> byPath = new HashMap<>();
        for (Node o : nodes) {
            byPath.put("span:127.0.0.1:" + o.address().getPort(), o.identity().label());
        }
        for (Node o : nodes) {
            List<VolData> slots = o.volconf().slots();
            for (int i = 1; i < slots.size(); i++) {
                VolData v = slots.get(i);
                String to = byPath.get(v.path());
                if (VolconfTable.enabled(v) && to != null && in.contains(to) != in.contains(o.identity().label())) {
                    o.volconf().set(i, withFlags(v, v.flags() & ~Dmsg.VOLF_ENABLED));
                    cut.add(new Cut(o.identity().label(), i));
                }
            }
        }
        await.until(() -> nodes.stream().allMatch(o -> o.endpoint().links().stream()
                .noneMatch(l -> l.peerLabel() != null && byPath.containsValue(l.peerLabel())
                    && in.contains(l.peerLabel()) != in.contains(o.identity().label()))),
            "no link between " + in + " and the rest");
    }

    /** {@link #partition} with {@code n} alone on its side. */
    public void isolate(Node n) throws Exception {
        partition(List.of(n));
    }

    /** Undoes every {@link #partition}: the slots cut are enabled again (on the nodes running now) and dial at once. */
    public void heal() throws IOException {
        for (Cut c : cut) {
            for (Node o : nodes) {
                if (o.identity().label().equals(c.label())) {
                    VolData v = o.volconf().get(c.slot());
                    o.volconf().set(c.slot(), withFlags(v, v.flags() | Dmsg.VOLF_ENABLED));
                }
            }
        }
        cut.clear();
    }

    private record Cut(String label, int slot) {}

    private static VolData withFlags(VolData v, int flags) {
        return new VolData(v.copyid(), v.inprog(), v.chainTo(), v.chainFrom(), flags, v.error(), v.priority(),
            v.remotePfsType(), v.pfsClid(), v.label(), v.path());
    }

    private List<Node> startAll(String... labels) throws Exception {
        List<Node> ns = new ArrayList<>();
        for (String l : labels) {
            ns.add(start(l));
        }
        return ns;
    }

    // ------------------------------------------------------------------------------------------
    // Shell clients

    /**
     * A shell client with a key of its own named {@code name}, trusted by {@code at} as {@code role}
     * with {@code grants} (docs/IDENTITY.md §5); it pins {@code at}'s key. Closed with the cluster.
     */
    public ShellClient shellAs(Node at, String name, Role role, int grants) throws Exception {
        NodeKeys keys = NodeKeys.generate(name);
        at.trust().add(name, keys.fingerprint(), role, grants);
        TrustPolicy pins = TrustPolicy.of(List.of(new PeerIdentity(at.keys().label(), at.keys().fingerprint(),
            Role.MEMBER, 0)));
        return closing(ShellClient.connect("127.0.0.1", at.address().getPort(), TlsConfig.of(keys, pins), T));
    }

    /** Runs {@code line} through {@code c}: its status and its whole output. */
    public static ShellService.Result call(ShellClient c, String line) throws Exception {
        StringBuilder out = new StringBuilder();
        int status = c.run(line, out::append, T);
        return new ShellService.Result(status, out.toString());
    }

    /** {@code n}'s own operator: its own key, an admin of it. Closed with the cluster. */
    public ShellClient operator(Node n) throws Exception {
        return closing(ShellClient.connect("127.0.0.1", n.address().getPort(), n.clientTls(), T));
    }

    // ------------------------------------------------------------------------------------------
    // Cluster state

    /** The member of {@code members} that leads quorum group {@code group}, waiting for one (at most {@link #T} × 2). */
    public static Node leader(List<Node> members, String group) throws InterruptedException {
        long deadline = System.nanoTime() + 2 * T.toNanos();
        while (System.nanoTime() < deadline) {
            for (Node n : members) {
                var m = n.quorum();
                if (m != null && m.engine(group) != null && "LEADER".equals(m.engine(group).status().role())) {
                    return n;
                }
            }
            Thread.sleep(50); // polling Raft's role: it has no change notification we can reach
        }
        throw new AssertionError("no leader of " + group + " within " + 2 * T.toSeconds() + " s");
    }

    /** {@code n}'s status document (in-process). */
    public static JsonNode status(Node n) {
        try {
            return n.status();
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    /** The span {@code n} knows with this {@code cl_label} (an export: {@code node/name}), or null. */
    public static JsonNode span(Node n, String clLabel) {
        for (JsonNode s : status(n).get("spans")) {
            if (s.get("cl_label").asText().equals(clLabel)) {
                return s;
            }
        }
        return null;
    }

    /** The node span with this {@code fs_label} in a status document (the node's name), or null. */
    public static JsonNode nodeSpan(JsonNode status, String fsLabel) {
        for (JsonNode s : status.get("spans")) {
            if (s.get("fs_label").asText().equals(fsLabel)) {
                return s;
            }
        }
        return null;
    }

    /** How many spans {@code n} knows (itself included). */
    public static int spans(Node n) {
        return status(n).get("spans").size();
    }

    public void await(BooleanSupplier condition, String what) throws InterruptedException {
        await.until(condition, what);
    }

    /** Polls {@code n}'s status until {@code p} holds, and returns it; fails with the last status seen. */
    public JsonNode awaitStatus(Node n, Predicate<JsonNode> p, String what) throws InterruptedException {
        return await.until(() -> status(n), p, what);
    }

    /** Waits until {@code n} knows {@code count} spans (every node of a converged cluster, say). */
    public void awaitSpans(Node n, int count) throws InterruptedException {
        await.until(() -> spans(n) == count, count + " spans in " + n.identity().label() + "'s tree");
    }

    // ------------------------------------------------------------------------------------------
    // Disks

    /** A sparse file of {@code sizeBytes} at {@code root/name}, to export. */
    public Path disk(String name, long sizeBytes) throws IOException {
        Path f = root().resolve(name);
        try (RandomAccessFile r = new RandomAccessFile(f.toFile(), "rw")) {
            r.setLength(sizeBytes);
        }
        return f;
    }
}
