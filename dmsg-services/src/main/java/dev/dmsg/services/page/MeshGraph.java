package dev.dmsg.services.page;

import com.fasterxml.jackson.annotation.JsonValue;
import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * The mesh as a graph, as one node sees it (docs/STATUS-PAGE.md "What the graph is"): its nodes
 * with their span distance and state, the links between them, their exports, and the paths its
 * circuits take. Built by {@link #build} from status documents (docs/STATUS.md) alone, with no
 * I/O: the serving node's own document, and what each reachable node answered when asked for its
 * own. What the status page draws and {@link Dot} prints.
 *
 * @param self the serving node's label
 * @param nodes the serving node first, then by distance and label; gone nodes last
 * @param links each pair once, {@code a < b}, sorted
 */
public record MeshGraph(String self, List<GraphNode> nodes, List<GraphLink> links, List<GraphCircuit> circuits) {

    /** A node's state on the graph (docs/STATUS-PAGE.md "Node states"). */
    public enum State {
        SELF("self"), UP("up"), REFUSED("refused"), NO_ANSWER("no answer"), NOT_ASKED("not asked"),
        UNREACHABLE("unreachable"), GONE("gone");

        @JsonValue
        public final String word;

        State(String word) {
            this.word = word;
        }

        /** Whether the node's own document was read: its links and exports are first-hand. */
        public boolean read() {
            return this == SELF || this == UP;
        }
    }

    /**
     * One node. {@code dist} is the span distance (-1: no feasible path; for a gone node, the last
     * one seen), {@code nextHop} the neighbour the best path goes through (null for the serving
     * node and unreachable ones). {@code detail} says why it is not {@code up} (the refusal, the
     * error); {@code version} and {@code uptimeS} only when its document was read.
     */
    public record GraphNode(String label, State state, int dist, String nextHop, String detail, String version,
                            long uptimeS, List<GraphExport> exports) {}

    /** An export; the counters are -1 when only its span is known. */
    public record GraphExport(String name, long size, boolean readOnly, long opens, long reads, long writes,
                              long errors) {}

    /**
     * A link between two nodes of the graph; {@code seenBy} the ends whose documents reported it;
     * {@code msgs} and {@code bytes} the messages and frame bytes it carried both ways, as the
     * first end that reported it counts them (-1 if neither did).
     */
    public record GraphLink(String a, String b, String state, List<String> seenBy, long msgs, long bytes) {}

    /** A circuit from {@code origin} to {@code target} and the nodes it passes; {@code complete} if followed to its end. */
    public record GraphCircuit(String origin, String target, List<String> path, boolean complete) {}

    /**
     * What asking a node for its status document gave.
     *
     * @param doc the document, or null
     * @param state {@link State#UP} with a doc; else why not ({@link State#REFUSED}, {@link State#NO_ANSWER},
     *     {@link State#NOT_ASKED})
     * @param detail for the page: the refusal or error, one line
     */
    public record Answer(JsonNode doc, State state, String detail) {
        public static Answer of(JsonNode doc) {
            return new Answer(doc, State.UP, "");
        }

        public static Answer failed(State state, String detail) {
            return new Answer(null, state, detail);
        }
    }

    /** A node of the span table: what the serving node knows of it without asking it. */
    public record Reachable(String label, int dist, String nextHop) {}

    /**
     * The CLUSTER nodes of {@code selfDoc}'s span table other than itself, nearest first (then by
     * label), with their distance and next hop: the nodes to ask.
     */
    public static List<Reachable> reachable(JsonNode selfDoc) {
        String self = selfDoc.path("node").path("label").asText();
        Map<String, Reachable> out = new TreeMap<>();
        for (JsonNode s : selfDoc.path("spans")) {
            if (!"CLUSTER".equals(s.path("peer_type").asText()) || s.path("local").asBoolean()) {
                continue;
            }
            String label = s.path("fs_label").asText();
            if (label.isEmpty() || label.equals(self)) {
                continue;
            }
            int dist = s.path("dist").asInt(-1);
            String next = null;
            int best = Integer.MAX_VALUE;
            for (JsonNode p : s.path("links")) {
                if (p.path("feasible").asBoolean() && p.path("dist").asInt() < best) {
                    best = p.path("dist").asInt();
                    next = viaLabel(p.path("via").asText());
                }
            }
            Reachable r = new Reachable(label, dist, dist < 0 ? null : next);
            Reachable had = out.get(label);
            if (had == null || (had.dist() < 0 && dist >= 0) || (dist >= 0 && dist < had.dist())) {
                out.put(label, r); // the same label twice (two keys): the better path
            }
        }
        List<Reachable> list = new ArrayList<>(out.values());
        list.sort(Comparator.comparingInt((Reachable r) -> r.dist() < 0 ? Integer.MAX_VALUE : r.dist())
            .thenComparing(Reachable::label));
        return list;
    }

    /** {@code beta@127.0.0.1:51604} → {@code beta}. */
    static String viaLabel(String via) {
        int at = via.indexOf('@');
        return at < 0 ? via : via.substring(0, at);
    }

    /**
     * The graph.
     *
     * @param selfDoc the serving node's status document
     * @param answers what each node of {@link #reachable} answered, by label (a node missing here
     *     was not asked)
     * @param remembered labels seen on an earlier graph: those not in the span table now are
     *     {@link State#GONE}, with the distance {@code lastDist} gives
     * @param lastDist the last distance seen of each remembered label
     */
    public static MeshGraph build(JsonNode selfDoc, Map<String, Answer> answers, Set<String> remembered,
                                  Map<String, Integer> lastDist) {
        String self = selfDoc.path("node").path("label").asText();
        Map<String, JsonNode> docs = new LinkedHashMap<>();
        docs.put(self, selfDoc);
        List<GraphNode> nodes = new ArrayList<>();
        nodes.add(new GraphNode(self, State.SELF, 0, null, "", selfDoc.path("node").path("version").asText(null),
            selfDoc.path("node").path("uptime_s").asLong(), exports(selfDoc, self, selfDoc)));
        Set<String> known = new LinkedHashSet<>();
        known.add(self);
        for (Reachable r : reachable(selfDoc)) {
            known.add(r.label());
            if (r.dist() < 0) {
                nodes.add(new GraphNode(r.label(), State.UNREACHABLE, -1, null, "no feasible path in the span table",
                    null, 0, exports(null, r.label(), selfDoc)));
                continue;
            }
            Answer a = answers.getOrDefault(r.label(), Answer.failed(State.NOT_ASKED, "past the fan-out bound"));
            if (a.doc() != null) {
                docs.put(r.label(), a.doc());
                JsonNode n = a.doc().path("node");
                nodes.add(new GraphNode(r.label(), State.UP, r.dist(), r.nextHop(), "", n.path("version").asText(null),
                    n.path("uptime_s").asLong(), exports(a.doc(), r.label(), selfDoc)));
            } else {
                nodes.add(new GraphNode(r.label(), a.state(), r.dist(), r.nextHop(), a.detail(), null, 0,
                    exports(null, r.label(), selfDoc)));
            }
        }
        for (String g : new TreeSet<>(remembered)) {
            if (!known.contains(g)) {
                nodes.add(new GraphNode(g, State.GONE, lastDist.getOrDefault(g, -1), null,
                    "no longer in the span table", null, 0, List.of()));
            }
        }
        return new MeshGraph(self, nodes, links(docs, known), circuits(docs, known));
    }

    /** Every link between two known nodes that a read document reports, each pair once. */
    private static List<GraphLink> links(Map<String, JsonNode> docs, Set<String> known) {
        Map<String, String> state = new TreeMap<>();
        Map<String, Set<String>> seenBy = new TreeMap<>();
        Map<String, long[]> counts = new TreeMap<>();
        docs.forEach((label, doc) -> {
            for (JsonNode l : doc.path("links")) {
                String peer = l.path("peer").asText();
                if (!known.contains(peer) || peer.equals(label)) {
                    continue; // a CLI's, a guest's link: not a node of the graph
                }
                String key = label.compareTo(peer) < 0 ? label + "\u0000" + peer : peer + "\u0000" + label;
                String st = l.path("state").asText("UNKNOWN");
                state.merge(key, st, MeshGraph::worse);
                seenBy.computeIfAbsent(key, k -> new TreeSet<>()).add(label);
                counts.putIfAbsent(key, new long[] {l.path("msgs_in").asLong() + l.path("msgs_out").asLong(),
                    l.path("bytes_in").asLong() + l.path("bytes_out").asLong()});
            }
        });
        List<GraphLink> out = new ArrayList<>();
        state.forEach((key, st) -> {
            String[] ab = key.split("\u0000");
            long[] c = counts.getOrDefault(key, new long[] {-1, -1});
            out.add(new GraphLink(ab[0], ab[1], st, List.copyOf(seenBy.get(key)), c[0], c[1]));
        });
        return out;
    }

    /** Of two link states, the one further from UP (two links between a pair: the worse is shown). */
    static String worse(String x, String y) {
        return rank(x) >= rank(y) ? x : y;
    }

    private static int rank(String state) {
        return switch (state) {
            case "UP" -> 0;
            case "OPENING", "NEW" -> 1;
            case "CLOSING" -> 2;
            case "CLOSED" -> 3;
            default -> 4;
        };
    }

    /**
     * The exports of {@code label}: from its document when read (with counters), else from the
     * serving node's BLOCK spans named {@code label/NAME} (name and size only).
     */
    private static List<GraphExport> exports(JsonNode doc, String label, JsonNode selfDoc) {
        List<GraphExport> out = new ArrayList<>();
        if (doc != null) {
            for (JsonNode e : doc.path("exports")) {
                out.add(new GraphExport(e.path("name").asText(), e.path("size").asLong(), e.path("read_only").asBoolean(),
                    e.path("opens").asLong(), e.path("reads").asLong(), e.path("writes").asLong(),
                    e.path("errors").asLong()));
            }
            return out;
        }
        String prefix = label + "/";
        Set<String> seen = new TreeSet<>();
        for (JsonNode s : selfDoc.path("spans")) {
            String cl = s.path("cl_label").asText();
            if ("BLOCK".equals(s.path("peer_type").asText()) && cl.startsWith(prefix)
                && seen.add(cl.substring(prefix.length()))) {
                out.add(new GraphExport(cl.substring(prefix.length()), s.path("bytes").asLong(), false, -1, -1, -1, -1));
            }
        }
        return out;
    }

    /**
     * Each circuit whose origin's document was read, followed from node to node by the (link, id)
     * of each side (docs/STATUS-PAGE.md "Links, exports, circuits"). Both sides of a link name a
     * circuit by the same id: the msgid of the LNK_CIRC transaction that forged it (docs/CIRCUITS.md).
     */
    private static List<GraphCircuit> circuits(Map<String, JsonNode> docs, Set<String> known) {
        List<GraphCircuit> out = new ArrayList<>();
        docs.forEach((origin, doc) -> {
            for (JsonNode c : doc.path("circuits")) {
                if (!"origin".equals(c.path("role").asText())) {
                    continue;
                }
                List<String> path = new ArrayList<>();
                path.add(origin);
                String at = origin;
                String next = c.path("link").asText();
                String id = c.path("id").asText();
                boolean complete = false;
                for (int hop = 0; hop < 64 && known.contains(next) && !path.contains(next); hop++) {
                    path.add(next);
                    JsonNode there = docs.get(next);
                    JsonNode side = there == null ? null : sideOf(there, at, id);
                    if (side == null) {
                        break; // its document was not read, or it no longer has the circuit
                    }
                    if (!"relay".equals(side.path("role").asText())) {
                        complete = true;
                        break;
                    }
                    boolean in = side.path("link").asText().equals(at) && side.path("id").asText().equals(id);
                    at = next;
                    next = in ? side.path("other_link").asText() : side.path("link").asText();
                    id = in ? side.path("other_id").asText() : side.path("id").asText();
                }
                out.add(new GraphCircuit(origin, c.path("node").asText(), path, complete));
            }
        });
        return out;
    }

    /** The entry of {@code doc}'s circuits that is the circuit {@code id} on its link to {@code from}. */
    private static JsonNode sideOf(JsonNode doc, String from, String id) {
        for (JsonNode c : doc.path("circuits")) {
            if ((c.path("link").asText().equals(from) && c.path("id").asText().equals(id))
                || (c.path("other_link").asText().equals(from) && c.path("other_id").asText().equals(id))) {
                return c;
            }
        }
        return null;
    }
}
