package dev.dmsg.wire;

/**
 * An error from the wire: the peer sent something that breaks the protocol. Carries a {@link Kind}
 * and the {@link Scope} it is fatal for. The message names the check and both values, e.g.
 * {@code hdr_crc read=0x802cb1dd computed=0x802cb1dc}.
 *
 * <p>Our callers' mistakes are never reported this way; they get {@link IllegalArgumentException}
 * or {@link IllegalStateException}.
 */
public final class DmsgProtocolException extends Exception {
    private static final long serialVersionUID = 1L;

    /** What an error is fatal for. */
    public enum Scope {
        /** Framing is lost or the link is unusable: abort everything on it and close it. */
        LINK,
        /** One transaction is affected; the link carries on. */
        TRANSACTION
    }

    public enum Kind {
        /** magic is neither 0x4832 nor 0x3248 (libdmsg DMSG_IOQ_ERROR_SYNC). */
        BAD_MAGIC(Scope.LINK),
        /** extended header below 64 or above 2048 bytes (DMSG_IOQ_ERROR_FIELD). */
        HDR_SIZE(Scope.LINK),
        /** padded aux above 65536 bytes (DMSG_IOQ_ERROR_FIELD). */
        AUX_SIZE(Scope.LINK),
        /** hdr_crc mismatch (DMSG_IOQ_ERROR_XCRC). */
        HDR_CRC(Scope.LINK),
        /** aux_crc mismatch (DMSG_IOQ_ERROR_ACRC). */
        AUX_CRC(Scope.LINK),
        /** salt sequence gap (DMSG_IOQ_ERROR_MSGSEQ). */
        SEQUENCE(Scope.LINK),
        /** the stream ended inside a frame. */
        TRUNCATED(Scope.LINK),
        /**
         * the aux data of a well-framed message is not the layout its command carries (a span proof,
         * a circuit hello): that message is refused, the link carries on.
         */
        BAD_AUX(Scope.TRANSACTION);

        public final Scope scope;

        Kind(Scope scope) {
            this.scope = scope;
        }
    }

    private final Kind kind;

    public DmsgProtocolException(Kind kind, String message) {
        // No stack trace: these are expected data, produced at line rate under fuzzing.
        super(message, null, false, false);
        this.kind = kind;
    }

    public Kind kind() {
        return kind;
    }

    public Scope scope() {
        return kind.scope;
    }
}
