package dev.dmsg.link.netty;

import dev.dmsg.wire.DmsgProtocolException;
import dev.dmsg.wire.FrameDecoder;
import dev.dmsg.wire.FrameEncoder;
import dev.dmsg.wire.Message;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.ByteToMessageDecoder;
import io.netty.handler.codec.DecoderException;
import io.netty.handler.codec.MessageToByteEncoder;
import java.util.List;

/** The wire codec as Netty pipeline stages. One instance of each per channel. */
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

    /**
     * Outbound: {@link Message}s to bytes. The salt's sequence number is assigned here, as the frame
     * goes to the socket, never at queue time (reference §1.8).
     */
    static final class Encoder extends MessageToByteEncoder<Message> {
        private final FrameEncoder encoder = new FrameEncoder();

        Encoder() {
            super(Message.class);
        }

        @Override
        protected ByteBuf allocateBuffer(ChannelHandlerContext ctx, Message msg, boolean preferDirect) {
            return ctx.alloc().ioBuffer(FrameEncoder.frameBytes(msg));
        }

        @Override
        protected void encode(ChannelHandlerContext ctx, Message msg, ByteBuf out) {
            encoder.encode(msg, out);
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
