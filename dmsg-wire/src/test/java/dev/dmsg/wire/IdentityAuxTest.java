package dev.dmsg.wire;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * The aux layouts of docs/IDENTITY.md — the span proof (§3.1) and the circuit hello (§4.1) —
 * written byte by byte, read back, and refused field by field when they are wrong.
 */
class IdentityAuxTest {
    static final byte[] CERT_A = {0x30, 0x03, 0x02, 0x01, 0x07};
    static final byte[] CERT_B = {0x30, 0x01, 0x05};
    static final byte[] SIG = {0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x02};

    static byte[] bytes(ByteBuf b) {
        byte[] out = new byte[b.readableBytes()];
        b.getBytes(b.readerIndex(), out);
        return out;
    }

    static byte[] filled(int value) {
        byte[] b = new byte[32];
        Arrays.fill(b, (byte) value);
        return b;
    }

    @Test
    void aSpanProofIsWrittenFieldByField() throws Exception {
        SpanProof p = new SpanProof(SpanProof.VOUCH, 0x0102030405060708L, List.of(CERT_A, CERT_B), SIG);
        byte[] b = bytes(p.encode());
        byte[] expected = {
            0x44, 0x53, 0x50, 0x31,                         // magic "DSP1" LE
            0x01, 0x00,                                     // version 1
            0x01, 0x00,                                     // flags: VOUCH
            0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, // issued_ms
            0x0C, 0x00,                                     // chain_bytes: 2+5 + 2+3
            0x08, 0x00,                                     // sig_bytes
            0x05, 0x00, 0x30, 0x03, 0x02, 0x01, 0x07,       // certificate A
            0x03, 0x00, 0x30, 0x01, 0x05,                   // certificate B
            0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x02  // signature
        };
        assertThat(b).containsExactly(expected);
        SpanProof back = SpanProof.parse(Unpooled.wrappedBuffer(b));
        assertThat(back.flags()).isEqualTo(1);
        assertThat(back.vouch()).isTrue();
        assertThat(back.issuedMs()).isEqualTo(0x0102030405060708L);
        assertThat(back.chain()).hasSize(2);
        assertThat(back.chain().get(0)).containsExactly(CERT_A);
        assertThat(back.sig()).containsExactly(SIG);
        assertThat(SpanProof.present(Unpooled.wrappedBuffer(b))).isTrue();
        assertThat(SpanProof.present(null)).isFalse();
    }

    @Test
    void theSignedBytesCoverTheSpanButNotWhatRelaysChange() {
        LnkSpan span = new LnkSpan(new UUID(1, 2), new UUID(3, 4), Dmsg.PFSTYPE_SERVER, Dmsg.PEER_BLOCK, 1, 0,
            0x0000_0001_0001_00D5L, 0, 0, 1 << 20, 4096, "gamma/disk0", "serial-1");
        byte[] base = SpanProof.signedBytes(0, 5, List.of(CERT_A), span);
        // a relay's copy: dist + 1, rnss + R, and a seqno request flag set in the extension byte
        LnkSpan relayed = span.relayed(0x1234);
        LnkSpan flagged = new LnkSpan(span.pfsClid(), span.pfsFsid(), span.pfsType(), span.peerType(), 1, 0,
            span.reserved02() | 0x0100L, 3, 9, span.mediaBytes(), span.mediaBlksize(), span.clLabel(), span.fsLabel());
        assertThat(SpanProof.signedBytes(0, 5, List.of(CERT_A), relayed)).containsExactly(base);
        assertThat(SpanProof.signedBytes(0, 5, List.of(CERT_A), flagged)).containsExactly(base);
        // what a relay may not change
        LnkSpan renamed = new LnkSpan(span.pfsClid(), span.pfsFsid(), span.pfsType(), span.peerType(), 1, 0,
            span.reserved02(), 0, 0, span.mediaBytes(), span.mediaBlksize(), "gamma/disk1", span.fsLabel());
        LnkSpan resized = new LnkSpan(span.pfsClid(), span.pfsFsid(), span.pfsType(), span.peerType(), 1, 0,
            span.reserved02(), 0, 0, 2 << 20, span.mediaBlksize(), span.clLabel(), span.fsLabel());
        LnkSpan reseq = new LnkSpan(span.pfsClid(), span.pfsFsid(), span.pfsType(), span.peerType(), 1, 0,
            span.reserved02() + 0x10000L, 0, 0, span.mediaBytes(), span.mediaBlksize(), span.clLabel(), span.fsLabel());
        for (LnkSpan other : List.of(renamed, resized, reseq)) {
            assertThat(SpanProof.signedBytes(0, 5, List.of(CERT_A), other)).isNotEqualTo(base);
        }
        assertThat(SpanProof.signedBytes(SpanProof.VOUCH, 5, List.of(CERT_A), span)).isNotEqualTo(base);
        assertThat(SpanProof.signedBytes(0, 6, List.of(CERT_A), span)).isNotEqualTo(base);
        assertThat(SpanProof.signedBytes(0, 5, List.of(CERT_B), span)).isNotEqualTo(base);
    }

