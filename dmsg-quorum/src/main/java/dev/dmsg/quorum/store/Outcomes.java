package dev.dmsg.quorum.store;

import dev.dmsg.wire.qrm.Blob;
import dev.dmsg.wire.qrm.QrmCodec;
import dev.dmsg.wire.qrm.QrmFormatException;
import dev.dmsg.wire.qrm.Results;
import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;

/**
 * The state machine's answer to a log entry or a read, as the content of Ratis's reply message
 * (docs/QUORUM.md §4.1), little-endian, u8 outcome first:
 *
 * <pre>
 * 0 OK          u64 revision ; results (§3.3, QrmCodec)   COMMIT, WRITE, a read
 * 1 CONFLICT    u64 other index ; u16 key_len ; key        PREPARE, WRITE
 * 2 NOTPREPARED                                            COMMIT, ABORT, EXPIRE
 * 3 LIMIT                                                  PREPARE
 * 4 PREPARED    u8 held ; u64 prepare index                PREPARE
 * 5 ABORTED                                                ABORT, EXPIRE
 * 6 INVALID     u16 reason_len ; reason (UTF-8)            an entry or read that did not decode
 * 7 LOCKED                                                 a lock entry applied (docs/CAC.md §5)
 * </pre>
 */
public final class Outcomes {
    private Outcomes() {}

    public static final int OK = 0;
    public static final int CONFLICT = 1;
    public static final int NOTPREPARED = 2;
    public static final int LIMIT = 3;
    public static final int PREPARED = 4;
    public static final int ABORTED = 5;
    public static final int INVALID = 6;
    public static final int LOCKED = 7;

    /** Reasons are cut to this many bytes (the DMSG reason of docs/QUORUM.md §3.2 is at most 256). */
    static final int MAX_REASON_BYTES = 256;

    public static byte[] encode(Outcome o) {
        if (o instanceof Outcome.Done d) {
            byte[] rs = QrmCodec.encodeResults(d.results(), QrmCodec.MAX_MESSAGE_BYTES);
            return buf(1 + 8 + rs.length).put((byte) OK).putLong(d.revision()).put(rs).array();
        } else if (o instanceof Outcome.Conflict c) {
            return buf(1 + 8 + 2 + c.key().length()).put((byte) CONFLICT).putLong(c.otherIndex())
                .putShort((short) c.key().length()).put(c.key().unsafeBytes()).array();
        } else if (o instanceof Outcome.NotPrepared) {
            return new byte[] {NOTPREPARED};
        } else if (o instanceof Outcome.Limit) {
            return new byte[] {LIMIT};
        } else if (o instanceof Outcome.Prepared p) {
            return buf(1 + 1 + 8).put((byte) PREPARED).put((byte) (p.held() ? 1 : 0)).putLong(p.index()).array();
        } else if (o instanceof Outcome.Aborted) {
            return new byte[] {ABORTED};
        } else if (o instanceof Outcome.Locked) {
            return new byte[] {LOCKED};
        } else if (o instanceof Outcome.Invalid i) {
            byte[] r = cut(i.reason().getBytes(StandardCharsets.UTF_8));
            return buf(1 + 2 + r.length).put((byte) INVALID).putShort((short) r.length).put(r).array();
        }
        throw new AssertionError(o);
    }

    private static ByteBuffer buf(int n) {
        return ByteBuffer.allocate(n).order(ByteOrder.LITTLE_ENDIAN);
    }

    private static byte[] cut(byte[] r) {
        return r.length <= MAX_REASON_BYTES ? r : Arrays.copyOf(r, MAX_REASON_BYTES);
    }

    public static Outcome decode(byte[] data) throws QrmFormatException {
        if (data.length == 0) {
            throw new QrmFormatException("outcome: empty");
        }
        ByteBuffer b = ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN);
        int code = b.get() & 0xFF;
        try {
            Outcome o;
            switch (code) {
                case OK: {
                    long revision = b.getLong();
                    Results rs = QrmCodec.decodeResults(Arrays.copyOfRange(data, b.position(), data.length));
                    return new Outcome.Done(revision, rs);
                }
                case CONFLICT: {
                    long index = b.getLong();
                    byte[] key = new byte[b.getShort() & 0xFFFF];
                    b.get(key);
                    o = new Outcome.Conflict(index, Blob.wrap(key));
                    break;
                }
                case NOTPREPARED:
                    o = new Outcome.NotPrepared();
                    break;
                case LIMIT:
                    o = new Outcome.Limit();
                    break;
                case PREPARED: {
                    int held = b.get() & 0xFF;
                    if (held > 1) {
                        throw new QrmFormatException("PREPARED: held " + held + "; want 0 or 1");
                    }
                    o = new Outcome.Prepared(held == 1, b.getLong());
                    break;
                }
                case ABORTED:
                    o = new Outcome.Aborted();
                    break;
                case INVALID: {
                    byte[] r = new byte[b.getShort() & 0xFFFF];
                    b.get(r);
                    o = new Outcome.Invalid(new String(r, StandardCharsets.UTF_8));
                    break;
                }
                case LOCKED:
                    o = new Outcome.Locked(List.of());
                    break;
                default:
                    throw new QrmFormatException("outcome: code " + code + "; want 0..7");
            }
            if (b.hasRemaining()) {
                throw new QrmFormatException("outcome " + code + ": " + b.remaining() + " trailing bytes");
            }
            return o;
        } catch (BufferUnderflowException e) {
            throw new QrmFormatException("outcome " + code + ": truncated at " + data.length + " bytes");
        }
    }
}
