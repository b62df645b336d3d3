package dev.dmsg.wire;

import io.netty.buffer.ByteBuf;
import java.util.Arrays;

/**
 * {@code struct dmsg_lnk_auth}: 64 bytes of {@code dummy} at 0x40; 128 bytes, size byte 2.
 * The 2013 C code never sent it; the security issue defines the layout inside these 64 bytes.
 */
public record LnkAuth(byte[] body) implements ExtHeader {
    public static final int BODY_OFFSET = 0x40;
    public static final int BODY_BYTES = 64;

    public LnkAuth {
        if (body.length != BODY_BYTES) {
            throw new IllegalArgumentException("LNK_AUTH body is " + body.length + " bytes; must be " + BODY_BYTES);
        }
        body = body.clone();
    }

    @Override
    public byte[] body() {
        return body.clone();
    }

    static LnkAuth decode(ByteBuf b, int base) {
        byte[] body = new byte[BODY_BYTES];
        b.getBytes(base + BODY_OFFSET, body);
        return new LnkAuth(body);
    }

    @Override
    public void encode(ByteBuf b, int base) {
        b.setBytes(base + BODY_OFFSET, body);
    }

    @Override
    public boolean fits(int cmd) {
        return (cmd & Dmsg.BASECMDMASK) == Dmsg.LNK_AUTH;
    }

    @Override
    public String describe() {
        return "body=" + Bytes.hex(body);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof LnkAuth a && Arrays.equals(body, a.body);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(body);
    }

    @Override
    public String toString() {
        return "LnkAuth[" + describe() + "]";
    }
}
