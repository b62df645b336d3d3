package dev.dmsg.quorum;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.regex.Pattern;

/**
 * A quorum group this node takes part in (docs/QUORUM.md §1): its name and its <b>initial</b>
 * members, used only when the group's storage is first made; afterwards the Raft log holds the
 * membership. Text form {@code NAME=alpha,beta,gamma} ({@code dmsg node --quorum}, config
 * {@code quorum.NAME=alpha,beta,gamma}).
 */
public record GroupSpec(String name, List<String> members) {
    /** Group names: what fits {@code cl_label} and the QRM header's 32-byte field, and a directory name. */
    static final Pattern NAME = Pattern.compile("[a-z0-9][a-z0-9._-]{0,30}");
    public static final int MAX_MEMBERS = 9;

    public GroupSpec {
        if (name == null || !NAME.matcher(name).matches()) {
            throw new IllegalArgumentException("quorum group name '" + name
                + "': 1-31 characters of a-z 0-9 . _ -, starting with a letter or digit");
        }
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

    /** The group's id: its Raft group id and its spans' {@code pfs_clid} (docs/QUORUM.md §1). */
    public static UUID groupId(String name) {
        return UUID.nameUUIDFromBytes(("dmsg-quorum:" + name).getBytes(StandardCharsets.UTF_8));
    }

    /** A member's id in a group: its span's {@code pfs_fsid} (docs/QUORUM.md §1). */
    public static UUID memberId(String name, String label) {
        return UUID.nameUUIDFromBytes(("dmsg-quorum:" + name + "/" + label).getBytes(StandardCharsets.UTF_8));
    }

    public boolean hasMember(String label) {
        return members.contains(label);
    }

    @Override
    public String toString() {
        return name + "=" + String.join(",", members);
    }
}
