package dev.dmsg.wire;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * The proof that a span was made by the node it names (docs/IDENTITY.md §3): carried in the aux
 * of {@code LNK_SPAN|CREATE} and of span updates, copied unchanged by relays. Our extension; a
 * 2013 C node never sends one and is never sent one.
 *
 * <pre>
 * 0x00 magic u32 = 0x31505344 ("DSP1")   0x04 version u16 = 1   0x06 flags u16 (bit 0 VOUCH)
 * 0x08 issued_ms u64
 * 0x10 chain_bytes u16                   0x12 sig_bytes u16
 * 0x14 chain (each certificate: u16 length + DER, leaf first), then sig (ECDSA P-256 / SHA-256, DER)
 * </pre>
 *
 * All little-endian. The signature covers {@link #signedBytes}: a context string, bytes
 * 0x00–0x0F, the chain as carried, and the span's extended fields with the parts relays change
 * ({@code dist}, {@code rnss}, our extension's flags byte) zeroed.
 *
 * @param chain the signer's certificates, DER, leaf first
 */
public record SpanProof(int flags, long issuedMs, List<byte[]> chain, byte[] sig) {
    public static final int MAGIC = 0x31505344;
    public static final int VERSION = 1;
    /** Signed by the node that let a legacy (unsigned) span into the mesh, not by its origin. */
    public static final int VOUCH = 1;
    static final int HEADER_BYTES = 0x14;
    /** At most this many signature bytes (a DER P-256 ECDSA signature is 70–72). */
    public static final int MAX_SIG_BYTES = 128;
    private static final byte[] CONTEXT = "dmsg-span-proof-v1\0".getBytes(StandardCharsets.US_ASCII);
    /** The span's extended fields: offsets 0x40..0x1BF of the message. */
    static final int SPAN_FIELDS_BYTES = 0x1C0 - 0x40;

    public SpanProof {
        chain = List.copyOf(chain);
        CertChain.check(chain);
        if (sig.length == 0 || sig.length > MAX_SIG_BYTES) {
            throw new IllegalArgumentException("signature of " + sig.length + " bytes; 1.." + MAX_SIG_BYTES);
        }
        flags &= 0xFFFF;
    }

    public boolean vouch() {
        return (flags & VOUCH) != 0;
    }

    /**
     * What the signer signs for {@code span} with these {@code flags}, {@code issuedMs} and
     * {@code chain}: everything a relay may not change.
     */
    public static byte[] signedBytes(int flags, long issuedMs, List<byte[]> chain, LnkSpan span) {
        ByteBuf b = Unpooled.buffer(CONTEXT.length + 16 + CertChain.bytes(chain) + SPAN_FIELDS_BYTES);
        b.writeBytes(CONTEXT);
        b.writeIntLE(MAGIC);
        b.writeShortLE(VERSION);
        b.writeShortLE(flags & 0xFFFF);
        b.writeLongLE(issuedMs);
        CertChain.write(chain, b);
        // The span as its origin sent it: the message's 0x40..0x1BF with what relays change set to 0.
        LnkSpan fixed = new LnkSpan(span.pfsClid(), span.pfsFsid(), span.pfsType(), span.peerType(),
            span.protoVersion(), span.status(), span.reserved02() & ~0xFF00L, 0, 0, span.mediaBytes(),
            span.mediaBlksize(), span.clLabel(), span.fsLabel());
        ByteBuf msg = Unpooled.buffer(0x1C0);
        msg.writeZero(0x1C0);
        fixed.encode(msg, 0);
        b.writeBytes(msg, 0x40, SPAN_FIELDS_BYTES);
        byte[] out = new byte[b.readableBytes()];
        b.readBytes(out);
        return out;
    }

    /** What {@link #signedBytes} is for this proof and {@code span}. */
    public byte[] signedBytes(LnkSpan span) {
        return signedBytes(flags, issuedMs, chain, span);
    }

    /** The proof as aux data. */
    public ByteBuf encode() {
        int chainBytes = CertChain.bytes(chain);
        ByteBuf b = Unpooled.buffer(HEADER_BYTES + chainBytes + sig.length);
        b.writeIntLE(MAGIC);
        b.writeShortLE(VERSION);
        b.writeShortLE(flags);
        b.writeLongLE(issuedMs);
        b.writeShortLE(chainBytes);
        b.writeShortLE(sig.length);
        CertChain.write(chain, b);
        b.writeBytes(sig);
        return b;
    }

    /** Whether {@code aux} (a LNK_SPAN's, possibly null) starts like a proof at all. */
    public static boolean present(ByteBuf aux) {
        return aux != null && aux.readableBytes() >= 4 && aux.getIntLE(aux.readerIndex()) == MAGIC;
    }

    /**
     * Reads a proof from {@code aux} (not consumed).
     *
     * @throws DmsgProtocolException ({@link DmsgProtocolException.Kind#BAD_AUX}) naming the field
     *     and both values when it is not a version-1 proof
     */
    public static SpanProof parse(ByteBuf aux) throws DmsgProtocolException {
        ByteBuf b = aux.duplicate();
        if (b.readableBytes() < HEADER_BYTES) {
            throw CertChain.bad("span proof: " + b.readableBytes() + " bytes < header " + HEADER_BYTES);
        }
        int magic = b.readIntLE();
        if (magic != MAGIC) {
            throw CertChain.bad(String.format("span proof: magic read=0x%08x expected=0x%08x", magic, MAGIC));
        }
        int version = b.readUnsignedShortLE();
        if (version != VERSION) {
            throw CertChain.bad("span proof: version " + version + " (this node reads " + VERSION + ")");
        }
        int flags = b.readUnsignedShortLE();
        long issued = b.readLongLE();
        int chainBytes = b.readUnsignedShortLE();
        int sigBytes = b.readUnsignedShortLE();
        if (sigBytes == 0 || sigBytes > MAX_SIG_BYTES) {
            throw CertChain.bad("span proof: sig_bytes " + sigBytes + " not in 1.." + MAX_SIG_BYTES);
        }
        List<byte[]> chain = CertChain.read(b, chainBytes, "span proof");
        if (b.readableBytes() != sigBytes) {
            throw CertChain.bad("span proof: sig_bytes " + sigBytes + " but " + b.readableBytes() + " bytes follow the chain");
        }
        byte[] sig = new byte[sigBytes];
        b.readBytes(sig);
        try {
            return new SpanProof(flags, issued, chain, sig);
        } catch (IllegalArgumentException e) {
            throw CertChain.bad("span proof: " + e.getMessage());
        }
    }
}
