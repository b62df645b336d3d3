package dev.dmsg.quorum.raft;

import static java.nio.charset.StandardCharsets.UTF_8;

import dev.dmsg.mesh.NodeKey;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.LnkSpan;
import java.util.UUID;
import java.util.regex.Pattern;
import org.apache.ratis.protocol.RaftGroupId;

/**
 * The names of docs/QUORUM.md §1: a group's id, a member's id, the span a member advertises for a
 * group and the node key a circuit to it is opened to. All are derived from the group name and
 * the member's label, so every node computes the same ones without asking.
 */
public final class QuorumIds {
    /** A group name: 1–31 bytes of {@code [a-z0-9._-]}, starting with a letter or digit (§1). */
    private static final Pattern GROUP_NAME = Pattern.compile("[a-z0-9][a-z0-9._-]{0,30}");

    private QuorumIds() {}

    /** @throws IllegalArgumentException naming the rule {@code name} breaks */
    public static String checkGroupName(String name) {
        if (name == null || !GROUP_NAME.matcher(name).matches()) {
            throw new IllegalArgumentException("quorum group name '" + name
                + "': 1-31 of [a-z0-9._-], starting with a letter or digit");
        }
        return name;
    }

    /** {@code pfs_clid}, and the Raft group id: the name-based UUID of {@code "dmsg-quorum:" + NAME}. */
    public static UUID groupUuid(String group) {
        return UUID.nameUUIDFromBytes(("dmsg-quorum:" + group).getBytes(UTF_8));
    }

    public static RaftGroupId groupId(String group) {
        return RaftGroupId.valueOf(groupUuid(group));
    }

    /** {@code pfs_fsid}: the name-based UUID of {@code "dmsg-quorum:" + NAME + "/" + LABEL}. */
    public static UUID memberUuid(String group, String label) {
        return UUID.nameUUIDFromBytes(("dmsg-quorum:" + group + "/" + label).getBytes(UTF_8));
    }

    /** Where a circuit to member {@code label} of {@code group} goes: its quorum span's key. */
    public static NodeKey memberKey(String group, String label) {
        return new NodeKey(Dmsg.PEER_HAMMER2, groupUuid(group), group, label, memberUuid(group, label));
    }

    /**
     * The span member {@code label} advertises for {@code group} (§1): PEER_HAMMER2, PFSTYPE_MASTER,
     * cl_label the group name, fs_label the member's label.
     */
    public static LnkSpan memberSpan(String group, String label) {
        return new LnkSpan(groupUuid(group), memberUuid(group, label), Dmsg.PFSTYPE_MASTER, Dmsg.PEER_HAMMER2,
            Dmsg.SPAN_PROTO_1, 0, 0, 0, 0, 0, 0, group, label);
    }
}
