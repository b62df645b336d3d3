package dev.dmsg.wire;

import io.netty.buffer.ByteBuf;
import java.util.Arrays;

/**
 * The extended fields of a command we do not know, kept as bytes so that the frame can be logged
 * and answered (NOSUPP) and, later, relayed unchanged. {@code bytes} covers header offsets
 * {@code 0x40 .. hdrBytes}; its length fixes the size byte a command must carry.
 */
public record RawExt(byte[] bytes) implements ExtHeader {
    public RawExt {
        if (bytes.length == 0 || bytes.length % Dmsg.ALIGN != 0 || bytes.length > Dmsg.HDR_MAX - Dmsg.HDR_SIZE) {
            throw new IllegalArgumentException("raw extended header of " + bytes.length
                + " bytes; must be a non-zero multiple of 64 up to " + (Dmsg.HDR_MAX - Dmsg.HDR_SIZE));
        }
        bytes = bytes.clone();
    }

    @Override
    public byte[] bytes() {
        return bytes.clone();
    }

    @Override
    public void encode(ByteBuf b, int base) {
        b.setBytes(base + Dmsg.HDR_SIZE, bytes);
    }

    @Override
    public boolean fits(int cmd) {
        return Command.of(cmd) == null && Dmsg.hdrBytes(cmd) == Dmsg.HDR_SIZE + bytes.length;
    }

    @Override
    public String describe() {
        return "ext=" + bytes.length + " bytes";
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof RawExt r && Arrays.equals(bytes, r.bytes);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(bytes);
    }

    @Override
    public String toString() {
        return "RawExt[" + Bytes.hex(bytes) + "]";
    }
}
