package dev.dmsg.wire;

import static org.assertj.core.api.Assertions.assertThat;

import dev.dmsg.testkit.LeakDetector;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import java.util.UUID;
import java.util.zip.CRC32C;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * A big-endian peer's frames (magic reads 0x3248): docs/PROFILE.md §1 accepts them by byte-swapping the
 * core header <em>and</em> the extended fields we know (docs/REFERENCE.md §1.10: C swapped only the core
 * header). The frames here are written by hand, big-endian, field by field; both CRCs are
 * computed over the bytes as sent and stored big-endian.
 */
@ExtendWith(LeakDetector.class)
class ReversedMagicTest {
    static final UUID CLID = UUID.fromString("ce9802fd-1234-4567-89ab-deadbeef0001");

    /** A big-endian frame: core header fields, then {@code ext}'s bytes, then the aux. */
    static byte[] beFrame(int cmd, long msgid, long circuit, int error, int salt, ByteBuf ext, byte[] aux) {
        int hdrBytes = Dmsg.hdrBytes(cmd);
        int auxPadded = (int) Dmsg.align(aux.length);
        ByteBuf b = Unpooled.buffer(hdrBytes + auxPadded).writeZero(hdrBytes + auxPadded);
        b.setShort(Dmsg.MAGIC_OFFSET, 0x4832);          // magic, big-endian: reads 0x3248 as LE
        b.setInt(Dmsg.SALT_OFFSET, salt);               // salt
        b.setLong(Dmsg.MSGID_OFFSET, msgid);            // msgid
        b.setLong(Dmsg.CIRCUIT_OFFSET, circuit);        // circuit
        b.setInt(Dmsg.CMD_OFFSET, cmd);                 // cmd
        b.setInt(Dmsg.AUX_BYTES_OFFSET, aux.length);    // aux_bytes
        b.setInt(Dmsg.ERROR_OFFSET, error);             // error
        if (ext != null) {
            b.setBytes(Dmsg.HDR_SIZE, ext, ext.readerIndex(), ext.readableBytes());
            ext.release();
        }
        b.setBytes(hdrBytes, aux);
        if (aux.length > 0) {
            CRC32C c = new CRC32C();
            c.update(b.array(), hdrBytes, auxPadded);
            b.setInt(Dmsg.AUX_CRC_OFFSET, (int) c.getValue()); // aux_crc
        }
        CRC32C c = new CRC32C();
        c.update(b.array(), 0, hdrBytes); // hdr_crc field still 0
        b.setInt(Dmsg.HDR_CRC_OFFSET, (int) c.getValue());   // hdr_crc
        byte[] out = b.array().clone();
        b.release();
        return out;
    }

    static Message decode(byte[] frame) throws DmsgProtocolException {
        ByteBuf in = Unpooled.wrappedBuffer(frame);
        try {
            Message m = new FrameDecoder().decode(in);
            assertThat(m).isNotNull();
            assertThat(in.isReadable()).isFalse();
            return m;
        } finally {
            in.release();
        }
    }

    @Test
    void coreHeaderAndAux() throws Exception {
        byte[] aux = "tree\0".getBytes(StandardCharsets.US_ASCII);
        Message m = decode(beFrame(Dmsg.DBG_SHELL | Dmsg.CREATE, 0x0102030405060708L, 0x1122334455667788L, 0x21,
            0xabcdef00, null, aux));
        assertThat(m.cmd()).isEqualTo(Dmsg.DBG_SHELL | Dmsg.CREATE);
        assertThat(m.msgid()).isEqualTo(0x0102030405060708L);
        assertThat(m.circuit()).isEqualTo(0x1122334455667788L);
        assertThat(m.error()).isEqualTo(0x21);
        assertThat(m.salt()).isEqualTo(0xabcdef00);
        assertThat(m.auxString()).isEqualTo("tree"); // aux is bytes: never swapped
        m.release();
    }

