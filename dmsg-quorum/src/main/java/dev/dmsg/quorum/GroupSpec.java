package dev.dmsg.quorum;

import dev.dmsg.quorum.raft.QuorumIds;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * A quorum group this node takes part in (docs/QUORUM.md §1): its name and its <b>initial</b>
 * members, used only when the group's storage is first made; afterwards the Raft log holds the
 * membership. Text form {@code NAME=alpha,beta,gamma} ({@code dmsg node --quorum}, config
 * {@code quorum.NAME=alpha,beta,gamma}).
 */
public record GroupSpec(String name, List<String> members) {
    public static final int MAX_MEMBERS = 9;

    public GroupSpec {
        QuorumIds.checkGroupName(name);
        Set<String> seen = new LinkedHashSet<>();
        for (String m : members) {
            String t = m.trim();
            if (t.isEmpty() || t.getBytes(StandardCharsets.UTF_8).length > 127 || t.contains(",")) {
                throw new IllegalArgumentException("quorum " + name + ": bad member label '" + m + "'");
            }
            if (!seen.add(t)) {
                throw new IllegalArgumentException("quorum " + name + ": member '" + t + "' given twice");
            }
        }
        if (seen.isEmpty()) {
            throw new IllegalArgumentException("quorum " + name + ": no members");
        }
        if (seen.size() > MAX_MEMBERS) {
            throw new IllegalArgumentException("quorum " + name + ": " + seen.size() + " members; at most "
                + MAX_MEMBERS + " (every write waits for a majority of them)");
        }
        members = List.copyOf(seen);
    }

    /**
     * {@code NAME=alpha,beta,gamma}.
     *
     * @throws IllegalArgumentException saying what is wrong
     */
    public static GroupSpec parse(String spec) {
        int eq = spec.indexOf('=');
        if (eq <= 0) {
            throw new IllegalArgumentException("quorum '" + spec + "': expected NAME=LABEL,LABEL,...");
        }
        return of(spec.substring(0, eq).trim(), spec.substring(eq + 1));
    }

    /** The group {@code name} with the comma-separated {@code members}. */
    public static GroupSpec of(String name, String members) {
        List<String> list = new ArrayList<>();
        for (String m : members.split(",", -1)) {
            list.add(m.trim());
        }
        return new GroupSpec(name, list);
    }

    public boolean hasMember(String label) {
        return members.contains(label);
    }

    @Override
    public String toString() {
        return name + "=" + String.join(",", members);
    }
}
