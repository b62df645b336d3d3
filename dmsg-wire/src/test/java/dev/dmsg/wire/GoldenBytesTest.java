package dev.dmsg.wire;

import static org.assertj.core.api.Assertions.assertThat;

import dev.dmsg.testkit.LeakDetector;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import java.util.HexFormat;
import java.util.UUID;
import java.util.zip.CRC32C;
import org.assertj.core.api.Assertions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Hand-written golden bytes, field by field from {@code seed/dmsg.h}, for every message type of
 * the seed: the encoder must produce exactly these bytes, the decoder must read every field
 * back, and each frame has the size of docs/REFERENCE.md §1.4. The CRCs here are computed independently
 * with {@code java.util.zip.CRC32C} as docs/REFERENCE.md §1.7 defines them; the three worked examples of
 * §1.7 pin them to published values.
 */
@ExtendWith(LeakDetector.class)
class GoldenBytesTest {
    static final UUID U1 = UUID.fromString("dadeda00-44c8-480a-a3c9-aafc302d464b");
    static final UUID U2 = UUID.fromString("ce9802fd-1234-4567-89ab-deadbeef0001");
    static final UUID U3 = UUID.fromString("62fb4ba1-769d-459e-987b-0163d490c7b3");

    /** A frame being written by hand: little-endian fields at dmsg.h offsets. */
    static final class G {
        final byte[] b;
        final int hdrBytes;

        /** The core header of a frame of {@code hdrBytes} + {@code auxPadded} bytes. */
        G(int cmd, int salt, long msgid, long circuit, int error, int auxBytes) {
            hdrBytes = (cmd & 0xFF) * 64;
            b = new byte[hdrBytes + (auxBytes + 63) / 64 * 64];
            u16(0x00, 0x4832);     // magic
            u32(0x04, salt);       // salt
            u64(0x08, msgid);      // msgid
            u64(0x10, circuit);    // circuit
            u32(0x20, cmd);        // cmd
            u32(0x28, auxBytes);   // aux_bytes
            u32(0x2C, error);      // error
        }

        G u8(int off, int v) {
            b[off] = (byte) v;
            return this;
        }

        G u16(int off, int v) {
            b[off] = (byte) v;
            b[off + 1] = (byte) (v >>> 8);
            return this;
        }

        G u32(int off, int v) {
            for (int i = 0; i < 4; i++) {
                b[off + i] = (byte) (v >>> (8 * i));
            }
            return this;
        }

        G u64(int off, long v) {
            for (int i = 0; i < 8; i++) {
                b[off + i] = (byte) (v >>> (8 * i));
            }
            return this;
        }

        /** uuid_t as DragonFly lays it out: time_low, time_mid, time_hi little-endian, then 8 bytes as-is. */
        G uuid(int off, UUID u) {
            long msb = u.getMostSignificantBits();
            u32(off, (int) (msb >>> 32));
            u16(off + 4, (int) (msb >>> 16));
            u16(off + 6, (int) msb);
            long lsb = u.getLeastSignificantBits();
            for (int i = 0; i < 8; i++) {
                b[off + 8 + i] = (byte) (lsb >>> (56 - 8 * i));
            }
            return this;
        }

        /** A fixed char array: the text, then NULs. */
        G str(int off, String s) {
            byte[] t = s.getBytes(StandardCharsets.UTF_8);
            System.arraycopy(t, 0, b, off, t.length);
            return this;
        }

        G aux(byte[] aux) {
            System.arraycopy(aux, 0, b, hdrBytes, aux.length);
            return this;
        }

        /** aux_crc over the padded aux (if any), then hdr_crc over the header with its field as 0. */
        byte[] seal() {
            if (b.length > hdrBytes) {
                CRC32C c = new CRC32C();
                c.update(b, hdrBytes, b.length - hdrBytes);
                u32(0x24, (int) c.getValue()); // aux_crc
            }
            CRC32C c = new CRC32C();
            c.update(b, 0, hdrBytes);          // hdr_crc is still 0 here
            u32(0x3C, (int) c.getValue());     // hdr_crc
            return b;
        }
    }

