package dev.dmsg.mesh;

import dev.dmsg.wire.LnkSpan;

/**
 * One link as the span engine sees it: where received spans come from and where relays go. The
 * engine calls these on its own thread; an implementation over a real link hands the work to
 * the link's event loop ({@link LinkPort}), a test records it. Calls for one port arrive in order.
 */
public interface Port {
    /** For logs and the status tree: the peer's label and address. */
    String name();

    /**
     * Whether the peer understands span updates and seqno requests (its LNK_CONN carried our
     * marker, {@link SpanExt#understoodBy}). A C peer does not, and is never sent either.
     */
    boolean extAware();

    /** Opens a LNK_SPAN|CREATE transaction carrying {@code relay.span()}. */
    void openRelay(SpanEngine.Relay relay);

    /** Closes our direction of the relay's transaction (LNK_ERROR|DELETE). */
    void closeRelay(SpanEngine.Relay relay);

    /** Sends {@code relay.span()} mid-stream on the relay's open transaction (a span update). */
    void updateRelay(SpanEngine.Relay relay);

    /**
     * Sends a seqno request mid-stream in the reply direction of the span transaction that
     * brought {@code link} (LNK_SPAN|REPLY, no CREATE or DELETE).
     */
    void requestSeqno(SpanEngine.SpanLink link, LnkSpan request);

    /**
     * The msgid of the transaction behind {@code token} (a received span's, or a relay's
     * attachment), for the status tree and the shell's {@code circ}; 0 if there is none.
     */
    default long msgidOf(Object token) {
        return 0;
    }
}
