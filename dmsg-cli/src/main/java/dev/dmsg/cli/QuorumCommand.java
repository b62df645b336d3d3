package dev.dmsg.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dmsg.services.node.GuestNode;
import dev.dmsg.services.quorum.QuorumClient;
import java.io.PrintStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code dmsg quorum}: the quorum groups of the mesh (docs/QUORUM.md §7) — their Raft state, and
 * membership changes through the leader (never by editing files).
 */
@Command(name = "quorum", mixinStandardHelpOptions = true,
    description = {"Shows and changes the mesh's quorum groups (docs/QUORUM.md): status, add, remove, transfer.",
        "Joins the mesh through --node for the length of the command; exit 0 done, 1 failed, 2 usage."},
    subcommands = {QuorumCommand.Status.class, QuorumCommand.Add.class, QuorumCommand.Remove.class,
        QuorumCommand.Transfer.class})
final class QuorumCommand implements Runnable {
    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    static final ObjectMapper JSON = new ObjectMapper();

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    abstract static class QuorumOptions extends GuestOptions implements Callable<Integer> {
        @Option(names = "--wait", paramLabel = "DURATION", converter = Durations.class, defaultValue = "10s",
            description = "how long to wait for the groups' spans and the members' answers (default: ${DEFAULT-VALUE})")
        Duration wait;

        abstract String verb();

        abstract int run(GuestNode g, PrintStream out) throws Exception;

        @Override
        public Integer call() {
            try (GuestNode g = join("quorum", wait)) {
                return run(g, System.out);
            } catch (Exception e) {
                System.err.println("dmsg quorum " + verb() + ": " + BlkCommand.unwrap(e).getMessage());
                return 1;
            }
        }

        /**
         * Sends {@code request} to a member of {@code group}: its JSON answer. When we joined through
         * a member it goes there, over our link: a client-role identity may not forge circuits, and
         * a node's own key is an admin at that node, perhaps nowhere else.
         */
        JsonNode admin(GuestNode g, String group, ObjectNode request) throws Exception {
            try (QuorumClient c = new QuorumClient(g.mesh(), g.node().endpoint()::links, group, wait)) {
                String through = joinedMember(g, group);
                if (through != null) {
                    c.onlyTo(through);
                }
                return JSON.readTree(c.admin(request.toString()).get());
            }
        }

        /**
         * The node we joined through if it is a member of {@code group}, else {@code null}. Its span
         * may come after the spans it relays for the others: waits for it until the members known
         * have not changed for a settle tick (at most the command's wait).
         */
        String joinedMember(GuestNode g, String group) throws Exception {
            String through = g.node().endpoint().links().stream().map(l -> l.peerLabel()).filter(l -> l != null)
                .findFirst().orElse(null);
            if (through == null) {
                return null;
            }
            List<String> last = List.of();
            long changedAt = System.nanoTime();
            while (System.nanoTime() - deadlineNanos < 0) {
                List<String> now = QuorumClient.members(g.mesh(), group).get(5, TimeUnit.SECONDS).stream()
                    .map(QuorumClient.Member::label).toList();
                if (now.contains(through)) {
                    return through;
                }
                long t = System.nanoTime();
                if (!now.equals(last)) {
                    last = now;
                    changedAt = t;
                } else if (!now.isEmpty() && t - changedAt >= BlkCommand.SETTLE_TICK.toNanos()) {
                    return null; // the members are known and ours is not one: any will do
                }
                Thread.sleep(50); // the span table has no change notification
            }
            return null;
        }
    }

    @Command(name = "status", mixinStandardHelpOptions = true,
        description = {"Per group: leader, term, commit and snapshot index, and each member's match index and lag "
            + "(as the leader sees them).",
            "--json: {\"groups\":[{\"name\",\"leader\",\"term\",\"commit_index\",\"snapshot_index\","
                + "\"members\":[{\"label\",\"match_index\",\"lag\"}]}]}"})
    static final class Status extends QuorumOptions {
        @Option(names = "--json", description = "the document above")
        boolean json;

        @Option(names = "--group", paramLabel = "NAME", description = "only this group")
        String group;

        @Override
        String verb() {
            return "status";
        }

