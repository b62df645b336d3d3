package dev.dmsg.wire;

import io.netty.buffer.ByteBuf;
import io.netty.util.ReferenceCounted;
import java.nio.charset.StandardCharsets;

/**
 * One DMSG message: the core header's fields, the typed extended header, and the aux data.
 *
 * <p>Immutable apart from the reference count of its aux buffer, which the message owns: whoever
 * holds a message releases it once ({@link #release()}), or retains it to keep the aux beyond a
 * handler call. A message without aux needs no release (it is harmless).
 *
 * <p>Fields that only a received frame has ({@code salt}, {@code hdr_crc}, {@code aux_crc}) are 0
 * on messages built for sending; the encoder computes them.
 */
public final class Message implements ReferenceCounted {
    private final int cmd;
    private final long msgid;
    private final long circuit;
    private final int error;
    private final ExtHeader ext;
    private final ByteBuf aux;
    private final int salt;
    private final int hdrCrc;
    private final int auxCrc;
    /** The seal tag on an authenticated circuit (docs/IDENTITY.md §4.2); 0 otherwise. */
    private final long reserved18;
    private final int reserved38;

    private Message(int cmd, long msgid, long circuit, int error, ExtHeader ext, ByteBuf aux,
                    int salt, int hdrCrc, int auxCrc, long reserved18, int reserved38) {
        this.cmd = cmd;
        this.msgid = msgid;
        this.circuit = circuit;
        this.error = error;
        this.ext = ext;
        this.aux = aux;
        this.salt = salt;
        this.hdrCrc = hdrCrc;
        this.auxCrc = auxCrc;
        this.reserved18 = reserved18;
        this.reserved38 = reserved38;
    }

    /**
     * A message to send. {@code ext} must be the layout {@code cmd} carries ({@code null} for a
     * header-only command); {@code aux} may be {@code null} and is owned by the message from now on.
     *
     * @throws IllegalArgumentException if the ext does not fit the cmd, the cmd's size byte is out
     *     of range, or the aux is larger than 65536 bytes
     */
    public static Message of(int cmd, long msgid, long circuit, int error, ExtHeader ext, ByteBuf aux) {
        try {
            check(cmd, ext, aux == null ? 0 : aux.readableBytes());
        } catch (IllegalArgumentException e) {
            if (aux != null) aux.release();
            throw e;
        }
        if (aux != null && aux.readableBytes() == 0) {
            aux.release();
            aux = null;
        }
        return new Message(cmd, msgid, circuit, error, ext, aux, 0, 0, 0, 0, 0);
    }

    /**
     * Checks that a message with these parts could be built: the cmd's size byte in range, the
     * ext the layout the cmd carries, the aux within 65536 bytes.
     *
     * @throws IllegalArgumentException naming what does not fit
     */
    public static void check(int cmd, ExtHeader ext, int auxBytes) {
        int hdrBytes = Dmsg.hdrBytes(cmd);
        if (hdrBytes < Dmsg.HDR_SIZE || hdrBytes > Dmsg.HDR_MAX) {
            throw new IllegalArgumentException(String.format(
                "cmd %08x has a %d-byte header; must be 64..%d", cmd, hdrBytes, Dmsg.HDR_MAX));
        }
        if (ext == null ? hdrBytes != Dmsg.HDR_SIZE : !ext.fits(cmd)) {
            throw new IllegalArgumentException(String.format("cmd %08x (%s) does not carry %s",
                cmd, Command.nameOf(cmd), ext == null ? "a header-only body" : ext.getClass().getSimpleName()));
        }
        if (auxBytes > Dmsg.AUX_MAX) {
            throw new IllegalArgumentException("aux_bytes " + auxBytes + " > max " + Dmsg.AUX_MAX);
        }
    }

    /** A header-only message without aux. */
    public static Message of(int cmd, long msgid, long circuit, int error) {
        return of(cmd, msgid, circuit, error, null, null);
    }

    static Message received(int cmd, long msgid, long circuit, int error, ExtHeader ext, ByteBuf aux,
                            int salt, int hdrCrc, int auxCrc, long reserved18, int reserved38) {
        return new Message(cmd, msgid, circuit, error, ext, aux, salt, hdrCrc, auxCrc, reserved18, reserved38);
    }

    /**
     * This message with {@code newAux} (owned from now on; same length as the aux it replaces, or
     * null when there is none) and the seal tag in {@code reserved18}/{@code reserved38}: a sealed
     * message, or an opened one (tag 0). Does not release this message.
     */
    public Message withSeal(ByteBuf newAux, long tag18, int tag38) {
        return new Message(cmd, msgid, circuit, error, ext, newAux, salt, hdrCrc, auxCrc, tag18, tag38);
    }

