package dev.dmsg.wire;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import dev.dmsg.testkit.LeakDetector;
import dev.dmsg.testkit.Vectors;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * A corpus of malformed frames (docs/REFERENCE.md §1.9): each yields its specific {@link
 * DmsgProtocolException.Kind} and message, never an unchecked exception; size errors are caught
 * from the 64-byte core header, before the rest of the frame has arrived (so before anything is
 * allocated for it); an incomplete frame is "need more", not an error; errors are sticky.
 */
@ExtendWith(LeakDetector.class)
class MalformedFrameTest {

    /** A valid DBG_SHELL frame with aux "help" (a 128-byte frame), salt sequence 0. */
    static byte[] valid() {
        Message m = Message.of(Dmsg.DBG_SHELL | Dmsg.CREATE, 0x1234, 0, 0, null,
            Unpooled.copiedBuffer("help\0", StandardCharsets.US_ASCII));
        ByteBuf b = Unpooled.buffer();
        new FrameEncoder().encode(m, 0, b);
        m.release();
        byte[] out = ByteBufUtil.getBytes(b);
        b.release();
        return out;
    }

    static void le32(byte[] b, int off, int v) {
        b[off] = (byte) v;
        b[off + 1] = (byte) (v >>> 8);
        b[off + 2] = (byte) (v >>> 16);
        b[off + 3] = (byte) (v >>> 24);
    }

    /** Recomputes hdr_crc after an edit so that only the intended fault remains. */
    static void fixHdrCrc(byte[] b) {
        ByteBuf buf = Unpooled.wrappedBuffer(b);
        int hdrBytes = Dmsg.hdrBytes(buf.getIntLE(Dmsg.CMD_OFFSET));
        le32(b, Dmsg.HDR_CRC_OFFSET, new Crc().hdrCrc(buf, 0, Math.min(hdrBytes, b.length)));
        buf.release();
    }

    static DmsgProtocolException decodeFails(byte[] bytes) {
        return decodeFails(new FrameDecoder(), bytes);
    }

    static DmsgProtocolException decodeFails(FrameDecoder d, byte[] bytes) {
        ByteBuf in = Unpooled.wrappedBuffer(bytes);
        try {
            DmsgProtocolException e = catchThrowableOfType(DmsgProtocolException.class, () -> {
                Message m;
                while ((m = d.decode(in)) != null) {
                    m.release();
                }
            });
            assertThat(e).as("a DmsgProtocolException").isNotNull();
            return e;
        } finally {
            in.release();
        }
    }

    @Test
    void theCorpusStartsValid() throws Exception {
        ByteBuf in = Unpooled.wrappedBuffer(valid());
        Message m = new FrameDecoder().decode(in);
        assertThat(m).isNotNull();
        assertThat(m.auxString()).isEqualTo("help");
        m.release();
        in.release();
    }

    @Test
    void badMagic() {
        byte[] b = valid();
        b[0] = 0x11;
        b[1] = 0x4f;
        DmsgProtocolException e = decodeFails(b);
        assertThat(e.kind()).isEqualTo(DmsgProtocolException.Kind.BAD_MAGIC);
        assertThat(e.getMessage()).isEqualTo("magic read=0x4f11 expected=0x4832 (or reversed 0x3248)");
        assertThat(e.kind().scope).isEqualTo(DmsgProtocolException.Scope.LINK);
    }

    @Test
    void badMagicIsSeenFromTwoBytes() {
        DmsgProtocolException e = decodeFails(new byte[] {0x00, 0x00});
        assertThat(e.kind()).isEqualTo(DmsgProtocolException.Kind.BAD_MAGIC);
    }

    @Test
    void headerSizeZeroIsTooSmall() {
        byte[] b = valid();
        le32(b, Dmsg.CMD_OFFSET, (Dmsg.DBG_SHELL & ~Dmsg.SIZE) | Dmsg.CREATE);
        DmsgProtocolException e = decodeFails(b);
        assertThat(e.kind()).isEqualTo(DmsgProtocolException.Kind.HDR_SIZE);
        assertThat(e.getMessage()).isEqualTo("hdr_size 0 < min 64 (cmd=80100100)");
    }