        @Override
        int run(GuestNode g, PrintStream out) throws Exception {
            Map<String, List<QuorumClient.Member>> groups = settled(g);
            ObjectNode doc = JSON.createObjectNode();
            ArrayNode arr = doc.putArray("groups");
            List<String> failed = new ArrayList<>();
            for (String name : groups.keySet()) {
                if (group != null && !group.equals(name)) {
                    continue;
                }
                try {
                    arr.add(leaderStatus(g, name));
                } catch (Exception e) {
                    failed.add(name + ": " + BlkCommand.unwrap(e).getMessage());
                }
            }
            if (group != null && arr.isEmpty() && failed.isEmpty()) {
                failed.add(group + ": not advertised in the mesh");
            }
            if (json) {
                out.println(doc.toPrettyString());
            } else {
                print(arr, out);
            }
            failed.forEach(f -> System.err.println("dmsg quorum status: " + f));
            return failed.isEmpty() ? 0 : 1;
        }

        /**
         * The group's status as its leader sees it (only the leader knows its followers' match
         * indexes): asked of the nearest member first, then of the leader it names.
         */
        private JsonNode leaderStatus(GuestNode g, String name) throws Exception {
            ObjectNode req = JSON.createObjectNode().put("op", "status");
            try (QuorumClient c = new QuorumClient(g.mesh(), () -> g.node().endpoint().links(), name, wait)) {
                JsonNode s = JSON.readTree(c.admin(req.toString()).get());
                String leader = s.path("leader").asText("");
                if (leader.isEmpty() || leader.equals(s.path("self").asText())) {
                    return s;
                }
                try {
                    return JSON.readTree(c.onlyTo(leader).admin(req.toString()).get());
                } catch (Exception e) {
                    return s; // the leader cannot be reached from here: the follower's view, lags unknown (-1)
                }
            }
        }

        private Map<String, List<QuorumClient.Member>> settled(GuestNode g) throws Exception {
            Map<String, List<QuorumClient.Member>> last = Map.of();
            long changedAt = System.nanoTime();
            while (System.nanoTime() - deadlineNanos < 0) {
                Map<String, List<QuorumClient.Member>> now = QuorumClient.groups(g.mesh()).get(5, TimeUnit.SECONDS);
                long t = System.nanoTime();
                if (!now.keySet().equals(last.keySet())) {
                    last = now;
                    changedAt = t;
                } else if (!now.isEmpty() && t - changedAt >= BlkCommand.SETTLE_TICK.toNanos()) {
                    return now;
                }
                Thread.sleep(50); // the span table has no change notification; a tool's start-up
            }
            return last;
        }

        static void print(ArrayNode groups, PrintStream out) {
            if (groups.isEmpty()) {
                out.println("no quorum groups");
                return;
            }
            for (JsonNode gr : groups) {
                out.printf("%s: leader %s, term %d, commit %d, snapshot %d, revision %d%n", gr.path("name").asText(),
                    gr.path("leader").asText("(none)"), gr.path("term").asLong(), gr.path("commit_index").asLong(),
                    gr.path("snapshot_index").asLong(), gr.path("revision").asLong());
                out.printf("  %-20s %12s %8s%n", "MEMBER", "MATCH", "LAG");
                for (JsonNode m : gr.path("members")) {
                    out.printf("  %-20s %12d %8d%n", m.path("label").asText(), m.path("match_index").asLong(),
                        m.path("lag").asLong());
                }
            }
        }
    }

    /** add / remove / transfer: one change through the group's leader. */
    abstract static class Change extends QuorumOptions {
        @Parameters(index = "0", paramLabel = "GROUP")
        String group;

        @Parameters(index = "1", paramLabel = "LABEL")
        String label;

        @Override
        int run(GuestNode g, PrintStream out) throws Exception {
            JsonNode r = admin(g, group, JSON.createObjectNode().put("op", verb()).put("label", label));
            out.println(r.path("message").asText(verb() + " done"));
            return 0;
        }
    }

    @Command(name = "add", mixinStandardHelpOptions = true,
        description = "Adds LABEL to GROUP (a Raft configuration change): LABEL must run with --quorum GROUP=…; "
            + "it catches up from the leader (a snapshot if it is far behind), then votes.")
    static final class Add extends Change {
        @Override
        String verb() {
            return "add";
        }
    }

    @Command(name = "remove", mixinStandardHelpOptions = true,
        description = "Removes LABEL from GROUP (a Raft configuration change); refused if it would leave no member.")
    static final class Remove extends Change {
        @Override
        String verb() {
            return "remove";
        }
    }

    @Command(name = "transfer", mixinStandardHelpOptions = true, description = "Makes LABEL the leader of GROUP.")
    static final class Transfer extends Change {
        @Override
        String verb() {
            return "transfer";
        }
    }
}
