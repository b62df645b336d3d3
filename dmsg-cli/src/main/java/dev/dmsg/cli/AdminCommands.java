package dev.dmsg.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dmsg.link.tls.NodeKeys;
import dev.dmsg.link.tls.TlsConfig;
import dev.dmsg.link.tls.TrustStore;
import dev.dmsg.services.node.NodeTrust;
import dev.dmsg.services.page.Dot;
import dev.dmsg.services.page.GraphSource;
import dev.dmsg.services.page.MeshGraph;
import dev.dmsg.services.shell.ShellClient;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.ErrorCode;
import dev.dmsg.wire.LnkVolconf;
import dev.dmsg.wire.VolData;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * Commands that talk to a running node over a DMSG link: {@code status}, {@code connect},
 * {@code disconnect}. They print what went wrong and exit non-zero when it did.
 */
final class AdminCommands {
    private AdminCommands() {}

    static final Duration TIMEOUT = Duration.ofSeconds(10);
    /** How often {@code connect} reads a node's table back while it has no answer. */
    static final Duration POLL = Duration.ofMillis(100);

    /**
     * The CLI's TLS identity: the keys and trust store in {@code dir} (default $DMSG_IDENTITY, else
     * ~/.dmsg), made on first use with a notice saying what to trust where.
     */
    static TlsConfig clientTls(Path dir) throws ShellClient.ShellException {
        Path d = dir != null ? dir : defaultIdentity();
        try {
            NodeKeys keys = identityKeys(d);
            TrustStore trust = TrustStore.open(d);
            return TlsConfig.of(keys, NodeTrust.open(d, keys, trust, false));
        } catch (IOException e) {
            throw new ShellClient.ShellException("identity " + d + ": " + e.getMessage());
        }
    }

    /** The CLI's keys in {@code dir}, made on first use with a notice on stderr saying what to trust where. */
    static NodeKeys identityKeys(Path dir) throws IOException {
        boolean fresh = !NodeKeys.exists(dir);
        String user = System.getProperty("user.name", "cli").replaceAll("[^A-Za-z0-9._-]", "_");
        NodeKeys keys = NodeKeys.loadOrCreate(dir, "cli-" + user);
        if (fresh) {
            System.err.println("dmsg: made your key " + keys.fingerprint() + " (name '" + keys.label() + "') in " + dir
                + "; a node accepts it after: dmsg trust add " + keys.label() + " " + keys.fingerprint()
                + " --role admin --data-dir NODE_DATA_DIR");
        }
        return keys;
    }

    static Path defaultIdentity() {
        return defaultIdentity(System.getenv());
    }

    /** {@code $DMSG_IDENTITY}, else {@code ~/.dmsg} ({@link #home}). */
    static Path defaultIdentity(Map<String, String> env) {
        String dir = env.get("DMSG_IDENTITY");
        return dir != null && !dir.isEmpty() ? Path.of(dir) : home(env).resolve(".dmsg");
    }

    /**
     * The user's home as the shell means {@code ~}: {@code $HOME}, else Java's {@code user.home},
     * which is the home in the password database and not {@code $HOME} (under {@code sudo -E},
     * {@code HOME=/tmp/x dmsg …}, or a service with its own HOME).
     */
    static Path home(Map<String, String> env) {
        String h = env.get("HOME");
        return h != null && !h.isEmpty() && Path.of(h).isAbsolute() ? Path.of(h) : Path.of(System.getProperty("user.home"));
    }
    static final ObjectMapper JSON = new ObjectMapper();

    /** Options every admin command shares. */
    static class NodeOption {
        @Option(names = "--node", paramLabel = "HOST:PORT", converter = HostPort.Converter.class,
            defaultValue = "127.0.0.1:987", description = "the node to talk to (default: $DMSG_NODE, else 127.0.0.1:987)")
        HostPort node;

        @Option(names = "--identity", paramLabel = "DIR",
            description = "whose key to present (node.key, node.crt) and which node keys to trust (trusted): "
                + "a node's data directory acts as that node (an admin of it); default $DMSG_IDENTITY, else ~/.dmsg "
                + "(made on first use)")
        Path identity;

        @Option(names = "--plaintext", description = "no TLS: for a node that lists this host as a legacy peer")
        boolean plaintext;

        ShellClient open() throws ShellClient.ShellException {
            return open(TIMEOUT);
        }