    @Test
    void headerSizeOverTheMaximumIsRejectedFromTheCoreHeaderAlone() {
        byte[] b = valid();
        le32(b, Dmsg.CMD_OFFSET, (Dmsg.DBG_SHELL & ~Dmsg.SIZE) | 0x3F | Dmsg.CREATE); // 63 * 64 bytes
        byte[] head = Arrays.copyOf(b, Dmsg.HDR_SIZE); // only the core header has arrived
        DmsgProtocolException e = decodeFails(head);
        assertThat(e.kind()).isEqualTo(DmsgProtocolException.Kind.HDR_SIZE);
        assertThat(e.getMessage()).isEqualTo("hdr_size 4032 > max " + Dmsg.HDR_MAX + " (cmd=8010013f)");
    }

    @Test
    void auxOver64KiBIsRejectedFromTheCoreHeaderAlone() {
        byte[] b = Arrays.copyOf(valid(), Dmsg.HDR_SIZE);
        le32(b, Dmsg.AUX_BYTES_OFFSET, 0x7fffffff); // a peer announcing 2 GiB gets nothing allocated
        DmsgProtocolException e = decodeFails(b);
        assertThat(e.kind()).isEqualTo(DmsgProtocolException.Kind.AUX_SIZE);
        assertThat(e.getMessage()).isEqualTo("aux_bytes 2147483647 (padded 2147483648) > max 65536");
        b = Arrays.copyOf(valid(), Dmsg.HDR_SIZE);
        le32(b, Dmsg.AUX_BYTES_OFFSET, Dmsg.AUX_MAX + 1);
        assertThat(decodeFails(b).getMessage()).isEqualTo("aux_bytes 65537 (padded 65600) > max 65536");
    }

    @Test
    void hdrCrcMismatchNamesBothValues() {
        byte[] b = valid();
        int good = Unpooled.wrappedBuffer(b).getIntLE(Dmsg.HDR_CRC_OFFSET);
        b[Dmsg.MSGID_OFFSET] ^= 1;
        DmsgProtocolException e = decodeFails(b);
        assertThat(e.kind()).isEqualTo(DmsgProtocolException.Kind.HDR_CRC);
        assertThat(e.getMessage()).startsWith(String.format("hdr_crc read=0x%08x computed=0x", good))
            .endsWith("(cmd=80100101)");
    }

    @Test
    void auxCrcMismatch() {
        byte[] b = valid();
        b[Dmsg.HDR_SIZE] ^= 0x20; // "help" -> "Help"
        DmsgProtocolException e = decodeFails(b);
        assertThat(e.kind()).isEqualTo(DmsgProtocolException.Kind.AUX_CRC);
        assertThat(e.getMessage()).startsWith("aux_crc read=0x").endsWith("(aux_bytes=5)");
    }

    @Test
    void aPaddingByteIsCoveredByTheAuxCrc() {
        byte[] b = valid();
        b[Dmsg.HDR_SIZE + 63] = 1; // the last byte of the 64-byte padded aux
        assertThat(decodeFails(b).kind()).isEqualTo(DmsgProtocolException.Kind.AUX_CRC);
    }

    @Test
    void sequenceGap() {
        byte[] b = valid();
        le32(b, Dmsg.SALT_OFFSET, 0x5a5a5a01); // sequence 1 where 0 is expected
        fixHdrCrc(b);
        DmsgProtocolException e = decodeFails(b);
        assertThat(e.kind()).isEqualTo(DmsgProtocolException.Kind.SEQUENCE);
        assertThat(e.getMessage()).isEqualTo("salt seq read=1 expected=0 (salt=5a5a5a01)");
        // the same frame is fine for a decoder that does not check the sequence (a mid-stream capture)
        ByteBuf in = Unpooled.wrappedBuffer(b);
        assertThat(catchThrowableOfType(DmsgProtocolException.class, () -> new FrameDecoder(false).decode(in).release()))
            .isNull();
        in.release();
    }

