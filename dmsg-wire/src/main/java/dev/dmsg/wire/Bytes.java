package dev.dmsg.wire;

import io.netty.buffer.ByteBuf;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.UUID;

/**
 * Field access with the byte order explicit on every call. Reads take {@code le}: the order the
 * frame's magic announced. Writes are always little-endian (docs/PROFILE.md §1: send little-endian).
 */
final class Bytes {
    private Bytes() {}

    static int u8(ByteBuf b, int i) {
        return b.getUnsignedByte(i);
    }

    static int u16(ByteBuf b, int i, boolean le) {
        return le ? b.getUnsignedShortLE(i) : b.getUnsignedShort(i);
    }

    static int i32(ByteBuf b, int i, boolean le) {
        return le ? b.getIntLE(i) : b.getInt(i);
    }

    static long i64(ByteBuf b, int i, boolean le) {
        return le ? b.getLongLE(i) : b.getLong(i);
    }

    /**
     * A DragonFly {@code struct uuid} in host order: time_low u32, time_mid u16, time_hi u16 in the
     * sender's byte order, then clock_seq_hi, clock_seq_low and node[6] as bytes. Not RFC 4122
     * order (docs/REFERENCE.md §1.5). The Java UUID's text form then matches DragonFly's uuid_to_string.
     */
    static UUID uuid(ByteBuf b, int i, boolean le) {
        long timeLow = i32(b, i, le) & 0xFFFFFFFFL;
        long timeMid = u16(b, i + 4, le);
        long timeHi = u16(b, i + 6, le);
        long msb = (timeLow << 32) | (timeMid << 16) | timeHi;
        long lsb = b.getLong(i + 8); // bytes as-is: big-endian view
        return new UUID(msb, lsb);
    }

    static void putUuid(ByteBuf b, int i, UUID u) {
        long msb = u.getMostSignificantBits();
        b.setIntLE(i, (int) (msb >>> 32));
        b.setShortLE(i + 4, (int) (msb >>> 16));
        b.setShortLE(i + 6, (int) msb);
        b.setLong(i + 8, u.getLeastSignificantBits());
    }

    /**
     * A fixed-size NUL-terminated char array. The last byte is treated as NUL whatever it holds
     * (libdmsg dmsg_termstr), so at most {@code size - 1} bytes are read. UTF-8.
     */
    static String str(ByteBuf b, int i, int size) {
        int end = i;
        int limit = i + size - 1;
        while (end < limit && b.getByte(end) != 0) {
            end++;
        }
        // Malformed UTF-8 from the wire becomes '?', one byte per bad sequence, not U+FFFD (three
        // bytes): the decoded label must still fit its field when encoded again (found by
        // FrameDecoderFuzzTest: 127 bytes of junk decoded to a 210-byte label, and the record
        // refused it with an unchecked exception).
        CharsetDecoder d = StandardCharsets.UTF_8.newDecoder()
            .onMalformedInput(CodingErrorAction.REPLACE)
            .onUnmappableCharacter(CodingErrorAction.REPLACE)
            .replaceWith("?");
        try {
            return d.decode(b.nioBuffer(i, end - i)).toString();
        } catch (CharacterCodingException e) {
            throw new AssertionError("REPLACE cannot fail", e);
        }
    }

    /** Writes {@code s} NUL-terminated into a zeroed field of {@code size} bytes. */
    static void putStr(ByteBuf b, int i, int size, String s) {
        byte[] bytes = utf8(s, size, "string");
        b.setBytes(i, bytes);
    }

    /** UTF-8 of {@code s}, checked to fit a {@code size}-byte field with its NUL. */
    static byte[] utf8(String s, int size, String field) {
        byte[] bytes = s.getBytes(StandardCharsets.UTF_8);
        if (bytes.length > size - 1) {
            throw new IllegalArgumentException(
                field + " is " + bytes.length + " bytes in UTF-8; max " + (size - 1));
        }
        for (byte x : bytes) {
            if (x == 0) {
                throw new IllegalArgumentException(field + " contains a NUL byte");
            }
        }
        return bytes;
    }

    static String hex(byte[] a) {
        StringBuilder sb = new StringBuilder(a.length * 2);
        for (byte x : a) {
            sb.append(Character.forDigit((x >> 4) & 0xF, 16)).append(Character.forDigit(x & 0xF, 16));
        }
        return sb.toString();
    }
}
