package dev.dmsg.services.node;

import dev.dmsg.link.Link;
import dev.dmsg.link.LinkState;
import dev.dmsg.services.quorum.GroupStatus;
import dev.dmsg.services.quorum.QuorumMember;
import dev.dmsg.wire.VolData;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Whether a node is ready to serve, and if not, why in one line: what {@code /readyz} answers
 * (200 or 503 with the reason) and {@code dmsg health} prints (docs/OPERATIONS.md "Metrics and
 * health"). Ready means: it listens; if its VOLCONF table lists links to keep ({@code --connect},
 * {@code dmsg connect}), at least one of those is up; and every quorum group it is a member of
 * knows a leader. A node that is told to keep no link and is in no group is ready once it listens:
 * it is the first of a mesh, or others dial it.
 *
 * <p>Only the links the table keeps count: a CLI's link (the one {@code dmsg health} itself came
 * on) says nothing about the mesh.
 */
public record Readiness(boolean ready, String reason) {
    static final Readiness READY = new Readiness(true, "ready");

    static Readiness notReady(String reason) {
        return new Readiness(false, reason);
    }

    /**
     * @param slots the VOLCONF table
     * @param dialled the links its {@code span:} slots keep, by slot
     * @param quorum the node as a quorum member, or null
     */
    static Readiness of(InetSocketAddress bound, List<VolData> slots, Map<Integer, Link> dialled, QuorumMember quorum) {
        if (bound == null) {
            return notReady("not listening");
        }
        List<String> problems = new ArrayList<>();
        int kept = 0;
        int up = 0;
        List<String> down = new ArrayList<>();
        for (int i = 0; i < slots.size(); i++) {
            VolData v = slots.get(i);
            if (!VolconfTable.enabled(v) || SpanDialer.Target.parse(v.path()) == null) {
                continue;
            }
            kept++;
            Link l = dialled.get(i);
            if (l != null && l.state() == LinkState.UP) {
                up++;
            } else {
                down.add(v.path().substring("span:".length()));
            }
        }
        if (kept > 0 && up == 0) {
            problems.add("no live link: none of " + kept + " configured connection(s) up (" + String.join(", ", down) + ")");
        }
        if (quorum != null) {
            for (GroupStatus g : quorum.status().groups()) {
                if (g.leader() == null) {
                    problems.add("quorum group " + g.name() + ": no leader known (" + g.role() + ", term " + g.term() + ")");
                }
            }
        }
        return problems.isEmpty() ? READY : notReady(String.join("; ", problems));
    }
}
