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

    /**
     * How a member's NOLEADER reason says a write may still be applied (docs/QUORUM.md §3.2: "the
     * outcome of a write is unknown only if it says so"); it comes before any detail, so that the
     * 256-byte cut of a reason keeps it.
     */
    public static final String MAY_STILL_BE_APPLIED = "it may still be applied";

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

    /**
     * Whether a write may have been applied although it was not acknowledged: LOSTLINK after
     * sending, or a NOLEADER whose reason says {@link #MAY_STILL_BE_APPLIED}.
     */
    public boolean outcomeUnknown() {
        return outcomeUnknown;
    }
}
