package dev.dmsg.wire;

import io.netty.buffer.ByteBuf;
import java.util.ArrayList;
import java.util.List;

/**
 * A certificate chain as our extensions carry it (docs/IDENTITY.md §3.1, §4.1): leaf first, each
 * certificate a u16 length (little-endian) and its DER bytes. What the certificates say is the
 * link layer's business; this only frames them, with limits checked before anything is copied.
 */
public final class CertChain {
    private CertChain() {}

    /** At most this many certificates: a leaf and its issuers up to a root. */
    public static final int MAX_CERTS = 4;
    /** At most this many bytes for the whole chain. */
    public static final int MAX_BYTES = 16384;

    /** The encoded size of {@code chain}. */
    public static int bytes(List<byte[]> chain) {
        int n = 0;
        for (byte[] c : chain) {
            n += 2 + c.length;
        }
        return n;
    }

    /** Writes {@code chain}; the caller has checked it with {@link #check}. */
    static void write(List<byte[]> chain, ByteBuf out) {
        for (byte[] c : chain) {
            out.writeShortLE(c.length);
            out.writeBytes(c);
        }
    }

    /** Our own chain must fit what a receiver accepts. */
    static void check(List<byte[]> chain) {
        if (chain.isEmpty() || chain.size() > MAX_CERTS) {
            throw new IllegalArgumentException("a chain holds 1.." + MAX_CERTS + " certificates, not " + chain.size());
        }
        int n = bytes(chain);
        if (n > MAX_BYTES) {
            throw new IllegalArgumentException("chain of " + n + " bytes > max " + MAX_BYTES);
        }
        for (byte[] c : chain) {
            if (c.length == 0 || c.length > 0xFFFF) {
                throw new IllegalArgumentException("a certificate of " + c.length + " bytes");
            }
        }
    }

    /** Reads {@code chainBytes} bytes at {@code b}'s reader index as a chain; advances past them. */
    static List<byte[]> read(ByteBuf b, int chainBytes, String what) throws DmsgProtocolException {
        if (chainBytes > MAX_BYTES) {
            throw bad(what + ": chain_bytes " + chainBytes + " > max " + MAX_BYTES);
        }
        if (chainBytes > b.readableBytes()) {
            throw bad(what + ": chain_bytes " + chainBytes + " > " + b.readableBytes() + " bytes left");
        }
        int end = b.readerIndex() + chainBytes;
        List<byte[]> out = new ArrayList<>(2);
        while (b.readerIndex() < end) {
            if (end - b.readerIndex() < 2) {
                throw bad(what + ": a certificate length cut short");
            }
            int len = b.readUnsignedShortLE();
            if (len == 0 || len > end - b.readerIndex()) {
                throw bad(what + ": certificate " + (out.size() + 1) + " of " + len + " bytes, "
                    + (end - b.readerIndex()) + " left in the chain");
            }
            if (out.size() == MAX_CERTS) {
                throw bad(what + ": more than " + MAX_CERTS + " certificates");
            }
            byte[] c = new byte[len];
            b.readBytes(c);
            out.add(c);
        }
        if (out.isEmpty()) {
            throw bad(what + ": no certificate");
        }
        return out;
    }

    static DmsgProtocolException bad(String message) {
        return new DmsgProtocolException(DmsgProtocolException.Kind.BAD_AUX, message);
    }
}
