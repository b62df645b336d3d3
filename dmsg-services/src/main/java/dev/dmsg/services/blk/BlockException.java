package dev.dmsg.services.blk;

/**
 * A block request failed: the message names the export, the operation and the offset, and
 * {@link #error()} is the DMSG error code behind it (IO, PARAM, PERM, LOSTLINK …).
 */
public final class BlockException extends Exception {
    private final int error;

    public BlockException(String message, int error) {
        super(message);
        this.error = error;
    }

    public BlockException(String message, int error, Throwable cause) {
        super(message, cause);
        this.error = error;
    }

    public int error() {
        return error;
    }
}
