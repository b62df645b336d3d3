package dev.dmsg.quorum.store;

import java.io.IOException;

/** A snapshot file that is not one we wrote, or was damaged since: refused, never half-loaded. */
public final class SnapshotCorruptException extends IOException {
    private static final long serialVersionUID = 1L;

    public SnapshotCorruptException(String message) {
        super(message);
    }
}
