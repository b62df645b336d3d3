package dev.dmsg.services.shell;

import dev.dmsg.link.Link;
import dev.dmsg.link.LinkConfig;
import dev.dmsg.link.LinkListener;
import dev.dmsg.link.Services;
import dev.dmsg.link.netty.LinkEndpoint;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.ErrorCode;
import java.time.Duration;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;

/**
 * Runs shell commands on a node over a DMSG link: each command is a DBG_SHELL transaction whose
 * replies carry the output and whose final LNK_ERROR carries the status (see {@link ShellService}).
 * One client holds one link; close it when done.
 */
public final class ShellClient implements AutoCloseable {
    private final LinkEndpoint endpoint;
    private final Link link;

    private ShellClient(LinkEndpoint endpoint, Link link) {
        this.endpoint = endpoint;
        this.link = link;
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
    public static ShellClient connect(String host, int port, dev.dmsg.link.tls.TlsConfig tls, Duration timeout)
            throws ShellException {
        return connect(host, port, tls.keys().label(), tls, timeout);
    }

    private static ShellClient connect(String host, int port, String label, dev.dmsg.link.tls.TlsConfig tls,
                                       Duration timeout) throws ShellException {
        // A client subscribes to no spans: peer_mask and pfs_mask 0 filter out every relay (reference §3.4).
        java.util.UUID nil = new java.util.UUID(0, 0);
        var conn = new dev.dmsg.wire.LnkConn(nil, nil, nil, 0L, Dmsg.PEER_NONE, Dmsg.PFSTYPE_NONE, Dmsg.SPAN_PROTO_1,
            0, 0, 0L, 0L, "", label);
        LinkEndpoint ep = new LinkEndpoint(LinkConfig.builder().label(label).conn(conn).tls(tls).build(),
            new Services(), LinkListener.NONE, 1);
        try {
            // With TLS the endpoint's own handshake timeout fires first and names what went unanswered.
            long waitMillis = timeout.toMillis() + (tls != null ? 500 : 0);
            Link l = ep.connect(host, port).get(waitMillis, TimeUnit.MILLISECONDS);
            return new ShellClient(ep, l);
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

    /** Runs {@code line}; {@code output} receives text as it arrives. Returns the command's status (0 = ok). */
    public int run(String line, Consumer<String> output, Duration timeout) throws ShellException {
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
