package dev.dmsg.wire.qrm;

/**
 * The aux of a QRM message is not the layout of docs/QUORUM.md §3.3–3.4: a batch, results or
 * events a peer sent that we must refuse with PARAM, the message being the one-line reason
 * (e.g. {@code success op 3: key is 1500 bytes; max 1024}, {@code batch: 12 trailing bytes}).
 *
 * <p>Checked, like {@code DmsgProtocolException}: it is an error from the wire, not a mistake of
 * our caller, and every caller of a decoder must decide what to answer (a member: PARAM and this
 * message; a client: the call fails). Our callers' mistakes when encoding are
 * {@link IllegalArgumentException}s instead. The message never carries key or value bytes, only
 * positions, lengths and codes, so it is short (within the 256-byte reason of §3.2) and safe to
 * echo.
 */
public final class QrmFormatException extends Exception {
    private static final long serialVersionUID = 1L;

    public QrmFormatException(String message) {
        // No stack trace: expected data, produced at line rate under fuzzing.
        super(message, null, false, false);
    }
}
