package dev.dmsg.services.page;

import dev.dmsg.services.page.MeshGraph.GraphCircuit;
import dev.dmsg.services.page.MeshGraph.GraphExport;
import dev.dmsg.services.page.MeshGraph.GraphLink;
import dev.dmsg.services.page.MeshGraph.GraphNode;
import dev.dmsg.services.page.MeshGraph.State;

/**
 * A {@link MeshGraph} in Graphviz's DOT language ({@code dmsg status --dot}, {@code /graph.dot}):
 * an undirected graph, one node statement per node (its state, distance and exports in the
 * label, its state in the colour and style), one edge per link, and each complete circuit path as
 * a comment. Pipe it to {@code dot -Tsvg}.
 */
public final class Dot {
    private Dot() {}

    public static String of(MeshGraph g) {
        StringBuilder out = new StringBuilder();
        out.append("graph dmsg {\n");
        out.append("  // the mesh as ").append(quote(g.self())).append(" sees it (docs/STATUS-PAGE.md)\n");
        out.append("  graph [layout=neato, overlap=false];\n");
        out.append("  node [shape=box, style=\"rounded,filled\", fontname=\"sans-serif\"];\n");
        for (GraphNode n : g.nodes()) {
            StringBuilder label = new StringBuilder(n.label()).append('\n').append(n.state().word);
            if (n.state() != State.SELF && n.dist() >= 0) {
                label.append(", dist ").append(n.dist());
                if (n.nextHop() != null && !n.nextHop().equals(n.label())) {
                    label.append(" via ").append(n.nextHop());
                }
            }
            for (GraphExport e : n.exports()) {
                label.append('\n').append(e.name()).append(" (").append(e.size()).append(" bytes)");
            }
            out.append("  ").append(quote(n.label())).append(" [label=").append(quote(label.toString()))
                .append(", ").append(look(n.state())).append("];\n");
        }
        for (GraphLink l : g.links()) {
            out.append("  ").append(quote(l.a())).append(" -- ").append(quote(l.b()));
            if (!l.state().equals("UP")) {
                out.append(" [style=dashed, color=red, label=").append(quote(l.state())).append(']');
            } else if (l.seenBy().size() < 2) {
                out.append(" [style=dotted]"); // one end did not tell
            }
            out.append(";\n");
        }
        for (GraphCircuit c : g.circuits()) {
            out.append("  // circuit ").append(String.join(" -> ", c.path().stream().map(Dot::quote).toList()))
                .append(c.complete() ? "" : " -> ?").append('\n');
        }
        out.append("}\n");
        return out.toString();
    }

    private static String look(State s) {
        return switch (s) {
            case SELF -> "fillcolor=\"#cfe8ff\", penwidth=3";
            case UP -> "fillcolor=\"#d8f5d0\"";
            case REFUSED -> "fillcolor=\"#ffe9b3\", style=\"rounded,filled,dashed\"";
            case NO_ANSWER -> "fillcolor=\"#ffe9b3\"";
            case NOT_ASKED -> "fillcolor=white";
            case UNREACHABLE -> "fillcolor=\"#ffc9c9\"";
            case GONE -> "fillcolor=\"#eeeeee\", color=red, fontcolor=gray40, style=\"rounded,filled,dashed\"";
        };
    }

    /** A DOT ID in double quotes: {@code "} and {@code \\} escaped, line breaks as {@code \n} (labels come from other nodes). */
    static String quote(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '"') {
                b.append("\\\"");
            } else if (c == '\\') {
                b.append("\\\\");
            } else if (c == '\n' || c == '\r') {
                b.append("\\n");
            } else {
                b.append(c);
            }
        }
        return b.append('"').toString();
    }
}
