package dev.dmsg.services.quorum;

import java.util.List;

/**
 * One quorum group as a member sees it (docs/QUORUM.md §7, docs/STATUS.md {@code quorum}): the
 * shape of {@code dmsg quorum status --json}'s groups. {@code leader} is a label, or null while
 * there is none; members' {@code match_index} and {@code lag} are the leader's view (-1 when this
 * member is not the leader and cannot know).
 */
public record GroupStatus(String name, String self, String role, String leader, long term, long commitIndex,
                          long appliedIndex, long snapshotIndex, long revision, int prepared, List<MemberStatus> members) {
    public GroupStatus {
        members = List.copyOf(members);
    }

    /** A member of the current configuration. */
    public record MemberStatus(String label, boolean voting, long matchIndex, long lag) {}
}
