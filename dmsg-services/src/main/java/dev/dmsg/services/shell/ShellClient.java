package dev.dmsg.services.shell;

import dev.dmsg.link.Link;
import dev.dmsg.link.LinkConfig;
import dev.dmsg.link.LinkListener;
import dev.dmsg.link.Services;
import dev.dmsg.link.netty.LinkEndpoint;
import dev.dmsg.link.tls.TlsConfig;
import dev.dmsg.mesh.SpanExt;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.ErrorCode;
import dev.dmsg.wire.LnkConn;
import dev.dmsg.wire.LnkVolconf;
import java.time.Duration;
import java.util.UUID;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;

/**
 * Runs shell commands on a node over a DMSG link: each command is a DBG_SHELL transaction whose
 * replies carry the output and whose final LNK_ERROR carries the status (see {@link ShellService}).
 * A 2013 C node is spoken to in its own framing instead ({@link OneWayShell}, docs/LEGACY.md).
 * One client holds one link; close it when done.
 */
public final class ShellClient implements AutoCloseable {
    /** How long a plaintext client waits for the node's LNK_CONN, which says whether it is one of ours. */
    private static final Duration CONN_WAIT = Duration.ofSeconds(3);

    private final LinkEndpoint endpoint;
    private final Link link;
    private final OneWayShell oneWay;
    private final boolean legacyNode;
    /** The node's answers to our LNK_VOLCONFs, as they came (see {@link #awaitVolconfAnswer}). */
    private final BlockingQueue<VolconfAnswer> volconfAnswers;

    private ShellClient(LinkEndpoint endpoint, Link link, OneWayShell oneWay, boolean legacyNode,
                        BlockingQueue<VolconfAnswer> volconfAnswers) {
        this.endpoint = endpoint;
        this.link = link;
        this.oneWay = oneWay;
        this.legacyNode = legacyNode;
        this.volconfAnswers = volconfAnswers;
    }

    /**
     * Connects to a node.
     *
     * @throws ShellException naming the address and the reason when the node cannot be reached
     */
    public static ShellClient connect(String host, int port, String label, Duration timeout) throws ShellException {
        return connect(host, port, label, null, timeout);
    }

    /**
     * Connects to a node over TLS as {@code tls.keys()} (docs/SECURITY.md): the node must trust
     * that key, and we must trust the node's.
     *
     * @throws ShellException naming the address and the reason (a TLS refusal says which key)
     */
    public static ShellClient connect(String host, int port, TlsConfig tls, Duration timeout)
            throws ShellException {
        return connect(host, port, tls.keys().label(), tls, timeout);
    }

    private static ShellClient connect(String host, int port, String label, TlsConfig tls,
                                       Duration timeout) throws ShellException {
        // A client subscribes to no spans: peer_mask and pfs_mask 0 filter out every relay (docs/REFERENCE.md §3.4).
        UUID nil = new UUID(0, 0);
        var conn = new LnkConn(nil, nil, nil, 0L, Dmsg.PEER_NONE, Dmsg.PFSTYPE_NONE, Dmsg.SPAN_PROTO_1,
            0, 0, 0L, 0L, "", label);
        OneWayShell oneWay = new OneWayShell();
        Services services = new Services();
        oneWay.register(services);
        BlockingQueue<VolconfAnswer> volconfAnswers = new LinkedBlockingQueue<>();
        services.oneWay(Dmsg.LNK_VOLCONF | Dmsg.REPLY, (l, m) -> {
            LnkVolconf v = m.ext() instanceof LnkVolconf lv ? lv : null;
            volconfAnswers.add(new VolconfAnswer(v == null ? -1 : v.index(), m.error(), m.auxString()));
        });
        CompletableFuture<Void> up = new CompletableFuture<>();
        LinkListener listener = new LinkListener() {
            @Override
            public void onUp(Link link) {
                up.complete(null);
            }

            @Override
            public void onDown(Link link, String reason, int aborted) {
                oneWay.lost("link to the node lost: " + reason);
                up.complete(null);
            }
        };
        // Without TLS the node may be a 2013 C node: speak only what it survives (docs/LEGACY.md).
        LinkEndpoint ep = new LinkEndpoint(LinkConfig.builder().label(label).conn(conn).tls(tls).legacyPeer(tls == null)
            .build(), services, listener, 1);
        try {
            // With TLS the endpoint's own handshake timeout fires first and names what went unanswered.
            long waitMillis = timeout.toMillis() + (tls != null ? 500 : 0);
            Link l = ep.connect(host, port).get(waitMillis, TimeUnit.MILLISECONDS);
            boolean legacyNode = false;
            if (tls == null) {
                // Every node sends its LNK_CONN first; ours carries a marker a 2013 node's lacks.
                try {
                    up.get(Math.min(CONN_WAIT.toMillis(), timeout.toMillis()), TimeUnit.MILLISECONDS);
                } catch (TimeoutException e) {
                    // no LNK_CONN: not one of ours; the C framing is the one every node understands
                }
                legacyNode = !SpanExt.understoodBy(l.peerConn());
            }
            return new ShellClient(ep, l, oneWay, legacyNode, volconfAnswers);
        } catch (ExecutionException e) {
            ep.close(Duration.ofSeconds(1));
            throw new ShellException("cannot reach node " + host + ":" + port + ": " + LinkEndpoint.describeConnectFailure(e));
        } catch (TimeoutException e) {
            ep.close(Duration.ofSeconds(1));
            throw new ShellException("cannot reach node " + host + ":" + port + ": no connection after " + timeout.toMillis() + " ms");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            ep.close(Duration.ofSeconds(1));
            throw new ShellException("interrupted");
        }
    }

