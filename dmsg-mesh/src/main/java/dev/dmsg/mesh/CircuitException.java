package dev.dmsg.mesh;

import dev.dmsg.wire.Dmsg;

/**
 * A circuit could not be opened, or was lost: the message is for the user and names the node and
 * the reason; {@link #error()} is the DMSG error code behind it (CANTCIRC, LOSTLINK …) or 0 when
 * there was no path at all.
 */
public final class CircuitException extends Exception {
    private final int error;

    public CircuitException(String message, int error) {
        super(message);
        this.error = error;
    }

    /** The DMSG error code ({@link Dmsg#ERR_CANTCIRC}, {@link Dmsg#ERR_LOSTLINK} …), or 0: no path. */
    public int error() {
        return error;
    }
}