    /** Encodes {@code m} with {@code salt}, checks the bytes, decodes them back; returns the decoded message. */
    static Message roundTrip(Message m, int salt, byte[] golden, int frameBytes) throws DmsgProtocolException {
        assertThat(golden).hasSize(frameBytes);
        ByteBuf out = Unpooled.buffer();
        new FrameEncoder().encode(m, salt, out);
        byte[] got = ByteBufUtil.getBytes(out);
        out.release();
        assertThat(HexFormat.of().formatHex(got)).as("encoded bytes").isEqualTo(HexFormat.of().formatHex(golden));
        ByteBuf in = Unpooled.wrappedBuffer(golden);
        Message back = new FrameDecoder(false).decode(in);
        assertThat(back).isNotNull();
        assertThat(in.isReadable()).isFalse();
        in.release();
        assertThat(back.cmd()).isEqualTo(m.cmd());
        assertThat(back.msgid()).isEqualTo(m.msgid());
        assertThat(back.circuit()).isEqualTo(m.circuit());
        assertThat(back.error()).isEqualTo(m.error());
        assertThat(back.salt()).isEqualTo(salt);
        assertThat(back.ext()).isEqualTo(m.ext());
        assertThat(back.auxBytes()).isEqualTo(m.auxBytes());
        m.release();
        return back;
    }

    @Test
    void coreHeaderAloneLnkPing() throws Exception {
        byte[] g = new G(0x00000101, 0x00000007, 0, 0, 0, 0).seal();
        roundTrip(Message.of(Dmsg.LNK_PING, 0, 0, 0), 7, g, 64).release();
    }

    @Test
    void lnkPad() throws Exception {
        byte[] g = new G(0x00000001, 0x01000002, 0, 0, 0, 0).seal();
        roundTrip(Message.of(Dmsg.LNK_PAD, 0, 0, 0), 0x01000002, g, 64).release();
    }

    @Test
    void lnkAuth() throws Exception {
        byte[] body = new byte[64];
        for (int i = 0; i < 64; i++) {
            body[i] = (byte) (i * 3 + 1);
        }
        G g = new G(0x80001002, 3, 0x1000, 0, 0, 0);
        System.arraycopy(body, 0, g.b, 0x40, 64); // dummy[64]
        roundTrip(Message.of(Dmsg.LNK_AUTH | Dmsg.CREATE, 0x1000, 0, 0, new LnkAuth(body), null), 3, g.seal(), 128)
            .release();
    }

    @Test
    void lnkConn() throws Exception {
        String longest = "L".repeat(127); // 127 chars + the NUL fill the 128-byte array
        byte[] g = new G(0x80001108, 0, 0x00007fb2f0000e40L, 0, 0, 0)
            .uuid(0x40, U1)                    // mediaid
            .uuid(0x50, U2)                    // pfs_clid
            .uuid(0x60, U3)                    // pfs_fsid
            .u64(0x70, 0x8L)                   // peer_mask
            .u8(0x78, Dmsg.PEER_HAMMER2)       // peer_type
            .u8(0x79, Dmsg.PFSTYPE_MASTER)     // pfs_type
            .u16(0x7A, 1)                      // proto_version
            .u32(0x7C, 0x11223344)             // status
            .u32(0x80, 0x0595406a)             // rnss
            .u64(0x84, 0x01D5L)                // reserved02[8]
            .u64(0xC0, -1L)                    // pfs_mask (after reserved03[12] and 4 bytes of padding)
            .str(0xC8, "cluster")              // cl_label[128]
            .str(0x148, longest)               // fs_label[128]
            .seal();
        LnkConn c = new LnkConn(U1, U2, U3, 0x8L, Dmsg.PEER_HAMMER2, Dmsg.PFSTYPE_MASTER, 1, 0x11223344, 0x0595406a,
            0x01D5L, -1L, "cluster", longest);
        Message back = roundTrip(Message.of(Dmsg.LNK_CONN | Dmsg.CREATE, 0x00007fb2f0000e40L, 0, 0, c, null), 0, g, 512);
        assertThat(back.ext(LnkConn.class).fsLabel()).hasSize(127);
        back.release();
    }

