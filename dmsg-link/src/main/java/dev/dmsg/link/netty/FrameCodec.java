package dev.dmsg.link.netty;

import dev.dmsg.wire.DmsgProtocolException;
import dev.dmsg.wire.FrameDecoder;
import dev.dmsg.wire.Message;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.ByteToMessageDecoder;
import io.netty.handler.codec.DecoderException;
import java.util.List;

/**
 * The inbound wire codec as a Netty pipeline stage, one per channel. Outbound encoding is done by
 * {@link FrameBatcher}, which batches frames.
 */
final class FrameCodec {
    private FrameCodec() {}

    /** Inbound: bytes to {@link Message}s. A framing error surfaces as a {@link FramingException}. */
    static final class Decoder extends ByteToMessageDecoder {
        private final FrameDecoder decoder = new FrameDecoder();

        @Override
        protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
            int start = in.readerIndex();
            try {
                Message m = decoder.decode(in);
                if (m != null) {
                    out.add(m);
                }
            } catch (DmsgProtocolException e) {
                throw new FramingException(e, hint(e, in, start));
            }
        }
    }

    /**
     * What a bad magic probably is: a TLS record (content type 0x16 handshake, version 0x03..)
     * where a DMSG header should be means the peer speaks TLS and this end does not. The decoder
     * skips what it refuses, but the bytes from {@code start} are still in the buffer.
     */
    static String hint(DmsgProtocolException e, ByteBuf in, int start) {
        if (e.kind() == DmsgProtocolException.Kind.BAD_MAGIC && in.writerIndex() - start >= 2
                && in.getUnsignedByte(start) == 0x16 && in.getUnsignedByte(start + 1) == 0x03) {
            return " (a TLS handshake record: the peer uses TLS, this end does not)";
        }
        return "";
    }

    /** A {@link DmsgProtocolException} crossing Netty's unchecked exception path. */
    static final class FramingException extends DecoderException {
        private static final long serialVersionUID = 1L;
        private final String hint;

        FramingException(DmsgProtocolException cause) {
            this(cause, "");
        }

        FramingException(DmsgProtocolException cause, String hint) {
            super(cause.getMessage(), cause);
            this.hint = hint;
        }

        DmsgProtocolException protocolError() {
            return (DmsgProtocolException) getCause();
        }

        /** A guess at the cause, for the log line ({@code ""} if none). */
        String hint() {
            return hint;
        }
    }
}
