package dev.dmsg.mesh;

import dev.dmsg.wire.LnkSpan;
import java.util.Comparator;
import java.util.UUID;

/**
 * What a span advertises, as a destination: the cluster (peer_type, pfs_clid, cl_label) and the
 * node inside it (fs_label, pfs_fsid) — docs/REFERENCE.md §3.4. pfs_type is not part of the key, as in C.
 * Ordered like the C trees (cluster fields first), so a sorted map of keys is the span tree.
 */
public record NodeKey(int peerType, UUID pfsClid, String clLabel, String fsLabel, UUID pfsFsid)
        implements Comparable<NodeKey> {

    private static final Comparator<NodeKey> ORDER = Comparator.comparingInt(NodeKey::peerType)
        .thenComparing(NodeKey::pfsClid, NodeKey::compareUuid)
        .thenComparing(NodeKey::clLabel)
        .thenComparing(NodeKey::fsLabel)
        .thenComparing(NodeKey::pfsFsid, NodeKey::compareUuid);

    public static NodeKey of(LnkSpan s) {
        return new NodeKey(s.peerType(), s.pfsClid(), s.clLabel(), s.fsLabel(), s.pfsFsid());
    }

    /** The cluster part of the key. */
    public NodeKey cluster() {
        return new NodeKey(peerType, pfsClid, clLabel, "", new UUID(0, 0));
    }

    /** uuid_compare order: as unsigned bytes, most significant first. */
    static int compareUuid(UUID a, UUID b) {
        int c = Long.compareUnsigned(a.getMostSignificantBits(), b.getMostSignificantBits());
        return c != 0 ? c : Long.compareUnsigned(a.getLeastSignificantBits(), b.getLeastSignificantBits());
    }

    @Override
    public int compareTo(NodeKey o) {
        return ORDER.compare(this, o);
    }

    @Override
    public String toString() {
        return "peer_type=" + peerType + " cl=\"" + clLabel + "\" fs=\"" + fsLabel + "\"";
    }
}
