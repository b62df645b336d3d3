package dev.dmsg.quorum.cac;

/**
 * A lock's domain (docs/CAC.md §1): which aspects (inode, attributes) of its key, and of the keys
 * around it, a lock covers. {@link #wire} is its value in the header.
 */
public enum CacDomain {
    /** Both aspects of the key and of every descendant. */
    TREE(1),
    /** The key's inode aspect. */
    INUM(2),
    /** The key's attribute aspect. */
    ATTR(3),
    /** The key's attributes, and both aspects of each child. */
    DIRENT(4);

    private final int wire;

    CacDomain(int wire) {
        this.wire = wire;
    }

    public int wire() {
        return wire;
    }

    /** The domain with wire value {@code v}, or {@code null}. */
    public static CacDomain of(int v) {
        for (CacDomain d : values()) {
            if (d.wire == v) {
                return d;
            }
        }
        return null;
    }

    public String word() {
        return name().toLowerCase();
    }

    /**
     * Whether a lock on {@code k1} in {@code d1} and one on {@code k2} in {@code d2} cover a common
     * aspect of some key (docs/CAC.md §1). Symmetric.
     */
    public static boolean overlap(CacKey k1, CacDomain d1, CacKey k2, CacDomain d2) {
        if (k1.equals(k2)) {
            if (d1 == TREE || d2 == TREE) {
                return true;
            }
            if (d1 == INUM || d2 == INUM) {
                return d1 == d2; // the inode aspect: only INUM (and TREE) cover it on the key itself
            }
            return true; // ATTR and DIRENT both cover the key's attributes
        }
        if (k1.isAncestorOf(k2)) {
            return d1 == TREE || d1 == DIRENT && k1.isParentOf(k2);
        }
        if (k2.isAncestorOf(k1)) {
            return d2 == TREE || d2 == DIRENT && k2.isParentOf(k1);
        }
        return false;
    }
}
