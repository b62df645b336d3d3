package dev.dmsg.services.node;

import dev.dmsg.link.Link;
import dev.dmsg.link.netty.LinkEndpoint;
import dev.dmsg.link.tls.NodeKeys;
import dev.dmsg.link.tls.TlsConfig;
import dev.dmsg.mesh.MeshNode;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.VolData;
import io.netty.channel.IoEventLoopGroup;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.slf4j.LoggerFactory;

/**
 * A short-lived node that joins the mesh through one existing node, for tools that use the mesh
 * rather than serve it: {@code dmsg nbd} and {@code dmsg blk} (docs/BLK.md). It keeps its own
 * state in a scratch directory (deleted on close), presents the operator's identity
 * ({@code ~/.dmsg}, or a node's data directory, which acts as that node), listens on loopback
 * only, and keeps one link: to {@code host:port}, redialled while it lives.
 *
 * <p>{@link #join} dials that link itself and returns only once it is up, so a tool can say at
 * once why it cannot join (nothing listening, a key refused by either side). When that first
 * link drops, a VOLCONF slot takes over and redials it with the node's usual backoff
 * (docs/OPERATIONS.md), starting at once.
 *
 * <p>The node it joins through must trust the identity as admin or member, or it may not forge
 * circuits (docs/SECURITY.md §5).
 */
public final class GuestNode implements AutoCloseable {
    /** A guest's label, {@code BASE.KIND.PID} ({@link #join}): KIND a lower-case word, PID a number. */
    private static final Pattern GUEST_LABEL = Pattern.compile(".+\\.[a-z][a-z0-9]*\\.[0-9]+");

    /**
     * Whether {@code label} has the form a guest's label takes ({@code alpha.nbd.25992}): a tool's
     * short-lived node, which a person would not name in {@code @NODE} or {@code ping}. A real
     * node labelled that way is still reached by name; only suggestions leave it out.
     */
    public static boolean isGuestLabel(String label) {
        return GUEST_LABEL.matcher(label).matches();
    }

    /** Beyond the handshake timeout, for the TCP connect ({@code LinkEndpoint} gives it 5 s) and LNK_AUTH. */
    private static final Duration CONNECT_SLACK = Duration.ofSeconds(6);

    private final Node node;
    private final Path scratch;
    private volatile boolean closed;

    private GuestNode(Node node, Path scratch) {
        this.node = node;
        this.scratch = scratch;
    }

    /**
     * Starts the guest and dials {@code host:port}; returns once that link is up (TLS: the peer
     * accepted our key and we its), within the handshake timeout plus a few seconds.
     *
     * @param kind what it is for, part of its label ({@code nbd}, {@code blk})
     * @param identity the key, certificate and trust store to use; {@code null} with
     *     {@code plaintext}
     * @param plaintext no TLS (the node must list this host as a legacy peer)
     * @param provider the TLS provider
     * @throws IOException if the identity cannot be read or made, the scratch directory made, or
     *     the link not made: {@code cannot reach node HOST:PORT: REASON}, where a TLS refusal names
     *     the key and what to run
     */
    public static GuestNode join(String kind, String host, int port, Path identity, boolean plaintext,
                                 TlsConfig.Provider provider) throws IOException, InterruptedException {
        String base;
        Security security;
        if (plaintext) {
            base = "guest";
            security = new Security(false, provider, TlsConfig.DEFAULT_HANDSHAKE_TIMEOUT, List.of());
        } else {
            base = NodeKeys.loadOrCreate(identity, "cli-" + System.getProperty("user.name", "guest")
                .replaceAll("[^A-Za-z0-9._-]", "_")).label();
            security = new Security(true, provider, TlsConfig.DEFAULT_HANDSHAKE_TIMEOUT, List.of(), identity);
        }
        // unique in the mesh, so several tools (and the node whose directory we may borrow) coexist
        String label = base + "." + kind + "." + ProcessHandle.current().pid();
        if (label.length() > 48) {
            label = label.substring(label.length() - 48);
        }
        Path scratch = Files.createTempDirectory("dmsg-" + kind + "-");
        Node n;
        try {
            // one event loop: a guest has one link, and a server sharing it (eventLoops()) then
            // runs on the same thread as that link
            n = Node.start(Node.Settings.builder("127.0.0.1", 0, scratch, Node.Identity.of(label, "")).ioThreads(1)
                .security(security).build());
        } catch (IOException | RuntimeException e) {
            deleteTree(scratch);
            throw e;
        }
        GuestNode g = new GuestNode(n, scratch);
        Duration wait = security.handshakeTimeout().plus(CONNECT_SLACK);
        Link first;
        try {
            first = n.endpoint().connect(host, port).get(wait.toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            g.close();
            throw new IOException("cannot reach node " + host + ":" + port + ": "
                + LinkEndpoint.describeConnectFailure(e), e);
        } catch (TimeoutException e) {
            g.close();
            throw new IOException("cannot reach node " + host + ":" + port + ": no link after " + wait.toMillis()
                + " ms");
        } catch (InterruptedException e) {
            g.close();
            throw e;
        }
        first.closeFuture().thenAccept(why -> g.redialFromSlot(host, port));
        return g;
    }

    /** The first link dropped: from now on the node's dialler keeps it up, as for any span: slot. */
    private void redialFromSlot(String host, int port) {
        if (closed) {
            return;
        }
        try {
            node.volconf().set(1, new VolData(1, 0, 0, 0, Dmsg.VOLF_ENABLED, 0, 0, 0, new UUID(0, 0), "",
                "span:" + host + ":" + port));
        } catch (IOException | RuntimeException e) {
            // the scratch table could not be written: the guest stays alone, and its users' I/O fails by its deadline
            LoggerFactory.getLogger("dmsg.node").warn("guest {}: cannot redial {}:{}: {}", node.identity().label(), host,
                port, e.toString());
        }
    }

    public Node node() {
        return node;
    }

    public MeshNode mesh() {
        return node.mesh();
    }

    /**
     * The guest's one event loop, which its link runs on. A server in front of the mesh (the NBD
     * bridge: {@code NbdServer.builder().eventLoopGroup(guest.eventLoops())}) that runs here hands
     * each request to the link and each answer back without waking another thread: on 2 cores a
     * 4 KiB read at QD1 went from p50 121 to 84 µs through the bridge, 64 KiB sequential reads
     * from 470 to 579 MB/s (docs/BENCHMARKS.md, "Block devices").
     * Close that server before the guest: the loop stops with it.
     */
    public IoEventLoopGroup eventLoops() {
        return node.endpoint().eventLoops();
    }

    /** Leaves the mesh (spans withdrawn, link closed) and deletes the scratch directory. */
    @Override
    public void close() {
        closed = true;
        node.close();
        deleteTree(scratch);
    }

    private static void deleteTree(Path dir) {
        try (Stream<Path> s = Files.walk(dir)) {
            s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            // a scratch directory left in the temp dir is harmless
        }
    }
}
