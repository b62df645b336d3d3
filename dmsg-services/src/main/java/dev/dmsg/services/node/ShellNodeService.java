package dev.dmsg.services.node;

import com.fasterxml.jackson.databind.JsonNode;
import dev.dmsg.services.Access;
import dev.dmsg.services.cac.CacheLocks;
import dev.dmsg.services.cac.LockListing;
import dev.dmsg.services.quorum.QuorumClient;
import dev.dmsg.services.shell.ShellService;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.VolData;
import java.io.IOException;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.UUID;

/**
 * The node's shell as a {@link NodeService} (docs/OPERATIONS.md "Shell"): DBG_SHELL on the
 * node's shell threads, with the node's own commands ({@code status}, {@code health}, {@code tree},
 * {@code links}, {@code volconf}, {@code span}, {@code cac}) and the mesh's ({@link RemoteCommands}).
 */
final class ShellNodeService implements NodeService {
    private volatile ShellService shell;

    @Override
    public String name() {
        return "shell";
    }

    @Override
    public void start(NodeContext ctx) {
        ShellService s = new ShellService(ctx.executors().shell(), ctx.access()).self(ctx.identity().label(),
            ctx.keys() == null ? null : ctx.keys().fingerprint());
        Node node = ctx.node();
        addCommands(s, node);
        addCac(s, node);
        new RemoteCommands(node, ctx.mesh()).addTo(s);
        s.register(ctx.services());
        shell = s;
    }

    /** The shell, once started. */
    ShellService shell() {
        return shell;
    }

    @Override
    public void stop() {
        // its threads are the node's (NodeExecutors); nothing of its own to release
    }

    private static void addCommands(ShellService shell, Node node) {
        shell.add("status", "status [--json]           identity, links, span tree and VOLCONF table", (args, out) -> {
            Object doc = node.statusDocument();
            out.append(args.contains("--json") ? NodeStatus.JSON.writeValueAsString(doc) + "\n"
                : StatusText.render(NodeStatus.tree(doc)));
            return 0;
        });
        shell.add("tree", "tree                      the span tree", (args, out) -> {
            out.append(StatusText.tree(node.status()));
            return 0;
        });
        shell.add("links", "links                     this node's links", (args, out) -> {
            out.append(StatusText.links(node.status()));
            return 0;
        });
        shell.add("volconf", "volconf [--json]          the VOLCONF table (slots in use)", (args, out) -> {
            var s = node.status();
            out.append(args.contains("--json") ? NodeStatus.JSON.writeValueAsString(s.get("volconf")) + "\n"
                : StatusText.volconf(s));
            return 0;
        });
        shell.add("health", "health                    ready or not, and why (what /readyz answers)", (args, out) -> {
            Readiness r = node.readiness();
            out.append(r.ready() ? "ready\n" : "not ready: " + r.reason() + "\n");
            return r.ready() ? 0 : Dmsg.ERR_IO; // any status but 0: dmsg health exits 1 on it
        });
        shell.add("span", "span HOST[:PORT]          keep a link to HOST (a VOLCONF slot)", Access.Level.CHANGE, (args, out) -> {
            if (args.size() != 1 || SpanDialer.Target.parse("span:" + args.get(0)) == null) {
                throw new IllegalArgumentException("expected one HOST[:PORT]");
            }
            VolconfTable volconf = node.volconf();
            synchronized (volconf) { // shell commands run on several threads: pick and fill a slot at once
                return addSpanSlot(volconf, args.get(0), out);
            }
        });
    }

    /**
     * {@code cac [PREFIX] [--group G] [--json]}: the quorum group's locks (docs/CAC.md §8), asked
     * of a member with this node's own identity — so for admins only; anyone else lists with
     * {@code dmsg lock ls}, authorised on their own identity.
     */
    private static void addCac(ShellService shell, Node node) {
        shell.add("cac", "cac [PREFIX] [--group G] [--json]  the quorum group's locks (holders, waiters)",
            Access.Level.CHANGE, (args, out) -> {
                String prefix = "/";
                String group = null;
                boolean json = false;
                for (int i = 0; i < args.size(); i++) {
                    String a = args.get(i);
                    if (a.equals("--json")) {
                        json = true;
                    } else if (a.equals("--group") && i + 1 < args.size()) {
                        group = args.get(++i);
                    } else if (a.startsWith("/")) {
                        prefix = a;
                    } else {
                        throw new IllegalArgumentException("expected [PREFIX] [--group G] [--json], not '" + a + "'");
                    }
                }
                if (group == null) {
                    var groups = QuorumClient.groups(node.mesh()).get(10, TimeUnit.SECONDS).keySet();
                    if (groups.size() != 1) {
                        out.append(groups.isEmpty() ? "no quorum group advertised\n"
                            : "several quorum groups " + groups + ": say which with --group\n");
                        return Dmsg.ERR_PARAM;
                    }
                    group = groups.iterator().next();
                }
                try (CacheLocks locks = new CacheLocks(node.mesh(), node.endpoint()::links, group, Duration.ofSeconds(10), 0)) {
                    JsonNode doc = NodeStatus.JSON.readTree(locks.list(prefix).get(15, TimeUnit.SECONDS));
                    out.append(json ? NodeStatus.JSON.writeValueAsString(doc) + "\n" : LockListing.render(doc));
                }
                return 0;
            });
    }

    private static int addSpanSlot(VolconfTable volconf, String hostPort, StringBuilder out) throws IOException {
        int i = volconf.firstFree();
        if (i < 0) {
            out.append("VOLCONF table full\n");
            return Dmsg.ERR_IO;
        }
        volconf.set(i, new VolData(i, 0, 0, 0, Dmsg.VOLF_ENABLED, 0, 0, 0, new UUID(0, 0), "", "span:" + hostPort));
        out.append("slot ").append(i).append(": span:").append(hostPort).append('\n');
        return 0;
    }
}
