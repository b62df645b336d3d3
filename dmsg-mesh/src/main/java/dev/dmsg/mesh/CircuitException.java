package dev.dmsg.mesh;

import dev.dmsg.wire.Dmsg;

/**
 * A circuit could not be opened, or was lost: the message is for the user and names the node and
 * the reason; {@link #error()} is the DMSG error code behind it (CANTCIRC, LOSTLINK …) or 0 when
 * there was no path at all.
 */
public final class CircuitException extends Exception {
    private final int error;
    private final boolean farEndNotWhoItClaims;

    public CircuitException(String message, int error) {
        this(message, error, false);
    }

    /**
     * @param farEndNotWhoItClaims this node checked the far end's answer and it is not the node the
     *     span names (docs/IDENTITY.md §4.1): the path, not the node, is suspect
     */
    CircuitException(String message, int error, boolean farEndNotWhoItClaims) {
        super(message);
        this.error = error;
        this.farEndNotWhoItClaims = farEndNotWhoItClaims;
    }

    /** Whether the far end failed our check of its identity (not a refusal it sent us). */
    public boolean farEndNotWhoItClaims() {
        return farEndNotWhoItClaims;
    }

    /** The DMSG error code ({@link Dmsg#ERR_CANTCIRC}, {@link Dmsg#ERR_LOSTLINK} …), or 0: no path. */
    public int error() {
        return error;
    }
}