    @Test
    void aRepeatedFrameIsASequenceGap() {
        byte[] one = valid();
        byte[] two = new byte[one.length * 2];
        System.arraycopy(one, 0, two, 0, one.length);
        System.arraycopy(one, 0, two, one.length, one.length);
        DmsgProtocolException e = decodeFails(two);
        assertThat(e.kind()).isEqualTo(DmsgProtocolException.Kind.SEQUENCE);
        assertThat(e.getMessage()).startsWith("salt seq read=0 expected=1");
    }

    @Test
    void everyPrefixOfAValidStreamIsNeedMoreNeverAnError() throws Exception {
        byte[] stream = Vectors.c2s();
        for (int len = 0; len < stream.length; len++) {
            FrameDecoder d = new FrameDecoder();
            ByteBuf in = Unpooled.wrappedBuffer(stream, 0, len);
            Message m;
            while ((m = d.decode(in)) != null) {
                m.release();
            }
            assertThat(d.failure()).isNull();
            in.release();
        }
    }

    @Test
    void reversedMagicFollowedByGarbage() {
        SplittableRandom r = new SplittableRandom(11);
        byte[] b = new byte[256];
        r.nextBytes(b);
        b[0] = 0x48; // 0x3248 read little-endian: a big-endian peer's magic
        b[1] = 0x32;
        DmsgProtocolException e = decodeFails(b);
        assertThat(e.kind()).isIn(DmsgProtocolException.Kind.HDR_SIZE, DmsgProtocolException.Kind.AUX_SIZE,
            DmsgProtocolException.Kind.HDR_CRC);
    }

    @Test
    void randomBytesFailWithAProtocolErrorOrWait() {
        SplittableRandom r = new SplittableRandom(12);
        for (int i = 0; i < 10_000; i++) {
            byte[] b = new byte[r.nextInt(600)];
            r.nextBytes(b);
            if (r.nextInt(4) == 0 && b.length >= 2) {
                b[0] = 0x32; // a right magic on garbage reaches the later checks
                b[1] = 0x48;
            }
            FrameDecoder d = new FrameDecoder();
            ByteBuf in = Unpooled.wrappedBuffer(b);
            try {
                Message m;
                while ((m = d.decode(in)) != null) {
                    m.release();
                }
            } catch (DmsgProtocolException expected) {
                assertThat(expected.kind()).isNotNull();
            } finally {
                in.release();
            }
        }
    }

    /** Found by FrameDecoderFuzzTest: junk in a label used to escape as IllegalArgumentException. */
    @Test
    void malformedUtf8InALabelDecodesAsQuestionMarksThatStillFit() throws Exception {
        LnkSpan span = new LnkSpan(new UUID(0, 0), new UUID(0, 0), 0, 1, 1, 0, 0, 0, 0, 0, 0, "x", "y");
        Message m = Message.of(Dmsg.LNK_SPAN | Dmsg.CREATE, 1, 0, 0, span, null);
        ByteBuf b = Unpooled.buffer();
        new FrameEncoder().encode(m, 0, b);
        m.release();
        byte[] f = ByteBufUtil.getBytes(b);
        b.release();
        for (int k = 0; k < 127; k++) {
            f[LnkSpan.CL_LABEL_OFFSET + k] = (byte) 0xC3; // a lead byte never followed by its continuation
        }
        fixHdrCrc(f);
        ByteBuf in = Unpooled.wrappedBuffer(f);
        Message back = new FrameDecoder().decode(in);
        in.release();
        assertThat(back.ext(LnkSpan.class).clLabel()).isEqualTo("?".repeat(127));
        back.release();
    }

    @Test
    void errorsAreSticky() throws Exception {
        FrameDecoder d = new FrameDecoder();
        byte[] bad = valid();
        bad[0] = 0;
        DmsgProtocolException first = decodeFails(d, bad);
        ByteBuf good = Unpooled.wrappedBuffer(valid());
        assertThat(d.decode(good)).as("a failed decoder decodes nothing more").isNull();
        assertThat(good.isReadable()).as("and discards what follows").isFalse();
        assertThat(d.failure()).isSameAs(first);
        good.release();
    }
}