    @Test
    void lnkSpan() throws Exception {
        byte[] g = new G(0x80001207, 1, 0x2000, 0, 0, 0)
            .uuid(0x40, U2)                    // pfs_clid
            .uuid(0x50, U3)                    // pfs_fsid
            .u8(0x60, Dmsg.PFSTYPE_MASTER)     // pfs_type
            .u8(0x61, Dmsg.PEER_HAMMER2)       // peer_type
            .u16(0x62, 1)                      // proto_version
            .u32(0x64, 5)                      // status
            .u64(0x68, 0x00000009_0004_01D5L)  // reserved02[8]
            .u32(0x70, 3)                      // dist
            .u32(0x74, 0xfedcba98)             // rnss
            .u64(0x78, 500107862016L)          // media.block.bytes
            .u32(0x80, 512)                    // media.block.blksize
            .str(0xB0, "interop")              // cl_label[128]
            .str(0x130, "nodeB")               // fs_label[128]
            .seal();
        LnkSpan s = new LnkSpan(U2, U3, Dmsg.PFSTYPE_MASTER, Dmsg.PEER_HAMMER2, 1, 5, 0x00000009_0004_01D5L, 3,
            0xfedcba98, 500107862016L, 512, "interop", "nodeB");
        roundTrip(Message.of(Dmsg.LNK_SPAN | Dmsg.CREATE, 0x2000, 0, 0, s, null), 1, g, 448).release();
    }

    @Test
    void lnkCirc() throws Exception {
        byte[] g = new G(0x80001302, 2, 0x3000, 0, 0, 0)
            .u64(0x40, 0)                      // reserved01
            .u64(0x48, 0x00007fb2f00024b0L)    // target
            .seal();
        roundTrip(Message.of(Dmsg.LNK_CIRC | Dmsg.CREATE, 0x3000, 0, 0, new LnkCirc(0, 0x00007fb2f00024b0L), null),
            2, g, 128).release();
    }

    @Test
    void lnkVolconfWithItsVolData() throws Exception {
        byte[] g = new G(0x00002008, 4, 0x4000, 0, 0, 0)
            .u8(0x40 + 0x00, 3)                // copy.copyid
            .u8(0x40 + 0x01, 1)                // copy.inprog
            .u8(0x40 + 0x02, 2)                // copy.chain_to
            .u8(0x40 + 0x03, 4)                // copy.chain_from
            .u16(0x40 + 0x04, 0x0001)          // copy.flags (DMSG_VOLF_ENABLED)
            .u8(0x40 + 0x06, 5)                // copy.error
            .u8(0x40 + 0x07, 0x8F)             // copy.priority
            .u8(0x40 + 0x08, Dmsg.PFSTYPE_MASTER) // copy.remote_pfs_type
            .uuid(0x40 + 0x20, U2)             // copy.pfs_clid
            .str(0x40 + 0x30, "fifteen-chars-l") // copy.label[16]: 15 + NUL
            .str(0x40 + 0x40, "span:10.0.0.2:987") // copy.path[64]
            .u32(0xC0, 3)                      // index
            .uuid(0xC8, U1)                    // mediaid
            .seal();
        VolData v = new VolData(3, 1, 2, 4, 0x0001, 5, 0x8F, Dmsg.PFSTYPE_MASTER, U2, "fifteen-chars-l",
            "span:10.0.0.2:987");
        roundTrip(Message.of(Dmsg.LNK_VOLCONF, 0x4000, 0, 0, new LnkVolconf(v, 3, U1), null), 4, g, 512).release();
    }