        /** Connects within {@code timeout}, TLS handshake and AUTH included. */
        ShellClient open(Duration timeout) throws ShellClient.ShellException {
            Logging.setLevel("dev.dmsg.link", "WARN"); // the command's own output is what matters here
            if (plaintext) {
                return ShellClient.connect(node.host(), node.port(), "dmsg-cli", timeout);
            }
            return ShellClient.connect(node.host(), node.port(), clientTls(identity).withHandshakeTimeout(timeout), timeout);
        }
    }

    @Command(name = "status", mixinStandardHelpOptions = true,
        description = {"Shows a node's identity, links, span tree and VOLCONF table.",
            "--json prints the status document (docs/OPERATIONS.md); --dot the mesh as a graph for Graphviz, "
                + "what the status page draws (docs/STATUS-PAGE.md); exit 1 if the node cannot be reached."})
    static final class Status extends NodeOption implements Callable<Integer> {
        /** How long one node may take to answer {@code --dot}'s question. */
        static final Duration DOT_ASK = Duration.ofSeconds(3);

        @Option(names = "--json", description = "the status document as JSON")
        boolean json;

        @Option(names = "--dot", description = "the mesh as the node sees it, in Graphviz's DOT: "
            + "dmsg status --dot | dot -Tsvg > mesh.svg")
        boolean dot;

        @Override
        public Integer call() {
            try (ShellClient c = open()) {
                if (c.legacyNode()) {
                    return legacyStatus(c);
                }
                if (dot) {
                    System.out.print(Dot.of(graph(c)));
                    return 0;
                }
                System.out.print(c.call(json ? "status --json" : "status", TIMEOUT));
                return 0;
            } catch (ShellClient.ShellException e) {
                System.err.println("dmsg status: " + e.getMessage());
                return 1;
            }
        }

        /**
         * The graph the node's status page would draw, gathered from here with this CLI's identity
         * (docs/STATUS-PAGE.md "Rights"): the node's document, then each reachable node's through it
         * ({@code @NODE status --json}), one at a time, since the node runs at most 4 commands of one
         * caller at once.
         */
        static MeshGraph graph(ShellClient c) throws ShellClient.ShellException {
            try {
                JsonNode self = JSON.readTree(c.call("status --json", TIMEOUT));
                GraphSource source = new GraphSource(() -> self, label -> {
                    StringBuilder out = new StringBuilder();
                    MeshGraph.Answer a;
                    try {
                        a = GraphSource.answerOf(c.run("@" + label + " status --json", out::append, DOT_ASK), out.toString());
                    } catch (ShellClient.ShellException e) {
                        a = MeshGraph.Answer.failed(MeshGraph.State.NO_ANSWER, e.getMessage());
                    }
                    return CompletableFuture.completedFuture(a);
                }, System::nanoTime, GraphSource.WAIT);
                return source.graph().graph();
            } catch (ShellClient.ShellException e) {
                throw e;
            } catch (Exception e) {
                throw new ShellClient.ShellException("cannot make the graph: " + e.getMessage());
            }
        }

        /**
         * A 2013 C node has no status document (docs/LEGACY.md): say so, and show what its shell
         * can tell — its span tree. With --json there is nothing to print: exit 1.
         */
        private int legacyStatus(ShellClient c) throws ShellClient.ShellException {
            String what = node + " is a 2013 C node (libdmsg): it has no status document — no identity, links, "
                + "VOLCONF table or counters to report; its shell knows only help, tree, span and circ";
            if (json) {
                System.err.println("dmsg status: " + what + ". Its span tree: dmsg shell --plaintext --node " + node
                    + " -c tree");
                return 1;
            }
            System.out.println(what + ". Its span tree ('tree'):");
            System.out.print(c.call("tree", TIMEOUT));
            return 0;
        }
    }

    @Command(name = "connect", mixinStandardHelpOptions = true,
        description = {"Makes a running node keep a link to HOST:PORT: sends it LNK_VOLCONF (inside our LNK_CONN, "
            + "as hammer2 connect did) setting the first free slot to an enabled span:HOST:PORT, then checks the "
            + "node's table. Exit 0 when the slot is in place (or was already), 1 otherwise."})
    static final class Connect extends NodeOption implements Callable<Integer> {
        @Parameters(paramLabel = "HOST:PORT", converter = HostPort.Converter.class)
        HostPort peer;

        @Override
        public Integer call() {
            return change(this, peer, true);
        }
    }

    @Command(name = "disconnect", mixinStandardHelpOptions = true,
        description = {"Makes a running node drop its link to HOST:PORT: sends LNK_VOLCONF clearing the slot's copyid "
            + "(as hammer2 disconnect did), then checks the node's table. Exit 1 if no slot has that path."})
    static final class Disconnect extends NodeOption implements Callable<Integer> {
        @Parameters(paramLabel = "HOST:PORT", converter = HostPort.Converter.class)
        HostPort peer;

