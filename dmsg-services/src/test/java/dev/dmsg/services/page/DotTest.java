package dev.dmsg.services.page;

import static org.assertj.core.api.Assertions.assertThat;

import dev.dmsg.services.page.MeshGraph.Answer;
import dev.dmsg.services.page.MeshGraph.GraphLink;
import dev.dmsg.services.page.MeshGraph.GraphNode;
import dev.dmsg.services.page.MeshGraph.State;
import dev.dmsg.wire.Dmsg;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** {@code dmsg status --dot}'s text, written out whole for a small graph; labels from other nodes quoted. */
class DotTest {
    @Test
    void theGraphInDot() {
        MeshGraph g = MeshGraph.build(MeshGraphTest.ALPHA, Map.of("beta", Answer.of(MeshGraphTest.BETA),
            "gamma", GraphSource.answerOf(Dmsg.ERR_PERM, "refused")), Set.of("omega"), Map.of("omega", 0));
        assertThat(Dot.of(g)).isEqualTo("""
            graph dmsg {
              // the mesh as "alpha" sees it (docs/STATUS-PAGE.md)
              graph [layout=neato, overlap=false];
              node [shape=box, style="rounded,filled", fontname="sans-serif"];
              "alpha" [label="alpha\\nself", fillcolor="#cfe8ff", penwidth=3];
              "beta" [label="beta\\nup, dist 0\\nb0 (8192 bytes)", fillcolor="#d8f5d0"];
              "gamma" [label="gamma\\nrefused, dist 1 via beta\\ndisk0 (4096 bytes)", fillcolor="#ffe9b3", style="rounded,filled,dashed"];
              "delta" [label="delta\\nunreachable", fillcolor="#ffc9c9"];
              "omega" [label="omega\\ngone, dist 0", fillcolor="#eeeeee", color=red, fontcolor=gray40, style="rounded,filled,dashed"];
              "alpha" -- "beta";
              "beta" -- "gamma" [style=dotted];
              // circuit "alpha" -> "beta" -> "gamma" -> ?
            }
            """);
    }

    @Test
    void labelsFromOtherNodesCannotBreakOutOfTheirQuotes() {
        MeshGraph g = new MeshGraph("a", List.of(
            new GraphNode("a", State.SELF, 0, null, "", null, 0, List.of()),
            new GraphNode("x\" -- \"y\n}", State.UP, 0, "x", "", null, 0, List.of())),
            List.of(new GraphLink("a", "x\" -- \"y\n}", "UP", List.of("a"), 0, 0)), List.of());
        String dot = Dot.of(g);
        assertThat(dot).contains("[label=\"x\\\" -- \\\"y\\n}\\nup, dist 0 via x\"");
        assertThat(dot.lines().filter(l -> l.equals("}"))).hasSize(1);
    }
}
