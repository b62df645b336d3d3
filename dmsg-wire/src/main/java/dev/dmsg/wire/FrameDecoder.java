package dev.dmsg.wire;

import io.netty.buffer.ByteBuf;

/**
 * Cuts one direction's byte stream into messages, incrementally.
 *
 * <p>{@link #decode(ByteBuf)} either returns one message and consumes exactly its frame, or
 * returns {@code null} and consumes nothing ("need more bytes"), or throws. Sizes are checked from
 * the 64-byte core header <em>before</em> waiting for (and so buffering) the rest of the frame.
 * Checks, in the order libdmsg {@code dmsg_ioq_read} makes them: magic, header size, aux size,
 * hdr_crc, aux_crc, salt sequence (docs/REFERENCE.md §1.9).
 *
 * <p>A reversed magic (0x3248) means the sender is big-endian: the core header and every
 * extended field we know are read byte-swapped (docs/PROFILE.md §1; the C code swapped only the core).
 *
 * <p>Errors are sticky: after the first, every call discards all input and returns {@code null},
 * because framing is lost. Aux data is handed on as a retained slice of the input, not copied.
 *
 * <p>Not thread-safe: one per link direction.
 */
public final class FrameDecoder {
    private final Crc crc = new Crc();
    private final boolean checkSequence;
    private int rxSeq;
    private DmsgProtocolException failure;

    public FrameDecoder() {
        this(true);
    }

    /** @param checkSequence whether to enforce the salt sequence (off only for tools reading partial captures) */
    public FrameDecoder(boolean checkSequence) {
        this.checkSequence = checkSequence;
    }

    /** The error that stopped this decoder, or {@code null}. */
    public DmsgProtocolException failure() {
        return failure;
    }

    /** The sequence number (mod 256) the next frame must carry. */
    public int expectedSeq() {
        return rxSeq & 0xFF;
    }

    /**
     * Bytes the frame at the reader index needs in total, once its core header is readable and
     * valid; -1 while fewer than 64 bytes are readable. Used by tools reporting truncation.
     */
    public static long frameBytesOf(ByteBuf in) {
        if (in.readableBytes() < Dmsg.HDR_SIZE) {
            return -1;
        }
        int s = in.readerIndex();
        boolean le = in.getUnsignedShortLE(s) == Dmsg.HDR_MAGIC;
        int cmd = le ? in.getIntLE(s + Dmsg.CMD_OFFSET) : in.getInt(s + Dmsg.CMD_OFFSET);
        long aux = (le ? in.getIntLE(s + Dmsg.AUX_BYTES_OFFSET) : in.getInt(s + Dmsg.AUX_BYTES_OFFSET)) & 0xFFFFFFFFL;
        return Dmsg.hdrBytes(cmd) + Dmsg.align(aux);
    }

    public Message decode(ByteBuf in) throws DmsgProtocolException {
        if (failure != null) {
            in.skipBytes(in.readableBytes());
            return null;
        }
        try {
            return decode0(in);
        } catch (DmsgProtocolException e) {
            failure = e;
            in.skipBytes(in.readableBytes());
            throw e;
        }
    }

    private Message decode0(ByteBuf in) throws DmsgProtocolException {
        int readable = in.readableBytes();
        if (readable < 2) {
            return null;
        }
        int s = in.readerIndex();
        int magic = in.getUnsignedShortLE(s + Dmsg.MAGIC_OFFSET);
        boolean le;
        if (magic == Dmsg.HDR_MAGIC) {
            le = true;
        } else if (magic == Dmsg.HDR_MAGIC_REV) {
            le = false;
        } else {
            throw new DmsgProtocolException(DmsgProtocolException.Kind.BAD_MAGIC, String.format(
                "magic read=0x%04x expected=0x%04x (or reversed 0x%04x)", magic, Dmsg.HDR_MAGIC, Dmsg.HDR_MAGIC_REV));
        }
        if (readable < Dmsg.HDR_SIZE) {
            return null;
        }
        int cmd = Bytes.i32(in, s + Dmsg.CMD_OFFSET, le);
        int hdrBytes = Dmsg.hdrBytes(cmd);
        if (hdrBytes < Dmsg.HDR_SIZE) {
            throw new DmsgProtocolException(DmsgProtocolException.Kind.HDR_SIZE, String.format(
                "hdr_size %d < min %d (cmd=%08x)", hdrBytes, Dmsg.HDR_SIZE, cmd));
        }
        if (hdrBytes > Dmsg.HDR_MAX) {
            throw new DmsgProtocolException(DmsgProtocolException.Kind.HDR_SIZE, String.format(
                "hdr_size %d > max %d (cmd=%08x)", hdrBytes, Dmsg.HDR_MAX, cmd));
        }
        long auxBytes = Bytes.i32(in, s + Dmsg.AUX_BYTES_OFFSET, le) & 0xFFFFFFFFL;
        long auxPadded = Dmsg.align(auxBytes);
        if (auxPadded > Dmsg.AUX_MAX) {
            throw new DmsgProtocolException(DmsgProtocolException.Kind.AUX_SIZE, String.format(
                "aux_bytes %d (padded %d) > max %d", auxBytes, auxPadded, Dmsg.AUX_MAX));
        }
        int total = hdrBytes + (int) auxPadded;
        if (readable < total) {
            return null;
        }
        int hdrCrcRead = Bytes.i32(in, s + Dmsg.HDR_CRC_OFFSET, le);
        int hdrCrc = crc.hdrCrc(in, s, hdrBytes);
        if (hdrCrc != hdrCrcRead) {
            throw new DmsgProtocolException(DmsgProtocolException.Kind.HDR_CRC, String.format(
                "hdr_crc read=0x%08x computed=0x%08x (cmd=%08x)", hdrCrcRead, hdrCrc, cmd));
        }
        int auxCrcRead = Bytes.i32(in, s + Dmsg.AUX_CRC_OFFSET, le);
        if (auxBytes > 0) {
            int auxCrc = crc.auxCrc(in, s + hdrBytes, (int) auxPadded);
            if (auxCrc != auxCrcRead) {
                throw new DmsgProtocolException(DmsgProtocolException.Kind.AUX_CRC, String.format(
                    "aux_crc read=0x%08x computed=0x%08x (aux_bytes=%d)", auxCrcRead, auxCrc, auxBytes));
            }
        }
        int salt = Bytes.i32(in, s + Dmsg.SALT_OFFSET, le);
        if (checkSequence && (salt & 0xFF) != (rxSeq & 0xFF)) {
            throw new DmsgProtocolException(DmsgProtocolException.Kind.SEQUENCE, String.format(
                "salt seq read=%d expected=%d (salt=%08x)", salt & 0xFF, rxSeq & 0xFF, salt));
        }
        rxSeq++;
        ExtHeader ext = ExtHeader.decode(cmd, in, s, le);
        ByteBuf aux = auxBytes == 0 ? null : in.retainedSlice(s + hdrBytes, (int) auxBytes);
        Message m = Message.received(cmd,
            Bytes.i64(in, s + Dmsg.MSGID_OFFSET, le), Bytes.i64(in, s + Dmsg.CIRCUIT_OFFSET, le),
            Bytes.i32(in, s + Dmsg.ERROR_OFFSET, le), ext, aux, salt, hdrCrcRead, auxCrcRead,
            Bytes.i64(in, s + Dmsg.RESERVED18_OFFSET, le), Bytes.i32(in, s + Dmsg.RESERVED38_OFFSET, le));
        in.skipBytes(total);
        return m;
    }
}