    @Test
    void lnkError() throws Exception {
        byte[] g = new G(0xe00fff01, 5, 0x5000, 0, 0x20, 0).seal();
        roundTrip(Message.of(Dmsg.LNK_ERROR | Dmsg.CREATE | Dmsg.DELETE | Dmsg.REPLY, 0x5000, 0, 0x20), 5, g, 64)
            .release();
    }

    @Test
    void dbgShellWithAux() throws Exception {
        byte[] aux = "tree\0".getBytes(StandardCharsets.US_ASCII);
        byte[] g = new G(0x00100101, 6, 0, 0, 0, aux.length).aux(aux).seal();
        Message back = roundTrip(Message.of(Dmsg.DBG_SHELL, 0, 0, 0, null, Unpooled.wrappedBuffer(aux)), 6, g, 128);
        assertThat(back.auxString()).isEqualTo("tree");
        back.release();
    }

    @Test
    void blkOpen() throws Exception {
        byte[] g = new G(0x80500102, 7, 0x6000, 0x77, 0, 0)
            .u32(0x40, 0x0003)                 // modes (RD|WR)
            .u32(0x44, 0)                      // reserved01
            .seal();
        roundTrip(Message.of(Dmsg.BLK_OPEN | Dmsg.CREATE, 0x6000, 0x77, 0, new BlkOpen(3, 0), null), 7, g, 128)
            .release();
    }

    @Test
    void blkReadWriteFlushFreeblksUseTheSeedNumbering() throws Exception {
        int[] cmds = {0x00500202, 0x00500302, 0x00500402, 0x00500502}; // READ, WRITE, FLUSH, FREEBLKS
        assertThat(new int[] {Dmsg.BLK_READ, Dmsg.BLK_WRITE, Dmsg.BLK_FLUSH, Dmsg.BLK_FREEBLKS}).containsExactly(cmds);
        for (int cmd : cmds) {
            byte[] aux = cmd == Dmsg.BLK_WRITE ? new byte[4096] : new byte[0];
            for (int i = 0; i < aux.length; i++) {
                aux[i] = (byte) i;
            }
            G g = new G(cmd | Dmsg.CREATE | Dmsg.DELETE, 8, 0x7000, 0x77, 0, aux.length)
                .u64(0x40, 0x0123456789abcdefL) // keyid
                .u64(0x48, 1L << 33)            // offset
                .u32(0x50, 4096)                // bytes
                .u32(0x54, 1);                  // flags
            byte[] golden = g.aux(aux).seal();
            Message m = Message.of(cmd | Dmsg.CREATE | Dmsg.DELETE, 0x7000, 0x77, 0,
                new BlkIo(0x0123456789abcdefL, 1L << 33, 4096, 1), aux.length == 0 ? null : Unpooled.wrappedBuffer(aux));
            roundTrip(m, 8, golden, 128 + aux.length).release();
        }
    }

    @Test
    void blkError() throws Exception {
        byte[] g = new G(0xe05fff03, 9, 0x7000, 0x77, 0x05, 0)
            .u64(0x40, 0x0123456789abcdefL)    // keyid
            .u32(0x48, 512)                    // resid
            .u32(0x4C, 0)                      // reserved02
            .str(0x50, "short read")           // buf[64]
            .seal();
        roundTrip(Message.of(Dmsg.BLK_ERROR | Dmsg.CREATE | Dmsg.DELETE | Dmsg.REPLY, 0x7000, 0x77, 0x05,
            new BlkError(0x0123456789abcdefL, 512, "short read"), null), 9, g, 192).release();
    }

    // ---- docs/REFERENCE.md §1.7 worked examples: published CRCs ----

