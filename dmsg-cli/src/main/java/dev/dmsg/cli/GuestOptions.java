package dev.dmsg.cli;

import dev.dmsg.link.tls.TlsConfig;
import dev.dmsg.services.node.GuestNode;
import dev.dmsg.services.shell.ShellClient;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;

/**
 * The options of a command that joins the mesh as a short-lived {@link GuestNode} through
 * {@code --node} (blk, kv, quorum): where to join, as whom.
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
}
