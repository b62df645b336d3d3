package dev.dmsg.wire;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * One side's half of a circuit's authentication (docs/IDENTITY.md §4.1): the originator's rides
 * in the aux of {@code LNK_CIRC|CREATE}, the endpoint's in the aux of its acknowledgement
 * ({@code LNK_ERROR|CREATE|REPLY}, error 0). Our relays copy both hop by hop. Our extension; never
 * sent to a 2013 C node.
 *
 * <pre>
 * 0x00 magic u32 = 0x31484344 ("DCH1")   0x04 version u16 = 1   0x06 side u8   0x07 mode u8
 * 0x08 nonce[32]   0x28 ephemeral[32] (X25519)   0x48 peer_id[32]
 * 0x68 chain_bytes u16   0x6A sig_bytes u16
 * 0x6C chain (each certificate: u16 length + DER, leaf first), then sig (ECDSA P-256 / SHA-256, DER)
 * </pre>
 *
 * @param side {@link #ORIGINATOR} or {@link #ENDPOINT}
 * @param mode the endpoint's choice, {@link #SEALED} or {@link #DIRECT}; 0 in the originator's
 * @param peerId the originator's: the node id (SHA-256 of the SubjectPublicKeyInfo) it expects
 *     at the far end, zeros if unknown; the endpoint's: the originator's node id
 */
public record CircHello(int side, int mode, byte[] nonce, byte[] ephemeral, byte[] peerId, List<byte[]> chain,
                        byte[] sig) {
    public static final int MAGIC = 0x31484344;
    public static final int VERSION = 1;
    public static final int ORIGINATOR = 0;
    public static final int ENDPOINT = 1;
    /** Every message on the circuit is sealed (AES-GCM, docs/IDENTITY.md §4.2). */
    public static final int SEALED = 1;
    /** The ends are neighbours: the link's TLS protects the circuit, nothing is sealed (§4.3). */
    public static final int DIRECT = 2;
    static final int HEADER_BYTES = 0x6C;
    public static final int MAX_SIG_BYTES = 128;
    private static final byte[] ORIGINATOR_CONTEXT =
        "dmsg-circ-hello-v1 originator\0".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] ENDPOINT_CONTEXT = "dmsg-circ-hello-v1 endpoint\0".getBytes(StandardCharsets.US_ASCII);

    public CircHello {
        if (side != ORIGINATOR && side != ENDPOINT) {
            throw new IllegalArgumentException("side must be 0 or 1, not " + side);
        }
        if (side == ORIGINATOR ? mode != 0 : mode != SEALED && mode != DIRECT) {
            throw new IllegalArgumentException("mode " + mode + " for side " + side);
        }
        check("nonce", nonce);
        check("ephemeral", ephemeral);
        check("peer_id", peerId);
        chain = List.copyOf(chain);
        CertChain.check(chain);
        if (sig.length > MAX_SIG_BYTES) {
            throw new IllegalArgumentException("signature of " + sig.length + " bytes > " + MAX_SIG_BYTES);
        }
    }

    private static void check(String what, byte[] b) {
        if (b.length != 32) {
            throw new IllegalArgumentException(what + " must be 32 bytes, not " + b.length);
        }
    }

    /** This hello with {@code signature}. */
    public CircHello signed(byte[] signature) {
        return new CircHello(side, mode, nonce, ephemeral, peerId, chain, signature);
    }

    /**
     * What the sender signs: for the originator, a context and its hello up to the signature;
     * for the endpoint, a context, the originator's whole hello as received, and its own hello up
     * to the signature.
     */
    public byte[] signedBytes(CircHello originators) {
        ByteBuf b = Unpooled.buffer(512);
        if (side == ORIGINATOR) {
            b.writeBytes(ORIGINATOR_CONTEXT);
        } else {
            b.writeBytes(ENDPOINT_CONTEXT);
            writeTo(originators, b, true);
        }
        writeTo(this, b, false);
        byte[] out = new byte[b.readableBytes()];
        b.readBytes(out);
        return out;
    }

    /** The hello as aux data. */
    public ByteBuf encode() {
        ByteBuf b = Unpooled.buffer(HEADER_BYTES + CertChain.bytes(chain) + sig.length);
        writeTo(this, b, true);
        return b;
    }

    /** The encoded bytes. */
    public byte[] toBytes() {
        ByteBuf b = encode();
        byte[] out = new byte[b.readableBytes()];
        b.readBytes(out);
        return out;
    }

    private static void writeTo(CircHello h, ByteBuf b, boolean withSig) {
        b.writeIntLE(MAGIC);
        b.writeShortLE(VERSION);
        b.writeByte(h.side);
        b.writeByte(h.mode);
        b.writeBytes(h.nonce);
        b.writeBytes(h.ephemeral);
        b.writeBytes(h.peerId);
        b.writeShortLE(CertChain.bytes(h.chain));
        b.writeShortLE(withSig ? h.sig.length : 0);
        CertChain.write(h.chain, b);
        if (withSig) {
            b.writeBytes(h.sig);
        }
    }

    /** Whether {@code aux} (a LNK_CIRC's or its acknowledgement's, possibly null) starts like a hello. */
    public static boolean present(ByteBuf aux) {
        return aux != null && aux.readableBytes() >= 4 && aux.getIntLE(aux.readerIndex()) == MAGIC;
    }

    /**
     * Reads a hello from {@code aux} (not consumed).
     *
     * @throws DmsgProtocolException ({@link DmsgProtocolException.Kind#BAD_AUX}) naming the field
     */
    public static CircHello parse(ByteBuf aux) throws DmsgProtocolException {
        ByteBuf b = aux.duplicate();
        if (b.readableBytes() < HEADER_BYTES) {
            throw CertChain.bad("circuit hello: " + b.readableBytes() + " bytes < header " + HEADER_BYTES);
        }
        int magic = b.readIntLE();
        if (magic != MAGIC) {
            throw CertChain.bad(String.format("circuit hello: magic read=0x%08x expected=0x%08x", magic, MAGIC));
        }
        int version = b.readUnsignedShortLE();
        if (version != VERSION) {
            throw CertChain.bad("circuit hello: version " + version + " (this node reads " + VERSION + ")");
        }
        int side = b.readUnsignedByte();
        int mode = b.readUnsignedByte();
        byte[] nonce = new byte[32];
        byte[] eph = new byte[32];
        byte[] peer = new byte[32];
        b.readBytes(nonce);
        b.readBytes(eph);
        b.readBytes(peer);
        int chainBytes = b.readUnsignedShortLE();
        int sigBytes = b.readUnsignedShortLE();
        if (sigBytes == 0 || sigBytes > MAX_SIG_BYTES) {
            throw CertChain.bad("circuit hello: sig_bytes " + sigBytes + " not in 1.." + MAX_SIG_BYTES);
        }
        List<byte[]> chain = CertChain.read(b, chainBytes, "circuit hello");
        if (b.readableBytes() != sigBytes) {
            throw CertChain.bad("circuit hello: sig_bytes " + sigBytes + " but " + b.readableBytes()
                + " bytes follow the chain");
        }
        byte[] sig = new byte[sigBytes];
        b.readBytes(sig);
        try {
            return new CircHello(side, mode, nonce, eph, peer, chain, sig);
        } catch (IllegalArgumentException e) {
            throw CertChain.bad("circuit hello: " + e.getMessage());
        }
    }
}