    @Test
    void aBadSpanProofIsRefusedNamingTheField() {
        byte[] good = bytes(new SpanProof(0, 1, List.of(CERT_A), SIG).encode());
        assertBad(Arrays.copyOf(good, 10), "span proof: 10 bytes < header 20");
        byte[] magic = good.clone();
        magic[0] = 0x45;
        assertBad(magic, "span proof: magic read=0x31505345 expected=0x31505344");
        byte[] version = good.clone();
        version[4] = 2;
        assertBad(version, "span proof: version 2 (this node reads 1)");
        byte[] chainLong = good.clone();
        chainLong[16] = (byte) 0xFF;
        assertBad(chainLong, "span proof: chain_bytes 255 > 15 bytes left");
        byte[] certLong = good.clone();
        certLong[20] = 9;
        assertBad(certLong, "span proof: certificate 1 of 9 bytes, 5 left in the chain");
        byte[] sigShort = good.clone();
        sigShort[18] = 7;
        assertBad(sigShort, "span proof: sig_bytes 7 but 8 bytes follow the chain");
        byte[] noSig = good.clone();
        noSig[18] = 0;
        assertBad(noSig, "span proof: sig_bytes 0 not in 1..128");
        byte[] huge = good.clone();
        huge[16] = 0x01;
        huge[17] = 0x50; // 0x5001 = 20481
        assertBad(huge, "span proof: chain_bytes 20481 > max 16384");
    }

    static void assertBad(byte[] b, String message) {
        assertThatThrownBy(() -> SpanProof.parse(Unpooled.wrappedBuffer(b)))
            .isInstanceOfSatisfying(DmsgProtocolException.class, e -> {
                assertThat(e.kind()).isEqualTo(DmsgProtocolException.Kind.BAD_AUX);
                assertThat(e.scope()).isEqualTo(DmsgProtocolException.Scope.TRANSACTION);
            })
            .hasMessage(message);
    }

    @Test
    void aCircuitHelloIsWrittenFieldByFieldAndTheEndpointSignsBothHalves() throws Exception {
        CircHello o = new CircHello(CircHello.ORIGINATOR, 0, filled(1), filled(2), filled(3), List.of(CERT_B), SIG);
        byte[] b = o.toBytes();
        assertThat(b).hasSize(0x6C + 5 + 8);
        assertThat(Arrays.copyOfRange(b, 0, 8)).containsExactly(0x44, 0x43, 0x48, 0x31, 0x01, 0x00, 0x00, 0x00);
        assertThat(Arrays.copyOfRange(b, 0x08, 0x28)).containsExactly(filled(1));
        assertThat(Arrays.copyOfRange(b, 0x28, 0x48)).containsExactly(filled(2));
        assertThat(Arrays.copyOfRange(b, 0x48, 0x68)).containsExactly(filled(3));
        assertThat(Arrays.copyOfRange(b, 0x68, 0x6C)).containsExactly(0x05, 0x00, 0x08, 0x00);
        assertThat(Arrays.copyOfRange(b, 0x6C, 0x71)).containsExactly(0x03, 0x00, 0x30, 0x01, 0x05);
        assertThat(Arrays.copyOfRange(b, 0x71, b.length)).containsExactly(SIG);
        CircHello back = CircHello.parse(Unpooled.wrappedBuffer(b));
        assertThat(back.toBytes()).containsExactly(b);

        CircHello e = new CircHello(CircHello.ENDPOINT, CircHello.SEALED, filled(4), filled(5), filled(6),
            List.of(CERT_A), SIG);
        byte[] signedE = e.signedBytes(o);
        assertThat(new String(signedE, 0, 27, StandardCharsets.US_ASCII))
            .isEqualTo("dmsg-circ-hello-v1 endpoint");
        CircHello otherOriginator = new CircHello(CircHello.ORIGINATOR, 0, filled(9), filled(2), filled(3),
            List.of(CERT_B), SIG);
        assertThat(e.signedBytes(otherOriginator)).as("the endpoint's signature binds the originator's hello")
            .isNotEqualTo(signedE);
        assertThat(o.signedBytes(null)).as("a signature never covers itself")
            .isEqualTo(o.signed(new byte[] {1}).signedBytes(null));
    }

