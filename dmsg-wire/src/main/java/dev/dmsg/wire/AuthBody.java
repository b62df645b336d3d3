package dev.dmsg.wire;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.util.Arrays;

/**
 * Our layout inside the 64-byte body of {@code struct dmsg_lnk_auth} (the seed leaves it a
 * {@code dummy}; docs/SECURITY.md §4). Little-endian, like every field we send.
 *
 * <pre>
 *   0x00  u16  version      1
 *   0x02  u8   role         the role the sender grants the receiver: 0 none, 1 client, 2 member, 3 admin
 *   0x03  u8   grants       for a client: 0x01 shell read-only, 0x02 BLK read, 0x04 BLK read-write
 *   0x04  u32  caps         capability bits the sender uses ({@link #CAP_PING} …)
 *   0x08  [32] key_sha256   SHA-256 of the sender's SubjectPublicKeyInfo (binds AUTH to the TLS key)
 *   0x28  [24] label        the sender's label, NUL-terminated UTF-8
 * </pre>
 */
public record AuthBody(int version, int role, int grants, int caps, byte[] keySha256, String label) {
    public static final int VERSION = 1;
    public static final int VERSION_OFFSET = 0x00;
    public static final int ROLE_OFFSET = 0x02;
    public static final int GRANTS_OFFSET = 0x03;
    public static final int CAPS_OFFSET = 0x04;
    public static final int KEY_OFFSET = 0x08;
    public static final int KEY_BYTES = 32;
    public static final int LABEL_OFFSET = 0x28;
    public static final int LABEL_BYTES = 24;

    /** The sender keeps the link alive with LNK_PING (docs/PROFILE.md §4). */
    public static final int CAP_PING = 0x01;
    /** The sender uses the span extension (docs/MESH.md). */
    public static final int CAP_SPAN_EXT = 0x02;
    /** The sender forges and relays circuits (docs/CIRCUITS.md). */
    public static final int CAP_CIRCUITS = 0x04;

    public AuthBody {
        if (keySha256.length != KEY_BYTES) {
            throw new IllegalArgumentException("key_sha256 is " + keySha256.length + " bytes; must be 32");
        }
        if (role < 0 || role > 0xff || grants < 0 || grants > 0xff || version < 0 || version > 0xffff) {
            throw new IllegalArgumentException("version/role/grants out of range: " + version + "/" + role + "/" + grants);
        }
        Bytes.utf8(label, LABEL_BYTES, "label");
        keySha256 = keySha256.clone();
    }

    @Override
    public byte[] keySha256() {
        return keySha256.clone();
    }

    public LnkAuth toLnkAuth() {
        ByteBuf b = Unpooled.buffer(LnkAuth.BODY_BYTES).writeZero(LnkAuth.BODY_BYTES);
        b.setShortLE(VERSION_OFFSET, version);
        b.setByte(ROLE_OFFSET, role);
        b.setByte(GRANTS_OFFSET, grants);
        b.setIntLE(CAPS_OFFSET, caps);
        b.setBytes(KEY_OFFSET, keySha256);
        Bytes.putStr(b, LABEL_OFFSET, LABEL_BYTES, label);
        return new LnkAuth(b.array());
    }

    /**
     * Reads our layout from a received LNK_AUTH.
     *
     * @throws IllegalArgumentException naming what is wrong: an unknown version (a peer speaking
     *     a layout we do not know), an empty label
     */
    public static AuthBody parse(LnkAuth a) {
        ByteBuf b = Unpooled.wrappedBuffer(a.body());
        int version = b.getUnsignedShortLE(VERSION_OFFSET);
        if (version != VERSION) {
            throw new IllegalArgumentException("LNK_AUTH version " + version + "; we speak " + VERSION);
        }
        byte[] key = new byte[KEY_BYTES];
        b.getBytes(KEY_OFFSET, key);
        String label = Bytes.str(b, LABEL_OFFSET, LABEL_BYTES);
        if (label.isEmpty()) {
            throw new IllegalArgumentException("LNK_AUTH without a label");
        }
        return new AuthBody(version, b.getUnsignedByte(ROLE_OFFSET), b.getUnsignedByte(GRANTS_OFFSET),
            b.getIntLE(CAPS_OFFSET), key, label);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof AuthBody x && version == x.version && role == x.role && grants == x.grants
            && caps == x.caps && Arrays.equals(keySha256, x.keySha256) && label.equals(x.label);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(keySha256) * 31 + label.hashCode();
    }

    @Override
    public String toString() {
        return "AuthBody[v" + version + " role=" + role + " grants=" + grants + " caps=" + caps + " key="
            + Bytes.hex(keySha256) + " label=" + label + "]";
    }
}
