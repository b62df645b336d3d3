package dev.dmsg.wire;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.dmsg.testkit.LeakDetector;
import dev.dmsg.wire.qrm.Batch;
import dev.dmsg.wire.qrm.Blob;
import dev.dmsg.wire.qrm.Op;
import dev.dmsg.wire.qrm.OpResult;
import dev.dmsg.wire.qrm.QrmCodec;
import dev.dmsg.wire.qrm.Results;
import dev.dmsg.wire.qrm.WatchEvent;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * {@code struct dmsg_qrm_commit} (docs/QUORUM.md §3.2) through the real frame encoder and
 * decoder: golden bytes written field by field, both byte orders, every QRM command word, and
 * {@link QrmHeader#problem()} naming what a receiver refuses (decoding keeps whatever the bytes say).
 */
@ExtendWith(LeakDetector.class)
class QrmHeaderTest {
    static final Batch BATCH = Batch.of(Op.put(Blob.utf8("/a"), Blob.utf8("hello")));

    static GoldenBytesTest.G prepare(int version, int flags, byte[] aux) {
        return new GoldenBytesTest.G(0x80400102, 3, 0x1000, 0x77, 0, aux.length)
            .u8(0x40, version)                 // version
            .u8(0x41, 1)                       // phase PREPARE
            .u16(0x42, flags)                  // flags
            .u32(0x44, 15_000)                 // lease_ms
            .u64(0x48, 812)                    // index
            .u64(0x50, 3)                      // term
            .u64(0x58, 0x0102030405060708L)    // revision
            .str(0x60, "kv.main")              // group[32]
            .aux(aux);
    }

    @Test
    void aPrepareIsWrittenFieldByFieldAndCarriesItsBatch() throws Exception {
        byte[] batch = QrmCodec.encodeBatch(BATCH);
        byte[] golden = prepare(1, QrmHeader.ONE_PHASE, batch).seal();
        QrmHeader h = QrmHeader.of(QrmHeader.PREPARE, "kv.main").withFlags(QrmHeader.ONE_PHASE).withLease(15_000)
            .withLog(812, 3).withRevision(0x0102030405060708L);
        Message m = Message.of(Dmsg.QRM_COMMIT | Dmsg.CREATE, 0x1000, 0x77, 0, h, Unpooled.wrappedBuffer(batch));
        assertThat(batch).hasSize(23);
        Message back = GoldenBytesTest.roundTrip(m, 3, golden, 128 + 64); // the aux padded to 64
        QrmHeader got = back.ext(QrmHeader.class);
        assertThat(got).isEqualTo(h);
        assertThat(got.has(QrmHeader.ONE_PHASE)).isTrue();
        assertThat(got.has(QrmHeader.SERIALIZABLE)).isFalse();
        assertThat(got.problem()).isNull();
        assertThat(QrmCodec.decodeBatch(back.aux())).isEqualTo(BATCH);
        assertThat(got.describe()).isEqualTo("version=1 phase=PREPARE flags=0x0001 lease_ms=15000 index=812 term=3 "
            + "revision=72623859790382856 group=\"kv.main\"");
        back.release();
    }

    @Test
    void everyQrmCommandCarriesTheHeaderAndNothingElseDoes() throws Exception {
        int[] cmds = {Dmsg.QRM_COMMIT, Dmsg.QRM_READ, Dmsg.QRM_WATCH, Dmsg.QRM_ADMIN, Dmsg.QRM_RAFT};
        assertThat(cmds).containsExactly(0x00400102, 0x00400202, 0x00400302, 0x00400402, 0x00401002);
        QrmHeader h = QrmHeader.of(QrmHeader.RAFT, "g").withFlags(QrmHeader.MORE);
        for (int cmd : cmds) {
            assertThat(Dmsg.hdrBytes(cmd)).isEqualTo(128);
            ByteBuf out = Unpooled.buffer();
            new FrameEncoder().encode(Message.of(cmd | Dmsg.REPLY, 5, 6, 0, h, null), 0, out);
            assertThat(out.readableBytes()).isEqualTo(128);
            Message back = new FrameDecoder(false).decode(out);
            assertThat(back.ext()).isEqualTo(h);
            assertThat(FrameLog.fields(back)).isEqualTo(Command.nameOf(cmd) + " " + h.describe());
            back.release();
            out.release();
            assertThatThrownBy(() -> Message.of(cmd, 1, 0, 0, null, null)).isInstanceOf(IllegalArgumentException.class);
        }
        assertThat(h.fits(Dmsg.LNK_SPAN)).isFalse();
        assertThatThrownBy(() -> Message.of(Dmsg.LNK_CIRC, 1, 0, 0, h, null)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void decodingKeepsWhatTheBytesSayAndProblemNamesWhatToRefuse() throws Exception {
        ByteBuf in = Unpooled.wrappedBuffer(prepare(2, 0x8001, new byte[0]).seal());
        Message m = new FrameDecoder(false).decode(in);
        in.release();
        QrmHeader h = m.ext(QrmHeader.class);
        assertThat(h.version()).isEqualTo(2);
        assertThat(h.flags()).isEqualTo(0x8001);
        assertThat(h.problem()).isEqualTo("QRM header version 2 (this node speaks 1)");
        m.release();

        QrmHeader ok = QrmHeader.of(QrmHeader.PREPARE, "g");
        assertThat(ok.problem()).isNull();
        assertThat(ok.withFlags(QrmHeader.ONE_PHASE | QrmHeader.SERIALIZABLE | QrmHeader.MORE).problem()).isNull();
        assertThat(ok.withFlags(0x0008).problem()).isEqualTo("QRM header flags 0x0008: reserved bits set");
        assertThat(ok.withFlags(0x8001).problem()).isEqualTo("QRM header flags 0x8001: reserved bits set");
        assertThat(ok.withLease(QrmHeader.MAX_LEASE_MS).problem()).isNull();
        assertThat(ok.withLease(60_001).problem()).isEqualTo("QRM lease_ms 60001 is over 60000");
        assertThat(ok.withLease(-1).problem()).as("u32: 0xFFFFFFFF is large, not negative")
            .isEqualTo("QRM lease_ms 4294967295 is over 60000");
        assertThat(new QrmHeader(0, 1, 0, 0, 0, 0, 0, "g").problem()).isEqualTo("QRM header version 0 (this node speaks 1)");
    }

    @Test
    void theConstructorRefusesWhatTheFieldsCannotHold() {
        String longest = "g".repeat(31);
        assertThat(QrmHeader.of(QrmHeader.READ, longest).group()).hasSize(31);
        assertThatThrownBy(() -> QrmHeader.of(QrmHeader.READ, longest + "g")).isInstanceOf(IllegalArgumentException.class)
            .hasMessage("group is 32 bytes in UTF-8; max 31");
        assertThatThrownBy(() -> new QrmHeader(256, 1, 0, 0, 0, 0, 0, "g")).isInstanceOf(IllegalArgumentException.class)
            .hasMessage("version 256 is not a u8");
        assertThatThrownBy(() -> new QrmHeader(1, -1, 0, 0, 0, 0, 0, "g")).isInstanceOf(IllegalArgumentException.class)
            .hasMessage("phase -1 is not a u8");
        assertThatThrownBy(() -> QrmHeader.of(1, "g").withFlags(0x10000)).isInstanceOf(IllegalArgumentException.class)
            .hasMessage("flags 65536 is not a u16");
        assertThat(QrmHeader.phaseName(QrmHeader.EVENTS)).isEqualTo("EVENTS");
        assertThat(QrmHeader.phaseName(42)).isEqualTo("phase42");
    }

    @Test
    void aBigEndianPeersHeaderIsSwapped() throws Exception {
        ByteBuf ext = Unpooled.buffer(64).writeZero(64);
        int o = -Dmsg.HDR_SIZE; // offsets below are from the start of the message, as §3.2 gives them
        ext.setByte(o + 0x40, 1);                      // version
        ext.setByte(o + 0x41, QrmHeader.COMMITTED);    // phase
        ext.setShort(o + 0x42, QrmHeader.SERIALIZABLE); // flags
        ext.setInt(o + 0x44, 500);                     // lease_ms
        ext.setLong(o + 0x48, 0x0a0b0c0d0e0f1011L);    // index
        ext.setLong(o + 0x50, 9);                      // term
        ext.setLong(o + 0x58, 77);                     // revision
        ext.setBytes(o + 0x60, "kv".getBytes(StandardCharsets.US_ASCII)); // group
        Message m = ReversedMagicTest.decode(ReversedMagicTest.beFrame(Dmsg.QRM_COMMIT | Dmsg.REPLY | Dmsg.DELETE,
            0x40, 0x41, 0, 0, ext, new byte[0]));
        assertThat(m.ext(QrmHeader.class)).isEqualTo(QrmHeader.of(QrmHeader.COMMITTED, "kv")
            .withFlags(QrmHeader.SERIALIZABLE).withLease(500).withLog(0x0a0b0c0d0e0f1011L, 9).withRevision(77));
        m.release();
    }

    static String fields(int cmd, QrmHeader h, int error, byte[] aux) {
        Message m = Message.of(cmd, 9, 0x77, error, h, Unpooled.wrappedBuffer(aux));
        try {
            String f = FrameLog.fields(m);
            assertThat(f).startsWith(Command.nameOf(cmd) + " " + h.describe() + "\n");
            return f.substring(f.indexOf('\n') + 1);
        } finally {
            m.release();
        }
    }

    @Test
    void theFrameLogShowsAQrmAuxDecodedAsItsPhaseSays() {
        QrmHeader prepare = QrmHeader.of(QrmHeader.PREPARE, "kv");
        assertThat(fields(Dmsg.QRM_COMMIT | Dmsg.CREATE, prepare, 0, QrmCodec.encodeBatch(BATCH)))
            .isEqualTo("aux: compares=[] success=[PUT /a (5 bytes)] failure=[]");
        assertThat(fields(Dmsg.QRM_COMMIT | Dmsg.CREATE | Dmsg.REPLY, QrmHeader.of(QrmHeader.PREPARED, "kv"), 0,
            new byte[] {1})).isEqualTo("aux: held=1");
        assertThat(fields(Dmsg.QRM_COMMIT | Dmsg.REPLY | Dmsg.DELETE, QrmHeader.of(QrmHeader.COMMITTED, "kv"), 0,
            QrmCodec.encodeResults(new Results(true, List.of(OpResult.put(8))))))
            .isEqualTo("aux: succeeded=1 results=[PUT revision=8]");
        assertThat(fields(Dmsg.QRM_READ | Dmsg.CREATE | Dmsg.DELETE, QrmHeader.of(QrmHeader.READ, "kv"), 0,
            QrmCodec.encodeBatch(Batch.of(Op.getPrefix(Blob.utf8("/p/"), 0)))))
            .isEqualTo("aux: compares=[] success=[GET prefix=/p/] failure=[]");
        assertThat(fields(Dmsg.QRM_READ | Dmsg.CREATE | Dmsg.DELETE | Dmsg.REPLY, QrmHeader.of(QrmHeader.READ, "kv"), 0,
            QrmCodec.encodeResults(new Results(true, List.of(OpResult.got(List.of(), false))))))
            .isEqualTo("aux: succeeded=1 results=[GET []]");
        assertThat(fields(Dmsg.QRM_WATCH | Dmsg.CREATE, QrmHeader.of(QrmHeader.WATCHING, "kv"), 0,
            QrmCodec.encodeBatch(Batch.of(Op.getPrefix(Blob.utf8("/p/"), 0)))))
            .isEqualTo("aux: compares=[] success=[GET prefix=/p/] failure=[]");
        assertThat(fields(Dmsg.QRM_WATCH | Dmsg.REPLY, QrmHeader.of(QrmHeader.EVENTS, "kv"), 0,
            QrmCodec.encodeEvents(List.of(WatchEvent.delete(12, Blob.utf8("/p/x"))))))
            .isEqualTo("aux: events=[DELETE /p/x revision=12]");

        // what does not parse is shown with the reason a member would give
        assertThat(fields(Dmsg.QRM_COMMIT | Dmsg.CREATE, prepare, 0, new byte[] {1, 0, 0}))
            .isEqualTo("aux: 3 bytes, not batch: batch: cut short at n_compares (2-byte field, 1 bytes left)");
        // an error's reason, ADMIN's JSON: text (the frame log reads aux text as C does: up to a
        // NUL, never the last byte, docs/REFERENCE.md §1.6); RAFT's protobuf: bytes
        assertThat(fields(Dmsg.QRM_COMMIT | Dmsg.REPLY | Dmsg.DELETE, QrmHeader.of(QrmHeader.COMMITTED, "kv"),
            Dmsg.ERR_CONFLICT, "key \"/a\": reserved\0".getBytes(StandardCharsets.UTF_8)))
            .isEqualTo("aux: \"key \\\"/a\\\": reserved\"");
        assertThat(fields(Dmsg.QRM_ADMIN | Dmsg.CREATE, QrmHeader.of(QrmHeader.ADMIN, "kv"), 0,
            "{\"op\":\"status\"}\0".getBytes(StandardCharsets.UTF_8))).isEqualTo("aux: \"{\\\"op\\\":\\\"status\\\"}\"");
        assertThat(fields(Dmsg.QRM_RAFT | Dmsg.CREATE, QrmHeader.of(QrmHeader.RAFT, "kv"), 0, new byte[] {0x08, (byte) 0x96, 0x01}))
            .isEqualTo("aux: 3 bytes, aux_crc=00000000");
    }
}
