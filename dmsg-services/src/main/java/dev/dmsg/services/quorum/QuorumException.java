package dev.dmsg.services.quorum;

import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.ErrorCode;

/**
 * A quorum request that did not succeed (docs/QUORUM.md §3.2): the DMSG error code and the
 * member's one-line reason. {@link #outcomeUnknown()} says whether a write may still have been
 * applied (the circuit died after the request went out).
 */
public final class QuorumException extends Exception {
    private static final long serialVersionUID = 1L;

    private final int error;
    private final boolean outcomeUnknown;

    public QuorumException(int error, String message, boolean outcomeUnknown) {
        super(message);
        this.error = error;
        this.outcomeUnknown = outcomeUnknown;
    }

    public QuorumException(int error, String message) {
        this(error, message, false);
    }

    /** The error code: {@link Dmsg#ERR_CONFLICT}, {@link Dmsg#ERR_NOLEADER}, … */
    public int error() {
        return error;
    }

    /** {@code CONFLICT(0x27)}. */
    public String errorName() {
        return ErrorCode.nameOf(error);
    }

    /** Whether a write may have been applied although it was not acknowledged (LOSTLINK after sending). */
    public boolean outcomeUnknown() {
        return outcomeUnknown;
    }
}
