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
 * {@link LinkChannelHandler#write}, which batches frames.
 */
final class FrameCodec {
    private FrameCodec() {}

    /** Inbound: bytes to {@link Message}s. A framing error surfaces as a {@link FramingException}. */
    static final class Decoder extends ByteToMessageDecoder {
        private final FrameDecoder decoder = new FrameDecoder();

        @Override
        protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
            try {
                Message m = decoder.decode(in);
                if (m != null) {
                    out.add(m);
                }
            } catch (DmsgProtocolException e) {
                throw new FramingException(e);
            }
        }
    }

    /** A {@link DmsgProtocolException} crossing Netty's unchecked exception path. */
    static final class FramingException extends DecoderException {
        private static final long serialVersionUID = 1L;

        FramingException(DmsgProtocolException cause) {
            super(cause.getMessage(), cause);
        }

        DmsgProtocolException protocolError() {
            return (DmsgProtocolException) getCause();
        }
    }
}