        @Override
        public Integer call() {
            return change(this, peer, false);
        }
    }

    static int change(NodeOption o, HostPort peer, boolean add) {
        String cmd = add ? "connect" : "disconnect";
        String path = "span:" + peer;
        try (ShellClient c = o.open()) {
            if (c.legacyNode()) {
                // Its shell has no volconf command: the change could be neither planned nor confirmed.
                System.err.println("dmsg " + cmd + ": node " + o.node + " is a 2013 C node (libdmsg): its VOLCONF "
                    + "table cannot be read over its shell, so a change could not be confirmed; nothing sent. "
                    + "Use hammer2 " + cmd + " on that host (docs/LEGACY.md)");
                return 1;
            }
            JsonNode table = JSON.readTree(c.call("volconf --json", TIMEOUT));
            int index = -1;
            boolean used[] = new boolean[Dmsg.COPYID_COUNT];
            for (JsonNode s : table) {
                int i = s.get("index").asInt();
                used[i] = s.get("copyid").asInt() != 0;
                if (s.get("path").asText().equals(path) && (index < 0 || s.get("enabled").asBoolean())) {
                    index = i;
                }
            }
            if (add && index >= 0 && table.get(find(table, index)).get("enabled").asBoolean()) {
                System.out.println("node " + o.node + " already keeps " + path + " (slot " + index + ")");
                return 0;
            }
            if (!add && (index < 0 || table.get(find(table, index)).get("copyid").asInt() == 0)) {
                System.err.println("dmsg disconnect: node " + o.node + " has no slot for " + path);
                return 1;
            }
            if (index < 0) {
                for (int i = 1; i < Dmsg.COPYID_COUNT && index < 0; i++) {
                    if (!used[i] && find(table, i) < 0) {
                        index = i;
                    }
                }
                if (index < 0) {
                    System.err.println("dmsg connect: node " + o.node + ": VOLCONF table full");
                    return 1;
                }
            }
            VolData v = add
                ? new VolData(index, 0, 0, 0, Dmsg.VOLF_ENABLED, 0, 0, 0, new UUID(0, 0), "", path)
                : new VolData(0, 0, 0, 0, 0, 0, 0, 0, new UUID(0, 0), "", path);
            c.link().conn().sendOneWay(Dmsg.LNK_VOLCONF, new LnkVolconf(v, index, new UUID(0, 0)), null);
            // LNK_VOLCONF is one-way: a node of ours answers it (at once, with why it failed), a
            // 2013 C node does not; either way reading the table back confirms it.
            long deadline = System.nanoTime() + TIMEOUT.toNanos();
            while (System.nanoTime() < deadline) {
                ShellClient.VolconfAnswer answer = c.awaitVolconfAnswer(index, POLL); // paces the polling too
                if (answer != null && answer.error() != 0) {
                    System.err.println("dmsg " + cmd + ": node " + o.node + " did not apply the change: "
                        + ErrorCode.nameOf(answer.error()) + (answer.why().isEmpty() ? "" : ": " + answer.why()));
                    return 1;
                }
                JsonNode now = JSON.readTree(c.call("volconf --json", TIMEOUT));
                int at = find(now, index);
                boolean applied = add
                    ? at >= 0 && now.get(at).get("enabled").asBoolean() && now.get(at).get("path").asText().equals(path)
                    : at < 0 || now.get(at).get("copyid").asInt() == 0;
                if (applied) {
                    System.out.println("node " + o.node + ": slot " + index + (add ? " keeps " : " no longer keeps ") + path);
                    return 0;
                }
            }
            System.err.println("dmsg " + cmd + ": node " + o.node + " did not apply the change within "
                + TIMEOUT.toSeconds() + " s (is this client allowed to change its table?)");
            return 1;
        } catch (ShellClient.ShellException e) {
            System.err.println("dmsg " + cmd + ": " + e.getMessage());
            return 1;
        } catch (Exception e) {
            System.err.println("dmsg " + cmd + ": " + e);
            return 1;
        }
    }

    /** Position of slot {@code index} in a volconf JSON array, or -1. */
    static int find(JsonNode table, int index) {
        for (int i = 0; i < table.size(); i++) {
            if (table.get(i).get("index").asInt() == index) {
                return i;
            }
        }
        return -1;
    }
}