    public Link link() {
        return link;
    }

    /**
     * A node's answer to a LNK_VOLCONF this client sent: the slot, 0 if it was applied, else PERM,
     * PARAM or IO with a line saying why (docs/OPERATIONS.md "Changing a running node's links").
     */
    public record VolconfAnswer(int index, int error, String why) {}

    /**
     * The node's next answer about slot {@code index} within {@code wait}, or {@code null}: a 2013
     * C node, or one of ours over plaintext, does not answer; then only reading the table back
     * tells. Answers about other slots are dropped.
     */
    public VolconfAnswer awaitVolconfAnswer(int index, Duration wait) throws InterruptedException {
        long deadline = System.nanoTime() + wait.toNanos();
        for (long left = wait.toNanos(); left > 0; left = deadline - System.nanoTime()) {
            VolconfAnswer a = volconfAnswers.poll(left, TimeUnit.NANOSECONDS);
            if (a == null || a.index() == index) {
                return a;
            }
        }
        return null;
    }

    /**
     * Whether the node is a 2013 C node (a plaintext link whose LNK_CONN lacked our marker): it
     * runs only its own few commands ({@code help}, {@code tree}, …) and is spoken to in its own
     * framing (docs/LEGACY.md).
     */
    public boolean legacyNode() {
        return legacyNode;
    }

    /** Runs {@code line}; {@code output} receives text as it arrives. Returns the command's status (0 = ok). */
    public int run(String line, Consumer<String> output, Duration timeout) throws ShellException {
        if (legacyNode) {
            return runOneWay(line, output, timeout);
        }
        ShellCall.Call call = ShellCall.run(link::open, line, output,
            () -> "link to the node lost: " + link.closeReason());
        try {
            return call.status().get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            throw e.getCause() instanceof ShellException se ? se : new ShellException(LinkEndpoint.describeConnectFailure(e));
        } catch (TimeoutException e) {
            call.abandon();
            throw new ShellException("'" + line + "': no answer after " + timeout.toMillis() + " ms");
        } catch (InterruptedException e) {
            call.abandon();
            Thread.currentThread().interrupt();
            throw new ShellException("interrupted");
        }
    }

    private int runOneWay(String line, Consumer<String> output, Duration timeout) throws ShellException {
        OneWayShell.Pending p = oneWay.send(link, line, output);
        try {
            return p.status.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            throw e.getCause() instanceof ShellException se ? se : new ShellException(String.valueOf(e.getCause()));
        } catch (TimeoutException e) {
            p.abandon(); // a 2013 shell cannot be told to stop; its late output is dropped
            throw new ShellException("'" + line + "': no answer after " + timeout.toMillis() + " ms");
        } catch (InterruptedException e) {
            p.abandon();
            Thread.currentThread().interrupt();
            throw new ShellException("interrupted");
        }
    }

    /** Runs {@code line} and returns its output, or throws with the output when its status is not 0. */
    public String call(String line, Duration timeout) throws ShellException {
        StringBuilder out = new StringBuilder();
        int status = run(line, out::append, timeout);
        if (status != 0) {
            throw new ShellException("'" + line + "' failed (" + ErrorCode.nameOf(status) + "): " + out.toString().trim());
        }
        return out.toString();
    }

    @Override
    public void close() {
        endpoint.close(Duration.ofSeconds(2));
    }

    /** A shell command could not be run, or failed; the message is for the user. */
    public static final class ShellException extends Exception {
        public ShellException(String message) {
            super(message);
        }
    }
}
