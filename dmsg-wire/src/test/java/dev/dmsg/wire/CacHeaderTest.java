package dev.dmsg.wire;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.dmsg.testkit.LeakDetector;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * {@code struct dmsg_cac_lock} (docs/CAC.md §7) through the real frame encoder and decoder:
 * golden bytes written field by field, the 192-byte header of CAC_LOCK, and
 * {@link CacHeader#problem()} naming what a receiver refuses — a version, flag bits or reserved
 * bytes it does not know.
 */
@ExtendWith(LeakDetector.class)
class CacHeaderTest {
    static GoldenBytesTest.G request(int version, int flags, byte[] key) {
        return new GoldenBytesTest.G(0x80300103, 5, 0x2000, 0x33, 0, key.length)
            .u8(0x40, version)                  // version
            .u8(0x41, 1)                        // phase REQUEST
            .u8(0x42, 2)                        // state EXCLUSIVE
            .u8(0x43, 1)                        // domain TREE
            .u16(0x44, flags)                   // flags
            .u32(0x48, 2_500)                   // wait_ms
            .u32(0x4C, 12_000)                  // lease_ms
            .u64(0x50, 0)                       // token
            .u64(0x58, 0)                       // lock
            .u64(0x60, 0x1122334455667788L)     // owner
            .str(0x80, "locks")                 // group[32]
            .aux(key);
    }

    @Test
    void aRequestIsWrittenFieldByFieldAndCarriesItsKey() throws Exception {
        byte[] key = "/vol/a".getBytes(StandardCharsets.UTF_8);
        byte[] golden = request(1, CacHeader.BROADER_OK, key).seal();
        CacHeader h = CacHeader.request("locks", 2, 1, CacHeader.BROADER_OK, 2_500, 12_000, 0x1122334455667788L);
        Message m = Message.of(Dmsg.CAC_LOCK | Dmsg.CREATE, 0x2000, 0x33, 0, h, Unpooled.wrappedBuffer(key));
        Message back = GoldenBytesTest.roundTrip(m, 5, golden, 192 + 64);
        CacHeader got = back.ext(CacHeader.class);
        assertThat(got).isEqualTo(h);
        assertThat(got.problem()).isNull();
        assertThat(new String(back.auxCopy(), StandardCharsets.UTF_8)).as("the key, not NUL-terminated").isEqualTo("/vol/a");
        assertThat(got.describe()).isEqualTo("version=1 phase=REQUEST state=EXCLUSIVE domain=TREE flags=0x0001 "
            + "wait_ms=2500 lease_ms=12000 token=0 lock=0 owner=1122334455667788 group=\"locks\"");
        back.release();
    }

    @Test
    void cacLockIsItsOwnLayoutOf192Bytes() throws Exception {
        assertThat(Dmsg.CAC_LOCK).isEqualTo(0x00300103);
        assertThat(Dmsg.hdrBytes(Dmsg.CAC_LOCK)).isEqualTo(192);
        CacHeader h = CacHeader.of(CacHeader.GRANTED, "g").withGrant(2, 812, 800, 10_000);
        ByteBuf out = Unpooled.buffer();
        new FrameEncoder().encode(Message.of(Dmsg.CAC_LOCK | Dmsg.REPLY, 5, 6, 0, h, null), 0, out);
        assertThat(out.readableBytes()).isEqualTo(192);
        Message back = new FrameDecoder(false).decode(out);
        assertThat(back.ext()).isEqualTo(h);
        assertThat(FrameLog.fields(back)).isEqualTo("CAC_LOCK " + h.describe());
        back.release();
        out.release();
        assertThat(h.fits(Dmsg.QRM_COMMIT)).isFalse();
        assertThatThrownBy(() -> Message.of(Dmsg.QRM_COMMIT, 1, 0, 0, h, null)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> Message.of(Dmsg.CAC_LOCK, 1, 0, 0, null, null)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void decodingKeepsWhatTheBytesSayAndProblemNamesWhatToRefuse() throws Exception {
        Message m = decode(request(2, 0x8001, new byte[0]).seal());
        CacHeader h = m.ext(CacHeader.class);
        assertThat(h.version()).isEqualTo(2);
        assertThat(h.problem()).isEqualTo("CAC header version 2 (this node speaks 1)");
        m.release();
        assertThat(CacHeader.of(CacHeader.REQUEST, "g").withPhase(1).problem()).isNull();
        m = decode(request(1, 0x0004, new byte[0]).seal());
        assertThat(m.ext(CacHeader.class).problem()).isEqualTo("CAC header flags 0x0004: reserved bits set");
        m.release();
        for (int off : new int[] {0x46, 0x68, 0x7F, 0xA0, 0xBF}) {
            m = decode(request(1, 0, new byte[0]).u8(off, 1).seal());
            CacHeader r = m.ext(CacHeader.class);
            assertThat(r.problem()).as("reserved byte at 0x%x", off).isEqualTo("CAC header reserved bytes are not zero");
            assertThat(r.describe()).endsWith(" reserved!=0");
            m.release();
        }
        assertThat(CacHeader.stateName(3)).isEqualTo("MODIFIED");
        assertThat(CacHeader.stateName(9)).isEqualTo("state9");
        assertThat(CacHeader.domainName(4)).isEqualTo("DIRENT");
        assertThat(CacHeader.domainName(0)).isEqualTo("0");
        assertThat(CacHeader.phaseName(CacHeader.LIST)).isEqualTo("LIST");
    }

    @Test
    void theConstructorRefusesWhatTheFieldsCannotHold() {
        assertThatThrownBy(() -> CacHeader.of(1, "g".repeat(32))).isInstanceOf(IllegalArgumentException.class)
            .hasMessage("group is 32 bytes in UTF-8; max 31");
        assertThatThrownBy(() -> CacHeader.of(1, "g").withState(256)).isInstanceOf(IllegalArgumentException.class)
            .hasMessage("state 256 is not a u8");
    }

    static Message decode(byte[] frame) throws Exception {
        ByteBuf in = Unpooled.wrappedBuffer(frame);
        try {
            return new FrameDecoder(false).decode(in);
        } finally {
            in.release();
        }
    }
}