    @Test
    void aBadCircuitHelloIsRefused() {
        byte[] good = new CircHello(CircHello.ENDPOINT, CircHello.DIRECT, filled(1), filled(2), filled(3),
            List.of(CERT_A), SIG).toBytes();
        byte[] side = good.clone();
        side[6] = 7;
        assertThatThrownBy(() -> CircHello.parse(Unpooled.wrappedBuffer(side))).isInstanceOf(DmsgProtocolException.class)
            .hasMessage("circuit hello: side must be 0 or 1, not 7");
        byte[] mode = good.clone();
        mode[7] = 0;
        assertThatThrownBy(() -> CircHello.parse(Unpooled.wrappedBuffer(mode))).isInstanceOf(DmsgProtocolException.class)
            .hasMessage("circuit hello: mode 0 for side 1");
        assertThatThrownBy(() -> CircHello.parse(Unpooled.wrappedBuffer(Arrays.copyOf(good, 0x6B))))
            .isInstanceOf(DmsgProtocolException.class).hasMessage("circuit hello: 107 bytes < header 108");
    }

    @Test
    void aSealTagRidesInReserved18AndReserved38AndSurvivesARelaysRewrite() throws Exception {
        Message m = Message.of(Dmsg.DBG_SHELL | Dmsg.CREATE, 0x11, 0x22, 0, null, Unpooled.wrappedBuffer(new byte[] {1, 2, 3}))
            .withSeal(Unpooled.wrappedBuffer(new byte[] {9, 8, 7}), 0x0102030405060708L, 0x0A0B0C0D);
        ByteBuf frame = Unpooled.buffer();
        new FrameEncoder().encode(m, 0, frame);
        assertThat(frame.getLongLE(Dmsg.RESERVED18_OFFSET)).isEqualTo(0x0102030405060708L);
        assertThat(frame.getIntLE(Dmsg.RESERVED38_OFFSET)).isEqualTo(0x0A0B0C0D);
        assertThat(frame.getByte(Dmsg.HDR_SIZE)).as("the new aux").isEqualTo((byte) 9);
        Message back = new FrameDecoder().decode(frame);
        assertThat(back.reserved18()).isEqualTo(0x0102030405060708L);
        assertThat(back.reserved38()).isEqualTo(0x0A0B0C0D);
        Message relayed = back.rewrite(back.cmd(), back.msgid(), 0x33);
        assertThat(relayed.reserved18()).isEqualTo(0x0102030405060708L);
        assertThat(relayed.reserved38()).isEqualTo(0x0A0B0C0D);
        relayed.release();
        back.release();
        m.release();
        ByteBuf plain = Unpooled.buffer();
        new FrameEncoder().encode(Message.of(Dmsg.LNK_PING, 0, 0, 0), 0, plain);
        assertThat(plain.getLongLE(Dmsg.RESERVED18_OFFSET)).as("unsealed: zero, as C sends").isZero();
        assertThat(plain.getIntLE(Dmsg.RESERVED38_OFFSET)).isZero();
    }
}
