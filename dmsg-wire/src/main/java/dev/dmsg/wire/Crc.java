package dev.dmsg.wire;

import io.netty.buffer.ByteBuf;
import java.nio.ByteBuffer;
import java.util.zip.CRC32C;

/**
 * The two CRCs of a frame, both CRC-32C (Castagnoli, reflected, init and final xor 0xFFFFFFFF;
 * {@code java.util.zip.CRC32C}, identical to libdmsg {@code dmsg_icrc32} and the kernel's
 * {@code iscsi_crc32}; docs/REFERENCE.md §1.7).
 *
 * <p>Not thread-safe: one instance per encoder or decoder.
 */
public final class Crc {
    private static final byte[] ZERO4 = new byte[4];
    private final CRC32C crc = new CRC32C();

    /**
     * {@code hdr_crc}: over the whole padded extended header {@code [start, start+hdrBytes)}, from
     * offset 0 (magic included), with the hdr_crc field at 0x3C taken as 0. Computed over the bytes
     * as they are on the wire, in the sender's byte order.
     */
    public int hdrCrc(ByteBuf b, int start, int hdrBytes) {
        crc.reset();
        update(b, start, Dmsg.HDR_CRC_OFFSET);
        crc.update(ZERO4, 0, 4);
        update(b, start + Dmsg.HDR_SIZE, hdrBytes - Dmsg.HDR_SIZE);
        return (int) crc.getValue();
    }

    /** {@code aux_crc}: over the padded aux data {@code [start, start+paddedBytes)}. */
    public int auxCrc(ByteBuf b, int start, int paddedBytes) {
        crc.reset();
        update(b, start, paddedBytes);
        return (int) crc.getValue();
    }

    /**
     * {@code aux_crc} of aux data that is not yet padded: over {@code [start, start+auxBytes)}
     * of {@code b} followed by {@code padBytes} zeros. Lets a frame's aux be sent zero-copy.
     */
    public int auxCrc(ByteBuf b, int start, int auxBytes, int padBytes) {
        crc.reset();
        update(b, start, auxBytes);
        crc.update(ZERO64, 0, padBytes);
        return (int) crc.getValue();
    }

    private static final byte[] ZERO64 = new byte[Dmsg.ALIGN];

    private void update(ByteBuf b, int index, int length) {
        if (length == 0) {
            return;
        }
        if (b.hasArray()) {
            crc.update(b.array(), b.arrayOffset() + index, length);
        } else if (b.nioBufferCount() == 1) {
            // internalNioBuffer: no allocation; valid until the next call on this buffer.
            ByteBuffer nio = b.internalNioBuffer(index, length);
            crc.update(nio);
        } else {
            for (ByteBuffer nio : b.nioBuffers(index, length)) {
                crc.update(nio);
            }
        }
    }
}