    /**
     * The same message on another circuit and with other flags, sharing (and retaining) the aux:
     * what a relay forwards. Salt and CRCs are recomputed when it is encoded.
     */
    public Message rewrite(int newCmd, long newMsgid, long newCircuit) {
        if ((newCmd & Dmsg.BASECMDMASK) != (cmd & Dmsg.BASECMDMASK)) {
            throw new IllegalArgumentException("rewrite may change flags only");
        }
        return new Message(newCmd, newMsgid, newCircuit, error, ext,
            aux == null ? null : aux.retainedDuplicate(), 0, 0, 0, reserved18, reserved38);
    }

    public int cmd() { return cmd; }
    public long msgid() { return msgid; }
    public long circuit() { return circuit; }
    public int error() { return error; }
    /** The typed extended header, or {@code null} for a header-only command. */
    public ExtHeader ext() { return ext; }
    /**
     * The aux data as a view with its own indices, or {@code null}; valid while this message is
     * referenced. Do not write to it.
     */
    public ByteBuf aux() { return aux == null ? null : aux.duplicate(); }
    /**
     * The aux data as a view that holds its own reference, for handing to a channel, or {@code null}.
     * From a pooled buffer the view itself is pooled, so this does not allocate per frame.
     */
    public ByteBuf retainedAux() { return aux == null ? null : aux.retainedDuplicate(); }
    /** The aux buffer itself, for the encoder in this package: no view, indices not to be moved. */
    ByteBuf auxBuf() { return aux; }
    public int auxBytes() { return aux == null ? 0 : aux.readableBytes(); }
    /** Received salt (low 8 bits: the sequence number); 0 on messages built for sending. */
    public int salt() { return salt; }
    public int hdrCrc() { return hdrCrc; }
    public int auxCrc() { return auxCrc; }
    /** {@code reserved18}: the high 64 bits of a sealed message's tag (docs/IDENTITY.md §4.2), else 0. */
    public long reserved18() { return reserved18; }
    /** {@code reserved38}: the low 32 bits of a sealed message's tag, else 0. */
    public int reserved38() { return reserved38; }

    public int baseCmd() { return cmd & Dmsg.BASECMDMASK; }
    public Command command() { return Command.of(cmd); }
    public int flags() { return cmd & Dmsg.FLAGS; }
    public boolean isCreate() { return (cmd & Dmsg.CREATE) != 0; }
    public boolean isDelete() { return (cmd & Dmsg.DELETE) != 0; }
    public boolean isReply() { return (cmd & Dmsg.REPLY) != 0; }
    public boolean isAbort() { return (cmd & Dmsg.ABORT) != 0; }
    /** No CREATE, DELETE or ABORT: not part of a transaction's lifecycle (docs/REFERENCE.md §2.1). */
    public boolean isOneWay() { return (cmd & (Dmsg.CREATE | Dmsg.DELETE | Dmsg.ABORT)) == 0; }

    /** The extended header as {@code type}, or an exception naming what it is instead. */
    public <T extends ExtHeader> T ext(Class<T> type) {
        if (!type.isInstance(ext)) {
            throw new IllegalStateException(Command.nameOf(cmd) + " carries no " + type.getSimpleName());
        }
        return type.cast(ext);
    }

    /**
     * The aux as text: up to the first NUL, at most {@code aux_bytes - 1} bytes when the last byte
     * is not NUL (receivers overwrite the last aux byte with NUL; docs/REFERENCE.md §1.6). UTF-8.
     */
    public String auxString() {
        if (aux == null) {
            return "";
        }
        int start = aux.readerIndex();
        int limit = start + aux.readableBytes() - 1;
        int end = start;
        while (end < limit && aux.getByte(end) != 0) {
            end++;
        }
        return aux.toString(start, end - start, StandardCharsets.UTF_8);
    }

    /** Copies the aux into a new array (empty when there is none). */
    public byte[] auxCopy() {
        if (aux == null) {
            return new byte[0];
        }
        byte[] a = new byte[aux.readableBytes()];
        aux.getBytes(aux.readerIndex(), a);
        return a;
    }

    @Override
    public int refCnt() {
        return aux == null ? 1 : aux.refCnt();
    }

    @Override
    public Message retain() {
        if (aux != null) aux.retain();
        return this;
    }

    @Override
    public Message retain(int increment) {
        if (aux != null) aux.retain(increment);
        return this;
    }

    @Override
    public Message touch() {
        if (aux != null) aux.touch();
        return this;
    }

    @Override
    public Message touch(Object hint) {
        if (aux != null) aux.touch(hint);
        return this;
    }

    @Override
    public boolean release() {
        return aux != null && aux.release();
    }

    @Override
    public boolean release(int decrement) {
        return aux != null && aux.release(decrement);
    }

    @Override
    public String toString() {
        return FrameLog.line("", this);
    }
}