    @Test
    void knownExtendedFieldsAreSwappedToo() throws Exception {
        ByteBuf circ = Unpooled.buffer(64).writeZero(64);
        circ.setLong(0x00, 0x0a0b0c0d0e0f1011L);  // reserved01
        circ.setLong(0x08, 0x00007fb2f0002000L);  // target
        Message m = decode(beFrame(Dmsg.LNK_CIRC | Dmsg.CREATE, 7, 0, 0, 0, circ, new byte[0]));
        assertThat(m.ext(LnkCirc.class)).isEqualTo(new LnkCirc(0x0a0b0c0d0e0f1011L, 0x00007fb2f0002000L));
        m.release();
    }

    @Test
    void aSpanFromABigEndianPeer() throws Exception {
        int hdr = Dmsg.hdrBytes(Dmsg.LNK_SPAN) - Dmsg.HDR_SIZE;
        ByteBuf s = Unpooled.buffer(hdr).writeZero(hdr);
        int o = -Dmsg.HDR_SIZE; // offsets below are dmsg.h's, from the start of the header
        s.setInt(o + 0x40, (int) (CLID.getMostSignificantBits() >>> 32));   // pfs_clid time_low
        s.setShort(o + 0x44, (int) (CLID.getMostSignificantBits() >>> 16)); // time_mid
        s.setShort(o + 0x46, (int) CLID.getMostSignificantBits());          // time_hi
        s.setLong(o + 0x48, CLID.getLeastSignificantBits());                // clock_seq, node: bytes
        s.setByte(o + 0x60, Dmsg.PFSTYPE_MASTER);                           // pfs_type
        s.setByte(o + 0x61, Dmsg.PEER_HAMMER2);                             // peer_type
        s.setShort(o + 0x62, 1);                                            // proto_version
        s.setInt(o + 0x70, 3);                                              // dist
        s.setInt(o + 0x74, 0x0595406a);                                     // rnss
        s.setLong(o + 0x78, 1L << 40);                                      // media.bytes
        s.setInt(o + 0x80, 4096);                                           // media.blksize
        s.setBytes(o + 0xB0, "interop".getBytes(StandardCharsets.US_ASCII)); // cl_label
        s.setBytes(o + 0x130, "nodeB".getBytes(StandardCharsets.US_ASCII));  // fs_label
        Message m = decode(beFrame(Dmsg.LNK_SPAN | Dmsg.CREATE, 0x40, 0, 0, 0, s, new byte[0]));
        LnkSpan span = m.ext(LnkSpan.class);
        assertThat(span.pfsClid()).isEqualTo(CLID);
        assertThat(span.pfsFsid()).isEqualTo(new UUID(0, 0));
        assertThat(span.pfsType()).isEqualTo(Dmsg.PFSTYPE_MASTER);
        assertThat(span.peerType()).isEqualTo(Dmsg.PEER_HAMMER2);
        assertThat(span.protoVersion()).isEqualTo(1);
        assertThat(span.dist()).isEqualTo(3);
        assertThat(span.rnss()).isEqualTo(0x0595406a);
        assertThat(span.mediaBytes()).isEqualTo(1L << 40);
        assertThat(span.mediaBlksize()).isEqualTo(4096);
        assertThat(span.clLabel()).isEqualTo("interop");
        assertThat(span.fsLabel()).isEqualTo("nodeB");
        m.release();
    }

    @Test
    void aBigEndianStreamKeepsItsSaltSequence() throws Exception {
        FrameDecoder d = new FrameDecoder();
        for (int seq = 0; seq < 300; seq++) {
            ByteBuf in = Unpooled.wrappedBuffer(beFrame(Dmsg.LNK_PING, 0, 0, 0, 0x12345600 | (seq & 0xFF), null, new byte[0]));
            Message m = d.decode(in);
            assertThat(m.cmd()).isEqualTo(Dmsg.LNK_PING);
            m.release();
            in.release();
        }
    }
}
