package dev.dmsg.services.page;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dmsg.services.page.MeshGraph.Answer;
import dev.dmsg.services.page.MeshGraph.GraphCircuit;
import dev.dmsg.services.page.MeshGraph.GraphExport;
import dev.dmsg.services.page.MeshGraph.GraphLink;
import dev.dmsg.services.page.MeshGraph.GraphNode;
import dev.dmsg.services.page.MeshGraph.State;
import dev.dmsg.wire.Dmsg;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/**
 * The graph from hand-written status documents (docs/STATUS.md fields, only those the graph
 * reads): states, links seen from one end, a refused node drawn from the span table, gone nodes,
 * circuit paths; and {@link GraphSource}'s cache and one-question-in-flight rule on a fake clock.
 */
class MeshGraphTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    static JsonNode json(String s) {
        try {
            return JSON.readTree(s.replace('\'', '"'));
        } catch (Exception e) {
            throw new IllegalArgumentException(e);
        }
    }

    /** A CLUSTER span of {@code label} at {@code dist}, first reached via {@code via}. */
    static String span(String label, int dist, String via, boolean feasible) {
        return "{'peer_type':'CLUSTER','cl_label':'','fs_label':'" + label + "','local':false,'dist':" + dist
            + ",'links':[{'dist':" + Math.max(dist, 0) + ",'via':'" + via + "@127.0.0.1:1','feasible':" + feasible + "}]}";
    }

    static String link(String peer, String state) {
        return "{'peer':'" + peer + "','state':'" + state + "','msgs_in':3,'msgs_out':4,'bytes_in':300,'bytes_out':400}";
    }

    /**
     * alpha's view: beta a neighbour, gamma behind beta (with an export disk0 in its span),
     * delta unreachable; alpha's links to beta and to a CLI.
     */
    static final JsonNode ALPHA = json("{'node':{'label':'alpha','version':'1.0','uptime_s':7},"
        + "'links':[" + link("beta", "UP") + "," + link("dmsg-cli", "UP") + "],"
        + "'spans':[{'peer_type':'CLUSTER','fs_label':'alpha','local':true,'dist':0,'links':[]},"
        + span("beta", 0, "beta", true) + "," + span("gamma", 1, "beta", true) + "," + span("delta", -1, "beta", false)
        + ",{'peer_type':'BLOCK','cl_label':'gamma/disk0','fs_label':'5f0e','local':false,'dist':1,'bytes':4096,'links':[]}],"
        + "'circuits':[{'role':'origin','node':'gamma','link':'beta','id':'a1','open':true}],"
        + "'exports':[]}");

    static final JsonNode BETA = json("{'node':{'label':'beta','version':'1.0','uptime_s':5},"
        + "'links':[" + link("alpha", "UP") + "," + link("gamma", "UP") + "],"
        + "'circuits':[{'role':'relay','node':'gamma','link':'alpha','id':'a1','other_link':'gamma','other_id':'b2',"
        + "'open':true}],"
        + "'exports':[{'name':'b0','size':8192,'read_only':true,'opens':1,'reads':3,'writes':0,'errors':0}]}");

    static final JsonNode GAMMA = json("{'node':{'label':'gamma','version':'1.0','uptime_s':3},"
        + "'links':[" + link("beta", "CLOSING") + "],"
        + "'circuits':[{'role':'endpoint','node':'alpha','link':'beta','id':'b2','open':true}],"
        + "'exports':[{'name':'disk0','size':4096,'read_only':false,'opens':0,'reads':9,'writes':2,'errors':1}]}");

    @Test
    void reachableNodesComeFromTheSpanTableNearestFirst() {
        assertThat(MeshGraph.reachable(ALPHA)).containsExactly(
            new MeshGraph.Reachable("beta", 0, "beta"),
            new MeshGraph.Reachable("gamma", 1, "beta"),
            new MeshGraph.Reachable("delta", -1, null));
    }

    @Test
    void everyNodeReadIsUpWithItsLinksExportsAndCircuits() {
        MeshGraph g = MeshGraph.build(ALPHA, Map.of("beta", Answer.of(BETA), "gamma", Answer.of(GAMMA)), Set.of(),
            Map.of());
        assertThat(g.self()).isEqualTo("alpha");
        assertThat(g.nodes()).extracting(GraphNode::label, GraphNode::state, GraphNode::dist, GraphNode::nextHop)
            .containsExactly(
                org.assertj.core.groups.Tuple.tuple("alpha", State.SELF, 0, null),
                org.assertj.core.groups.Tuple.tuple("beta", State.UP, 0, "beta"),
                org.assertj.core.groups.Tuple.tuple("gamma", State.UP, 1, "beta"),
                org.assertj.core.groups.Tuple.tuple("delta", State.UNREACHABLE, -1, null));
        // the CLI's link is not a node; beta–gamma is CLOSING on gamma's side: the worse state wins
        assertThat(g.links()).containsExactly(
            new GraphLink("alpha", "beta", "UP", List.of("alpha", "beta"), 7, 700),
            new GraphLink("beta", "gamma", "CLOSING", List.of("beta", "gamma"), 7, 700));
        assertThat(g.nodes().get(1).exports()).containsExactly(new GraphExport("b0", 8192, true, 1, 3, 0, 0));
        assertThat(g.nodes().get(2).exports()).containsExactly(new GraphExport("disk0", 4096, false, 0, 9, 2, 1));
        assertThat(g.nodes().get(1).version()).isEqualTo("1.0");
        assertThat(g.circuits()).containsExactly(new GraphCircuit("alpha", "gamma", List.of("alpha", "beta", "gamma"), true));
    }

    @Test
    void aRefusingNodeIsDrawnFromTheSpanTableAndItsNeighboursReports() {
        MeshGraph g = MeshGraph.build(ALPHA, Map.of("beta", Answer.of(BETA),
            "gamma", GraphSource.answerOf(Dmsg.ERR_PERM, "status: refused: 'alpha' (member) may not\n")), Set.of(), Map.of());
        GraphNode gamma = g.nodes().get(2);
        assertThat(gamma.state()).isEqualTo(State.REFUSED);
        assertThat(gamma.detail()).isEqualTo("status: refused: 'alpha' (member) may not");
        assertThat(gamma.dist()).isEqualTo(1);
        assertThat(gamma.nextHop()).isEqualTo("beta");
        assertThat(gamma.version()).isNull();
        // its export from alpha's BLOCK span: name and size, no counters
        assertThat(gamma.exports()).containsExactly(new GraphExport("disk0", 4096, false, -1, -1, -1, -1));
        // beta–gamma as beta alone reports it
        assertThat(g.links()).contains(new GraphLink("beta", "gamma", "UP", List.of("beta"), 7, 700));
        // the circuit is followed as far as documents go: gamma's side is unknown
        assertThat(g.circuits()).containsExactly(new GraphCircuit("alpha", "gamma", List.of("alpha", "beta", "gamma"),
            false));
    }

    @Test
    void nodesNotAskedOrSilentAreMarkedSoAndGoneNodesAreRemembered() {
        MeshGraph g = MeshGraph.build(ALPHA, Map.of("gamma", Answer.failed(State.NO_ANSWER, "no answer within 1500 ms")),
            Set.of("beta", "gamma", "epsilon"), Map.of("epsilon", 2));
        assertThat(g.nodes()).extracting(n -> n.label() + "=" + n.state().word + ":" + n.dist())
            .containsExactly("alpha=self:0", "beta=not asked:0", "gamma=no answer:1", "delta=unreachable:-1",
                "epsilon=gone:2");
        assertThat(g.links()).containsExactly(new GraphLink("alpha", "beta", "UP", List.of("alpha"), 7, 700));
        assertThat(g.circuits()).containsExactly(new GraphCircuit("alpha", "gamma", List.of("alpha", "beta"), false));
    }

    @Test
    void answersAreReadByStatus() {
        assertThat(GraphSource.answerOf(0, "{\"node\":{}}").state()).isEqualTo(State.UP);
        assertThat(GraphSource.answerOf(0, "not json").state()).isEqualTo(State.NO_ANSWER);
        assertThat(GraphSource.answerOf(0, "[1]").detail()).isEqualTo("not a status document");
        Answer lost = GraphSource.answerOf(Dmsg.ERR_CANTCIRC, "@gamma: no path\n");
        assertThat(lost.state()).isEqualTo(State.NO_ANSWER);
        assertThat(lost.detail()).endsWith(": @gamma: no path");
    }

    /** A node that never answers is asked once, not once per refresh; the graph is cached for CACHE. */
    @Test
    void aSilentNodeIsAskedOnceAndTheGraphIsCached() throws Exception {
        AtomicLong now = new AtomicLong(1_000_000_000L);
        AtomicInteger selfReads = new AtomicInteger();
        Map<String, AtomicInteger> asks = new HashMap<>();
        CompletableFuture<Answer> never = new CompletableFuture<>();
        GraphSource s = new GraphSource(() -> {
            selfReads.incrementAndGet();
            return ALPHA;
        }, label -> {
            asks.computeIfAbsent(label, k -> new AtomicInteger()).incrementAndGet();
            return label.equals("beta") ? CompletableFuture.completedFuture(Answer.of(BETA)) : never;
        }, now::get, Duration.ZERO);
        GraphSource.Gathered first = s.graph();
        assertThat(first.graph().nodes().get(2).state()).isEqualTo(State.NO_ANSWER);
        now.addAndGet(GraphSource.CACHE.toNanos() - 1);
        assertThat(s.graph()).isSameAs(first);
        assertThat(selfReads).hasValue(1);
        now.addAndGet(1);
        GraphSource.Gathered second = s.graph();
        assertThat(second).isNotSameAs(first);
        assertThat(asks.get("gamma")).as("still in flight: not asked again").hasValue(1);
        assertThat(asks.get("beta")).as("answered: asked again").hasValue(2);
        assertThat(asks).doesNotContainKey("delta"); // unreachable: nothing to ask
        never.complete(Answer.of(GAMMA));
        now.addAndGet(GraphSource.CACHE.toNanos());
        assertThat(s.graph().graph().nodes().get(2).state()).isEqualTo(State.UP);
        assertThat(asks.get("gamma")).as("the late answer was used, then forgotten").hasValue(1);
        now.addAndGet(GraphSource.CACHE.toNanos());
        s.graph();
        assertThat(asks.get("gamma")).hasValue(2);
    }
}
