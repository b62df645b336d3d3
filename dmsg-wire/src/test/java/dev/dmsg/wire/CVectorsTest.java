package dev.dmsg.wire;

import static org.assertj.core.api.Assertions.assertThat;

import dev.dmsg.testkit.LeakDetector;
import dev.dmsg.testkit.Vectors;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The real bytes of DragonFly's libdmsg (dmsg-testkit's vectors/libdmsg-run1-*.bin) decode frame by frame
 * with every CRC and sequence check passing, and our encoder reproduces every frame byte for byte
 * from the decoded field values and the captured salt.
 */
@ExtendWith(LeakDetector.class)
class CVectorsTest {

    record Decoded(Message msg, int offset, int length) {}

    static List<Decoded> decodeAll(byte[] stream) throws DmsgProtocolException {
        ByteBuf in = Unpooled.wrappedBuffer(stream);
        FrameDecoder d = new FrameDecoder();
        List<Decoded> out = new ArrayList<>();
        while (in.isReadable()) {
            int at = in.readerIndex();
            Message m = d.decode(in);
            assertThat(m).as("frame at offset %d must decode from the whole stream", at).isNotNull();
            out.add(new Decoded(m, at, in.readerIndex() - at));
        }
        return out;
    }

    @Test
    void c2sDecodesAndReencodesByteForByte() throws Exception {
        byte[] stream = Vectors.c2s();
        List<Decoded> frames = decodeAll(stream);
        assertThat(frames).hasSize(7);
        assertReencodes(stream, frames);

        Message conn = frames.get(0).msg();
        assertThat(conn.cmd()).isEqualTo(0x80001108);
        assertThat(conn.msgid()).isEqualTo(0x00007fb2f0000e40L);
        assertThat(conn.hdrCrc()).isEqualTo(0x7600de66);
        LnkConn c = conn.ext(LnkConn.class);
        assertThat(c.mediaid()).isEqualTo(UUID.fromString("dadeda00-44c8-480a-a3c9-aafc302d464b"));
        assertThat(c.peerMask()).isEqualTo(-1L);
        assertThat(c.peerType()).isEqualTo(Dmsg.PEER_CLUSTER);
        assertThat(c.pfsMask()).isEqualTo(-1L);
        assertThat(c.clLabel()).isEmpty();

        LnkSpan span = frames.get(2).msg().ext(LnkSpan.class);
        assertThat(span.pfsClid()).isEqualTo(UUID.fromString("ce9802fd-1234-4567-89ab-deadbeef0001"));
        assertThat(span.pfsFsid()).isEqualTo(UUID.fromString("62fb4ba1-769d-459e-987b-0163d490c7b3"));
        assertThat(span.pfsType()).isEqualTo(Dmsg.PFSTYPE_MASTER);
        assertThat(span.peerType()).isEqualTo(Dmsg.PEER_HAMMER2);
        assertThat(span.protoVersion()).isEqualTo(1);
        assertThat(span.dist()).isZero();
        assertThat(span.rnss()).isEqualTo(0x0595406a);
        assertThat(span.clLabel()).isEqualTo("interop");
        assertThat(span.fsLabel()).isEqualTo("nodeB");

        assertThat(frames.get(3).msg().auxString()).isEqualTo("whoami");
        assertThat(frames.get(3).msg().auxBytes()).isEqualTo(7);
        assertThat(frames.get(4).msg().auxString()).isEqualTo("tree");
        Message echo = frames.get(5).msg();
        assertThat(echo.cmd()).isEqualTo(0x8010fe01);
        assertThat(echo.command()).isNull();
        assertThat(echo.auxString()).isEqualTo("echo-payload-123");
        assertThat(frames.get(6).msg().cmd()).isEqualTo(0x400fff01);
        frames.forEach(f -> f.msg().release());
    }

    @Test
    void s2cDecodesAndReencodesByteForByte() throws Exception {
        byte[] stream = Vectors.s2c();
        List<Decoded> frames = decodeAll(stream);
        assertThat(frames).hasSize(11);
        assertReencodes(stream, frames);
        assertThat(frames.get(3).msg().auxString()).isEqualTo("dmsgpeer pid 24051 fs_label=nodeA cl_label=interop\n");
        assertThat(frames.get(4).msg().cmd()).isEqualTo(0x200fff01);
        assertThat(frames.get(10).msg().cmd()).isEqualTo(0xe00fff01);
        assertThat(frames.get(10).msg().msgid()).isEqualTo(0x00007fb2f00024b0L);
        frames.forEach(f -> f.msg().release());
    }

    private static void assertReencodes(byte[] stream, List<Decoded> frames) {
        for (Decoded f : frames) {
            Message m = f.msg();
            ByteBuf aux = m.auxBytes() == 0 ? null : Unpooled.wrappedBuffer(m.auxCopy());
            Message fresh = Message.of(m.cmd(), m.msgid(), m.circuit(), m.error(), m.ext(), aux);
            ByteBuf out = Unpooled.buffer();
            new FrameEncoder().encode(fresh, m.salt(), out);
            byte[] expected = Arrays.copyOfRange(stream, f.offset(), f.offset() + f.length());
            byte[] actual = new byte[out.readableBytes()];
            out.readBytes(actual);
            assertThat(actual).as("frame at offset %d (%s)", f.offset(), FrameLog.line("", m)).isEqualTo(expected);
            fresh.release();
        }
    }
}
