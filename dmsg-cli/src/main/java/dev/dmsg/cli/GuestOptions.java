package dev.dmsg.cli;

import dev.dmsg.link.tls.TlsConfig;
import dev.dmsg.services.node.GuestNode;
import dev.dmsg.services.quorum.QuorumClient;
import dev.dmsg.services.shell.ShellClient;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The options of a command that joins the mesh as a short-lived {@link GuestNode} through
 * {@code --node} (blk, kv, quorum, lock): where to join, as whom, and which quorum group.
 */
abstract class GuestOptions extends AdminCommands.NodeOption {
    /**
     * When the wait for the link and the spans ends: {@code wait} after the guest node has
     * started (its own start-up, a JVM's first TLS context, is not waiting for the mesh).
     */
    long deadlineNanos;

    /**
     * Joins through {@code --node} (returns once the link is up, or throws naming why not: the
     * handshake timeout bounds it) and sets {@link #deadlineNanos} for the span wait. {@code kind}
     * names the guest ({@code LABEL.KIND.PID}).
     */
    GuestNode join(String kind, Duration wait) throws IOException, InterruptedException, ShellClient.ShellException {
        // The guest's own log would only repeat what the command prints (dial retries: the error
        // line says why; failover: printed as it happens) or be noise at close (a circuit's last
        // DELETE crossing ours is dropped as UNKNOWN_CIRCUIT).
        Logging.setLevel("dev.dmsg", "ERROR");
        Logging.setLevel("dmsg.node", "ERROR");
        Logging.setLevel("org.apache.ratis", "ERROR");
        Path id = null;
        if (!plaintext) {
            id = identity != null ? identity : AdminCommands.defaultIdentity();
            AdminCommands.clientTls(id); // makes ~/.dmsg on first use, with the notice saying what to trust
        }
        GuestNode g = GuestNode.join(kind, node.host(), node.port(), id, plaintext, TlsConfig.Provider.AUTO);
        deadlineNanos = System.nanoTime() + wait.toNanos(); // join returned with the link up
        return g;
    }

    /**
     * The only quorum group the mesh advertises, waiting for the spans until {@link #deadlineNanos};
     * refuses when there are several (say which with --group) or none within {@code wait}.
     */
    String onlyGroup(GuestNode g, Duration wait) throws Exception {
        while (true) {
            Map<String, List<QuorumClient.Member>> groups = QuorumClient.groups(g.mesh()).get(5, TimeUnit.SECONDS);
            if (groups.size() == 1) {
                return groups.keySet().iterator().next();
            }
            if (groups.size() > 1) {
                throw new IllegalArgumentException("the mesh has several quorum groups " + groups.keySet()
                    + ": say which with --group");
            }
            if (System.nanoTime() - deadlineNanos >= 0) {
                throw new IllegalArgumentException("no quorum group advertised in the mesh within " + wait.toMillis()
                    + " ms (is a node running with --quorum?)");
            }
            Thread.sleep(100); // the span table has no change notification; a tool's start-up
        }
    }
}
