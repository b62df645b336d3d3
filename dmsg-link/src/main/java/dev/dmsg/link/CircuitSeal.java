package dev.dmsg.link;

import dev.dmsg.wire.Command;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.Message;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import java.nio.ByteBuffer;
import java.security.GeneralSecurityException;
import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;

/**
 * Seals and opens the messages of one authenticated circuit at one of its ends (docs/IDENTITY.md
 * §4.2): AES-128-GCM with one key per direction, a 96-bit nonce {@code 0 ‖ seq} (a counter per
 * direction, one per message), the end-to-end header fields and the extended header as
 * additional data, the aux encrypted in place of itself, and the 96-bit tag in {@code reserved18}
 * and {@code reserved38}. A relay changes none of these, so any change on the path — an altered,
 * injected, dropped or reordered message — fails {@link #open}.
 *
 * <p>Concurrency: used only on its link's event loop, where messages are sealed in the order they
 * are written and opened in the order they are read. Not thread-safe.
 */
public final class CircuitSeal {
    static final int TAG_BITS = 96;
    static final int TAG_BYTES = TAG_BITS / 8;

    private final Cipher sealer;
    private final Cipher opener;
    private final SecretKeySpec sendKey;
    private final SecretKeySpec receiveKey;
    private final byte[] nonce = new byte[12];
    private long sendSeq;
    private long receiveSeq;
    private final ByteBuf scratch = Unpooled.buffer(Dmsg.HDR_MAX);

    /** Why {@link #open} refused a message: the circuit must be closed. */
    public static final class Broken extends Exception {
        private static final long serialVersionUID = 1L;

        Broken(String message) {
            super(message, null, false, false);
        }
    }

    /**
     * @param sendKey our direction's 16-byte AES key
     * @param receiveKey the peer's direction's key
     */
    public CircuitSeal(byte[] sendKey, byte[] receiveKey) {
        if (sendKey.length != 16 || receiveKey.length != 16) {
            throw new IllegalArgumentException("AES-128 keys are 16 bytes, not " + sendKey.length + " and " + receiveKey.length);
        }
        try {
            this.sealer = Cipher.getInstance("AES/GCM/NoPadding");
            this.opener = Cipher.getInstance("AES/GCM/NoPadding");
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("AES-GCM missing from this JDK", e);
        }
        this.sendKey = new SecretKeySpec(sendKey, "AES");
        this.receiveKey = new SecretKeySpec(receiveKey, "AES");
    }

    /** Messages sealed and opened so far (status, tests). */
    public long sealed() {
        return sendSeq;
    }

    public long opened() {
        return receiveSeq;
    }

    /**
     * {@code m} sealed: its aux encrypted (a new buffer) and the tag in the reserved fields.
     * Releases {@code m}.
     */
    public Message seal(Message m) {
        try {
            sealer.init(Cipher.ENCRYPT_MODE, sendKey, new GCMParameterSpec(TAG_BITS, nonce(sendSeq++)));
            aad(sealer, m);
            int len = m.auxBytes();
            ByteBuf out = ByteBufAllocator.DEFAULT.heapBuffer(len + TAG_BYTES);
            try {
                ByteBuffer dst = out.nioBuffer(0, len + TAG_BYTES);
                ByteBuf aux = m.aux();
                if (len > 0) {
                    for (ByteBuffer src : aux.nioBuffers()) {
                        sealer.update(src, dst);
                    }
                }
                sealer.doFinal(ByteBuffer.allocate(0), dst);
                long tag18 = out.getLong(len);
                int tag38 = out.getInt(len + 8);
                out.writerIndex(len);
                ByteBuf newAux = len == 0 ? null : out;
                if (newAux == null) {
                    out.release();
                }
                return m.withSeal(newAux, tag18, tag38);
            } catch (GeneralSecurityException | RuntimeException e) {
                out.release();
                throw e;
            }
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("AES-GCM failed to seal: " + e, e);
        } finally {
            m.release();
        }
    }

    /**
     * {@code m} opened: its aux decrypted (a new buffer), the tag checked. Does not release
     * {@code m}; the caller owns both.
     *
     * @throws Broken if it was not sealed by the peer for this place in the sequence
     */
    public Message open(Message m) throws Broken {
        long seq = receiveSeq++;
        int len = m.auxBytes();
        ByteBuf out = ByteBufAllocator.DEFAULT.heapBuffer(Math.max(len, 1));
        try {
            opener.init(Cipher.DECRYPT_MODE, receiveKey, new GCMParameterSpec(TAG_BITS, nonce(seq)));
            aad(opener, m);
            ByteBuffer dst = out.nioBuffer(0, Math.max(len, 1));
            if (len > 0) {
                for (ByteBuffer src : m.aux().nioBuffers()) {
                    opener.update(src, dst);
                }
            }
            ByteBuffer tag = ByteBuffer.allocate(TAG_BYTES);
            tag.putLong(m.reserved18()).putInt(m.reserved38()).flip();
            opener.doFinal(tag, dst);
            out.writerIndex(len);
            ByteBuf newAux = len == 0 ? null : out;
            if (newAux == null) {
                out.release();
            }
            return m.withSeal(newAux, 0, 0);
        } catch (GeneralSecurityException | RuntimeException e) {
            out.release();
            throw new Broken(String.format("message %d on the circuit (%s msgid %016x) failed authentication: %s",
                seq, Command.nameOf(m.cmd()), m.msgid(), e.getClass().getSimpleName()));
        }
    }

    private byte[] nonce(long seq) {
        // 0 ‖ seq: unique per key, since each direction has its own key and counts from 0
        for (int i = 0; i < 8; i++) {
            nonce[4 + i] = (byte) (seq >>> (56 - 8 * i));
        }
        return nonce;
    }

    /** msgid ‖ cmd ‖ error ‖ aux_bytes ‖ the extended header as encoded: what relays never change. */
    private void aad(Cipher c, Message m) {
        scratch.clear();
        scratch.writeLongLE(m.msgid());
        scratch.writeIntLE(m.cmd());
        scratch.writeIntLE(m.error());
        scratch.writeIntLE(m.auxBytes());
        int hdrBytes = Dmsg.hdrBytes(m.cmd());
        if (m.ext() != null && hdrBytes > Dmsg.HDR_SIZE) {
            // the ext records encode at offsets from a message start: lay one out and take 0x40..
            int base = scratch.writerIndex() - Dmsg.HDR_SIZE;
            scratch.writeZero(hdrBytes - Dmsg.HDR_SIZE);
            m.ext().encode(scratch, base);
        }
        c.updateAAD(scratch.array(), scratch.arrayOffset(), scratch.readableBytes());
    }
}