    @Test
    void workedExampleADbgShellHelp() throws Exception {
        byte[] aux = "help\0".getBytes(StandardCharsets.US_ASCII);
        byte[] g = new G(0x00100101, 1, 0, 0, 0, 5).aux(aux).seal();
        assertThat(Unpooled.wrappedBuffer(g).getIntLE(0x24)).isEqualTo(0x5924E788);
        assertThat(Unpooled.wrappedBuffer(g).getIntLE(0x3C)).isEqualTo(0x802CB1DC);
        assertThat(HexFormat.of().formatHex(g, 0, 64)).isEqualTo(
            "3248000001000000000000000000000000000000000000000000000000000000"
                + "01011000" + "88e72459" + "05000000" + "00000000" + "0000000000000000" + "00000000" + "dcb12c80");
        roundTrip(Message.of(Dmsg.DBG_SHELL, 0, 0, 0, null, Unpooled.wrappedBuffer(aux)), 1, g, 128).release();
    }

    @Test
    void workedExampleBShellPrompt() throws Exception {
        byte[] g = new G(0x200FFF01, 0, 0, 0, 0, 0).seal();
        assertThat(Unpooled.wrappedBuffer(g).getIntLE(0x3C)).isEqualTo(0x079FB376);
        roundTrip(Message.of(Dmsg.LNK_ERROR | Dmsg.REPLY, 0, 0, 0), 0, g, 64).release();
    }

    @Test
    void workedExampleCDiskExportSpan() throws Exception {
        byte[] g = new G(0x80001207, 1, 0xfffff80012345600L, 0, 0, 0)
            .u8(0x60, 9)                       // pfs_type SERVER
            .u8(0x61, 2)                       // peer_type BLOCK
            .u16(0x62, 1)                      // proto_version
            .u64(0x78, 500107862016L)          // media.block.bytes
            .u32(0x80, 512)                    // media.block.blksize
            .str(0xB0, "myhost/da0")           // cl_label
            .str(0x130, "WD-WCAV12345678")     // fs_label
            .seal();
        assertThat(Unpooled.wrappedBuffer(g).getIntLE(0x3C)).isEqualTo(0x057A5D79);
        LnkSpan s = new LnkSpan(new UUID(0, 0), new UUID(0, 0), 9, 2, 1, 0, 0, 0, 0, 500107862016L, 512,
            "myhost/da0", "WD-WCAV12345678");
        roundTrip(Message.of(Dmsg.LNK_SPAN | Dmsg.CREATE, 0xfffff80012345600L, 0, 0, s, null), 1, g, 448).release();
    }

    @Test
    void sizesOfReference14() {
        assertThat(Dmsg.hdrBytes(Dmsg.LNK_CONN)).isEqualTo(512);
        assertThat(Dmsg.hdrBytes(Dmsg.LNK_SPAN)).isEqualTo(448);
        assertThat(Dmsg.hdrBytes(Dmsg.LNK_CIRC)).isEqualTo(128);
        assertThat(Dmsg.hdrBytes(Dmsg.LNK_VOLCONF)).isEqualTo(512);
        assertThat(Dmsg.hdrBytes(Dmsg.LNK_AUTH)).isEqualTo(128);
        assertThat(Dmsg.hdrBytes(Dmsg.BLK_READ)).isEqualTo(128);
        assertThat(Dmsg.hdrBytes(Dmsg.BLK_ERROR)).isEqualTo(192);
        assertThat(Dmsg.hdrBytes(Dmsg.LNK_ERROR)).isEqualTo(64);
        assertThat(Dmsg.hdrBytes(Dmsg.DBG_SHELL)).isEqualTo(64);
    }

    @Test
    void anOverlongLabelIsRefusedNotTruncated() {
        String tooLong = "x".repeat(128); // no room for the NUL
        assertThat(Assertions.catchThrowable(() -> new LnkSpan(U2, U3, 0, 0, 1, 0, 0, 0, 0, 0, 0,
            tooLong, ""))).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("cl_label");
    }
}
