package dev.dmsg.wire;

import io.netty.buffer.ByteBuf;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.IntSupplier;

/**
 * Writes messages as frames: the extended header zero-padded to its size byte, then the aux
 * zero-padded to 64, always little-endian, with aux_crc computed before hdr_crc (hdr_crc covers
 * the aux_crc field; docs/REFERENCE.md §1.7).
 *
 * <p>Owns one direction's transmit sequence: {@code salt = random << 8 | seq & 0xFF}. Call {@link
 * #encode(Message, ByteBuf)} at the moment the frame goes to the socket, never at queue time, so
 * that a dropped message can never leave a gap (docs/REFERENCE.md §1.8, the kernel's bug).
 *
 * <p>Not thread-safe: one per link direction.
 */
public final class FrameEncoder {
    private final Crc crc = new Crc();
    private final IntSupplier saltRandom;
    private int txSeq;

    public FrameEncoder() {
        this(() -> ThreadLocalRandom.current().nextInt());
    }

    /** @param saltRandom source of the salt's high 24 bits (the low 8 bits of its value are unused) */
    public FrameEncoder(IntSupplier saltRandom) {
        this.saltRandom = saltRandom;
    }

    /** Total frame bytes of {@code m} on the wire. */
    public static int frameBytes(Message m) {
        return Dmsg.hdrBytes(m.cmd()) + (int) Dmsg.align(m.auxBytes());
    }

    /** Encodes {@code m} with the next salt of this direction. Does not release {@code m}. */
    public void encode(Message m, ByteBuf out) {
        encode(m, nextSalt(), out);
    }

    /** Random high 24 bits, this direction's sequence number in the low 8 (docs/REFERENCE.md §1.8). */
    private int nextSalt() {
        return (saltRandom.getAsInt() << 8) | (txSeq++ & 0xFF);
    }

    /** The sequence number (mod 256) the next frame will carry. */
    public int nextSeq() {
        return txSeq & 0xFF;
    }

    /**
     * Encodes only the extended header of {@code m}, with the next salt, and with aux_crc computed
     * over {@code m}'s aux as it will be padded. The caller sends the aux itself right after it,
     * then {@link #padBytes(Message)} zeros: a frame whose aux is never copied. Does not release {@code m}.
     */
    public void encodeHeader(Message m, ByteBuf out) {
        int base = writeHeader(m, nextSalt(), out);
        int auxBytes = m.auxBytes();
        if (auxBytes > 0) {
            ByteBuf aux = m.auxBuf();
            out.setIntLE(base + Dmsg.AUX_CRC_OFFSET, crc.auxCrc(aux, aux.readerIndex(), auxBytes, padBytes(m)));
        }
        out.setIntLE(base + Dmsg.HDR_CRC_OFFSET, crc.hdrCrc(out, base, Dmsg.hdrBytes(m.cmd())));
    }

    /** Zero bytes that pad {@code m}'s aux to a multiple of 64. */
    public static int padBytes(Message m) {
        return (int) Dmsg.align(m.auxBytes()) - m.auxBytes();
    }

    /** Writes the extended header with both CRC fields 0; returns where it starts. */
    private static int writeHeader(Message m, int salt, ByteBuf out) {
        int hdrBytes = Dmsg.hdrBytes(m.cmd());
        int base = out.writerIndex();
        out.writeZero(hdrBytes);
        out.setShortLE(base + Dmsg.MAGIC_OFFSET, Dmsg.HDR_MAGIC);
        out.setIntLE(base + Dmsg.SALT_OFFSET, salt);
        out.setLongLE(base + Dmsg.MSGID_OFFSET, m.msgid());
        out.setLongLE(base + Dmsg.CIRCUIT_OFFSET, m.circuit());
        out.setIntLE(base + Dmsg.CMD_OFFSET, m.cmd());
        out.setIntLE(base + Dmsg.AUX_BYTES_OFFSET, m.auxBytes());
        out.setIntLE(base + Dmsg.ERROR_OFFSET, m.error());
        if (m.reserved18() != 0 || m.reserved38() != 0) {
            out.setLongLE(base + Dmsg.RESERVED18_OFFSET, m.reserved18()); // a sealed message's tag
            out.setIntLE(base + Dmsg.RESERVED38_OFFSET, m.reserved38());
        }
        if (m.ext() != null) {
            m.ext().encode(out, base);
        }
        return base;
    }

    /** Encodes {@code m} with an explicit salt. Does not release {@code m}. */
    public void encode(Message m, int salt, ByteBuf out) {
        int hdrBytes = Dmsg.hdrBytes(m.cmd());
        int auxBytes = m.auxBytes();
        int auxPadded = (int) Dmsg.align(auxBytes);
        out.ensureWritable(hdrBytes + auxPadded);
        int base = writeHeader(m, salt, out);
        if (auxBytes > 0) {
            int auxStart = out.writerIndex();
            ByteBuf aux = m.auxBuf();
            out.writeBytes(aux, aux.readerIndex(), auxBytes);
            out.writeZero(auxPadded - auxBytes);
            out.setIntLE(base + Dmsg.AUX_CRC_OFFSET, crc.auxCrc(out, auxStart, auxPadded));
        }
        out.setIntLE(base + Dmsg.HDR_CRC_OFFSET, crc.hdrCrc(out, base, hdrBytes));
    }
}
